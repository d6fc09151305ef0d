"""Prometheus metrics: counts and latencies only, never values, ids or attributes."""

from __future__ import annotations

import time
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from ..core import Appender
from ..ledger.base import StoredEvent
from ..ledger.events import Event


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
        self.field_outcomes = Counter(
            "veil_field_outcomes_total",
            "Disclosed values by field class (first tag) and outcome label",
            ["field_class", "outcome"],
            registry=self.registry,
        )
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
        self._outcomes: dict[tuple[str, str], Any] = {}
        self.up = Gauge(
            "veil_ledger_up", "1 if the last ledger operation succeeded", registry=self.registry
        )
        self.up.set(1)

    def outcome(self, field_class: str, label: str) -> Any:
        child = self._outcomes.get((field_class, label))
        if child is None:
            child = self.field_outcomes.labels(field_class, label)
            self._outcomes[field_class, label] = child
        return child


class TimedLedger:
    """Wraps a ledger to time appends; failures are counted and re-raised unchanged."""

    def __init__(self, inner: Appender, metrics: Metrics) -> None:
        self.inner = inner
        self.metrics = metrics

    def append(self, event: Event) -> StoredEvent:
        start = time.perf_counter()
        try:
            stored = self.inner.append(event)
        except Exception:
            self.metrics.ledger_failures.inc()
            self.metrics.up.set(0)
            raise
        self.metrics.ledger_latency.observe(time.perf_counter() - start)
        self.metrics.up.set(1)
        return stored
