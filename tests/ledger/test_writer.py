"""The event loop's appends (AsyncAppender): many tasks share batches written by one
thread; each await returns its own durable event, and a failed batch fails every waiter."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from ledger_factory import make_event

from veil.errors import LedgerError
from veil.ledger import Ledger, SQLiteLedger, StoredEvent
from veil.ledger.writer import AsyncAppender

TASKS, EACH = 16, 20


@pytest.fixture
def ledger(either_ledger: Ledger) -> Ledger:
    return either_ledger


def test_tasks_share_batches_and_each_gets_its_own_event(ledger: Ledger) -> None:
    writer = AsyncAppender(ledger)  # type: ignore[arg-type]

    async def task(t: int) -> list[StoredEvent]:
        return [
            await writer.append(make_event(data_subjects=[f"t{t}-{i}"], reason=f"t{t}-{i}"))
            for i in range(EACH)
        ]

    async def main() -> list[StoredEvent]:
        done = await asyncio.gather(*(task(t) for t in range(TASKS)))
        return [s for part in done for s in part]

    stored = asyncio.run(main())
    writer.close()
    report = ledger.verify()
    assert report.ok, report.problems[:3]
    assert report.checked == TASKS * EACH
    on_disk = {s.event.event_id: s for s in ledger.events()}
    assert {s.event.event_id: (s.seq, s.hash) for s in stored} == {
        k: (v.seq, v.hash) for k, v in on_disk.items()
    }
    assert all(on_disk[s.event.event_id].event.reason == s.event.reason for s in stored)
    assert writer.items == TASKS * EACH
    assert writer.batches < writer.items  # concurrent awaits were written together


class _Failing:
    """A ledger whose batch writes fail, or fail one chosen event."""

    def __init__(self, inner: SQLiteLedger, fail_all: bool, fail_reason: str = "") -> None:
        self.inner, self.fail_all, self.fail_reason = inner, fail_all, fail_reason

    def prepare(self, event: Any, *, idempotent: bool = False) -> Any:
        return self.inner.prepare(event, idempotent=idempotent)

    def write_batch(self, batch: Sequence[Any]) -> list[StoredEvent | BaseException]:
        if self.fail_all:
            raise LedgerError("disk on fire (test)")
        keep = [p for p in batch if p.event.reason != self.fail_reason]
        done = iter(self.inner.write_batch(keep))
        return [
            LedgerError("this one (test)") if p.event.reason == self.fail_reason else next(done)
            for p in batch
        ]


@pytest.mark.parametrize("fail_all", [True, False])
def test_failures_reach_their_waiters_and_nothing_else(tmp_path: Path, fail_all: bool) -> None:
    inner = SQLiteLedger(tmp_path / "l.db", None)
    writer = AsyncAppender(_Failing(inner, fail_all, fail_reason="bad"))

    async def main() -> list[StoredEvent | BaseException]:
        reasons = ["ok-1", "bad", "ok-2", "ok-3"]
        appends = [writer.append(make_event(reason=r)) for r in reasons]
        return await asyncio.gather(*appends, return_exceptions=True)

    results = asyncio.run(main())
    writer.close()
    if fail_all:
        assert all(isinstance(r, LedgerError) for r in results)
        assert inner.verify().checked == 0
    else:
        assert isinstance(results[1], LedgerError)
        assert [r.event.reason for r in results if isinstance(r, StoredEvent)] == [
            "ok-1",
            "ok-2",
            "ok-3",
        ]
        assert inner.verify().checked == 3
    inner.close()


def test_close_writes_what_is_queued_and_then_refuses(tmp_path: Path) -> None:
    led = SQLiteLedger(tmp_path / "l.db", None)
    writer = AsyncAppender(led)

    async def main() -> None:
        await asyncio.gather(*(writer.append(make_event()) for _ in range(5)))
        writer.close()
        with pytest.raises(LedgerError, match="closed"):
            await writer.append(make_event())

    asyncio.run(main())
    assert led.verify().checked == 5
    led.close()
