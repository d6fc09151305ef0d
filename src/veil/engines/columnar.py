"""The columnar engine: a compiled plan applied to Arrow record batches.

It gives the record engine's answers (the tests in ``tests/bulk`` compare the two value by
value) at column speed:

* **Binding.** Every transform op of the plan is bound once, before the first batch
  (``transforms.get(name).bind(params, BindContext(...))``), so a missing key fails
  before any output. Kernels (:mod:`veil.engines.kernels`) vectorize what Arrow or numpy
  can compute exactly and hand every other value to the bound op.
* **Schema first.** :meth:`ColumnarEngine.prepare` checks the input schema before any
  row is read: every column must be a declared field (or, with ``drop_undeclared``, is
  dropped and counted), of an Arrow type that fits its declared type; nested datasets
  (struct/list fields) are refused with a message pointing to the record engine. The
  output schema follows: the declared columns some decision discloses, in input order.
* **Row-dependent rules.** The plan's residual predicates read a few record fields. They
  are evaluated with the record engine's own condition code, once per *distinct
  combination* of the values they read in a batch (dictionary codes, ``np.unique``), then
  broadcast to the rows. Exact whatever the condition; as cheap as a kernel when the
  columns they read have few distinct values (consent flags, organisation ids), and
  per-row in the worst case. Row filters (``then: exclude``) drop rows the same way.
* **Fail closed.** A field whose decision does not disclose has no column (or nulls in
  the rows where it is not disclosed); a cell a transform cannot handle is null and
  counted as ``withheld``. Errors name the row and column, never a value.

Counts follow the record engine: per field and outcome label, the number of non-null
values of returned rows (``redacted`` counts values that were omitted).

Why one module of ~700 lines: it is one engine whose schema preparation, row predicates,
per-field kernel choice and tally share the batch-local state of a bound plan; its pure
kernels already live in :mod:`veil.engines.kernels`.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InputError, TransformError
from ..keys import Keyring
from ..paths import PathSyntaxError, parse_selector
from ..policy.bundle import FieldInfo
from ..policy.conditions import ConditionSyntaxError, Context, Dnf, attribute_refs, holds_dnf
from ..policy.decision import Outcome
from ..policy.plan import Plan
from ..transforms.base import FieldType, Op
from ..transforms.dates import DateShiftParams, shift_key
from ..transforms.generalize import GeneralizeParams
from . import kernels
from .kernels import ColumnFn, no_withheld, per_unique
from .record import CHECKS, Bound

_SAFE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,63}$")
#: Above this many residual predicates the reachable decision tables are not enumerated.
_ENUMERATE_MAX = 10
_MIXED = pa.string()
#: declared types whose values the engine never checks beyond their Arrow type
_COUNTABLE = (FieldType.STRING, FieldType.INTEGER, FieldType.BOOLEAN)

#: Arrow types each declared field type accepts (after dictionary decoding).
_ACCEPTS: dict[FieldType, Callable[[pa.DataType], bool]] = {
    FieldType.STRING: lambda t: pa.types.is_string(t) or pa.types.is_large_string(t),
    FieldType.INTEGER: pa.types.is_integer,
    FieldType.NUMBER: lambda t: pa.types.is_integer(t) or pa.types.is_floating(t),
    FieldType.BOOLEAN: pa.types.is_boolean,
    FieldType.DATE: lambda t: (
        pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_date(t)
    ),
    FieldType.DATETIME: lambda t: (
        pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_timestamp(t)
    ),
}
_ARROW_HINT = {
    FieldType.STRING: "string",
    FieldType.INTEGER: "an integer type (int64)",
    FieldType.NUMBER: "a floating-point or integer type (double)",
    FieldType.BOOLEAN: "bool",
    FieldType.DATE: "date32 or ISO 8601 strings",
    FieldType.DATETIME: "timestamp or ISO 8601 strings",
}


_COMPACT_EVERY = 4_000_000


def _sorted_distinct(ids: pa.Array) -> pa.Array:
    """The distinct non-null strings of ``ids``, sorted: sorted, then each kept where it
    differs from the one before. A hash table of a million ids (``pc.unique``) took 3 to
    10 times as long as the sort, once it no longer fit in the cache."""
    if ids.null_count:
        ids = ids.drop_null()
    if len(ids) < 2:
        return ids
    ids = ids.take(pc.sort_indices(ids))
    differs = pc.not_equal(ids.slice(1), ids.slice(0, len(ids) - 1))
    return ids.filter(pa.concat_arrays([pa.array([True]), differs]))


class SubjectSet:
    """Distinct data-subject ids, kept as Arrow strings (about 20 bytes an id, where a
    Python set of str costs 80-100): a 5M-row extract's ids stay a few dozen MiB until
    the event is built."""

    def __init__(self) -> None:
        self._parts: list[pa.Array] = []
        self._unique: pa.Array = pa.array([], pa.string())
        self._pending = 0

    def update(self, ids: pa.Array) -> None:
        # Deduplicated only when the parts could outgrow the result (at most ~4M ids
        # pending, a few dozen MiB): all-distinct ids (the common extract) once, at the
        # end. A hash of each batch's ids on arrival was ~6% of a research extract.
        self._parts.append(ids)
        self._pending += len(ids)
        if self._pending > max(2 * len(self._unique), _COMPACT_EVERY):
            self._compact()

    def merge(self, other: SubjectSet) -> None:
        self._parts.append(other.array())
        self._compact()

    def _compact(self) -> None:
        if self._parts:
            self._unique = _sorted_distinct(pa.concat_arrays([self._unique, *self._parts]))
            self._parts, self._pending = [], 0
            # the sort and the concatenation were transient: give them back
            pa.default_memory_pool().release_unused()

    def array(self) -> pa.Array:
        """The distinct ids, sorted (Arrow's byte order of UTF-8 is code point order, so
        this is ``sorted()`` of the Python strings)."""
        self._compact()
        return self._unique

    def sorted(self) -> list[str]:
        return self.array().to_pylist()  # type: ignore[no-any-return]

    def __len__(self) -> int:
        self._compact()
        return len(self._unique)

    def __iter__(self) -> Iterator[str]:
        return iter(self.sorted())


@dataclass
class Tally:
    """What a job disclosed, mergeable across batches, parts and Spark partitions."""

    read: int = 0
    returned: int = 0
    filtered: int = 0
    #: (field path, outcome label) -> number of values; "withheld" is a label too
    cells: Counter[tuple[str, str]] = field(default_factory=Counter)
    #: decision tables (predicate masks) that returned at least one row
    masks: set[int] = field(default_factory=set)
    undeclared: Counter[str] = field(default_factory=Counter)
    subjects: SubjectSet = field(default_factory=SubjectSet)
    #: scan_text: field path -> entity type -> number acted on
    entities: dict[str, Counter[str]] = field(default_factory=dict)

    def merge(self, other: Tally) -> None:
        self.read += other.read
        self.returned += other.returned
        self.filtered += other.filtered
        self.cells.update(other.cells)
        self.masks |= other.masks
        self.undeclared.update(other.undeclared)
        self.subjects.merge(other.subjects)
        for path, counts in other.entities.items():
            self.entities.setdefault(path, Counter()).update(counts)

    def outcome_counts(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for (path, label), n in self.cells.items():
            if n:
                out.setdefault(path, {})[label] = n
        return out


@dataclass(frozen=True)
class _Predicate:
    dnf: Dnf
    columns: tuple[str, ...]  # record fields the predicate reads
    whole_record: bool  # reads ``$.record`` itself: needs every column


def _record_keys(dnf: Dnf) -> tuple[tuple[str, ...], bool]:
    cols: list[str] = []
    whole = False

    def note(keys: tuple[str, ...]) -> None:
        nonlocal whole
        if not keys or keys[0] != "record":
            return
        if len(keys) == 1:
            whole = True
        elif keys[1] not in cols:
            cols.append(keys[1])

    for conj in dnf:
        for clause in conj:
            if clause.ace == "resource":
                note(clause.keys)
            for ace, selector in attribute_refs(clause.condition):
                if ace == "resource":
                    try:
                        note(parse_selector(selector))
                    except PathSyntaxError:
                        continue
    return tuple(cols), whole


def _unwrap(t: pa.DataType) -> pa.DataType:
    return t.value_type if pa.types.is_dictionary(t) else t


def _nested(t: pa.DataType) -> bool:
    return bool(
        pa.types.is_struct(t)
        or pa.types.is_list(t)
        or pa.types.is_large_list(t)
        or pa.types.is_fixed_size_list(t)
        or pa.types.is_map(t)
        or pa.types.is_union(t)
    )


def _normalized_type(t: pa.DataType) -> pa.DataType:
    t = _unwrap(t)
    if pa.types.is_large_string(t):
        return pa.string()
    if pa.types.is_integer(t):
        return pa.int64()
    if pa.types.is_floating(t):
        return pa.float64()
    if pa.types.is_date(t):
        return pa.date32()
    return t


def _normalize(arr: pa.Array, where: str) -> pa.Array:
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if pa.types.is_dictionary(arr.type):
        arr = arr.dictionary_decode()
    target = _normalized_type(arr.type)
    if arr.type == target:
        return arr
    try:
        return pc.cast(arr, target)
    except (pa.ArrowInvalid, OverflowError):  # uint64 beyond int64
        raise InputError(
            f"{where}: integers beyond the 64-bit signed range",
            hint="veil integers are 64-bit signed; cast or split the column",
        ) from None


class ColumnarEngine:
    """One job's columnar view of a plan: bound ops, schema, and this job's tally.

    Not thread-safe (one engine per job, per Spark task). ``row_base`` numbers rows in
    error messages; ``line_offset`` (CSV: 1, for the header) turns them into line numbers.
    """

    def __init__(
        self,
        plan: Plan,
        keys: Keyring,
        *,
        drop_undeclared: bool = False,
        line_offset: int | None = None,
        bound: Bound | None = None,
    ) -> None:
        """``bound``: the plan already bound (by :meth:`veil.core.Veil.bound`, with its
        vault and disclosure date); by default it is bound here to ``keys`` alone."""
        ds = plan.dataset
        if not ds.is_flat:
            raise InputError(
                f"dataset '{ds.name}' has nested fields (objects or lists); the columnar "
                "engine handles flat datasets only",
                hint="use JSON or JSONL input, which the record engine sanitizes",
            )
        self.plan = plan
        self.keys = keys
        self.drop_undeclared = drop_undeclared
        self.line_offset = line_offset
        self._given_bound = bound
        self.tally = Tally()
        self.key_fingerprints: dict[str, str] = {}
        self.rows_seen = 0
        self._fns: dict[tuple[str, str], ColumnFn] = {}
        self._offsets: kernels.OffsetCache = {}
        self._bind_all()
        self._subject = ds.data_subject[0]
        self._preds = tuple(_Predicate(d, *_record_keys(d)) for d in plan.predicates)
        self._elements = dict(plan.elements)
        self._in: pa.Schema | None = None
        self.output_schema: pa.Schema | None = None
        self._columns: list[tuple[str, FieldInfo]] = []  # declared input columns
        self._undeclared: list[str] = []
        self._counted: dict[str, str] = {}  # column -> label, not read (count_only)

    # -- binding ------------------------------------------------------------------
    def _bind_all(self) -> None:
        # The record engine's binding, reused: the same ops (so keyed outputs are the same
        # bytes), bound before any batch, so a missing key fails first.
        self._bound = self._given_bound or Bound(self.plan, self.keys)
        self.key_fingerprints = dict(self._bound.key_fingerprints)

    def _op(self, path: str, outcome: Outcome) -> Op:
        return self._bound._op(path, outcome.describe(), outcome)

    def _entities(self, path: str, counts: Counter[str]) -> None:
        self.tally.entities.setdefault(path, Counter()).update(counts)

    def _fn(self, path: str, outcome: Outcome, ftype: FieldType, in_type: pa.DataType) -> ColumnFn:
        key = (path, outcome.describe())
        fn = self._fns.get(key)
        if fn is not None:
            return fn
        op = self._op(path, outcome)
        name, params = outcome.transform, outcome.params
        out_type = _transform_type(outcome, in_type)
        if name == "keep":
            fn = _identity
        elif name == "nullify":
            fn = _nulls(in_type)
        elif name == "replace":
            fn = _constant(getattr(params, "value", None), out_type)
        elif name == "mask":
            fn = kernels.mask_kernel(params, ftype, op)  # type: ignore[arg-type]
        elif name == "truncate":
            fn = kernels.truncate_kernel(params, op)  # type: ignore[arg-type]
        elif name == "generalize":
            assert isinstance(params, GeneralizeParams)
            fn = kernels.generalize_kernel(params, ftype, op, self._bound.as_of)
        elif name == "date_shift":
            assert isinstance(params, DateShiftParams)
            key_bytes = shift_key(params, self.keys, self.plan.request.effective_recipient)
            fn = kernels.date_shift_kernel(params, key_bytes, ftype, op, self._offsets)
        elif name in ("hash", "tokenize", "fpe", "mask_date"):
            fn = per_unique(op, out_type)  # per value: same bytes as the record engine
        else:
            # date_shift and any transform without a kernel: the op itself, once per
            # distinct (value, data subject) pair, since its output may depend on both.
            fn = _checked_strings(
                name or "?", per_unique(op, out_type, by_subject=True, entities=self._entities)
            )
        self._fns[key] = fn
        return fn

    # -- schema -------------------------------------------------------------------
    def prepare(self, schema: pa.Schema) -> pa.Schema:
        """Check the input schema (every problem names its column) and fix the output."""
        ds = self.plan.dataset
        if self._in is not None:
            if not schema.equals(self._in):
                raise InputError(
                    "the input's columns changed between parts",
                    hint="every part of one input must have the same schema",
                )
            assert self.output_schema is not None
            return self.output_schema
        columns: list[tuple[str, FieldInfo]] = []
        undeclared: list[str] = []
        for f in schema:
            info = ds.fields.get(f.name)
            t = _unwrap(f.type)
            if info is None:
                if not self.drop_undeclared:
                    raise InputError(
                        f"column '{_safe(f.name)}' is not a field of dataset '{ds.name}'",
                        hint="declare it in the dataset, drop the column from the input, or "
                        "pass --drop-undeclared to drop (and count) undeclared columns",
                    )
                undeclared.append(f.name)
                continue
            if _nested(t):
                raise InputError(
                    f"column '{f.name}' has the nested Arrow type {t}; the columnar engine "
                    "handles flat columns only",
                    hint="flatten it into declared top-level fields, or sanitize JSONL with "
                    "the record engine",
                )
            if not pa.types.is_null(t) and not _ACCEPTS[info.type](t):
                raise InputError(
                    f"column '{f.name}' has Arrow type {t}, but dataset '{ds.name}' declares "
                    f"it {info.type.value}",
                    hint=f"write the column as {_ARROW_HINT[info.type]}, or fix the dataset's "
                    "declaration",
                )
            columns.append((f.name, info))
        names = [c for c, _ in columns]
        if self._subject not in names:
            raise InputError(
                f"the input has no column '{self._subject}' (the data-subject id of dataset "
                f"'{ds.name}')",
                hint="every row must say whose data it is",
            )
        st = _normalized_type(schema.field(self._subject).type)
        if not (pa.types.is_string(st) or pa.types.is_integer(st)):
            raise InputError(
                f"column '{self._subject}' (the data-subject id) has Arrow type {st}",
                hint="data-subject ids are strings or integers",
            )
        out_fields = []
        for name, _info in columns:
            t = self._output_type(name, _normalized_type(schema.field(name).type))
            if t is not None:
                out_fields.append(pa.field(name, t))
        self._in = schema
        self._columns = columns
        self._undeclared = undeclared
        self.output_schema = pa.schema(out_fields)
        return self.output_schema

    def unread(self) -> dict[str, str]:
        """Declared input columns whose values nothing needs, with their outcome label.

        No reachable decision discloses them and no rule reads them, so only whether each
        value is null matters (for the counts). Callers may send a placeholder of the same
        null pattern instead of the values (Spark), or count them from metadata
        (:meth:`prunable`).
        """
        if self.output_schema is None or any(p.whole_record for p in self._preds):
            return {}
        read = {c for p in self._preds for c in p.columns} | {self._subject}
        shown = set(self.output_schema.names) | read
        labels: dict[str, str] = {}
        for name, _ in self._columns:
            if name in shown:
                continue
            outcomes = {o.label for o in self._reachable(name)}
            labels[name] = outcomes.pop() if len(outcomes) == 1 else ""
        return {n: label for n, label in labels.items() if label}

    def prunable(self) -> dict[str, str]:
        """:meth:`unread` columns whose values may go unread entirely: when every row is
        returned under one decision table, their values all count under one label."""
        if self.plan.predicates or self.plan.row_filters:
            return {}
        return self.unread()

    def skip(self, names: set[str]) -> None:
        """Stop expecting ``names`` (from :meth:`prunable`); the caller counts them."""
        assert self._in is not None and names <= set(self.prunable())
        self._columns = [(n, i) for n, i in self._columns if n not in names]
        self._in = pa.schema([f for f in self._in if f.name not in names])

    def countable(self) -> dict[str, str]:
        """:meth:`unread` columns whose values need no check (strings, integers and
        booleans: their Arrow type was checked by :meth:`prepare`), with their label.
        Where every value is present (the caller reads that from the file's footer),
        each kept row counts one cell under that label: their values need not be read
        even where rules filter rows or pick outcomes per row (:meth:`count_only`)."""
        if self._in is None:
            return {}
        types = dict(self._columns)
        return {
            name: label
            for name, label in self.unread().items()
            if name in types and types[name].type in _COUNTABLE
        }

    def count_only(self, names: set[str]) -> None:
        """Stop expecting ``names`` (from :meth:`countable`; the caller found every value
        present): each batch counts one cell per kept row under the column's label."""
        labels = self.countable()
        assert self._in is not None and names <= set(labels)
        self._counted.update({name: labels[name] for name in sorted(names)})
        self._columns = [(n, i) for n, i in self._columns if n not in names]
        self._in = pa.schema([f for f in self._in if f.name not in names])

    def _reachable(self, path: str) -> set[Outcome]:
        k = len(self.plan.predicates)
        if k <= _ENUMERATE_MAX:
            return {self.plan.decide(m)[path].outcome for m in range(1 << k)}
        fr = self.plan.fields[path]
        return {self.plan.decide(0)[path].outcome, *(m.outcome for _, m in fr.dynamic)}

    def _output_type(self, path: str, in_type: pa.DataType) -> pa.DataType | None:
        types = {
            _transform_type(o, in_type) if o.verdict == "transform" else in_type
            for o in self._reachable(path)
            if o.discloses
        }
        if not types:
            return None
        return types.pop() if len(types) == 1 else _MIXED

    # -- rows ---------------------------------------------------------------------
    def _error(self, row: int, message: str, hint: str = "") -> InputError:
        if self.line_offset is not None:
            return InputError(message, line=row + self.line_offset, hint=hint)
        return InputError(f"row {row}: {message}", hint=hint)

    def apply(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        """Sanitize one batch; returns a batch of the output schema (maybe empty)."""
        schema = self.prepare(batch.schema)
        base = self.rows_seen  # rows before this batch, for error messages
        n = batch.num_rows
        self.rows_seen += n
        t = self.tally
        t.read += n
        if n == 0:
            return _empty(schema)
        subjects = _normalize(batch.column(self._subject), self._subject)
        if subjects.null_count:
            first = int(np.flatnonzero(pc.is_null(subjects).to_numpy(zero_copy_only=False))[0])
            raise self._error(
                base + first + 1,
                f"record has no data-subject id in column '{self._subject}'",
                hint="every record must say whose data it is (a string or integer)",
            )
        subjects = pc.cast(subjects, pa.string())
        masks = self._masks(batch, base) if self._preds else np.zeros(n, dtype=np.int64)
        keep = self._kept(masks)
        rows = np.arange(n) if keep is None else np.flatnonzero(keep)
        t.filtered += n - len(rows)
        t.returned += len(rows)
        sel = None
        if keep is not None:
            sel = pa.array(keep)  # columns are filtered one by one below (~30% less work)
            subjects = subjects.filter(sel)
            masks = masks[keep]
        if not len(rows):
            return _empty(schema)
        for name in self._undeclared:
            t.undeclared[_safe(name)] += len(rows)
        for name, label in self._counted.items():  # every value present (count_only)
            t.cells[(name, label)] += len(rows)
        t.subjects.update(subjects)
        used = kernels.unique_inverse(masks)[0]
        t.masks.update(int(m) for m in used)
        tables = {int(m): self.plan.decide(int(m)) for m in used}
        out: dict[str, pa.Array] = {}
        for name, info in self._columns:
            col = batch.column(name)
            # Nothing of it returned: counted and checked where rows were kept, not
            # filtered (half the columns of a research extract, and a tenth of its time)
            if (
                keep is not None
                and name not in schema.names
                and self._withheld(name, info, _normalize(col, name), keep, masks, tables, base)
            ):
                continue
            arr = _normalize(col if sel is None else col.filter(sel), name)
            self._validate(name, info, arr, rows, base)
            res = self._field(name, info, arr, subjects, masks, tables)
            if res is not None and name in schema.names:
                out[name] = res
        arrays = []
        for f in schema:
            a = out.get(f.name)
            if a is None:
                a = pa.nulls(len(rows), f.type)
            elif a.type != f.type:
                a = pc.cast(a, f.type)
            arrays.append(a)
        return pa.RecordBatch.from_arrays(arrays, schema=schema)

    def _withheld(
        self,
        name: str,
        info: FieldInfo,
        col: pa.Array,
        keep: np.ndarray,
        masks: np.ndarray,
        tables: dict[int, Any],
        base: int,
    ) -> bool:
        """For a column the output does not hold, whose outcomes here all withhold it
        (redact, deny): check it and count its cells over the kept rows (``keep``;
        ``masks`` are theirs) without filtering it, as :meth:`_one` counts them. False
        (nothing done) if an outcome is of another kind."""
        by_outcome: dict[Outcome, list[int]] = {}
        for m, table in tables.items():
            by_outcome.setdefault(table[name].outcome, []).append(m)
        if any(o.verdict not in ("redact", "deny") for o in by_outcome):
            return False
        try:  # every row valid means every kept row is; else find the first kept one
            self._validate(name, info, col, np.arange(len(col)), base)
        except InputError:
            rows = np.flatnonzero(keep)
            self._validate(name, info, col.filter(pa.array(keep)), rows, base)
        present = _present(col)
        self._count(name, present if present is None else present[keep], masks, by_outcome)
        return True

    def _count(
        self,
        name: str,
        valid: np.ndarray | None,
        masks: np.ndarray,
        by_outcome: dict[Outcome, list[int]],
    ) -> dict[Outcome, np.ndarray]:
        """Count each outcome's cells of column ``name`` (the rows of ``masks`` whose
        value is present: ``valid``, None for all), as :meth:`_one` counts them; returns
        each outcome's rows."""
        rows: dict[Outcome, np.ndarray] = {}
        for outcome, ms in by_outcome.items():
            inside = kernels.member(masks, ms)
            rows[outcome] = inside
            present = int(np.count_nonzero(inside if valid is None else valid & inside))
            if present:
                self.tally.cells[(name, outcome.label)] += present
        return rows

    def _kept(self, masks: np.ndarray) -> np.ndarray | None:
        filters = self.plan.row_filters
        if not filters:
            return None
        excluded = np.zeros(len(masks), dtype=bool)
        for _rule, idx in filters:
            if idx is None:
                excluded[:] = True
            else:
                excluded |= ((masks >> idx) & 1).astype(bool)
        return ~excluded if excluded.any() else None

    def _masks(self, batch: pa.RecordBatch, base: int) -> np.ndarray:
        n = batch.num_rows
        masks = np.zeros(n, dtype=np.int64)
        names = batch.schema.names
        ds_name = self.plan.dataset.name
        for i, p in enumerate(self._preds):
            cols = names if p.whole_record else [c for c in p.columns]
            codes = np.zeros(n, dtype=np.int64)
            decoded: list[list[Any]] = []
            for c in cols:
                if c in names:
                    idx, values = kernels._codes(batch.column(c))
                else:
                    idx, values = np.zeros(n, dtype=np.int64), [None]
                if len(decoded) and codes.max(initial=0) * len(values) > 2**62:
                    codes = kernels.unique_inverse(codes)[1]
                codes = codes * len(values) + idx
                decoded.append(values)
            uniq, inverse = kernels.unique_inverse(codes)
            holds = np.zeros(len(uniq), dtype=bool)
            for j, code in enumerate(uniq):
                record: dict[str, Any] = {}
                rest = int(code)
                for c, values in zip(reversed(cols), reversed(decoded), strict=True):
                    rest, k = divmod(rest, len(values))
                    if c in names:
                        record[c] = values[k]
                ctx = Context(
                    {**self._elements, "resource": {"dataset": ds_name, "record": record}}
                )
                try:
                    holds[j] = holds_dnf(p.dnf, ctx)
                except (TypeError, ValueError, ConditionSyntaxError):
                    first = int(np.flatnonzero(inverse == j)[0])
                    raise self._error(
                        base + first + 1,
                        "a row-dependent rule could not evaluate this record",
                        hint="check the types of the fields rules read",
                    ) from None
            masks |= holds[inverse].astype(np.int64) << i
        return masks

    def _validate(
        self, name: str, info: FieldInfo, arr: pa.Array, rows: np.ndarray, base: int
    ) -> None:
        def fail(bad: np.ndarray, problem: str) -> InputError:
            first = int(rows[int(np.flatnonzero(bad)[0])])
            return self._error(base + first + 1, f"column '{name}': {problem}")

        if arr.null_count and not info.nullable:
            raise fail(pc.is_null(arr).to_numpy(zero_copy_only=False), "null is not allowed")
        if pa.types.is_floating(arr.type):
            finite = pc.fill_null(pc.is_finite(arr), True).to_numpy(zero_copy_only=False)
            if not finite.all():  # as the record engine: NaN and Infinity are not numbers
                raise fail(~finite, "expected a finite number (NaN and Infinity are not JSON)")
            return
        if not pa.types.is_string(arr.type) or info.type not in (
            FieldType.DATE,
            FieldType.DATETIME,
        ):
            return
        what = f"expected {info.type.value} (ISO 8601)"
        if info.type == FieldType.DATE and kernels.iso_days(arr) is not None:
            return
        # Exact: the record engine's own check, once per distinct value.
        check = CHECKS[info.type]
        codes, values = kernels._codes(arr)
        invalid = np.array([v is not None and not check(v) for v in values], dtype=bool)
        if invalid.any():
            raise fail(invalid[codes], what)

    def _field(
        self,
        name: str,
        info: FieldInfo,
        arr: pa.Array,
        subjects: pa.Array,
        masks: np.ndarray,
        tables: dict[int, Any],
    ) -> pa.Array | None:
        by_outcome: dict[Outcome, list[int]] = {}
        for m, table in tables.items():
            by_outcome.setdefault(table[name].outcome, []).append(m)
        if len(by_outcome) == 1:
            (outcome,) = by_outcome
            return self._one(name, info, arr, subjects, outcome)
        parts: list[tuple[np.ndarray, pa.Array]] = []
        out_type = (
            self.output_schema.field(name).type
            if self.output_schema is not None and name in self.output_schema.names
            else None
        )
        shown = [o for o in by_outcome if o.verdict not in ("redact", "deny")]
        if len(shown) == 1 and shown[0].verdict == "allow" and out_type is not None:
            # Shown as it is in some rows, withheld in the rest (a rule redacts the
            # sensitive ones): nulls put in one pass, the counts from the masks, where a
            # take per outcome and a scatter back cost a tenth of a research extract.
            return self._shown_where(name, arr, masks, by_outcome, shown[0])
        for outcome, ms in by_outcome.items():
            idx = np.flatnonzero(kernels.member(masks, ms))
            take = pa.array(idx)
            res = self._one(name, info, arr.take(take), subjects.take(take), outcome)
            if out_type is not None:
                parts.append((idx, res if res is not None else pa.nulls(len(idx), out_type)))
        if out_type is None:
            return None
        return kernels.scatter(len(arr), parts, out_type)

    def _shown_where(
        self,
        name: str,
        arr: pa.Array,
        masks: np.ndarray,
        by_outcome: dict[Outcome, list[int]],
        allowed: Outcome,
    ) -> pa.Array:
        """The column where ``allowed`` (allow) decides its rows, null where the other
        outcomes (redact, deny) do, with each outcome's cells counted as :meth:`_one`
        counts them."""
        keep = self._count(name, _present(arr), masks, by_outcome)[allowed]
        return pc.if_else(pa.array(keep), arr, pa.scalar(None, arr.type))

    def _one(
        self, name: str, info: FieldInfo, arr: pa.Array, subjects: pa.Array, outcome: Outcome
    ) -> pa.Array | None:
        cells = self.tally.cells
        present = len(arr) - arr.null_count
        label = outcome.label
        if outcome.verdict in ("redact", "deny"):
            if present:
                cells[(name, label)] += present
            return None
        if outcome.verdict == "allow":
            if present:
                cells[(name, label)] += present
            return arr
        fn = self._fn(name, outcome, info.value_type, arr.type)
        res, withheld = fn(arr, subjects)
        w = int(withheld.sum())
        if present - w:
            cells[(name, label)] += present - w
        if w:
            cells[(name, "withheld")] += w
        return res


def _present(arr: pa.Array) -> np.ndarray | None:
    """Which values of ``arr`` are not null, or None if all are."""
    return pc.is_valid(arr).to_numpy(zero_copy_only=False) if arr.null_count else None


def _safe(name: str) -> str:
    return name if _SAFE_NAME.match(name) else "<unnamed>"


def _empty(schema: pa.Schema) -> pa.RecordBatch:
    return pa.RecordBatch.from_arrays([pa.nulls(0, f.type) for f in schema], schema=schema)


def _transform_type(outcome: Outcome, in_type: pa.DataType) -> pa.DataType:
    name, params = outcome.transform, outcome.params
    if name in ("keep", "nullify"):
        return in_type
    if name == "replace":
        value = getattr(params, "value", None)
        if value is None:
            return in_type
        if isinstance(value, bool):
            return pa.bool_()
        if isinstance(value, int):
            return pa.int64()
        if isinstance(value, float):
            return pa.float64()
        return pa.string()
    if name == "generalize":
        return kernels.generalize_type(params)  # type: ignore[arg-type]
    return pa.string()


def _identity(arr: pa.Array, subjects: pa.Array) -> tuple[pa.Array, np.ndarray]:
    return arr, no_withheld(len(arr))


def _nulls(t: pa.DataType) -> ColumnFn:
    def run(arr: pa.Array, subjects: pa.Array) -> tuple[pa.Array, np.ndarray]:
        return pa.nulls(len(arr), t), no_withheld(len(arr))

    return run


def _constant(value: Any, t: pa.DataType) -> ColumnFn:
    def run(arr: pa.Array, subjects: pa.Array) -> tuple[pa.Array, np.ndarray]:
        if value is None:
            return pa.nulls(len(arr), t), no_withheld(len(arr))
        out = pc.if_else(pc.is_valid(arr), pa.scalar(value, t), pa.scalar(None, t))
        return out, no_withheld(len(arr))

    return run


def _checked_strings(name: str, fn: ColumnFn) -> ColumnFn:
    """A transform without a kernel must produce strings (or the column type is unknown)."""

    def run(arr: pa.Array, subjects: pa.Array) -> tuple[pa.Array, np.ndarray]:
        try:
            return fn(arr, subjects)
        except (pa.ArrowTypeError, pa.ArrowInvalid):
            raise TransformError(
                f"transform '{name}' returned non-string values, which the columnar engine "
                "cannot type",
                hint="sanitize this dataset as JSONL with the record engine",
            ) from None

    return run
