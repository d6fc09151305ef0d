"""Writers in separate processes serialize on SQLite's write lock: the chain stays linear."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from ledger_factory import KEY, make_event

from veil.ledger import SQLiteLedger

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
