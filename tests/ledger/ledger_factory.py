"""Event builders shared by the ledger tests (importable by spawned worker processes)."""

from __future__ import annotations

import os
from typing import Any

from veil.ledger import BreakGlass, Event, FieldDisclosure, RecordCounts, Requester

KEY = bytes(range(32))
#: The PostgreSQL server the postgres tests use (a scratch schema per test).
PG_URL = os.environ.get("VEIL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def make_event(**overrides: Any) -> Event:
    """A plausible disclosure event; keyword arguments replace its fields."""
    fields: dict[str, Any] = {
        "requester": Requester(id="dr-who", attributes={"role": "physician"}),
        "recipient": "st-elsewhere",
        "purpose": "treatment",
        "action": "read",
        "dataset": "patients",
        "bundle": "hospital",
        "bundle_version": "1.0.0",
        "fields": {
            "name": FieldDisclosure(outcomes={"tokenize": 1}, treatment="tokenize(key=t)"),
            "birth_date": FieldDisclosure(outcomes={"generalize": 1}),
            "diagnosis": FieldDisclosure(outcomes={"clear": 1}),
            "ssn": FieldDisclosure(outcomes={"redacted": 1}),
        },
        "records": RecordCounts(read=1, returned=1),
        "break_glass": BreakGlass(),
        "data_subjects": ["p-1"],
    }
    fields.update(overrides)
    return Event(**fields)


def pg_writer(url: str, schema: str, n: int, worker: int, start: Any) -> None:
    """Spawned worker: wait for the others, open (maybe creating) the ledger, append ``n``."""
    from veil.ledger import PostgresLedger

    start.wait(60)
    with PostgresLedger(url, KEY, schema=schema) as led:
        for i in range(n):
            led.append(make_event(data_subjects=[f"w{worker}-{i}", "shared"], reason=f"w{worker}"))
