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


#: Deepest nesting a record may have; a declared path is never this deep, and deeper
#: input is refused rather than left to exhaust the stack somewhere downstream.
MAX_DEPTH = 64


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _check(value: Any) -> str | None:
    """Why a parsed record is refused (too deep, a lone surrogate), or None. Iterative:
    a record that is too deep must not exhaust the stack here either."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        if type(v) is str:
            if not v.isascii():
                try:
                    v.encode("utf-8")
                except UnicodeEncodeError:
                    return "a string holds a lone surrogate (\\uD800-\\uDFFF), not text"
            continue
        if type(v) is dict or type(v) is list:
            if depth > MAX_DEPTH:
                return f"nested deeper than {MAX_DEPTH} levels"
            items = v.items() if type(v) is dict else enumerate(v)
            for k, item in items:
                if type(k) is str and not k.isascii():
                    stack.append((k, depth))
                stack.append((item, depth + 1))
    return None


def loads(text: str, *, line: int | None, hint: str) -> Any:
    """One JSON document, or InputError naming the problem (never the content): invalid
    JSON, NaN or Infinity, integers longer than Python converts (4,300 digits), nesting
    beyond :data:`MAX_DEPTH`, lone surrogates."""
    try:
        value = json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise InputError(_json_error(exc), line=line or exc.lineno, hint=hint) from None
    except RecursionError:
        raise InputError(f"nested deeper than {MAX_DEPTH} levels", line=line, hint=hint) from None
    except ValueError as exc:  # int too long, NaN/Infinity
        what = "an integer is too long" if "digits" in str(exc) else str(exc)
        raise InputError(f"not accepted JSON ({what})", line=line, hint=hint) from None
    problem = _check(value)
    if problem is not None:
        raise InputError(problem, line=line, hint=hint)
    return value


def read_jsonl(stream: IO[str]) -> Iterator[tuple[int, Any]]:
    for n, line in enumerate(stream, 1):
        if not line.strip():
            continue
        yield n, loads(line, line=n, hint="each line must hold one JSON object")


def read_json(stream: IO[str]) -> Iterator[tuple[int, Any]]:
    data = loads(
        stream.read(),
        line=None,
        hint="the file must hold a JSON array of objects (or one object)",
    )
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
    seen: set[str] = set()
    for c in header:
        if c in seen:
            raise InputError(
                f"column '{c}' appears twice in the CSV header",
                line=1,
                hint="each column may appear once; rename or drop the duplicate",
            )
        seen.add(c)
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
