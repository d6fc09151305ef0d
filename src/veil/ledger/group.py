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
    __slots__ = ("done", "error", "item", "result")

    def __init__(self, item: P) -> None:
        self.item = item
        self.done = False
        self.result: R | None = None
        self.error: BaseException | None = None


class GroupCommit(Generic[P, R]):
    """Leader/follower batching of ``write(items) -> results`` (one result per item)."""

    def __init__(
        self, write: Callable[[Sequence[P]], Sequence[R | BaseException]], max_batch: int = 256
    ) -> None:
        self._write = write
        self._max = max_batch
        self._cv = threading.Condition()
        self._queue: list[_Slot[P, R]] = []
        self._leading = False
        #: Batches written and items in them (for metrics and tests).
        self.batches = 0
        self.items = 0

    def submit(self, item: P) -> R:
        """Write ``item`` (in some batch) and return its result once that batch committed."""
        slot: _Slot[P, R] = _Slot(item)
        with self._cv:
            self._queue.append(slot)
            while self._leading and not slot.done:
                self._cv.wait()
            if not slot.done:
                self._leading = True
                batch, self._queue = self._queue[: self._max], self._queue[self._max :]
        if not slot.done:
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
        with self._cv:
            for s, r in zip(batch, results, strict=True):
                if isinstance(r, BaseException):
                    s.error = r
                else:
                    s.result = r
                s.done = True
            self.batches += 1
            self.items += len(batch)
            self._leading = False
            self._cv.notify_all()
