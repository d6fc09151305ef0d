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
"""

from __future__ import annotations

import atexit
import os
import threading
import time
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing import get_context

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

_Wire = list[list[tuple[int, int, str, float]]]


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


def _analyze(config_key: str, query: Query, texts: list[str]) -> _Wire:
    spans = analyzer_for(EngineConfig.from_key(config_key)).analyze_batch(texts, query)
    return [[(s.start, s.end, s.entity, s.score) for s in found] for found in spans]


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

    def _executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ProcessPoolExecutor(
                    self.workers,
                    mp_context=get_context("spawn"),
                    initializer=_init_worker,
                    initargs=(self._configs,),
                )
                # The executor starts a process per task submitted while none is idle:
                # start them all now, not one by one as later requests happen to find.
                for _ in range(self.workers):
                    self._pool.submit(os.getpid)
            return self._pool

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
        try:
            for i in range(0, len(texts), n):
                futures.append(pool.submit(_analyze, config.key, query, list(texts[i : i + n])))
        except Exception as exc:
            self._failed(pool, futures)
            raise PoolFailed(f"text analysis in a worker failed ({type(exc).__name__})") from None
        return Analysis(self, pool, futures)

    def _failed(self, pool: ProcessPoolExecutor, futures: list[Future[_Wire]]) -> None:
        for f in futures:
            f.cancel()
        if getattr(pool, "_broken", False):
            with self._lock:
                if self._pool is pool:
                    self._pool = None
            pool.shutdown(wait=False, cancel_futures=True)


class Analysis:
    """Texts a :class:`TextPool` is analyzing (:meth:`TextPool.start`)."""

    def __init__(self, owner: TextPool, pool: ProcessPoolExecutor, futures: list[Future[_Wire]]):
        self._owner, self._pool, self._futures = owner, pool, futures

    def result(self) -> list[list[Span]]:
        """Spans per text, in order; raises :class:`PoolFailed` if a chunk failed."""
        try:
            out: list[list[Span]] = []
            for f in self._futures:
                out.extend([Span(*s) for s in spans] for spans in f.result())
        except Exception as exc:
            self._owner._failed(self._pool, self._futures)
            raise PoolFailed(f"text analysis in a worker failed ({type(exc).__name__})") from None
        return out

    def cancel(self) -> None:
        """Drop what has not started (the caller no longer needs the spans)."""
        for f in self._futures:
            f.cancel()


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
