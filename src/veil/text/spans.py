"""Detected spans, overlap resolution and rendering: pure functions, no Presidio import.

A :class:`Span` is what a detector reports: where, which entity type, how sure. Spans
from different recognizers overlap ("4111 1111 1111 1111" is both a card number and,
to a weak pattern, a phone number). veil never leaves a partly covered identifier in
clear, so overlapping spans are merged into their union and the union gets one entity
type, chosen by a fixed order:

    among the spans of one overlapping group     the union is treated as
    -------------------------------------------  --------------------------------------
    one span                                     that span's entity type
    several                                      the type whose action is most
                                                 restrictive (veil's usual order); ties
                                                 go to the higher score, then the
                                                 entity name (alphabetical)

so the same text and policy always give the same output, whatever order recognizers
report in.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Span:
    start: int
    end: int
    entity: str
    score: float


def resolve(
    spans: Sequence[Span], restrictiveness: Callable[[str], tuple[float, ...]]
) -> list[Span]:
    """Merge overlapping spans into disjoint ones, sorted by start (see the table above).

    ``restrictiveness(entity)`` is smaller for a more restrictive action.
    """
    if not spans:
        return []
    # Sort because the sweep below needs spans by start; ends and names make it total.
    ordered = sorted(spans, key=lambda s: (s.start, -s.end, s.entity, -s.score))
    out: list[Span] = []
    group = [ordered[0]]
    end = ordered[0].end
    for s in ordered[1:]:
        if s.start < end:  # touches the current group: merge
            group.append(s)
            end = max(end, s.end)
            continue
        out.append(_merge(group, end, restrictiveness))
        group, end = [s], s.end
    out.append(_merge(group, end, restrictiveness))
    return out


def _merge(
    group: list[Span], end: int, restrictiveness: Callable[[str], tuple[float, ...]]
) -> Span:
    if len(group) == 1:
        return group[0]
    best = min(group, key=lambda s: (restrictiveness(s.entity), -s.score, s.entity))
    return Span(group[0].start, end, best.entity, max(s.score for s in group))


def render(text: str, spans: Sequence[Span], replace: Callable[[Span, str], str]) -> str:
    """``text`` with each (disjoint, sorted) span replaced by ``replace(span, span_text)``."""
    parts: list[str] = []
    pos = 0
    for s in spans:
        parts.append(text[pos : s.start])
        parts.append(replace(s, text[s.start : s.end]))
        pos = s.end
    parts.append(text[pos:])
    return "".join(parts)
