"""Accounting of disclosures: which events, and descriptions that never carry values."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

from ledger_factory import make_event

from veil.ledger import (
    AccountingEntry,
    BreakGlass,
    Event,
    FieldDisclosure,
    RecordCounts,
    Requester,
    SQLiteLedger,
    describe,
    render_csv,
    render_json,
)


def test_describe_lists_disclosed_fields_only() -> None:
    text = describe(make_event())
    assert text == (
        "patients: birth_date (generalize), diagnosis (clear), name (tokenize); 1 record"
    )
    assert "ssn" not in text  # redacted: nothing left


def test_describe_mixed_outcomes_counts_and_flags() -> None:
    ev = make_event(
        kind="reveal",
        fields={
            "ssn": FieldDisclosure(outcomes={"mask": 98, "withheld": 2}),
            "notes": FieldDisclosure(outcomes={"withheld": 3, "redacted": 1}),
            "mrn": FieldDisclosure(outcomes={"clear": 0, "tokenize": 5}),
        },
        records=RecordCounts(read=9, returned=5, filtered=4),
        break_glass=BreakGlass(used=True, reason="patient unconscious"),
    )
    assert describe(ev) == "reveal: patients: mrn (tokenize), ssn (mask); 5 records; break-glass"
    assert describe(make_event(fields={})) == "patients: no fields; 1 record"


def test_describe_uses_only_names_labels_and_counts() -> None:
    """Canary: free text an event may carry (reasons, attributes, context, treatment
    parameters) never reaches a description; only field names, outcome labels, the dataset
    and counts do."""
    canary = "CANARY-Jane-Doe-1970"
    ev = make_event(
        requester=Requester(id=canary, attributes={"name": canary}),
        recipient=canary,
        purpose=canary,
        context={"note": canary},
        reason=canary,
        key_fingerprints={"k": canary},
        fields={
            "name": FieldDisclosure(outcomes={"tokenize": 1}, rules=[canary], treatment=canary),
        },
        break_glass=BreakGlass(used=True, reason=canary, rules=[canary]),
        data_subjects=[canary],
    )
    text = describe(ev)
    assert canary not in text
    allowed = {"patients", "name", "tokenize", "1", "record", "break-glass"}
    assert set(re.findall(r"[\w-]+", text)) <= allowed


def _at(day: int, **kw: Any) -> Event:
    return make_event(time=f"2024-03-{day:02d}T09:00:00+00:00", **kw)


def test_accounting_selects_exactly_the_disclosures_of_a_subject(tmp_path: Path) -> None:
    with SQLiteLedger(tmp_path / "l.db") as led:
        # Appended out of time order on purpose: accounting sorts by time.
        e5 = led.append(_at(5, data_subjects=["alice", "bob"], recipient="lab")).event
        e2 = led.append(_at(2, data_subjects=["alice"], recipient="insurer")).event
        led.append(_at(3, data_subjects=["bob"]))
        led.append(_at(4, data_subjects=["alice"], kind="refusal"))
        e9 = led.append(
            _at(9, data_subjects=["alice"], break_glass=BreakGlass(used=True, reason="er"))
        ).event
        e1 = led.append(_at(1, data_subjects=["alice"])).event

        entries = led.accounting("alice")
        assert [e.event_id for e in entries] == [x.event_id for x in (e1, e2, e5, e9)]
        assert [e.break_glass for e in entries] == [False, False, False, True]
        first = entries[1]
        assert (first.recipient, first.purpose, first.dataset, first.requester_id) == (
            "insurer",
            "treatment",
            "patients",
            "dr-who",
        )
        assert first.time == e2.time and "diagnosis (clear)" in first.description

        window = led.accounting("alice", since="2024-03-02", until="2024-03-05")
        assert [e.event_id for e in window] == [e2.event_id, e5.event_id]
        assert led.accounting("alice", since="2024-03-06") == [entries[3]]
        assert led.accounting("carol") == []


def test_render_csv_and_json() -> None:
    entries = [
        AccountingEntry(
            "e1",
            "2024-01-01T00:00:00+00:00",
            "lab, inc.",
            "u1",
            "treatment",
            "patients",
            "patients: name (clear); 1 record",
            False,
        ),
        AccountingEntry(
            "e2",
            "2024-01-02T00:00:00+00:00",
            "clinic",
            "u2",
            "research",
            "patients",
            "patients: dob (generalize); 2 records",
            True,
        ),
    ]
    rows = list(csv.DictReader(io.StringIO(render_csv(entries))))
    assert [r["event_id"] for r in rows] == ["e1", "e2"]
    assert rows[0]["recipient"] == "lab, inc."
    assert [r["break_glass"] for r in rows] == ["no", "yes"]
    data = json.loads(render_json(entries))
    assert data[1] == {
        "event_id": "e2",
        "time": "2024-01-02T00:00:00+00:00",
        "recipient": "clinic",
        "requester_id": "u2",
        "purpose": "research",
        "dataset": "patients",
        "description": "patients: dob (generalize); 2 records",
        "break_glass": True,
    }
    assert render_csv([]).strip() == (
        "time,recipient,requester_id,purpose,dataset,description,break_glass,event_id"
    )
    assert json.loads(render_json([])) == []


def test_render_csv_neutralizes_formulas() -> None:
    entry = AccountingEntry(
        "e1",
        "2024-01-01T00:00:00+00:00",
        '=HYPERLINK("http://x")',
        "@u1",
        "treatment",
        "patients",
        "patients: name (clear); 1 record",
        False,
    )
    (row,) = list(csv.DictReader(io.StringIO(render_csv([entry]))))
    assert row["recipient"].startswith("'=") and row["requester_id"] == "'@u1"
    assert row["purpose"] == "treatment"
