"""Reading records (JSON, JSONL, CSV) with line numbers, and writing output atomically.

Output goes through :func:`veil.formats.spool.spooled_output` and is published only after
the ledger event is durable: a failed or killed run leaves no output, partial or not, and
a disclosure that could not be logged is never delivered.
Errors name the line and the problem, never the offending value.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from ..errors import InputError
from ..policy.bundle import DatasetInfo
from ..transforms.base import FieldType

FORMATS = ("jsonl", "json", "csv", "parquet", "arrow")
_SUFFIX = {
    "ndjson": "jsonl",
    "pq": "parquet",
    "arrows": "arrow",
    "feather": "arrow",
    "ipc": "arrow",
}


def detect_format(path: str | None, explicit: str | None) -> str:
    if explicit:
        if explicit not in FORMATS:
            raise InputError(
                f"unknown format '{explicit}'", hint=f"use one of {', '.join(FORMATS)}"
            )
        return explicit
    if path and path != "-":
        suffix = Path(path).suffix.lower().lstrip(".")
        suffix = _SUFFIX.get(suffix, suffix)
        if suffix in FORMATS:
            return suffix
    return "jsonl"


def _json_error(exc: json.JSONDecodeError) -> str:
    # exc.msg is the parser's description ("Expecting ',' delimiter"), never the content.
    return f"not valid JSON ({exc.msg} at column {exc.colno})"


def read_jsonl(stream: IO[str]) -> Iterator[tuple[int, Any]]:
    for n, line in enumerate(stream, 1):
        if not line.strip():
            continue
        try:
            yield n, json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(
                _json_error(exc), line=n, hint="each line must hold one JSON object"
            ) from None


def read_json(stream: IO[str]) -> Iterator[tuple[int, Any]]:
    try:
        data = json.load(stream)
    except json.JSONDecodeError as exc:
        raise InputError(
            _json_error(exc),
            line=exc.lineno,
            hint="the file must hold a JSON array of objects (or one object)",
        ) from None
    items = data if isinstance(data, list) else [data]
    yield from enumerate(items, 1)  # "line" is the item's position in the array


def _csv_value(text: str, ftype: FieldType, col: str, line: int) -> Any:
    if text == "":
        return None
    try:
        if ftype == FieldType.INTEGER:
            return int(text)
        if ftype == FieldType.NUMBER:
            return float(text) if any(c in text for c in ".eE") else int(text)
    except ValueError:
        raise InputError(f"column '{col}': expected {ftype.value}", line=line) from None
    if ftype == FieldType.BOOLEAN:
        low = text.lower()
        if low in ("true", "1", "yes"):
            return True
        if low in ("false", "0", "no"):
            return False
        raise InputError(f"column '{col}': expected true or false", line=line)
    return text


def read_csv(stream: IO[str], ds: DatasetInfo) -> Iterator[tuple[int, Any]]:
    if not ds.is_flat:
        raise InputError(
            f"dataset '{ds.name}' has nested fields; CSV cannot hold them",
            hint="use JSON or JSONL input",
        )
    reader = csv.reader(stream)
    try:
        header = next(reader)
    except StopIteration:
        return
    except csv.Error as exc:
        raise InputError(f"malformed CSV header ({exc})", line=1) from None
    types = [ds.fields[c].type if c in ds.fields else FieldType.STRING for c in header]
    try:
        for row in reader:
            line = reader.line_num
            if not row:
                continue
            if len(row) != len(header):
                raise InputError(
                    f"expected {len(header)} columns, found {len(row)}",
                    line=line,
                    hint="check quoting of values that contain commas",
                )
            yield (
                line,
                {c: _csv_value(v, t, c, line) for c, v, t in zip(header, row, types, strict=True)},
            )
    except csv.Error as exc:
        raise InputError(f"malformed CSV ({exc})", line=reader.line_num) from None


def read_records(stream: IO[str], fmt: str, ds: DatasetInfo) -> Iterator[tuple[int, Any]]:
    if fmt == "jsonl":
        return read_jsonl(stream)
    if fmt == "json":
        return read_json(stream)
    return read_csv(stream, ds)


class Writer:
    """Writes sanitized records in one format to a text stream."""

    def __init__(self, stream: IO[str], fmt: str, columns: list[str]) -> None:
        self.stream = stream
        self.fmt = fmt
        self.columns = columns
        self.count = 0
        self._csv = csv.writer(stream) if fmt == "csv" else None
        if self._csv is not None:
            self._csv.writerow(columns)
        elif fmt == "json":
            stream.write("[")

    def write(self, record: dict[str, Any]) -> None:
        if self._csv is not None:
            self._csv.writerow([_csv_text(record.get(c)) for c in self.columns])
        elif self.fmt == "json":
            self.stream.write(
                ("," if self.count else "") + "\n" + json.dumps(record, ensure_ascii=False)
            )
        else:
            self.stream.write(json.dumps(record, ensure_ascii=False) + "\n")
        self.count += 1

    def close(self) -> None:
        if self.fmt == "json":
            self.stream.write("\n]\n" if self.count else "]\n")


def _csv_text(v: Any) -> str:
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


