"""Streaming Parquet, CSV and Arrow IPC in and out, in bounded batches.

Readers yield Arrow record batches of at most ``batch_rows`` rows (CSV: blocks of a few
MiB), so memory stays bounded whatever the file size. CSV columns are read as text and
converted by veil to the dataset's declared types, so a bad value is reported by line and
column without Arrow quoting it. Writers write to a binary spool; publishing is the
caller's business (see :func:`veil.formats.spool.spooled_output`).
"""

from __future__ import annotations

import contextlib
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ..errors import InputError
from ..policy.bundle import DatasetInfo
from ..transforms.base import FieldType

BULK_FORMATS = ("parquet", "csv", "arrow")
_SUFFIXES = {
    "parquet": "parquet",
    "pq": "parquet",
    "arrow": "arrow",
    "arrows": "arrow",
    "feather": "arrow",
    "ipc": "arrow",
    "csv": "csv",
}
DEFAULT_BATCH_ROWS = 65_536
_CSV_BLOCK = 4 << 20
_INT = r"^[+-]?[0-9]+$"
_NUM = r"^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$"
_TRUE = pa.array(["true", "1", "yes"])
_FALSE = pa.array(["false", "0", "no"])


def bulk_format(path: str | None) -> str | None:
    """The bulk format a file name implies (``x.parquet`` -> parquet), else None."""
    if not path or path == "-":
        return None
    return _SUFFIXES.get(Path(path).suffix.lower().lstrip("."))


@dataclass
class Source:
    """An opened input: its schema, total rows if known, and its batches."""

    schema: pa.Schema
    total_rows: int | None
    batches: Iterator[pa.RecordBatch]
    line_offset: int | None = None  # CSV: errors name lines (row + 1, for the header)


def open_source(
    path: str,
    fmt: str,
    ds: DatasetInfo,
    *,
    batch_rows: int = DEFAULT_BATCH_ROWS,
    columns: list[str] | None = None,
) -> Source:
    """Open ``path`` (or ``-`` for stdin, CSV and Arrow IPC only) as batches.

    ``columns`` (Parquet only) reads just those columns.
    """
    if fmt == "parquet":
        return _unique_columns(_parquet(path, batch_rows, columns))
    if fmt == "arrow":
        return _unique_columns(_ipc(path))
    if fmt == "csv":
        return _unique_columns(_csv(path, ds))
    raise InputError(f"'{fmt}' is not a bulk format", hint=f"use {', '.join(BULK_FORMATS)}")


def _unique_columns(src: Source) -> Source:
    """Refuse a schema that names a column twice: which of the two a rule applies to
    would be up to the reader, and one of them could leave untreated."""
    seen: set[str] = set()
    for name in src.schema.names:
        if name in seen:
            raise InputError(
                f"column '{name}' appears twice in the input",
                hint="each column may appear once; rename or drop the duplicate",
            )
        seen.add(name)
    return src


def _cannot_read(path: str, what: str) -> InputError:
    return InputError(f"cannot read '{path}' as {what}", hint=f"check that the file is {what}")


def parquet_values(path: str, names: list[str]) -> dict[str, int]:
    """Non-null values per column, from the footer's statistics, for the columns of
    ``names`` whose every row group records a null count (the others are left out)."""
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(path).metadata
    index = {meta.schema.column(i).path: i for i in range(meta.num_columns)}
    out: dict[str, int] = {}
    for name in names:
        i = index.get(name)
        if i is None:
            continue
        total = 0
        for g in range(meta.num_row_groups):
            chunk = meta.row_group(g).column(i)
            st = chunk.statistics
            if st is None or not st.has_null_count:
                break
            total += meta.row_group(g).num_rows - st.null_count
        else:
            out[name] = total
    return out


def _parquet(path: str, batch_rows: int, columns: list[str] | None = None) -> Source:
    import pyarrow.parquet as pq

    if path == "-":
        raise InputError(
            "Parquet cannot be read from stdin", hint="pass the path of the Parquet file"
        )
    try:
        # pre_buffer coalesces reads for object stores; locally it only holds memory
        pf = pq.ParquetFile(path, pre_buffer=False)
    except (OSError, pa.ArrowException):
        raise _cannot_read(path, "Parquet") from None

    def batches() -> Iterator[pa.RecordBatch]:
        try:
            yield from pf.iter_batches(batch_size=batch_rows, columns=columns)
        except (OSError, pa.ArrowException):
            raise InputError(f"'{path}' is not a valid Parquet file (a page failed)") from None
        finally:
            pf.close()

    schema = pf.schema_arrow
    if columns is not None:
        schema = pa.schema([schema.field(c) for c in columns])
    return Source(schema, pf.metadata.num_rows, batches())


def _ipc(path: str) -> Source:
    import sys

    raw: Any = sys.stdin.buffer if path == "-" else None
    try:
        if raw is None:
            src = pa.memory_map(path)
            if src.read(6) == b"ARROW1":
                src.seek(0)
                reader = pa.ipc.open_file(src)
                n = reader.num_record_batches
                return Source(
                    reader.schema,
                    sum(reader.get_batch(i).num_rows for i in range(n)),
                    (reader.get_batch(i) for i in range(n)),
                )
            src.seek(0)
            stream = pa.ipc.open_stream(src)
        else:
            stream = pa.ipc.open_stream(pa.PythonFile(raw, mode="r"))
    except (OSError, pa.ArrowException):
        raise _cannot_read(path, "Arrow IPC") from None
    return Source(stream.schema, None, iter(stream))


# --------------------------------------------------------------------------- CSV


def _csv_header(path: str) -> list[str] | None:
    with open(path, encoding="utf-8", newline="") as f:
        return next(csv.reader(f), None)


def _csv_locate(path: str) -> InputError | None:
    """Re-scan a CSV file that Arrow could not parse, for the record engine's message."""
    if path == "-":
        return None
    try:
        with open(path, encoding="utf-8", newline="") as f:
            reader = csv.reader(f)
            header = next(reader, [])
            for row in reader:
                if row and len(row) != len(header):
                    return InputError(
                        f"expected {len(header)} columns, found {len(row)}",
                        line=reader.line_num,
                        hint="check quoting of values that contain commas",
                    )
    except UnicodeDecodeError:
        return InputError("input is not UTF-8 text")
    except csv.Error as exc:
        return InputError(f"malformed CSV ({exc})", line=reader.line_num)
    return None


def _csv(path: str, ds: DatasetInfo) -> Source:
    import sys

    import pyarrow.csv as pcsv

    if not ds.is_flat:
        raise InputError(
            f"dataset '{ds.name}' has nested fields; CSV cannot hold them",
            hint="use JSON or JSONL input",
        )
    stream: Any
    if path == "-":
        stream = pa.PythonFile(sys.stdin.buffer, mode="r")
    else:
        try:
            stream = pa.OSFile(path)
        except (OSError, pa.ArrowException):
            raise InputError(f"cannot read input '{path}'") from None
    # Every column as text: veil converts, so errors name line and column, never the value.
    convert = pcsv.ConvertOptions(
        column_types={name: pa.string() for name in ds.fields},
        strings_can_be_null=True,
        null_values=[""],
        quoted_strings_can_be_null=True,
    )
    try:
        reader = pcsv.open_csv(
            stream,
            read_options=pcsv.ReadOptions(block_size=_CSV_BLOCK),
            convert_options=convert,
        )
    except pa.ArrowInvalid:
        raise _csv_error(path, None) from None
    except StopIteration:  # pragma: no cover - pyarrow raises ArrowInvalid on empty input
        raise InputError("input has no CSV header") from None
    schema = pa.schema(
        [
            pa.field(f.name, _csv_type(ds.fields[f.name].type))
            if f.name in ds.fields
            else pa.field(f.name, f.type)
            for f in reader.schema
        ]
    )

    def batches() -> Iterator[pa.RecordBatch]:
        row = 0
        while True:
            try:
                batch = reader.read_next_batch()
            except StopIteration:
                return
            except pa.ArrowInvalid:
                raise _csv_error(path, row) from None
            yield _convert(batch, schema, ds, row)
            row += batch.num_rows

    return Source(schema, None, batches(), line_offset=1)


def _csv_error(path: str, row: int | None) -> InputError:
    located = _csv_locate(path)
    if located is not None:
        return located
    where = f" after data row {row}" if row is not None else ""
    # Arrow's message quotes the offending row, so it is not passed on.
    return InputError(
        f"malformed CSV{where}", hint="check the column count, quoting and UTF-8 encoding"
    )


def _csv_type(ftype: FieldType) -> pa.DataType:
    return {
        FieldType.INTEGER: pa.int64(),
        FieldType.NUMBER: pa.float64(),
        FieldType.BOOLEAN: pa.bool_(),
    }.get(ftype, pa.string())


def _convert(batch: pa.RecordBatch, schema: pa.Schema, ds: DatasetInfo, row: int) -> pa.RecordBatch:
    arrays = []
    for f, arr in zip(schema, batch.columns, strict=True):
        info = ds.fields.get(f.name)
        arrays.append(arr if info is None else _text_to(arr, info.type, f.name, row))
    return pa.RecordBatch.from_arrays(arrays, schema=schema)


def _text_to(arr: pa.Array, ftype: FieldType, name: str, row: int) -> pa.Array:
    if ftype == FieldType.INTEGER:
        _check(arr, pc.match_substring_regex(arr, _INT), name, "expected integer", row)
        return pc.cast(arr, pa.int64())
    if ftype == FieldType.NUMBER:
        _check(arr, pc.match_substring_regex(arr, _NUM), name, "expected number", row)
        return pc.cast(arr, pa.float64())
    if ftype == FieldType.BOOLEAN:
        low = pc.utf8_lower(arr)
        t, f = pc.is_in(low, value_set=_TRUE), pc.is_in(low, value_set=_FALSE)
        _check(arr, pc.or_(t, f), name, "expected true or false", row)
        return pc.if_else(pc.is_valid(arr), t, pa.scalar(None, pa.bool_()))
    return arr


def _check(arr: pa.Array, ok: pa.Array, name: str, problem: str, row: int) -> None:
    bad = pc.and_(pc.is_valid(arr), pc.invert(pc.fill_null(ok, False)))
    if pc.any(bad).as_py():
        first = int(np.flatnonzero(bad.to_numpy(zero_copy_only=False))[0])
        # line = data row + 1 for the header (exact unless quoted values span lines)
        raise InputError(f"column '{name}': {problem}", line=row + first + 2)


# ------------------------------------------------------------------------ writers


class BatchWriter:
    """Writes batches of one schema in one format to a binary stream."""

    def __init__(self, sink: IO[bytes], fmt: str, schema: pa.Schema) -> None:
        self.fmt = fmt
        self.schema = schema
        self.rows = 0
        self._sink = sink
        self._w: Any
        if fmt == "parquet":
            import pyarrow.parquet as pq

            self._w = pq.ParquetWriter(sink, schema)
        elif fmt == "arrow":
            self._w = pa.ipc.new_file(sink, schema)
        elif fmt == "csv":
            import pyarrow.csv as pcsv

            # Arrow quotes header names always; veil writes the header as the record
            # engine does (quoted only where needed).
            text = io.StringIO()
            csv.writer(text, lineterminator="\n").writerow(schema.names)
            sink.write(text.getvalue().encode())
            self._w = pcsv.CSVWriter(
                sink,
                schema,
                write_options=pcsv.WriteOptions(include_header=False, quoting_style="needed"),
            )
        else:
            raise InputError(f"'{fmt}' is not a bulk format", hint="use parquet, csv or arrow")

    def write(self, batch: pa.RecordBatch) -> None:
        if batch.num_rows:
            self._w.write_batch(batch)
            self.rows += batch.num_rows

    def close(self) -> None:
        self._w.close()

    def abandon(self) -> None:
        """Close after a failure, keeping the failure's error (the output is discarded;
        left open, the writer would close itself later on a closed stream)."""
        with contextlib.suppress(Exception):
            self._w.close()
