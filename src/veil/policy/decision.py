"""Outcomes of field rules and how several of them combine.

Combining, for the rules that match one field of one request (and record):

    matching rules                     result
    ---------------------------------  -------------------------------------------------
    none                               redact            (default deny: nothing allows it)
    no exception among them            the most restrictive outcome of all of them
    one or more exceptions             the most restrictive outcome among the exceptions
                                       of the highest priority; the others are overridden

Restrictiveness, from most to least: deny > redact > transforms (by how much they
reveal: nullify < replace < hash < tokenize < generalize < mask < truncate < date_shift
< fpe, then by parameters) > allow. Ties between equally restrictive outcomes go to the
rule declared first, so a combination always has one deterministic answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

from ..transforms.base import Params

Verdict = Literal["allow", "transform", "redact", "deny"]
_CLASS = {"deny": 0, "redact": 1, "transform": 2, "allow": 3}


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    transform: str | None = None
    params: Params | None = None
    rank: int = 0
    reveal: float = 0.0

    @property
    def label(self) -> str:
        """The name used in explanations, tests and the ledger."""
        if self.verdict == "allow":
            return "clear"
        if self.verdict == "transform":
            assert self.transform is not None
            return self.transform
        return "redacted" if self.verdict == "redact" else "denied"

    @cached_property
    def described(self) -> str:
        return self._describe()

    def describe(self) -> str:
        return self.described

    def _describe(self) -> str:
        """``mask(keep_last=4)``: the label with the parameters that differ from defaults."""
        if self.verdict != "transform" or self.params is None:
            return self.label
        custom = getattr(self.params, "describe_args", None)
        if custom is not None:
            return f"{self.label}({custom()})"
        args = ", ".join(
            f"{k}={v!r}" for k, v in self.params.model_dump(exclude_defaults=True).items()
        )
        return f"{self.label}({args})"

    @property
    def discloses(self) -> bool:
        return self.verdict in ("allow", "transform")

    def restrictiveness(self) -> tuple[int, int, float]:
        """Smaller is more restrictive."""
        return (_CLASS[self.verdict], self.rank, self.reveal)


ALLOW = Outcome("allow", rank=100)
REDACT = Outcome("redact")
DENY = Outcome("deny")


@dataclass(frozen=True)
class Match:
    """A rule that matched a field, with what it asks for."""

    rule_id: str
    order: int  # declaration order in the bundle: the tie-breaker
    outcome: Outcome
    exception: bool = False
    priority: int = 0
    break_glass: bool = False


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    rules: tuple[str, ...]  # the rule(s) that produced the outcome
    overridden: tuple[str, ...] = ()  # matching rules that lost
    reason: str = ""
    break_glass: tuple[str, ...] = field(default_factory=tuple)


def combine(matches: Sequence[Match]) -> Decision:
    """Most restrictive wins, except that exceptions of the highest priority win over the rest."""
    if not matches:
        return Decision(REDACT, (), (), "no rule allows this field (default deny)")
    exceptions = [m for m in matches if m.exception]
    if exceptions:
        top = max(m.priority for m in exceptions)
        pool = [m for m in exceptions if m.priority == top]
        why = f"exception of priority {top} overrides other rules"
    else:
        pool = list(matches)
        why = "most restrictive matching rule"
    winner = min(pool, key=lambda m: (m.outcome.restrictiveness(), m.order))
    same = tuple(m.rule_id for m in pool if m.outcome == winner.outcome)
    lost = tuple(m.rule_id for m in matches if m.rule_id not in same)
    bg = tuple(m.rule_id for m in pool if m.break_glass and m.outcome == winner.outcome)
    return Decision(winner.outcome, same, lost, why, bg)


def summarize(params: Any) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in params.items())
