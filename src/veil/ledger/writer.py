"""Ledger appends from an asyncio event loop, group-committed by one writer thread.

The service used to hand each append to a thread of its own, which then waited in the
ledger's group commit: every request paid a thread wake-up, GIL hand-offs and a future
bridged back to the loop, about a fifth of its CPU. Here a request serializes its event
on the loop, queues it and awaits; one thread writes whatever is queued as one
transaction and settles the whole batch with a single call back into each loop.

Same contract as :meth:`~veil.ledger.base.Ledger.append`: the await returns only once
the event is durable, and if it raises, nothing of that event was recorded and nothing
may be disclosed. A request cancelled while it waits does not unqueue its event (the
ledger may then record a disclosure that was not delivered: the safe way round).
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Sequence
from typing import Any, Protocol

from ..errors import LedgerError
from .base import StoredEvent
from .events import Event


class BatchLedger(Protocol):
    """What a backend offers for batched appends (SQLite and PostgreSQL ledgers)."""

    def prepare(self, event: Event, *, idempotent: bool = False) -> Any: ...

    def write_batch(self, batch: Sequence[Any]) -> Sequence[StoredEvent | BaseException]: ...


_Item = tuple[Any, "asyncio.Future[StoredEvent]", asyncio.AbstractEventLoop]


def _settle(items: list[tuple[asyncio.Future[StoredEvent], StoredEvent | BaseException]]) -> None:
    for fut, result in items:
        if fut.done():  # its request was cancelled
            continue
        if isinstance(result, BaseException):
            fut.set_exception(result)
        else:
            fut.set_result(result)


def _call(loop: asyncio.AbstractEventLoop, items: list[Any]) -> None:
    """Settle ``items`` on their loop; a closed loop has nobody waiting any more."""
    with contextlib.suppress(RuntimeError):
        loop.call_soon_threadsafe(_settle, items)


class AsyncAppender:
    """``await append(event)`` for event loops; one daemon thread writes, started on first use."""

    def __init__(self, ledger: BatchLedger, *, max_batch: int = 256) -> None:
        self._ledger = ledger
        self._max = max_batch
        self._queue: queue.SimpleQueue[_Item | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._closed = False
        #: Batches written and events in them (for tests and metrics).
        self.batches = 0
        self.items = 0

    async def append(self, event: Event, *, idempotent: bool = False) -> StoredEvent:
        """Make ``event`` durable and chained; return it as stored (see the module doc)."""
        if self._closed:
            raise LedgerError("the ledger writer is closed", hint="the service is shutting down")
        pending = self._ledger.prepare(event, idempotent=idempotent)
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[StoredEvent] = loop.create_future()
        if self._thread is None:
            self._start()
        self._queue.put((pending, fut, loop))
        return await fut

    def _start(self) -> None:
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="veil-ledger-writer", daemon=True
                )
                self._thread.start()

    def _run(self) -> None:
        stop = False
        while not stop:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < self._max:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True  # write what came before the stop, then end
                    break
                batch.append(nxt)
            self._write(batch)

    def _write(self, batch: list[_Item]) -> None:
        results: Sequence[StoredEvent | BaseException]
        try:
            results = self._ledger.write_batch([p for p, _, _ in batch])
            if len(results) != len(batch):  # a writer bug must not disclose anything
                raise RuntimeError("the ledger returned the wrong number of results")
        except BaseException as exc:  # every waiter must hear of it, whatever it is
            results = [exc] * len(batch)
        self.batches += 1
        self.items += len(batch)
        by_loop: dict[asyncio.AbstractEventLoop, list[Any]] = {}
        for (_, fut, loop), result in zip(batch, results, strict=True):
            by_loop.setdefault(loop, []).append((fut, result))
        for loop, items in by_loop.items():
            _call(loop, items)

    def close(self, timeout: float = 10.0) -> None:
        """Refuse new appends, write the queued ones, stop the thread."""
        self._closed = True
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout)
        late: list[_Item] = []  # queued behind the stop by a racing append
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if item is not None:
                late.append(item)
        if late:
            closed = LedgerError("the ledger writer is closed", hint="retry on another instance")
            for _, fut, loop in late:
                _call(loop, [(fut, closed)])
