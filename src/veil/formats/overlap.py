"""Reading ahead and writing behind: a bulk job's file I/O on threads of their own.

Decoding a Parquet page and encoding and compressing one happen in Arrow's C++ with the
GIL released, so they can run on another core while this thread applies the plan to the
batch in between. A bulk job on one thread spent a fifth of its time (research) to a half
(billing) waiting for its own reads and writes.

Both stay bounded (:data:`DEPTH` batches each way: memory grows by at most that many
batches) and keep the order. Whatever a thread raises is raised again in the caller's
thread, as it was raised (an ``InputError`` stays one); after a failure or an interrupt
the threads stop, the source is closed by the thread that reads it, and nothing more is
written.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

T = TypeVar("T")

#: batches read ahead of the caller, and batches handed to the writer not yet written
#: (measured: 2 was no faster than 1 at 1M rows, and each costs a batch of memory)
DEPTH = 1
#: how often a thread blocked on a full or empty queue looks whether it should stop (s)
_POLL = 0.05

_END = object()


class _Failure:
    """An exception raised on a worker thread, carried to the caller's."""

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


def _put(q: queue.Queue[object], item: object, stop: threading.Event) -> bool:
    """Put ``item``, waiting for room; False if told to stop first."""
    while not stop.is_set():
        try:
            q.put(item, timeout=_POLL)
            return True
        except queue.Full:
            continue
    return False


class ReadAhead(Generic[T]):
    """An iterator over ``source``'s items, read up to :data:`DEPTH` ahead on a thread.

    Use it as a context manager: leaving it stops the thread and closes ``source`` (a
    generator is closed on the thread that runs it)."""

    def __init__(self, source: Iterator[T], depth: int = DEPTH) -> None:
        self._source = source
        self._q: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._done = False
        self._thread = threading.Thread(target=self._run, name="veil-read-ahead", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        src = self._source
        try:
            for item in src:
                if not _put(self._q, item, self._stop):
                    return
            _put(self._q, _END, self._stop)
        except BaseException as exc:  # carried to the caller's thread, raised there
            _put(self._q, _Failure(exc), self._stop)
        finally:
            close = getattr(src, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):  # closing after the end or a failure
                    close()

    def __iter__(self) -> Iterator[T]:
        return self

    def __next__(self) -> T:
        if self._done:
            raise StopIteration
        item = self._q.get()
        if item is _END:
            self._done = True
            self._thread.join()
            raise StopIteration
        if isinstance(item, _Failure):
            self._done = True
            self._thread.join()
            raise item.exc
        return item  # type: ignore[return-value]

    def close(self) -> None:
        """Stop reading and wait for the thread (it closes the source)."""
        self._stop.set()
        self._done = True
        self._thread.join()

    def __enter__(self) -> ReadAhead[T]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class WriteBehind(Generic[T]):
    """Calls ``write(item)`` for each :meth:`put` item on a thread, in order.

    :meth:`put` raises what an earlier ``write`` raised; :meth:`finish` waits for every
    item to be written and raises the first failure; :meth:`abandon` stops without
    writing what is still queued."""

    def __init__(self, write: Callable[[T], None], depth: int = DEPTH) -> None:
        self._write = write
        self._q: queue.Queue[object] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="veil-write-behind", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while True:
            try:
                item = self._q.get(timeout=_POLL)
            except queue.Empty:
                if self._stop.is_set():
                    return
                continue
            if item is _END or self._stop.is_set():
                return
            try:
                self._write(item)  # type: ignore[arg-type]
            except BaseException as exc:  # carried to the caller's thread, raised there
                self._failure = exc
                self._stop.set()
                return

    def _raise(self) -> None:
        if self._failure is not None:
            raise self._failure

    def put(self, item: T) -> None:
        """Queue ``item`` (waiting while :data:`DEPTH` are queued)."""
        self._raise()
        if not _put(self._q, item, self._stop):
            self._thread.join()
            self._raise()
            raise RuntimeError("the writer stopped")  # pragma: no cover - abandon() only

    def finish(self) -> None:
        """Wait until everything put is written; raise the writer's failure if any."""
        if not self._stop.is_set():
            _put(self._q, _END, self._stop)
        self._thread.join()
        self._raise()

    def abandon(self) -> None:
        """Stop; what is still queued is not written."""
        self._stop.set()
        self._thread.join()
