"""Group commit: threads appending at once share transactions; each event stays durable,
chained and attributed to the thread that appended it, and a failed batch fails all of it."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from ledger_factory import KEY, make_event

from veil.errors import LedgerError
from veil.ledger import Ledger, SQLiteLedger, StoredEvent
from veil.ledger.group import GroupCommit

THREADS, EACH = 8, 25


@pytest.fixture
def ledger(either_ledger: Ledger) -> Ledger:
    return either_ledger


def test_threads_share_batches_and_the_chain_stays_linear(ledger: Ledger) -> None:
    stored: dict[str, StoredEvent] = {}
    lock = threading.Lock()
    led: Any = ledger
    start = threading.Barrier(THREADS)

    def writer(w: int) -> None:
        start.wait()
        for i in range(EACH):
            s = led.append(make_event(data_subjects=[f"w{w}-{i}"], reason=f"w{w}-{i}"))
            with lock:
                stored[s.event.event_id] = s

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    report = led.verify()
    assert report.ok, report.problems[:3]
    assert report.checked == THREADS * EACH
    on_disk = {s.event.event_id: s for s in led.events()}
    # Every caller got back exactly the seq and hash its event has in the ledger.
    assert {k: (v.seq, v.hash) for k, v in stored.items()} == {
        k: (v.seq, v.hash) for k, v in on_disk.items()
    }
    assert all(on_disk[k].event.reason == v.event.reason for k, v in stored.items())
    assert sorted(s.seq for s in stored.values()) == list(range(1, THREADS * EACH + 1))
    assert led._group.items == THREADS * EACH
    assert led._group.batches <= THREADS * EACH


def test_a_failing_batch_fails_every_item_and_the_next_batch_works() -> None:
    calls: list[list[int]] = []
    fail = threading.Event()
    fail.set()

    def write(items: Sequence[int]) -> list[int | BaseException]:
        calls.append(list(items))
        if fail.is_set():
            raise LedgerError("disk on fire")
        return [i * 10 for i in items]

    group: GroupCommit[int, int] = GroupCommit(write)
    with pytest.raises(LedgerError):
        group.submit(1)
    fail.clear()
    assert group.submit(2) == 20


def test_one_item_can_fail_alone() -> None:
    group: GroupCommit[int, int] = GroupCommit(
        lambda items: [LedgerError("dup") if i == 3 else i for i in items]
    )
    assert group.submit(4) == 4
    with pytest.raises(LedgerError):
        group.submit(3)


def test_a_writer_returning_too_few_results_fails_closed() -> None:
    group: GroupCommit[int, int] = GroupCommit(lambda items: [])
    with pytest.raises(RuntimeError):
        group.submit(1)


def test_duplicate_event_id_without_idempotent_is_refused(tmp_path: Path) -> None:
    with SQLiteLedger(tmp_path / "l.db", KEY) as led:
        led.append(make_event(event_id="same"))
        with pytest.raises(LedgerError, match="already recorded"):
            led.append(make_event(event_id="same"))
        assert led.head()[0] == 1 and led.verify().ok
