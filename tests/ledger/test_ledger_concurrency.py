"""Writers in separate processes serialize on SQLite's write lock: the chain stays linear."""

from __future__ import annotations

import multiprocessing
import sqlite3
import time
from pathlib import Path

import pytest
from ledger_factory import KEY, make_event

from veil.ledger import SQLiteLedger
from veil.ledger.sqlite import wal_mode

PROCESSES, EACH = 4, 50


def _writer(path: str, n: int, worker: int) -> None:
    with SQLiteLedger(path, KEY) as led:
        for i in range(n):
            led.append(make_event(data_subjects=[f"w{worker}-{i}", "shared"]))


def test_concurrent_appends_from_processes(tmp_path: Path) -> None:
    db = tmp_path / "l.db"
    SQLiteLedger(db, KEY).close()  # create it up front; workers also race on open below
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(db), EACH, w)) for w in range(PROCESSES)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * PROCESSES
    with SQLiteLedger(db, KEY) as led:
        report = led.verify()
        assert report.ok, report.problems[:5]
        assert report.checked == PROCESSES * EACH
        assert [s.seq for s in led.events()] == list(range(1, PROCESSES * EACH + 1))
        assert len(led.accounting("shared")) == PROCESSES * EACH


def test_concurrent_creation(tmp_path: Path) -> None:
    db = tmp_path / "new.db"
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(db), 5, w)) for w in range(PROCESSES)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * PROCESSES
    with SQLiteLedger(db, KEY) as led:
        assert led.verify().ok and led.head()[0] == PROCESSES * 5


class _LockedTwice:
    """A connection whose WAL switch is refused as locked twice, as SQLite refuses one of
    two processes switching a new database at once, then done."""

    def __init__(self, refusals: int, message: str = "database is locked") -> None:
        self.refusals, self.message, self.calls = refusals, message, 0

    def execute(self, sql: str) -> None:
        self.calls += 1
        if self.calls <= self.refusals:
            raise sqlite3.OperationalError(self.message)


def test_the_wal_switch_is_retried_while_locked() -> None:
    conn = _LockedTwice(2)
    wal_mode(conn, 5.0)  # type: ignore[arg-type]
    assert conn.calls == 3


def test_the_wal_switch_gives_up_after_the_busy_timeout_and_on_other_errors() -> None:
    conn = _LockedTwice(10**6)
    start = time.monotonic()
    with pytest.raises(sqlite3.OperationalError, match="locked"):
        wal_mode(conn, 0.3)  # type: ignore[arg-type]
    assert 0.2 < time.monotonic() - start < 2.0
    other = _LockedTwice(1, "disk I/O error")
    with pytest.raises(sqlite3.OperationalError, match="disk"):
        wal_mode(other, 5.0)  # type: ignore[arg-type]
    assert other.calls == 1
