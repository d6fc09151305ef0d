"""The accounting of disclosures (HIPAA 164.528, GDPR Art. 15): describing and rendering.

Descriptions are built from what the ledger holds, which is decisions and counts, never
values: the dataset, the names of the fields that left in some form with the outcome
labels they left as, and the number of records. Fields that were only redacted or
withheld disclosed nothing and are not listed.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import asdict

from .base import AccountingEntry
from .events import Event

#: Outcome labels that mean the value did not leave.
NOT_DISCLOSED = frozenset({"redacted", "withheld"})

CSV_COLUMNS = (
    "time",
    "recipient",
    "requester_id",
    "purpose",
    "dataset",
    "description",
    "break_glass",
    "event_id",
)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def describe(event: Event) -> str:
    """E.g. ``"patients: name (tokenize), birth_date (generalize); 1 record"``.

    Fields are listed by name in sorted order (stored bodies do not keep declaration
    order), each with the sorted labels of its disclosed outcomes. Non-disclosure kinds
    are prefixed (``"reveal: ..."``); break-glass is noted but its free-text reason is not
    repeated here (it is in the event).
    """
    parts = []
    for name in sorted(event.fields):
        labels = sorted(
            label
            for label, count in event.fields[name].outcomes.items()
            if count > 0 and label not in NOT_DISCLOSED
        )
        if labels:
            parts.append(f"{name} ({', '.join(labels)})")
    text = f"{event.dataset}: {', '.join(parts) if parts else 'no fields'}"
    text += f"; {_plural(event.records.returned, 'record')}"
    if event.kind != "disclosure":
        text = f"{event.kind}: {text}"
    if event.break_glass.used:
        text += "; break-glass"
    return text


def render_csv(entries: Iterable[AccountingEntry]) -> str:
    """One header row, then one row per entry (``\\n`` line ends, fields quoted as needed)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for e in entries:
        row = asdict(e)
        row["break_glass"] = "yes" if e.break_glass else "no"
        writer.writerow([_spreadsheet_safe(row[c]) for c in CSV_COLUMNS])
    return out.getvalue()


def _spreadsheet_safe(value: object) -> object:
    """Requesters choose recipient and purpose strings; a leading =, +, - or @ would run as a
    formula when the accounting is opened in a spreadsheet (CSV injection), so quote it."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def render_json(entries: Iterable[AccountingEntry]) -> str:
    """A JSON array of entry objects, one key per :class:`AccountingEntry` field."""
    return json.dumps([asdict(e) for e in entries], indent=2, ensure_ascii=False) + "\n"
