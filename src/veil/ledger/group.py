"""Group commit: concurrent appends share one transaction and one fsync.

Under load, a durable append is dominated by the commit (an fsync), not by the inserts.
Threads that append while another thread is committing queue up; when that commit ends,
one of them becomes the leader and writes the whole queue in a single transaction, so
16 concurrent requests pay for one or two fsyncs instead of sixteen. A lone append is
written at once, as before: batching only happens when there is something to wait for.

Contract: :meth:`GroupCommit.submit` returns only after the item's batch committed. If
the batch writer raises, every item of that batch gets the exception (nothing of the
batch was recorded, so none of their disclosures may be made); a writer may also fail
single items by returning an exception in that item's place.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

P = TypeVar("P")
R = TypeVar("R")


class _Slot(Generic[P, R]):
    __slots__ = ("done", "error", "item", "result", "wake")

    def __init__(self, item: P) -> None:
        self.item = item
        self.done = False
        self.result: R | None = None
        self.error: BaseException | None = None
        # A lock used as a one-shot signal: each waiter sleeps on its own, so a finished
        # batch wakes exactly its writers and the next leader, not every queued thread.
        self.wake = threading.Lock()
        self.wake.acquire()


class GroupCommit(Generic[P, R]):
    """Leader/follower batching of ``write(items) -> results`` (one result per item)."""

    def __init__(
        self, write: Callable[[Sequence[P]], Sequence[R | BaseException]], max_batch: int = 256
    ) -> None:
        self._write = write
        self._max = max_batch
        self._lock = threading.Lock()
        self._queue: list[_Slot[P, R]] = []
        self._leading = False
        #: Batches written and items in them (for metrics and tests).
        self.batches = 0
        self.items = 0

    def submit(self, item: P) -> R:
        """Write ``item`` (in some batch) and return its result once that batch committed."""
        slot: _Slot[P, R] = _Slot(item)
        with self._lock:
            self._queue.append(slot)
            lead = not self._leading
            self._leading = True
        if not lead:
            slot.wake.acquire()  # until our batch is written, or we are handed the lead
        if not slot.done:
            with self._lock:
                batch, self._queue = self._queue[: self._max], self._queue[self._max :]
            self._lead(batch)
        if slot.error is not None:
            raise slot.error
        return slot.result  # type: ignore[return-value]

    def _lead(self, batch: list[_Slot[P, R]]) -> None:
        results: Sequence[R | BaseException]
        try:
            results = self._write([s.item for s in batch])
            if len(results) != len(batch):  # a writer bug must not disclose anything
                raise RuntimeError("group commit: the writer returned the wrong number of results")
        except BaseException as exc:
            results = [exc] * len(batch)
        for s, r in zip(batch, results, strict=True):
            if isinstance(r, BaseException):
                s.error = r
            else:
                s.result = r
            s.done = True
        with self._lock:
            self.batches += 1
            self.items += len(batch)
            successor = self._queue[0] if self._queue else None
            self._leading = successor is not None
        if successor is not None:
            successor.wake.release()  # not done: it leads the next batch
        for s in batch:
            s.wake.release()  # done (the leader's own release wakes no one)
