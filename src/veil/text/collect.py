"""Per-job state of ``scan_text`` ops: entity counts and prefetched (batch) analyses.

Bound ops are shared by every job and thread of a plan, so they cannot keep counts
themselves. The engine running a job installs a :class:`JobText` in a context variable
for the duration of each record (:func:`job_scope`); ``scan_text`` ops report the
entity types they acted on to it and look up analyses prefetched for a batch there.
Outside a scope ops still work: they analyze one value at a time and count nothing.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from .spans import Span

#: (analysis key, text) -> spans
Prefetched = dict[tuple[str, str], list[Span]]


class JobText:
    """One job's entity counts (field path -> entity type -> n) and prefetched analyses."""

    __slots__ = ("entities", "prefetched")

    def __init__(self) -> None:
        self.entities: dict[str, Counter[str]] = {}
        self.prefetched: Prefetched = {}

    def count(self, field_path: str, entities: Counter[str]) -> None:
        c = self.entities.get(field_path)
        if c is None:
            self.entities[field_path] = c = Counter()
        c.update(entities)


_CURRENT: ContextVar[JobText | None] = ContextVar("veil_job_text", default=None)


def current() -> JobText | None:
    return _CURRENT.get()


@contextmanager
def job_scope(state: JobText) -> Iterator[JobText]:
    token = _CURRENT.set(state)
    try:
        yield state
    finally:
        _CURRENT.reset(token)
