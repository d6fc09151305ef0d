"""SQLiteLedger: round trips, queries, configuration errors, failures, threads."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

import pytest
from ledger_factory import KEY, make_event

import veil.ledger.sqlite as sqlite_mod
from veil.errors import ConfigError, LedgerError, TamperDetected
from veil.ledger import GENESIS, SQLiteLedger, StoredEvent

Fill = Callable[[int], list[StoredEvent]]


def test_round_trip(ledger: SQLiteLedger) -> None:
    ev = make_event(data_subjects=["b", "a", "b"], reason="audit")
    stored = ledger.append(ev)
    assert (stored.seq, stored.prev_hash, stored.event) == (1, GENESIS, ev)
    assert stored.hash.startswith("k:" if ledger.keyed else "h:")
    assert ledger.head() == (1, stored.hash)

    [listed] = ledger.events()
    assert listed.event == ev.model_copy(update={"data_subjects": []})  # subjects are lazy
    assert (listed.seq, listed.prev_hash, listed.hash) == (1, GENESIS, stored.hash)
    assert list(ledger.subjects_of(ev.event_id)) == ["a", "b"]
    [full] = ledger.events(with_subjects=True)
    assert full.event.data_subjects == ["a", "b"]

    second = ledger.append(make_event(data_subjects=[]))
    assert (second.seq, second.prev_hash) == (2, stored.hash)
    assert ledger.subjects_of(second.event.event_id) == []


def test_empty_head(ledger: SQLiteLedger) -> None:
    assert ledger.head() == (0, GENESIS)
    assert list(ledger.events()) == []


def test_event_filters(ledger: SQLiteLedger) -> None:
    times = ["2024-01-01T10:00:00+00:00", "2024-01-02T10:00:00Z", "2024-01-03T10:00:00+00:00"]
    evs = [
        ledger.append(make_event(time=t, data_subjects=["all", f"only-{i}"])).event
        for i, t in enumerate(times)
    ]

    def ids(xs: Iterable[StoredEvent]) -> list[str]:
        return [s.event.event_id for s in xs]

    assert ids(ledger.events()) == [e.event_id for e in evs]
    assert ids(ledger.events(descending=True)) == [e.event_id for e in reversed(evs)]
    assert ids(ledger.events(limit=2)) == [evs[0].event_id, evs[1].event_id]
    assert ids(ledger.events(limit=1, descending=True)) == [evs[2].event_id]
    assert ids(ledger.events(since="2024-01-02")) == [evs[1].event_id, evs[2].event_id]
    assert ids(ledger.events(until="2024-01-02")) == [evs[0].event_id, evs[1].event_id]
    assert ids(ledger.events(until="2024-01-02T10:00:00+00:00")) == ids(
        ledger.events(until="2024-01-02")
    )
    assert ids(ledger.events(since="2024-01-02", until="2024-01-02")) == [evs[1].event_id]
    assert ids(ledger.events(data_subject="only-1")) == [evs[1].event_id]
    assert ids(ledger.events(data_subject="all", descending=True, limit=2)) == [
        evs[2].event_id,
        evs[1].event_id,
    ]
    assert ids(ledger.events(data_subject="nobody")) == []
    with pytest.raises(ConfigError, match="ISO-8601"):
        list(ledger.events(since="last tuesday"))


def test_paging(ledger: SQLiteLedger, filled: Fill, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_mod, "_PAGE", 3)
    stored = filled(10)
    assert [s.seq for s in ledger.events()] == list(range(1, 11))
    assert [s.seq for s in ledger.events(descending=True, limit=7)] == list(range(10, 3, -1))
    assert [s.seq for s in ledger.events(data_subject="shared", limit=4)] == [1, 2, 3, 4]
    assert ledger.verify().ok and ledger.verify().checked == 10
    assert stored[-1].hash == ledger.head()[1]


def test_appending_while_iterating(ledger: SQLiteLedger, filled: Fill) -> None:
    filled(3)
    for stored in ledger.events():
        if stored.seq == 2:
            ledger.append(make_event())
    assert ledger.head()[0] == 4 and ledger.verify().ok


def test_keyed_ledger_needs_its_key(db: Path) -> None:
    SQLiteLedger(db, KEY).close()
    with pytest.raises(ConfigError, match="keyed") as err:
        SQLiteLedger(db)
    assert "key" in err.value.hint
    with pytest.raises(ConfigError, match="does not match"):
        SQLiteLedger(db, b"a different key of 32 bytes!!!!!")
    SQLiteLedger(db, KEY).close()


def test_unkeyed_ledger_refuses_a_key(db: Path) -> None:
    SQLiteLedger(db).close()
    # an unkeyed ledger where a key is configured may be a downgraded keyed one: tampering
    with pytest.raises(TamperDetected, match="unkeyed, but a ledger key is configured") as err:
        SQLiteLedger(db, KEY)
    assert err.value.hint


def test_not_a_ledger(tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    conn = sqlite3.connect(other)
    conn.execute("CREATE TABLE t (x)")
    conn.close()
    with pytest.raises(ConfigError, match="not a veil ledger"):
        SQLiteLedger(other)
    text = tmp_path / "notes.txt"
    text.write_text("definitely not a database, " * 100)
    with pytest.raises(LedgerError, match=r"notes\.txt") as err:
        SQLiteLedger(text)
    assert err.value.hint


def test_schema_version_is_checked(db: Path) -> None:
    SQLiteLedger(db).close()
    conn = sqlite3.connect(db)
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    conn.commit()
    conn.close()
    with pytest.raises(ConfigError, match="schema version 99"):
        SQLiteLedger(db)


def test_unwritable_paths(tmp_path: Path) -> None:
    blocker = tmp_path / "plain-file"
    blocker.write_text("x")
    with pytest.raises(LedgerError, match="plain-file") as err:
        SQLiteLedger(blocker / "ledger.db")
    assert "writable" in err.value.hint
    with pytest.raises(LedgerError):
        SQLiteLedger(tmp_path)  # a directory


def test_errors_never_quote_event_contents(ledger: SQLiteLedger) -> None:
    canary = "CANARY-7f3a"
    ev = make_event(purpose=canary, recipient=canary, data_subjects=[canary], reason=canary)
    ledger.append(ev)
    with pytest.raises(LedgerError) as err:
        ledger.append(ev)  # same event id twice
    assert canary not in err.value.render()
    assert str(ledger.path) in err.value.message
    assert ledger.head()[0] == 1 and ledger.verify().ok  # the failed append left nothing


def test_closed_ledger(db: Path) -> None:
    led = SQLiteLedger(db)
    led.close()
    with pytest.raises(LedgerError, match="closed"):
        led.append(make_event())


def test_wal_and_durability_settings(ledger: SQLiteLedger) -> None:
    conn = ledger._conn()
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL


def test_threads_share_one_ledger(ledger: SQLiteLedger) -> None:
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(25):
                ledger.append(make_event())
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    report = ledger.verify()
    assert report.ok and report.checked == 100


def test_large_subject_list(ledger: SQLiteLedger) -> None:
    subjects = [f"patient-{i:06d}" for i in range(20_000)]
    stored = ledger.append(make_event(data_subjects=subjects))
    assert len(ledger.subjects_of(stored.event.event_id)) == 20_000
    assert [s.seq for s in ledger.events(data_subject="patient-012345")] == [1]
    assert ledger.verify().ok
