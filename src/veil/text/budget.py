"""How long free-text analysis may take: per value, and per request.

Analysis is CPU work whose cost depends on the text, and the text comes from whoever
sends a record. A :class:`Budget` bounds it twice: each value gets at most
``value_seconds`` (regexes that fall back to the backtracking engine time out at the
value's deadline; a recognizer that would start after it does not start), and all
values analyzed under one budget together get at most ``request_seconds``; once that is
spent, the rest are not analyzed at all.

A value whose analysis did not finish, for whatever reason, is *unfinished*: the
analyzers raise :class:`AnalysisIncomplete` (one value) or return :data:`UNFINISHED` in
its place (a batch), and ``scan_text`` withholds it. Nothing here ever lets a value
through unanalyzed.

The budget in force is a context variable set with :func:`scope`; outside any scope a
default one applies (:data:`DEFAULT_VALUE_SECONDS` per value, no request limit), so the
CLI and library calls are bounded too. ``local=False`` marks a thread that must not
analyze at all (the service's event loop): there, texts not analyzed elsewhere are
unfinished, and no analyzer is built.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from .spans import Span

#: seconds one value's analysis may take when no budget says otherwise
DEFAULT_VALUE_SECONDS = 10.0


class AnalysisIncomplete(Exception):
    """A value's analysis did not finish (time ran out, or it may not run here).

    Holds no text: the message says why, never what.
    """


class Unfinished(list[Span]):
    """The type of :data:`UNFINISHED`."""

    __slots__ = ()

    def __reduce__(self) -> str:  # pickles as the singleton
        return "UNFINISHED"


#: Put in place of a text's spans when its analysis did not finish (compare with ``is``).
UNFINISHED = Unfinished()


class Budget:
    """Time limits for analyzing free text (see the module docstring). Thread-safe."""

    __slots__ = ("_lock", "_spent", "local", "request_seconds", "value_seconds")

    def __init__(
        self,
        value_seconds: float = DEFAULT_VALUE_SECONDS,
        request_seconds: float | None = None,
        *,
        local: bool = True,
    ) -> None:
        if not value_seconds > 0:
            raise ValueError("value_seconds must be positive")
        if request_seconds is not None and not request_seconds > 0:
            raise ValueError("request_seconds must be positive (or None: no limit)")
        self.value_seconds = value_seconds
        self.request_seconds = request_seconds
        self.local = local
        self._spent = 0.0
        self._lock = threading.Lock()

    def remaining(self) -> float:
        """Seconds left for the values still to analyze (infinite without a request limit)."""
        if self.request_seconds is None:
            return float("inf")
        with self._lock:
            return self.request_seconds - self._spent

    def charge(self, seconds: float) -> None:
        """Count ``seconds`` of analysis against the request limit."""
        if self.request_seconds is not None:
            with self._lock:
                self._spent += seconds

    @contextmanager
    def value(self) -> Iterator[float]:
        """Analyze one value: yields its deadline (``time.monotonic()``), which
        :func:`time_left` reports inside; charges the time taken when it ends.

        Raises :class:`AnalysisIncomplete` at once if the request's time is spent or
        analysis may not run in this thread.
        """
        if not self.local:
            raise AnalysisIncomplete("free text is not analyzed in this thread")
        allowed = min(self.value_seconds, self.remaining())
        if allowed <= 0:
            raise AnalysisIncomplete("the request's time for free-text analysis is spent")
        start = time.monotonic()
        deadline = start + allowed
        token = _DEADLINE.set(deadline)
        try:
            yield deadline
        finally:
            _DEADLINE.reset(token)
            self.charge(time.monotonic() - start)


_DEFAULT = Budget()
_SCOPE: ContextVar[Budget | None] = ContextVar("veil_text_budget", default=None)
_DEADLINE: ContextVar[float | None] = ContextVar("veil_text_deadline", default=None)


def current() -> Budget:
    """The budget in force in this context (the default one outside any :func:`scope`)."""
    return _SCOPE.get() or _DEFAULT


@contextmanager
def scope(budget: Budget) -> Iterator[Budget]:
    """Make ``budget`` the one in force for analyses in this context."""
    token = _SCOPE.set(budget)
    try:
        yield budget
    finally:
        _SCOPE.reset(token)


def time_left() -> float:
    """Seconds left for the value being analyzed (a value's full default time outside
    :meth:`Budget.value`, e.g. a recognizer called directly)."""
    deadline = _DEADLINE.get()
    if deadline is None:
        return current().value_seconds
    return deadline - time.monotonic()


def check() -> None:
    """Raise :class:`AnalysisIncomplete` if the value being analyzed is out of time."""
    deadline = _DEADLINE.get()
    if deadline is not None and time.monotonic() >= deadline:
        raise AnalysisIncomplete("a value's analysis ran out of time")
