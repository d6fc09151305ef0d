"""Prometheus metrics: counts and latencies only, never values, ids or attributes."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import cast

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import CounterMetricFamily, Metric
from prometheus_client.registry import Collector

from ..core import Appender
from ..errors import ledger_failure
from ..ledger.base import StoredEvent
from ..ledger.events import Event, note_event
from ..ledger.writer import AsyncAppender, BatchLedger

log = logging.getLogger("veil.ledger")


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "veil_http_requests_total",
            "HTTP requests by route and status",
            ["route", "status"],
            registry=self.registry,
        )
        self.records = Counter(
            "veil_records_total",
            "Records by fate (returned, filtered)",
            ["fate"],
            registry=self.registry,
        )
        self.field_outcomes = OutcomeCounts()
        self.registry.register(self.field_outcomes)
        self.ledger_latency = Histogram(
            "veil_ledger_append_seconds",
            "Time to append one ledger event",
            registry=self.registry,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0),
        )
        self.ledger_failures = Counter(
            "veil_ledger_failures_total",
            "Ledger appends that failed (nothing disclosed)",
            registry=self.registry,
        )
        self.bundle_reloads = Counter(
            "veil_bundle_reloads_total",
            "Policy reloads by result",
            ["result"],
            registry=self.registry,
        )
        self.break_glass = Counter(
            "veil_break_glass_total",
            "Disclosures made under break-glass rules",
            registry=self.registry,
        )
        self.returned = self.records.labels("returned")
        self.filtered = self.records.labels("filtered")
        self.up = Gauge(
            "veil_ledger_up", "1 if the last ledger operation succeeded", registry=self.registry
        )
        self.up.set(1)


class OutcomeCounts(Collector):
    """``veil_field_outcomes_total`` as plain sums, exported when scraped.

    A request touches a dozen (field class, outcome) pairs; a labelled Counter child per
    pair cost ~10% of a small request's CPU, so requests add into one dict under one lock.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[tuple[str, str], float] = {}

    def add(self, totals: Mapping[tuple[str, str], int]) -> None:
        with self._lock:
            counts = self._counts
            for key, n in totals.items():
                counts[key] = counts.get(key, 0) + n

    def collect(self) -> Iterator[Metric]:
        family = CounterMetricFamily(
            "veil_field_outcomes",
            "Disclosed values by field class (first tag) and outcome label",
            labels=["field_class", "outcome"],
        )
        with self._lock:
            items = sorted(self._counts.items())
        for (cls, label), n in items:
            family.add_metric([cls, label], n)
        yield family


class TimedLedger:
    """Wraps a ledger to time appends; failures are counted and re-raised as LedgerError.

    :meth:`append_async` is the service's path: the ledger's own batched writer when it
    has one (:class:`~veil.ledger.writer.AsyncAppender`), else ``append`` in a thread.
    """

    def __init__(self, inner: Appender, metrics: Metrics) -> None:
        self.inner = inner
        self.metrics = metrics
        batched = hasattr(inner, "prepare") and hasattr(inner, "write_batch")
        self.writer = AsyncAppender(cast(BatchLedger, inner)) if batched else None
        self._threads: ThreadPoolExecutor | None = None

    def append(self, event: Event) -> StoredEvent:
        start = time.perf_counter()
        try:
            stored = self.inner.append(event)
        except Exception as exc:
            self._failed(exc)
            raise
        self._done(start)
        note_event(stored.event.event_id)
        return stored

    async def append_async(self, event: Event) -> StoredEvent:
        """:meth:`append` without blocking the event loop; LedgerError if not durable."""
        start = time.perf_counter()
        try:
            if self.writer is not None:
                stored = await self.writer.append(event)
            else:
                if self._threads is None:
                    self._threads = ThreadPoolExecutor(64, thread_name_prefix="veil-ledger")
                loop = asyncio.get_running_loop()
                stored = await loop.run_in_executor(self._threads, self.inner.append, event)
        except Exception as exc:
            self._failed(exc)
            raise ledger_failure(exc) from None
        self._done(start)
        note_event(stored.event.event_id)
        return stored

    def close(self) -> None:
        """Write what is queued and stop the writer thread (the ledger stays open)."""
        if self.writer is not None:
            self.writer.close()
        if self._threads is not None:
            self._threads.shutdown()

    def _failed(self, exc: BaseException) -> None:
        # the class only: a driver's message may quote the statement's parameters
        log.error("the ledger could not record an event", extra={"error": type(exc).__name__})
        self.metrics.ledger_failures.inc()
        self.metrics.up.set(0)

    def _done(self, start: float) -> None:
        self.metrics.ledger_latency.observe(time.perf_counter() - start)
        self.metrics.up.set(1)
