"""Column kernels: transforms applied to whole Arrow arrays, equal to the per-value ops.

Each transform of :mod:`veil.transforms` is defined once, as a per-value op. A kernel here
computes the same function over an array with Arrow compute or numpy, for the inputs it
can handle *exactly*; every other value (non-ASCII text for masks, strings a regex does
not recognise, numbers beyond 2**53) goes through the bound per-value op itself. So a
kernel is an optimisation that may decline, never a second definition that may differ.
The equality tests in ``tests/bulk`` hold them to that.

A :data:`ColumnFn` takes the column (nulls allowed, passed through as nulls) and the
data-subject ids of its rows, and returns the new column plus a boolean array marking
the cells it *withheld* (the op raised :class:`CannotApply`): those are null in the
output and counted by the engine.

Why one module of ~560 lines: one small kernel per transform family (mask, truncate,
generalize, date shift, per-distinct-value fallback), each tested for equality with its
record op; a file per kernel would scatter those pairs.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable
from datetime import date
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..ledger.packs import token_texts
from ..text.collect import JobText, job_scope
from ..transforms.base import CannotApply, FieldType, Op
from ..transforms.cryptobatch import Packed
from ..transforms.dates import DateShiftParams, shift_days
from ..transforms.generalize import (
    Age,
    Bucket,
    GeneralizeParams,
    Month,
    Year,
    Zip3,
    bound_labels,
    first_year_shown,
)
from ..transforms.generalize import load_zip3_table as _zip3_table
from ..transforms.mask import MaskParams, TruncateParams
from ..transforms.text import ScanText

#: (column, subject ids) -> (result, withheld). ``withheld`` is a numpy bool array.
ColumnFn = Callable[[pa.Array, pa.Array], tuple[pa.Array, np.ndarray]]

_EXACT_FLOAT = 2**53  # beyond this, float and integer arithmetic part ways


def no_withheld(n: int) -> np.ndarray:
    return np.zeros(n, dtype=bool)


def python_values(arr: pa.Array) -> list[Any]:
    """The values as the record engine sees them: dates and datetimes as ISO strings."""
    t = arr.type
    if pa.types.is_date(t):
        return pc.cast(arr, pa.string()).to_pylist()  # type: ignore[no-any-return]
    if pa.types.is_timestamp(t):
        return [None if v is None else v.isoformat() for v in arr.to_pylist()]
    return arr.to_pylist()  # type: ignore[no-any-return]


#: codes below this many times their count (plus a constant) are counted densely
_DENSE = 4
_DENSE_MIN = 1 << 16


def unique_inverse(codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``np.unique(codes, return_inverse=True)`` for non-negative integer codes.

    Dictionary codes and rule masks are small integers: a table as long as the largest
    code finds the distinct ones in one pass, where ``np.unique`` sorts every row (its
    argsort was a tenth of a research extract). Large or sparse codes still sort."""
    n = len(codes)
    top = int(codes.max()) if n else 0
    if n == 0 or int(codes.min()) < 0 or top >= _DENSE * n + _DENSE_MIN:
        uniq, inverse = np.unique(codes, return_inverse=True)
        return uniq, inverse.reshape(-1)
    seen = np.zeros(top + 1, dtype=bool)
    seen[codes] = True
    uniq = np.flatnonzero(seen)
    rank = np.zeros(top + 1, dtype=np.int64)
    rank[uniq] = np.arange(len(uniq))
    return uniq.astype(codes.dtype, copy=False), rank[codes]


def member(codes: np.ndarray, values: list[int]) -> np.ndarray:
    """``np.isin(codes, values)`` for non-negative integer codes (rule masks), by one
    table lookup instead of a sort."""
    if not len(codes):
        return np.zeros(0, dtype=bool)
    top = max(int(codes.max()), max(values, default=0))
    if int(codes.min()) < 0 or top >= _DENSE * len(codes) + _DENSE_MIN:
        return np.isin(codes, values)
    table = np.zeros(top + 1, dtype=bool)
    table[np.asarray(values, dtype=np.int64)] = True
    hit: np.ndarray = table[codes]
    return hit


def _codes(arr: pa.Array) -> tuple[np.ndarray, list[Any]]:
    """Dictionary codes of ``arr`` (null is a value of its own) and the distinct values."""
    enc = pc.dictionary_encode(arr, null_encoding="encode")
    idx = enc.indices.to_numpy(zero_copy_only=False).astype(np.int64, copy=False)
    return idx, python_values(enc.dictionary)


#: a batch op's column is "nearly all distinct" from this many rows and this share of
#: distinct values; measured again after this many batches given as they are
_DISTINCT_ROWS = 1024
_DISTINCT_SHARE = 0.9
_REMEASURE = 8

#: (field path, entity type -> count) for scan_text ops, weighted by rows
EntitySink = Callable[[str, Counter[str]], None]


def per_unique(
    op: Op, out_type: pa.DataType, *, by_subject: bool = False, entities: EntitySink | None = None
) -> ColumnFn:
    """Run the per-value op once per distinct value (or distinct (value, subject) pair).

    The honest fallback: exact by construction, and cheap on the low-cardinality columns
    (names, codes, cities) that dominate real extracts. A ``scan_text`` op gets its
    distinct texts analyzed as one batch first, and its entity counts are weighted by
    the rows that share a value, so the ledger counts what the record engine counts.
    """
    text_op = op if isinstance(op, ScanText) and entities is not None else None
    #: ops with a batch form (random tokens: one vault round trip for a column's values)
    batch = getattr(op, "batch", None)
    # A batch op given a column whose values were nearly all distinct in the batch last
    # measured gets the next batches' values as they are: the hash that finds distinct
    # values and the take that spreads the results back cost more than the repeats save
    # (~5% of a research extract), and a batch op answers a value given twice alike.
    # Measured again every _REMEASURE batches, so a column that changes is seen.
    distinct = {"skip": False, "since": 0}

    def run(arr: pa.Array, subjects: pa.Array) -> tuple[pa.Array, np.ndarray]:
        n = len(arr)
        if n == 0:
            return pa.nulls(0, out_type), no_withheld(0)
        if batch is not None and not by_subject and distinct["skip"]:
            distinct["since"] += 1
            distinct["skip"] = distinct["since"] < _REMEASURE
            column = _packed_column(op, arr, out_type)
            if column is None:
                column = _batched_column(op, python_values(arr), out_type)
            if column is not None:
                return column, no_withheld(n)
        vidx, values = _codes(arr)
        if batch is not None and not by_subject:
            distinct["skip"] = n >= _DISTINCT_ROWS and len(values) >= _DISTINCT_SHARE * n
            distinct["since"] = 0
            # one call for the column's distinct values (nulls stay null)
            column = _batched_column(op, values, out_type)
            if column is not None:
                return column.take(pa.array(vidx)), no_withheld(n)
        if by_subject:
            sidx, subs = _codes(subjects)
            pair = vidx * len(subs) + sidx
            uniq, inverse = np.unique(pair, return_inverse=True)
            items = [(values[int(p // len(subs))], subs[int(p % len(subs))]) for p in uniq]
        else:
            inverse = vidx
            items = [(v, None) for v in values]
        weights = np.bincount(inverse, minlength=len(items))
        state = _prefetch(text_op, values) if text_op is not None else None
        results: list[Any] = []
        bad = np.zeros(len(items), dtype=bool)
        for j, (v, s) in enumerate(items):
            if v is None:
                results.append(None)
                continue
            try:
                if state is None:
                    results.append(op(v, s))
                else:
                    results.append(_counted(text_op, state, v, s, int(weights[j]), entities))
            except CannotApply:
                results.append(None)
                bad[j] = True
        out = pa.array(results, type=out_type).take(pa.array(inverse))
        return out, bad[inverse]

    return run


def _packed_column(op: Any, arr: pa.Array, out_type: pa.DataType) -> pa.Array | None:
    """A string column without nulls given to a batch op that takes it as Arrow holds it
    (random tokens' ``codes``): its data and offsets buffers, no str per value; None
    where that does not apply (the caller goes through Python values)."""
    t = arr.type
    if arr.null_count or not (pa.types.is_string(t) or pa.types.is_large_string(t)):
        return None
    if len(arr) == 0:
        return None
    _, offsets, data = arr.buffers()
    width = np.int32 if pa.types.is_string(t) else np.int64
    bounds = np.frombuffer(offsets, dtype=width)[arr.offset : arr.offset + len(arr) + 1]
    return _coded(op, Packed(data if data is not None else b"", bounds), out_type)


def _batched_column(op: Any, values: list[Any], out_type: pa.DataType) -> pa.Array | None:
    """:func:`_batched` as an Arrow array, by the op's array form where it has one
    (:func:`_coded`)."""
    if None not in values:
        column = _coded(op, values, out_type)
        if column is not None:
            return column
    done = _batched(op, values)
    return None if done is None else pa.array(done, type=out_type)


def _coded(op: Any, values: Any, out_type: pa.DataType) -> pa.Array | None:
    """The column an op's array form gives (random tokens' ``codes``: a bulk job's codes
    as numpy bytes, never a str each), taken into Arrow as they are; None where the op
    has none, declines the batch, or cannot apply (the caller goes on without it)."""
    codes = getattr(op, "codes", None)
    if codes is None or not pa.types.is_string(out_type):
        return None
    try:
        drawn = codes(values)
    except CannotApply:
        return None
    return None if drawn is None else strings_of(drawn)


def strings_of(codes: np.ndarray) -> pa.Array:
    """A numpy bytes array (UTF-8 items) as an Arrow string array: its buffer as the
    array's data where every item fills the width (no copy, no str per item), else
    item by item."""
    n, width = len(codes), codes.dtype.itemsize
    raw = np.ascontiguousarray(codes).view(np.uint8)
    if n and width and n * width < 2**31 and bool(raw.all()):
        offsets = np.arange(0, (n + 1) * width, width, dtype=np.int32)
        out = pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(raw))
        try:
            out.validate(full=True)  # UTF-8, as Arrow requires
        except pa.ArrowInvalid:
            pass
        else:
            return out
    return pa.array(token_texts(codes), type=pa.string())


def _batched(op: Any, values: list[Any]) -> list[Any] | None:
    """``op.batch`` over the distinct non-null values, or None to go value by value (a
    batch that cannot apply to one value is retried per value, so only that one is
    withheld)."""
    present = [v for v in values if v is not None] if None in values else values
    try:
        done = op.batch(present)
    except CannotApply:
        return None
    if present is values:
        return list(done)
    it = iter(done)
    return [None if v is None else next(it) for v in values]


def _prefetch(op: Any, values: list[Any]) -> JobText:
    state = JobText()
    texts = [v for v in values if type(v) is str]
    if len(texts) > 1:
        from ..text.engine import analyzer_for

        try:
            found = analyzer_for(op.config).analyze_batch(texts, op.query)
            for text, spans in zip(texts, found, strict=True):
                state.prefetched[(op.analysis_key, text)] = spans
        except Exception:  # noqa: S110 - each value is analyzed again, withheld on failure
            pass
    return state


def _counted(
    op: Any, shared: JobText, value: Any, subject: str | None, rows: int, sink: Any
) -> Any:
    one = JobText()
    one.prefetched = shared.prefetched
    with job_scope(one):
        out = op(value, subject)
    for path, counts in one.entities.items():
        sink(path, Counter({k: c * rows for k, c in counts.items()}))
    return out


def scatter(n: int, parts: list[tuple[np.ndarray, pa.Array]], out_type: pa.DataType) -> pa.Array:
    """Assemble an array of length ``n`` from (row indices, values) parts that cover it."""
    if len(parts) == 1:
        return parts[0][1]
    order = np.concatenate([idx for idx, _ in parts])
    values = pa.concat_arrays([pc.cast(v, out_type) for _, v in parts])
    inverse = np.empty(n, dtype=np.int64)
    inverse[order] = np.arange(n, dtype=np.int64)
    return values.take(pa.array(inverse))


def _with_slow(
    n: int,
    res: pa.Array,
    todo: np.ndarray,
    arr: pa.Array,
    subjects: pa.Array,
    slow: ColumnFn,
    out_type: pa.DataType,
) -> tuple[pa.Array, np.ndarray]:
    """A kernel's results, with the rows in ``todo`` (values it cannot handle) done by
    ``slow`` instead: the record engine's op, with its withheld values."""
    withheld = no_withheld(n)
    if not todo.any():
        return pc.cast(res, out_type), withheld
    rows = np.flatnonzero(todo)
    take = pa.array(rows)
    slow_res, slow_bad = slow(arr.take(take), subjects.take(take))
    withheld[rows] = slow_bad
    rest = np.flatnonzero(~todo)
    parts = [(rest, res.take(pa.array(rest))), (rows, slow_res)]
    return scatter(n, parts, out_type), withheld


def with_fallback(
    kernel: Callable[[pa.Array], tuple[pa.Array, pa.Array]], slow: ColumnFn, out_type: pa.DataType
) -> ColumnFn:
    """``kernel`` returns (result, handled); the rows it did not handle go to ``slow``."""

    def run(arr: pa.Array, subjects: pa.Array) -> tuple[pa.Array, np.ndarray]:
        n = len(arr)
        res, handled = kernel(arr)
        valid = pc.is_valid(arr)
        if arr.null_count:  # a kernel may fill nulls to compute; nulls stay null
            res = pc.if_else(valid, res, pa.scalar(None, res.type))
        handled_np = pc.fill_null(handled, False).to_numpy(zero_copy_only=False)
        todo = ~handled_np & valid.to_numpy(zero_copy_only=False)
        return _with_slow(n, res, todo, arr, subjects, slow, out_type)

    return run


# --------------------------------------------------------------------------- mask


def _ascii_tables(params: MaskParams, extra_preserve: str) -> tuple[np.ndarray, np.ndarray] | None:
    """Per ASCII byte: is it maskable, and what replaces it. None if the mask characters
    are not ASCII (then the byte kernel cannot write them)."""
    preserve = set(params.preserve) | set(extra_preserve)
    maskable = np.zeros(256, dtype=bool)
    repl = np.zeros(256, dtype=np.uint8)
    classes = params.classes
    for b in range(128):
        c = chr(b)
        if c in preserve:
            continue
        if classes is None:
            r: str | None = params.char
        elif c.isupper():  # the same tests, in the same order, as transforms.mask
            r = classes.upper
        elif c.islower():
            r = classes.lower
        elif c.isdigit():
            r = classes.digit
        else:
            r = classes.other
        if r is None:
            continue
        if not r.isascii():
            return None
        maskable[b] = True
        repl[b] = ord(r)
    return maskable, repl


def _per_string(flags: np.ndarray, rel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For byte flags over a data buffer cut at ``rel``: each byte's rank among the flagged
    bytes of its string, and each string's count of flagged bytes (one cumulative sum)."""
    cs0 = np.zeros(len(flags) + 1, dtype=np.int32)
    np.cumsum(flags, dtype=np.int32, out=cs0[1:])
    before = cs0[rel[:-1]]
    return cs0[:-1] - np.repeat(before, np.diff(rel)), cs0[rel[1:]] - before


def _ascii_mask(
    arr: pa.Array, maskable: np.ndarray, repl: np.ndarray, params: MaskParams
) -> pa.Array:
    """The mask over the bytes of an all-ASCII string array, with no Python per value.

    The op's steps, per byte: its rank among the counted bytes of its string (every byte
    with ``count: all``, else the maskable ones), whether that rank falls in the string's
    hidden range, and whether the string hides fewer than ``min_masked`` bytes that way
    (then every maskable byte is hidden).
    """
    n = len(arr)
    bufs = arr.buffers()
    offsets = np.frombuffer(bufs[1], dtype=np.int32)[arr.offset : arr.offset + n + 1]
    start, end = int(offsets[0]), int(offsets[-1])
    data = (
        np.frombuffer(bufs[2], dtype=np.uint8)[start:end]
        if bufs[2] is not None
        else np.zeros(0, np.uint8)
    )
    rel = (offsets - start).astype(np.int32)
    lengths = np.diff(rel)
    can = maskable[data]
    ranked = np.ones(len(data), dtype=bool) if params.count == "all" else can
    rank, total = _per_string(ranked, rel)
    if params.mask_first is not None:
        lo, hi = np.zeros_like(total), np.minimum(total, params.mask_first)
    elif params.mask_last is not None:
        lo, hi = np.maximum(total - params.mask_last, 0), total
    else:
        kf = params.keep_first
        lo, hi = np.full_like(total, kf), np.maximum(total - params.keep_last, kf)
    in_range = ranked & (rank >= np.repeat(lo, lengths)) & (rank < np.repeat(hi, lengths))
    hidden = can & in_range
    _, hidden_count = _per_string(hidden, rel)
    whole = np.repeat(hidden_count < params.min_masked, lengths)
    hide = can & (whole | in_range)
    out = np.where(hide, repl[data], data).astype(np.uint8, copy=False)
    result = pa.Array.from_buffers(pa.string(), n, [None, pa.py_buffer(rel), pa.py_buffer(out)])
    if arr.null_count:
        result = pc.if_else(pc.is_valid(arr), result, pa.scalar(None, pa.string()))
    return result


def _fixed_length_kernel(params: MaskParams) -> Callable[[pa.Array], Any]:
    """``length``: the first/last characters around a fixed run, in code points as the op
    slices (Arrow's ``utf8_slice_codeunits`` counts code points)."""
    assert params.length is not None
    kf, kl = params.keep_first, params.keep_last
    run = params.char * params.length
    whole = params.char * (kf + params.length + kl)

    def kernel(arr: pa.Array) -> tuple[pa.Array, pa.Array]:
        text = pc.cast(arr, pa.string())
        ok = pc.greater_equal(pc.utf8_length(text), kf + kl + params.min_masked)
        head = pc.utf8_slice_codeunits(text, 0, kf)
        # with ok, the value is longer than keep_last: -kl counts from its end (kl=0: none)
        tail = pc.utf8_slice_codeunits(text, -kl) if kl else pa.scalar("", pa.string())
        out = pc.binary_join_element_wise(head, pa.scalar(run), tail, "")
        return pc.if_else(ok, out, pa.scalar(whole)), pa.repeat(True, len(arr))

    return kernel


def mask_kernel(params: MaskParams, ftype: FieldType, op: Op) -> ColumnFn:
    slow = per_unique(op, pa.string())
    if ftype not in (FieldType.STRING, FieldType.INTEGER):
        return slow
    if params.length is not None:
        return with_fallback(_fixed_length_kernel(params), slow, pa.string())
    tables = _ascii_tables(params, "-" if ftype == FieldType.INTEGER else "")
    if tables is None:
        return slow
    maskable, repl = tables

    def kernel(arr: pa.Array) -> tuple[pa.Array, pa.Array]:
        text = pc.cast(arr, pa.string())  # integers: str(int) is what the op masks
        ascii_ = pc.string_is_ascii(text)
        if pc.all(ascii_).as_py() is not False:
            return _ascii_mask(text, maskable, repl, params), pa.repeat(True, len(arr))
        # Only the ASCII rows go through the byte kernel; the rest are declined.
        rows = np.flatnonzero(pc.fill_null(ascii_, True).to_numpy(zero_copy_only=False))
        part = _ascii_mask(text.take(pa.array(rows)), maskable, repl, params)
        res = np.full(len(arr), None, dtype=object)
        res[rows] = part.to_numpy(zero_copy_only=False)
        return pa.array(res, pa.string()), ascii_

    return with_fallback(kernel, slow, pa.string())


def truncate_kernel(params: TruncateParams, op: Op) -> ColumnFn:
    length = params.length

    def kernel(arr: pa.Array) -> tuple[pa.Array, pa.Array]:
        if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
            return pa.nulls(len(arr), pa.string()), pa.repeat(False, len(arr))
        if params.keep_from == "start":
            out = pc.utf8_slice_codeunits(arr, 0, length)
        else:
            out = pc.utf8_slice_codeunits(arr, -length)
        return out, pa.repeat(True, len(arr))

    return with_fallback(kernel, per_unique(op, pa.string()), pa.string())


# --------------------------------------------------------------------- date_shift

_DAY_MIN = date(1000, 1, 1) - date(1970, 1, 1)  # four-digit years: Arrow and isoformat agree
_DAY_MAX = date(9999, 12, 31) - date(1970, 1, 1)


#: (key, max_days) -> (subject ids array, codes, offsets): date fields shifted with the
#: same params in one batch share one computation of the per-subject offsets.
OffsetCache = dict[tuple[bytes, int], tuple[pa.Array, np.ndarray, np.ndarray]]


def date_shift_kernel(
    params: DateShiftParams, key: bytes, ftype: FieldType, op: Op, cache: OffsetCache
) -> ColumnFn:
    """Dates (not datetimes) shifted in days: the per-subject offset is computed once per
    distinct subject with the op's own :func:`shift_days`; everything else (datetimes,
    results outside years 1000-9999) goes to the op per (value, subject)."""
    slow = per_unique(op, pa.string(), by_subject=True)
    if ftype != FieldType.DATE:
        return slow

    def run(arr: pa.Array, subjects: pa.Array) -> tuple[pa.Array, np.ndarray]:
        n = len(arr)
        if pa.types.is_string(arr.type):
            # values of date fields were validated: a 10-character one is YYYY-MM-DD
            ok = pc.fill_null(pc.equal(pc.utf8_length(arr), 10), False)
            days_arr = pc.cast(pc.if_else(ok, arr, "1970-01-01"), pa.date32())
        elif pa.types.is_date(arr.type):
            ok, days_arr = pc.is_valid(arr), pc.fill_null(arr, 0)
        else:
            return slow(arr, subjects)
        hit = cache.get((key, params.max_days))
        if hit is not None and hit[0] is subjects:
            sidx, offsets = hit[1], hit[2]
        else:
            sidx, subs = _codes(subjects)
            offsets = np.array(
                [0 if s is None else shift_days(key, s, params.max_days) for s in subs],
                np.int64,
            )
            cache.clear()  # one batch at a time
            cache[(key, params.max_days)] = (subjects, sidx, offsets)
        days = days_arr.cast(pa.int32()).to_numpy(zero_copy_only=False).astype(np.int64)
        shifted = days + offsets[sidx]
        ok_np = ok.to_numpy(zero_copy_only=False) & (shifted >= _DAY_MIN.days)
        ok_np &= shifted <= _DAY_MAX.days
        res = pc.cast(pa.array(shifted.astype(np.int32)).cast(pa.date32()), pa.string())
        todo = ~ok_np & pc.is_valid(arr).to_numpy(zero_copy_only=False)
        res = pc.if_else(pa.array(ok_np), res, pa.scalar(None, pa.string()))
        return _with_slow(n, res, todo, arr, subjects, slow, pa.string())

    return run


# --------------------------------------------------------------------- generalize

_ISO_DAY = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}"


#: the last arrays :func:`iso_days` read, and what it found: the engine checks a date
#: column, then its kernel reads the same array's years (one cast, not two)
_ISO_SEEN: list[tuple[pa.Array, pa.Array | None]] = []
_ISO_KEEP = 4
_ISO_LOCK = threading.Lock()


def iso_days(arr: pa.Array) -> pa.Array | None:
    """The values as date32 if every one is a valid ``YYYY-MM-DD``, else None ("look
    closer", not "invalid").

    Arrow's cast to date32 rejects impossible days (2023-02-29) as ``date.fromisoformat``
    does; it accepts year 0, which Python does not, so that is excluded first. The answer
    for the last few arrays is kept (by identity: they are held, so none is another's).
    """
    with _ISO_LOCK:
        for seen, found in _ISO_SEEN:
            if seen is arr:
                return found
    days: pa.Array | None = None
    shape = pc.equal(pc.utf8_length(arr), 10)  # the cast parses exactly YYYY-MM-DD
    if (
        pc.all(shape).as_py() is not False
        and pc.any(pc.starts_with(arr, "0000")).as_py() is not True
    ):
        try:
            days = pc.cast(arr, pa.date32())
        except pa.ArrowInvalid:
            days = None
    with _ISO_LOCK:
        _ISO_SEEN.append((arr, days))
        del _ISO_SEEN[:-_ISO_KEEP]
    return days


def _iso_day_strings(arr: pa.Array, ftype: FieldType) -> pa.Array | None:
    """Rows whose first 10 characters are their (already validated) calendar day.

    Values of date and datetime fields were validated by the engine (the record engine
    rejects invalid ones), so for them ``YYYY-MM-DD`` followed by nothing (date) or by
    ``T``/space (datetime) is the day :func:`veil.transforms.dates.parse_day` returns.
    """
    if ftype == FieldType.DATE:
        return pc.match_substring_regex(arr, _ISO_DAY + "$")
    if ftype == FieldType.DATETIME:
        return pc.match_substring_regex(arr, _ISO_DAY + "[T ]")
    return None


def _date_kernel(
    method: Year | Month, ftype: FieldType, as_of: date | None
) -> Callable[[pa.Array], Any]:
    def kernel(arr: pa.Array) -> tuple[pa.Array, pa.Array]:
        n = len(arr)
        if pa.types.is_date(arr.type):
            year = pc.year(arr)
            handled = pc.greater_equal(year, 1000)  # zero padding: leave small years to the op
            if isinstance(method, Year):
                return _over_top(method, as_of, year, year), handled
            month = pc.strftime(pc.cast(arr, pa.timestamp("s")), format="%Y-%m")
            return _over_top(method, as_of, year, month), handled
        if not pa.types.is_string(arr.type):
            return pa.nulls(n, pa.string()), pa.repeat(False, n)
        days = iso_days(arr) if ftype == FieldType.DATE else None
        if days is not None:
            # Every value a valid YYYY-MM-DD (as the engine found when it validated the
            # column, whose cast is reused): the years read from it, in a third of the
            # regex's time.
            handled = pc.is_valid(arr)
            year = pc.year(days)
        else:
            found = _iso_day_strings(arr, ftype)
            if found is None:
                return pa.nulls(n, pa.string()), pa.repeat(False, n)
            handled = found
            head = pc.if_else(handled, pc.utf8_slice_codeunits(arr, 0, 4), "0")
            year = pc.cast(head, pa.int64())
        if isinstance(method, Year):
            return _over_top(method, as_of, year, year), handled
        return _over_top(method, as_of, year, pc.utf8_slice_codeunits(arr, 0, 7)), handled

    return kernel


def _over_top(method: Year | Month, as_of: date | None, year: pa.Array, out: pa.Array) -> pa.Array:
    """``out``, or with ``top_age`` the category for the years before the first one shown
    (with no disclosure date, today's is read per batch, as the op reads it per value)."""
    if method.top_age is None:
        return out
    first = first_year_shown(as_of, method.top_age)
    return pc.if_else(pc.less(year, first), method.label, pc.cast(out, pa.string()))


_WS = r"[ \t\n\r\x0b\x0c]*"  # ASCII whitespace: a subset of what str.strip() removes
_ZIP_RE = "^" + _WS + r"(?P<p>[0-9]{3})[0-9]{2}(?:-?[0-9]{4})?" + _WS + "$"


def _zip3_kernel(r: Zip3) -> Callable[[pa.Array], Any]:
    restricted = frozenset(r.restricted) if r.restricted is not None else _zip3_table(r.table)
    restricted_arr = pa.array(sorted(restricted), pa.string())

    def kernel(arr: pa.Array) -> tuple[pa.Array, pa.Array]:
        if not pa.types.is_string(arr.type):
            return pa.nulls(len(arr), pa.string()), pa.repeat(False, len(arr))
        m = pc.extract_regex(arr, _ZIP_RE)
        prefix = pc.struct_field(m, "p")
        out = pc.if_else(pc.is_in(prefix, value_set=restricted_arr), "000", prefix)
        return out, pc.is_valid(m)

    return kernel


def _age_kernel(r: Age) -> Callable[[pa.Array], Any]:
    over = f"{r.top + 1}+"

    def kernel(arr: pa.Array) -> tuple[pa.Array, pa.Array]:
        n = len(arr)
        if pa.types.is_integer(arr.type):
            ints = pc.cast(arr, pa.int64())
            handled = pc.greater_equal(ints, 0)  # negative ages are the op's to refuse
        elif pa.types.is_floating(arr.type):
            f = pc.cast(arr, pa.float64())
            handled = pc.and_(pc.is_finite(f), pc.and_(pc.greater_equal(f, 0), pc.less(f, 1e15)))
            ints = pc.cast(pc.trunc(pc.if_else(handled, f, 0.0)), pa.int64())
        else:
            return pa.nulls(n, pa.string()), pa.repeat(False, n)
        out = pc.if_else(pc.greater(ints, r.top), over, pc.cast(ints, pa.string()))
        return out, handled

    return kernel


def _bucket_kernel(r: Bucket) -> Callable[[pa.Array], Any]:
    def numeric(arr: pa.Array) -> tuple[pa.Array, pa.Array] | None:
        if pa.types.is_integer(arr.type):
            v = pc.cast(arr, pa.int64())
            return v, pc.less(pc.abs(v), _EXACT_FLOAT)
        if pa.types.is_floating(arr.type):
            f = pc.cast(arr, pa.float64())
            ok = pc.and_(pc.is_finite(f), pc.less(pc.abs(f), _EXACT_FLOAT))
            return pc.if_else(ok, f, 0.0), ok
        return None

    def by_bounds(v: pa.Array) -> pa.Array:
        assert r.bounds is not None
        b = r.bounds
        labels = pa.array(bound_labels(r), pa.string())
        vals = pc.fill_null(v, 0).to_numpy(zero_copy_only=False)
        pos = np.searchsorted(np.asarray(b, dtype=np.float64), vals, side="right")
        return labels.take(pa.array(pos))

    def by_size(v: pa.Array) -> pa.Array:
        assert r.size is not None
        size, lo_cap, hi_cap = r.size, r.min, r.max
        origin = lo_cap if lo_cap is not None else 0
        # floor((v - origin) / size) in float64, as the op computes it
        q = pc.floor(pc.divide(pc.cast(pc.subtract(v, origin), pa.float64()), float(size)))
        lo = pc.add(pc.multiply(pc.cast(q, pa.int64()), size), origin)
        hi = pc.add(lo, size)
        if hi_cap is not None:
            hi = pc.min_element_wise(hi, hi_cap)
        out = pc.binary_join_element_wise(pc.cast(lo, pa.string()), pc.cast(hi, pa.string()), "-")
        if lo_cap is not None:
            out = pc.if_else(pc.less(v, lo_cap), f"<{lo_cap}", out)
        if hi_cap is not None:
            out = pc.if_else(pc.greater_equal(v, hi_cap), f"{hi_cap}+", out)
        return out

    label = by_bounds if r.bounds is not None else by_size

    def kernel(arr: pa.Array) -> tuple[pa.Array, pa.Array]:
        num = numeric(arr)
        if num is None:
            return pa.nulls(len(arr), pa.string()), pa.repeat(False, len(arr))
        v, ok = num
        return label(v), ok

    return kernel


def generalize_kernel(
    params: GeneralizeParams, ftype: FieldType, op: Op, as_of: date | None = None
) -> ColumnFn:
    """``as_of``: the disclosure date the op was bound with (``top_age`` needs it)."""
    r = params.rule
    out_type = generalize_type(params)
    slow = per_unique(op, out_type)
    if isinstance(r, Year | Month):
        kernel = _date_kernel(r, ftype, as_of)
    elif isinstance(r, Zip3):
        kernel = _zip3_kernel(r)
    elif isinstance(r, Age):
        kernel = _age_kernel(r)
    else:
        kernel = _bucket_kernel(r)
    return with_fallback(kernel, slow, out_type)


def generalize_type(params: GeneralizeParams) -> pa.DataType:
    """The Arrow type of the op's outputs: int64 for plain years, else strings."""
    r = params.rule
    return pa.int64() if isinstance(r, Year) and r.top_age is None else pa.string()
