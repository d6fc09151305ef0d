"""``veil scan``: sample a data file and draft a dataset schema for review.

For each field path (nested objects as ``a.b``, lists of objects as ``a[*].b``) the scan
infers a type and suggests tags from two kinds of evidence, each with a confidence:

* content: the offline analyzer (engine ``default``, all pattern entity types) runs on
  a sample of the field's string values. An entity covering most of a value ("the value
  *is* an e-mail") marks an identifier column; entities inside longer text mark free
  text;
* names: words in the field path (``birth``, ``zip``, ``amount``, ``note``...) that
  name a kind of data the content cannot show (a city, a balance, a diagnosis).

Only tags the target vocabulary declares are suggested (``--policies``: the bundle's;
otherwise veil's common set). The draft is meant for a person to review, never to be
loaded unread: every suggestion carries its evidence as a YAML comment.
"""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from .engine import PATTERN_ENTITIES, EngineConfig, Query, analyzer_for

COMMON_TAGS = (
    "direct_identifier",
    "quasi_identifier",
    "free_text",
    "phi",
    "sensitive",
    "payment",
    "pci",
    "financial",
    "network",
)

#: entity type found as a whole value -> tags it implies
_ENTITY_TAGS: dict[str, tuple[str, ...]] = {
    "EMAIL_ADDRESS": ("direct_identifier", "email"),
    "PHONE_NUMBER": ("direct_identifier", "phone"),
    "US_SSN": ("direct_identifier", "ssn"),
    "US_ITIN": ("direct_identifier",),
    "US_PASSPORT": ("direct_identifier",),
    "US_DRIVER_LICENSE": ("direct_identifier",),
    "CREDIT_CARD": ("direct_identifier", "pci", "pan"),
    "IBAN_CODE": ("direct_identifier", "financial"),
    "US_BANK_NUMBER": ("direct_identifier", "financial"),
    "IP_ADDRESS": ("network", "ip_address"),
    "MAC_ADDRESS": ("network",),
    "UK_NHS": ("direct_identifier",),
    "MEDICAL_LICENSE": ("direct_identifier",),
}

#: words in a field path -> the tag they suggest (whole words of the path's last part)
_NAME_TAGS: tuple[tuple[frozenset[str], tuple[str, ...]], ...] = tuple(
    (frozenset(words.split()), (tag,))
    for tag, words in (
        ("direct_identifier", "ssn email phone telecom street line iban name first last family"),
        ("direct_identifier", "given holder patient customer member account person identifier"),
        ("direct_identifier", "insurance mrn passport license"),
        ("quasi_identifier", "birth birthdate dob age sex gender zip postal postalcode city"),
        ("quasi_identifier", "state country branch timestamp opened"),
        ("pci", "card pan expiry cvv"),
        ("financial", "amount balance credit score risk income salary"),
        ("payment", "insurance payment billing claim payer"),
        ("network", "ip mac device"),
        ("free_text", "note notes memo comment remarks narrative text"),
        ("sensitive", "sensitive hiv psychiatric"),
        ("phi", "diagnosis admission discharge birth birthdate weight height medication"),
        ("phi", "procedure lab allergy note notes"),
        # identifier classes of veil's profiles (suggested only where the bundle declares
        # the tag: see veil.policy.profiles)
        ("name", "name first last family given holder"),
        ("ssn", "ssn"),
        ("phone", "phone telephone mobile"),
        ("fax", "fax"),
        ("email", "email"),
        ("street_address", "street line address"),
        ("locality", "city county town"),
        ("zip", "zip postal postalcode"),
        ("birth_date", "birth birthdate dob"),
        ("age", "age"),
        ("date", "admission discharge death"),
        ("medical_record_number", "mrn patient"),
        ("health_plan_id", "insurance member"),
        ("ip_address", "ip"),
        ("pan", "card pan"),
    )
)
_WORD = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class ScanInputError(ValueError):
    """The input cannot be read as records. The message never holds a value."""


@dataclass
class FieldReport:
    path: str
    types: Counter[str] = field(default_factory=Counter)
    items: Counter[str] = field(default_factory=Counter)  # item types of lists of scalars
    strings: list[str] = field(default_factory=list)
    values: int = 0
    nulls: int = 0
    tags: dict[str, tuple[float, str]] = field(default_factory=dict)  # tag -> (confidence, why)

    @property
    def type(self) -> str:
        kinds = set(self.types)
        if not kinds:
            return "string"
        if kinds == {"integer", "number"}:
            return "number"
        if kinds <= {"date", "datetime"} and kinds:
            return "datetime" if "datetime" in kinds else "date"
        if len(kinds) == 1:
            return next(iter(kinds))
        return "string"

    def suggest(self, tag: str, confidence: float, why: str) -> None:
        if tag not in self.tags or self.tags[tag][0] < confidence:
            self.tags[tag] = (round(confidence, 2), why)


def read_sample(path: Path, limit: int) -> list[dict[str, Any]]:
    """Up to ``limit`` records of a JSON array, JSON Lines or CSV file."""
    if not path.is_file():
        raise ScanInputError(f"input '{path}' is not a readable file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ScanInputError(f"input '{path}' is not UTF-8 text") from None
    suffix = path.suffix.lower()
    records: list[Any]
    if suffix == ".csv":
        records = list(_csv_records(text, limit))
    elif suffix == ".json" or text.lstrip().startswith("["):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ScanInputError(f"input is not valid JSON (line {exc.lineno})") from None
        records = data if isinstance(data, list) else [data]
    else:
        records = []
        for n, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError:
                raise ScanInputError(f"line {n} is not valid JSON") from None
            if len(records) >= limit:
                break
    records = records[:limit]
    if not records:
        raise ScanInputError("input holds no records")
    if not all(isinstance(r, dict) for r in records):
        raise ScanInputError("every record must be a JSON object")
    return records


def _csv_records(text: str, limit: int) -> Iterator[dict[str, Any]]:
    for n, row in enumerate(csv.DictReader(text.splitlines()), 1):
        if n > limit:
            return
        yield {k: _csv_value(v) for k, v in row.items() if k is not None}


def _csv_value(v: str | None) -> Any:
    if v is None or v == "":
        return None
    if v in ("true", "false"):
        return v == "true"
    if re.fullmatch(r"-?\d{1,15}", v) and not (len(v) > 1 and v.startswith("0")):
        return int(v)
    if re.fullmatch(r"-?\d+\.\d+", v):
        return float(v)
    return v


def _scalar_type(v: Any) -> str:
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, int):
        return "integer"
    if isinstance(v, float):
        return "number"
    if isinstance(v, str):
        if _ISO_DATE.match(v):
            try:
                date.fromisoformat(v)
                return "date"
            except ValueError:
                return "string"
        if len(v) >= 16 and v[4:5] == "-" and v[10:11] in ("T", " "):
            try:
                datetime.fromisoformat(v)
                return "datetime"
            except ValueError:
                return "string"
        return "string"
    return "string"


def profile(records: Iterable[dict[str, Any]]) -> dict[str, FieldReport]:
    """Field path -> what its values look like, in first-seen order."""
    fields: dict[str, FieldReport] = {}

    def report(path: str) -> FieldReport:
        r = fields.get(path)
        if r is None:
            r = fields[path] = FieldReport(path)
        return r

    def walk(obj: dict[str, Any], prefix: str) -> None:
        for key, v in obj.items():
            path = f"{prefix}{key}"
            r = report(path)
            if v is None:
                r.nulls += 1
                continue
            r.values += 1
            if isinstance(v, dict):
                r.types["object"] += 1
                walk(v, path + ".")
            elif isinstance(v, list):
                r.types["list"] += 1
                for item in v:
                    if isinstance(item, dict):
                        walk(item, path + "[*].")
                    elif item is not None:
                        r.items[_scalar_type(item)] += 1
                        if isinstance(item, str):
                            r.strings.append(item)
            else:
                r.types[_scalar_type(v)] += 1
                if isinstance(v, str):
                    r.strings.append(v)

    for rec in records:
        walk(rec, "")
    return fields


def _words(path: str) -> set[str]:
    return {w.lower() for w in _WORD.findall(path.replace("[*]", ""))}


def classify(fields: dict[str, FieldReport], vocabulary: Iterable[str]) -> None:
    """Fill in ``tags`` of every field from content and names (see the module docstring)."""
    allowed = set(vocabulary)
    analyzer = analyzer_for(EngineConfig(phone_regions=("US", "GB", "DE", "FR")))
    query = Query(tuple(sorted(PATTERN_ENTITIES - {"DATE_TIME", "URL"})), 0.4)
    for r in fields.values():
        # The last word of a path names the value itself ("telecom[*].system" is not a phone).
        words = _words(r.path)
        last = _words(r.path.rsplit(".", 1)[-1])
        for names, tags in _NAME_TAGS:
            hit = names & last or (names & words if r.type in ("list", "object") else set())
            if hit:
                for tag in tags:
                    r.suggest(tag, 0.6, f"field name mentions '{sorted(hit)[0]}'")
        if r.strings and r.type in ("string", "list"):
            _content(r, analyzer, query)
        for tag in [t for t in r.tags if t not in allowed]:
            del r.tags[tag]


def _content(r: FieldReport, analyzer: Any, query: Query) -> None:
    sample = list(dict.fromkeys(r.strings))[:200]
    whole: Counter[str] = Counter()
    inside: Counter[str] = Counter()
    for text, spans in zip(sample, analyzer.analyze_batch(sample, query), strict=True):
        seen_whole: set[str] = set()
        for s in spans:
            if (s.end - s.start) >= 0.8 * len(text.strip()):
                seen_whole.add(s.entity)
            else:
                inside[s.entity] += 1
        whole.update(seen_whole)
    n = len(sample)
    for entity, k in whole.items():
        share = k / n
        if share >= 0.5:
            for tag in _ENTITY_TAGS.get(entity, ()):
                r.suggest(tag, share, f"{entity} in {share:.0%} of sampled values")
    words = [len(t.split()) for t in sample]
    avg_words = sum(words) / n
    embedded = sum(inside.values())
    if avg_words >= 6 or (avg_words >= 2 and embedded >= max(2, 0.02 * n)):
        found = ", ".join(f"{e} x{c}" for e, c in inside.most_common(4)) or "none"
        r.suggest("free_text", 0.8, f"{avg_words:.1f} words per value; entities inside: {found}")


def guess_ids(fields: dict[str, FieldReport]) -> tuple[str, str]:
    """(record_id, data_subject): unique id-like top-level fields, subject-named if any."""
    top = [r for r in fields.values() if "." not in r.path and "[" not in r.path]
    ids = [
        r
        for r in top
        if r.type in ("string", "integer")
        and ("id" in _words(r.path) or r.path == "id")
        and len(set(r.strings)) == r.values
    ]
    record = ids[0].path if ids else (top[0].path if top else "id")
    subject_words = {"patient", "customer", "person", "member", "subject", "user"}
    subject = next(
        (r.path for r in top if _words(r.path) & subject_words and "id" in _words(r.path)), record
    )
    return record, subject


def draft(name: str, fields: dict[str, FieldReport], records: int) -> str:
    """The dataset schema as YAML, evidence in comments, in the bundle's datasets format."""
    record_id, subject = guess_ids(fields)
    lines = [
        f"# Draft by `veil scan` from {records} sampled record(s): review every line before use.",
        "# Suggested tags carry their evidence and confidence (0-1) as comments.",
        "datasets:",
        f"  {name}:",
        f"    description: drafted by veil scan from {records} records",
        f"    record_id: {record_id}  # guessed: unique id-like field",
        f"    data_subject: {subject}  # guessed: check whose data each record is",
        "    fields:",
    ]
    for r in fields.values():
        if r.type == "object" and not r.tags:
            continue  # implied by its children
        decl: dict[str, Any] = {"type": r.type}
        if r.type == "list" and r.items:
            decl["items"] = max(r.items, key=lambda k: r.items[k])
        if r.type == "list" and not r.items:
            decl.pop("items", None)
        tags = sorted(r.tags)
        if tags:
            decl["tags"] = tags
        body = ", ".join(
            f"{k}: [{', '.join(v)}]" if isinstance(v, list) else f"{k}: {v}"
            for k, v in decl.items()
        )
        why = "; ".join(f"{t} {c:.2f} ({w})" for t, (c, w) in sorted(r.tags.items()))
        key = f'"{r.path}"' if "[" in r.path else r.path
        lines.append(f"      {key}: {{{body}}}" + (f"  # {why}" if why else ""))
    return "\n".join(lines) + "\n"


def scan_file(
    path: Path, name: str, *, limit: int = 500, vocabulary: Iterable[str] = COMMON_TAGS
) -> tuple[str, dict[str, FieldReport]]:
    records = read_sample(path, limit)
    fields = profile(records)
    classify(fields, vocabulary)
    return draft(name, fields, len(records)), fields
