"""``veil policy test``: run the YAML test cases a bundle carries, like ``opa test``.

Cases run against the bundle with the public demo keys (or the keys given) and an
in-memory ledger, so they exercise the real planner and engine without side effects.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..core import Veil
from ..errors import AccessDenied, VeilError
from ..keys import Keyring
from ..ledger.base import StoredEvent
from ..ledger.events import Event
from ..ledger.vault import MemoryVault
from ..request import Request
from .bundle import Bundle
from .model import PolicyTest


class MemoryLedger:
    """A ledger that keeps events in memory, with a vault in memory: for tests and dry
    runs only."""

    def __init__(self) -> None:
        self.stored: list[StoredEvent] = []
        self.vault = MemoryVault()

    def token_vault(self) -> MemoryVault:
        return self.vault

    def append(self, event: Event) -> StoredEvent:
        s = StoredEvent(len(self.stored) + 1, event, "", "")
        self.stored.append(s)
        return s


@dataclass(frozen=True)
class CaseResult:
    name: str
    location: str
    failures: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.failures


def _get(record: dict[str, Any], path: str) -> Any:
    cur: Any = record
    for part in path.split("."):
        if not isinstance(cur, dict) or part not in cur:
            return _MISSING
        cur = cur[part]
    return cur


_MISSING = object()


def run_case(veil: Veil, case: PolicyTest) -> list[str]:
    req = Request(**case.request.model_dump())
    exp = case.expect
    failures: list[str] = []
    try:
        explanation = veil.explain(req)
    except AccessDenied as exc:  # refused before planning (e.g. a recipient it may not name)
        if exp.denied:
            return []
        return [f"expected denied={exp.denied}, got denied=True ({exc.message})"]
    except VeilError as exc:
        return [f"request rejected: {exc.message}"]
    refused = explanation.refused is not None
    if exp.denied is not None and exp.denied != refused:
        failures.append(
            f"expected denied={exp.denied}, got denied={refused}"
            + (f" ({explanation.refused})" if refused else "")
        )
    for path, want in exp.outcomes.items():
        try:
            got = explanation.outcome_of(path)
        except KeyError:
            failures.append(f"field '{path}' is not declared in dataset '{req.dataset}'")
            continue
        if got != want:
            failures.append(f"field '{path}': expected outcome {want}, got {got}")
    if case.record is None or refused:
        return failures
    try:
        result = veil.sanitize(req, [case.record])
    except AccessDenied as exc:
        return [*failures, f"request refused: {exc.message}"]
    except VeilError as exc:
        return [*failures, f"sanitize failed: {exc.message}"]
    excluded = not result.records
    if exp.excluded is not None and exp.excluded != excluded:
        failures.append(f"expected excluded={exp.excluded}, got excluded={excluded}")
    if result.records:
        out = result.records[0]
        for path, want in (exp.output or {}).items():
            got = _get(out, path)
            if got is _MISSING:
                failures.append(f"output has no '{path}' (expected {want!r})")
            elif got != want:
                failures.append(f"output '{path}': expected {want!r}, got {got!r}")
        for path in exp.absent:
            if _get(out, path) is not _MISSING:
                failures.append(f"output '{path}' should be absent")
    return failures


def run_tests(bundle: Bundle, keys: Keyring | None = None) -> Iterator[CaseResult]:
    veil = Veil(bundle, MemoryLedger(), keys or Keyring.demo())
    for case, src in zip(bundle.tests, bundle.test_src, strict=True):
        yield CaseResult(case.name, f"{src.file}:{src.line()}", tuple(run_case(veil, case)))
