"""``append(event, idempotent=True)``: a retried writer (e.g. a Spark task) logs once."""

from __future__ import annotations

from pathlib import Path

from ledger_factory import KEY, make_event

from veil.ledger import Ledger, PostgresLedger, SQLiteLedger


def _check(led: Ledger) -> None:
    first = led.append(
        make_event(event_id="job-1-part-0", data_subjects=["a", "b"]), idempotent=True
    )
    again = led.append(
        make_event(event_id="job-1-part-0", data_subjects=["a", "b"], purpose="retried"),
        idempotent=True,
    )
    other = led.append(make_event(event_id="job-1-part-1", data_subjects=["c"]), idempotent=True)
    assert (again.seq, again.hash) == (first.seq, first.hash)
    assert again.event.purpose == first.event.purpose  # first writer wins
    assert list(again.event.data_subjects) == ["a", "b"]
    assert other.seq == first.seq + 1
    assert [s.event.event_id for s in led.events()] == ["job-1-part-0", "job-1-part-1"]
    assert led.verify().ok


def test_sqlite_idempotent_append(tmp_path: Path) -> None:
    with SQLiteLedger(tmp_path / "l.db", KEY) as led:
        _check(led)


def test_postgres_idempotent_append(pg_url: str, pg_schema: str) -> None:
    with PostgresLedger(pg_url, KEY, schema=pg_schema) as led:
        _check(led)
