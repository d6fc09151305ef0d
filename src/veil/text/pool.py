"""Worker processes that analyze free text for every job of this process.

Presidio's analysis is CPU-bound Python (phone numbers alone are about half of it), so
batches of free text are spread over worker processes. A pool is expensive to start
(each worker imports Presidio and builds its analyzers, seconds), so there is one per
process and worker count, started on first use, reused by every job and thread, and
shut down at interpreter exit (:func:`shutdown`).

What crosses the process boundary, and what does not:

    to a worker                          back to the parent       never
    -----------------------------------  -----------------------  -----------------------
    engine configuration (JSON), entity  spans: (start, end,      keys, transforms, the
    types, threshold, the texts          entity, score)           records around a text

Workers are started with ``spawn`` (safe beside threads, and a fresh interpreter holds
none of the parent's memory); they drop ``VEIL_KEY_*`` variables from their environment
before doing anything else. A failed analysis in a worker (a detector bug, a worker
that died) raises :class:`PoolFailed` to the caller, which analyzes in-process or
withholds the values: nothing is ever disclosed unanalyzed.

Time: each task carries the caller's :mod:`~veil.text.budget` (seconds per value, and
what is left of the request's), and the worker analyzes within it; a text it did not
finish comes back as :data:`~veil.text.budget.UNFINISHED` (``None`` on the wire).
:meth:`TextPool.analyze_async` is the event loop's way in (the HTTP service): it waits
without a thread, keeps at most one chunk per worker in flight per call (so one large
request cannot queue ahead of every other), and gives up at the request's deadline,
returning UNFINISHED for whatever did not come back.
"""

from __future__ import annotations

import asyncio
import atexit
import math
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from multiprocessing import get_context

from . import budget
from .budget import UNFINISHED, Budget
from .engine import EngineConfig, Query, analyzer_for
from .spans import Span

#: fewer texts than this are analyzed in-process: shipping them costs more than it saves
MIN_TEXTS = 32
#: texts per task sent to a worker: ~20 ms of work for the pattern engine, and a batch
#: the NER model pipes well. Smaller tasks starved the workers while this process
#: applied records: the executor's feeder thread, which refills their queue, only
#: gets the GIL between the main thread's switch intervals (chunks of 8 left them
#: idle up to a quarter of the time). Larger ones leave one worker finishing alone.
CHUNK = 32

#: spans per text; None for a text whose analysis did not finish
_Wire = list[list[tuple[int, int, str, float]] | None]
#: seconds a call waits for the pool's workers to start (imports, analyzers), not
#: counted against the request's time
START_SECONDS = 300.0


class PoolFailed(Exception):
    """A worker could not analyze a chunk (holds no text)."""


def _init_worker(config_keys: tuple[str, ...]) -> None:
    from ..keys import ENV_PREFIX

    for name in [n for n in os.environ if n.startswith(ENV_PREFIX)]:
        del os.environ[name]
    threading.Thread(target=_exit_with, args=(os.getppid(),), daemon=True).start()
    for key in config_keys:  # build now, not inside the first (timed) request
        try:
            analyzer_for(EngineConfig.from_key(key))
        except Exception:  # noqa: S112 - the chunk that needs it will report the failure
            continue


def _exit_with(parent: int) -> None:
    """End this worker when its parent is gone. A parent killed without running its
    exit handlers (SIGKILL, SIGTERM's default) leaves the workers waiting on a queue
    whose write end they hold themselves, so they would never see it close."""
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(0)


def _analyze(
    config_key: str,
    query: Query,
    texts: list[str],
    value_seconds: float = budget.DEFAULT_VALUE_SECONDS,
    request_seconds: float | None = None,
) -> _Wire:
    with budget.scope(Budget(value_seconds, request_seconds)):
        spans = analyzer_for(EngineConfig.from_key(config_key)).analyze_batch(texts, query)
    return [
        None if found is UNFINISHED else [(s.start, s.end, s.entity, s.score) for s in found]
        for found in spans
    ]


def _spans(wire: _Wire) -> list[list[Span]]:
    return [UNFINISHED if found is None else [Span(*s) for s in found] for found in wire]


def _task_budget() -> tuple[float, float | None]:
    """(seconds per value, seconds left for the request) to send with a task."""
    b = budget.current()
    left = b.remaining()
    return b.value_seconds, (None if math.isinf(left) else max(left, 1e-3))


class TextPool:
    """A fixed number of worker processes; each builds an analyzer once per configuration."""

    def __init__(self, workers: int, configs: Sequence[EngineConfig] = ()) -> None:
        """``configs``: analyzers each worker builds when it starts; others are built in
        a worker when it first meets them."""
        if workers < 1:
            raise ValueError("a text pool needs at least one worker")
        self.workers = workers
        self._configs = tuple(dict.fromkeys(c.key for c in configs))
        self._lock = threading.Lock()
        self._pool: ProcessPoolExecutor | None = None
        #: done once a worker of the current executor has started (see analyze_async)
        self._started: list[Future[int]] = []

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is not None and getattr(self._pool, "_broken", False):
                # a worker died since the last call noticed: replace the pool now, or this
                # call would find it broken and leave every text unfinished
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    self.workers,
                    mp_context=get_context("spawn"),
                    initializer=_init_worker,
                    initargs=(self._configs,),
                )
                # The executor starts a process per task submitted while none is idle:
                # start them all now, not one by one as later requests happen to find.
                self._started = [self._pool.submit(os.getpid) for _ in range(self.workers)]
            return self._pool

    def starting(self) -> bool:
        """True while the workers of a started pool are still coming up (importing
        Presidio, building analyzers): a text sent now waits for them. A worker that
        failed to start counts as up; the request that meets it replaces the pool."""
        with self._lock:
            return self._pool is not None and not all(f.done() for f in self._started)

    def pids(self) -> list[int]:
        """The worker processes running now (tests check they end with the pool)."""
        pool = self._pool
        procs = getattr(pool, "_processes", None) or {}
        return sorted(procs)

    def close(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def analyze(self, config: EngineConfig, query: Query, texts: Sequence[str]) -> list[list[Span]]:
        """Spans per text, equal to ``analyzer_for(config).analyze_batch(texts, query)``.

        The calling thread only waits (it holds no GIL the pool's threads need, and
        any number of threads can call at once). Raises :class:`PoolFailed` if any
        chunk fails in a worker; a broken pool (a worker died) is replaced on the next
        call.
        """
        return self.start(config, query, texts).result()

    def start(self, config: EngineConfig, query: Query, texts: Sequence[str]) -> Analysis:
        """:meth:`analyze` without waiting: the workers start on ``texts`` now, and
        :meth:`Analysis.result` collects the spans (callers queue several and work
        while the pool does). Raises :class:`PoolFailed` if the pool cannot take them."""
        pool = self._executor()
        n = CHUNK
        futures: list[Future[_Wire]] = []
        value_seconds, request_seconds = _task_budget()
        try:
            for i in range(0, len(texts), n):
                chunk = list(texts[i : i + n])
                futures.append(
                    pool.submit(_analyze, config.key, query, chunk, value_seconds, request_seconds)
                )
        except Exception as exc:
            self._failed(pool, futures)
            raise PoolFailed(f"text analysis in a worker failed ({type(exc).__name__})") from None
        return Analysis(self, pool, futures)

    async def analyze_async(
        self, config: EngineConfig, query: Query, texts: Sequence[str]
    ) -> list[list[Span]]:
        """Spans per text, or :data:`UNFINISHED` for each text not analyzed within the
        budget in force (counted from when the pool's workers are up), or whose chunk
        failed (a worker died: the pool is replaced). Never raises for the texts' sake,
        and never analyzes in this process."""
        b = budget.current()
        chunks = [list(texts[i : i + CHUNK]) for i in range(0, len(texts), CHUNK)]
        results: list[list[list[Span]] | None] = [None] * len(chunks)
        pool = self._executor()
        try:
            await asyncio.wait_for(
                asyncio.gather(*(asyncio.wrap_future(f) for f in self._started)), START_SECONDS
            )
        except Exception:  # a worker that cannot start: every text stays unfinished
            self._failed(pool, [])
            return [UNFINISHED for _ in texts]
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + b.remaining()
        running: dict[asyncio.Future[_Wire], int] = {}
        queued = 0
        try:
            while queued < len(chunks) or running:
                while queued < len(chunks) and len(running) < self.workers:
                    left = deadline - loop.time()
                    if left <= 0:
                        break
                    try:
                        f = pool.submit(
                            _analyze,
                            config.key,
                            query,
                            chunks[queued],
                            b.value_seconds,
                            None if math.isinf(left) else left,
                        )
                    except Exception:  # broken (a worker died): replace it for later calls
                        self._failed(pool, [])
                        return _fill(chunks, results)
                    running[asyncio.wrap_future(f)] = queued
                    queued += 1
                if not running:
                    break
                left = deadline - loop.time()
                done, _ = await asyncio.wait(
                    running,
                    timeout=None if math.isinf(left) else max(left, 0.0),
                    return_when=asyncio.FIRST_COMPLETED,
                )
                if not done:  # the request's time is up
                    break
                for d in done:
                    k = running.pop(d)
                    try:
                        results[k] = _spans(d.result())
                    except Exception as exc:
                        self._failed(pool, [], broken=isinstance(exc, BrokenProcessPool))
        finally:
            for d in running:
                d.cancel()
            b.charge(loop.time() - started)
        return _fill(chunks, results)

    def _failed(
        self, pool: ProcessPoolExecutor, futures: list[Future[_Wire]], *, broken: bool = False
    ) -> None:
        """Cancel ``futures``; replace ``pool`` if it is broken. ``broken``: the caller saw
        BrokenProcessPool (the executor fails its futures before it sets its flag)."""
        for f in futures:
            f.cancel()
        if broken or getattr(pool, "_broken", False):
            with self._lock:
                if self._pool is pool:
                    self._pool = None
            pool.shutdown(wait=False, cancel_futures=True)


class Analysis:
    """Texts a :class:`TextPool` is analyzing (:meth:`TextPool.start`)."""

    def __init__(self, owner: TextPool, pool: ProcessPoolExecutor, futures: list[Future[_Wire]]):
        self._owner, self._pool, self._futures = owner, pool, futures

    def result(self) -> list[list[Span]]:
        """Spans per text, in order (:data:`UNFINISHED` for a text not analyzed in time);
        raises :class:`PoolFailed` if a chunk failed."""
        try:
            out: list[list[Span]] = []
            for f in self._futures:
                out.extend(_spans(f.result()))
        except Exception as exc:
            self._owner._failed(
                self._pool, self._futures, broken=isinstance(exc, BrokenProcessPool)
            )
            raise PoolFailed(f"text analysis in a worker failed ({type(exc).__name__})") from None
        return out

    def cancel(self) -> None:
        """Drop what has not started (the caller no longer needs the spans)."""
        for f in self._futures:
            f.cancel()


def _fill(chunks: list[list[str]], results: list[list[list[Span]] | None]) -> list[list[Span]]:
    out: list[list[Span]] = []
    for chunk, found in zip(chunks, results, strict=True):
        out.extend(found if found is not None else [UNFINISHED for _ in chunk])
    return out


_SHARED: dict[int, TextPool] = {}
_SHARED_LOCK = threading.Lock()


def shared_pool(workers: int, configs: Sequence[EngineConfig] = ()) -> TextPool:
    """This process's pool of ``workers`` processes, started on first use (its workers
    build analyzers for ``configs`` of that first use as they start)."""
    with _SHARED_LOCK:
        pool = _SHARED.get(workers)
        if pool is None:
            pool = _SHARED[workers] = TextPool(workers, configs)
        return pool


def shutdown() -> None:
    """Stop every shared pool's workers (at exit; tests call it between modules)."""
    with _SHARED_LOCK:
        pools = list(_SHARED.values())
        _SHARED.clear()
    for pool in pools:
        pool.close()


atexit.register(shutdown)
