"""Presidio's pattern recognizers, with the loop around their regexes made lean and safe.

``PatternRecognizer`` times every regex with two ``datetime.now()`` calls and logs the
time at DEBUG, per pattern per text: on short clinical notes that bookkeeping was a
third of the pattern recognizers' cost, more than many of the regexes themselves.
:func:`lean` gives a recognizer the same loop without it: same patterns and flags,
same validation, invalidation, scores, explanations and metadata
(``tests/text/test_patterns.py`` compares them with Presidio's, field by field).

Two things differ, both about regexes that take too long. Each pattern runs through
:class:`veil.text.linear.Matcher`: in RE2, linear in the text, wherever the pattern
means the same there (Presidio's URL pattern took seconds on a run of dots; in RE2
it takes microseconds). A pattern RE2 cannot run (lookarounds, backreferences) runs in
``regex`` with a timeout at the value's deadline, and running out raises
:class:`~veil.text.budget.AnalysisIncomplete`, so the value is withheld. Presidio's
loop logs a warning and skips the recognizer, which released the value with whatever
that recognizer would have found in it.

Both loops run only the patterns that can match the text: one RE2 set pass over it
decides (:class:`veil.text.linear.Prefilter`; the results are those of running them all).

Recognizers that bring their own ``analyze`` (IBAN, phone numbers, spaCy) are left as
they are, behind :func:`guard`: a recognizer that would start after the value's
deadline does not start, and the value is withheld. Presidio's IBAN recognizer, which
finds only matches of its pattern, does not run on a text the pattern cannot match.
"""

from __future__ import annotations

import functools
from typing import Any

from presidio_analyzer import EntityRecognizer, PatternRecognizer, RecognizerResult

from . import budget
from .linear import matcher, prefilter

_NAME = RecognizerResult.RECOGNIZER_NAME_KEY
_ID = RecognizerResult.RECOGNIZER_IDENTIFIER_KEY


class _Lean:
    """Mixed in before a ``PatternRecognizer`` class (see :func:`lean`)."""

    def analyze(
        self: Any,
        text: str,
        entities: list[str],
        nlp_artifacts: Any = None,
        regex_flags: int | None = None,
    ) -> list[Any]:
        # PatternRecognizer.analyze and __analyze_patterns (presidio-analyzer 2.2),
        # without the per-pattern timing and its DEBUG log, with linear-time matching,
        # and failing (AnalysisIncomplete) where Presidio skips a pattern that timed out.
        results: list[Any] = []
        if not self.patterns:
            return results
        flags = regex_flags if regex_flags else self.global_regex_flags
        entity = self.supported_entities[0]
        # Only the patterns that can match the text run (one RE2 pass decides; the
        # results are those of running them all, see linear.Prefilter).
        run = prefilter(tuple(p.regex for p in self.patterns), flags).which(text)
        for i, pattern in enumerate(self.patterns):
            if run is not None and i not in run:
                continue
            budget.check()
            for match in matcher(pattern.regex, flags).finditer(text):
                start, end = match.span()
                current = text[start:end]
                if current == "":
                    continue
                score = pattern.score
                validation = self.validate_result(current)
                description = self.build_regex_explanation(
                    self.name, pattern.name, pattern.regex, score, validation, flags
                )
                result = RecognizerResult(
                    entity_type=entity,
                    start=start,
                    end=end,
                    score=score,
                    analysis_explanation=description,
                    recognition_metadata={_NAME: self.name, _ID: self.id},
                )
                if validation is not None:
                    result.score = (
                        EntityRecognizer.MAX_SCORE if validation else EntityRecognizer.MIN_SCORE
                    )
                invalidation = self.invalidate_result(current)
                if invalidation is not None and invalidation:
                    result.score = EntityRecognizer.MIN_SCORE
                if result.score > EntityRecognizer.MIN_SCORE:
                    results.append(result)
                description.score = result.score
        return deduplicated(results)


def deduplicated(results: list[Any]) -> list[Any]:
    """``EntityRecognizer.remove_duplicates(results)`` (presidio-analyzer 2.2), at once for
    none or one result, which most recognizers return on a note: it keeps a result
    unless its score is 0, and a single one has no other to be a duplicate of or lie
    within."""
    if len(results) > 1:
        return list(EntityRecognizer.remove_duplicates(results))
    return [r for r in results if r.score != 0]


class _Guard:
    """Mixed in before a recognizer class that brings its own ``analyze`` (see :func:`guard`)."""

    #: True where the class's ``analyze`` finds only matches of its patterns
    _veil_patterns_only = False

    def analyze(self: Any, text: str, entities: list[str], *args: Any, **kwargs: Any) -> Any:
        budget.check()
        if self._veil_patterns_only and self.patterns:
            run = prefilter(tuple(p.regex for p in self.patterns), self.global_regex_flags)
            if run.which(text) == frozenset():  # no pattern can match: no result
                return []
        return super().analyze(text, entities, *args, **kwargs)  # type: ignore[misc]


def _patterns_only(cls: Any) -> bool:
    """True if ``cls`` analyzes as Presidio's ``IbanRecognizer`` (presidio-analyzer 2.2):
    its ``analyze`` returns a result only for a match of one of its patterns, searched
    with ``regex`` and its ``global_regex_flags``; a text none of them matches gets
    none."""
    from presidio_analyzer.predefined_recognizers import IbanRecognizer

    private = "_IbanRecognizer__analyze_patterns"
    return cls.analyze is IbanRecognizer.analyze and getattr(cls, private, None) is getattr(
        IbanRecognizer, private
    )


@functools.cache
def _guard_class(cls: Any) -> type:
    return type(
        cls.__name__,
        (_Guard, cls),
        {
            "__module__": cls.__module__,
            "__doc__": cls.__doc__,
            "_veil_patterns_only": _patterns_only(cls),
        },
    )


def guard(recognizer: Any) -> Any:
    """``recognizer`` if it is lean, else its twin that does not start once the value's
    time is up (same attributes, shared)."""
    if isinstance(recognizer, _Lean | _Guard):
        return recognizer
    cls: Any = type(recognizer)
    return _twin(recognizer, _guard_class(cls))


@functools.cache
def _lean_class(cls: Any) -> type:
    return type(cls.__name__, (_Lean, cls), {"__module__": cls.__module__, "__doc__": cls.__doc__})


def _plain(cls: type) -> bool:
    """True if ``cls`` analyzes with PatternRecognizer's own loop."""
    return (
        issubclass(cls, PatternRecognizer)
        and cls.analyze is PatternRecognizer.analyze
        and getattr(cls, "_PatternRecognizer__analyze_patterns", None)
        is PatternRecognizer._PatternRecognizer__analyze_patterns  # type: ignore[attr-defined]
    )


def lean(recognizer: Any) -> Any:
    """``recognizer``, or its twin analyzing with the lean loop if it uses
    PatternRecognizer's (same attributes, shared)."""
    cls: Any = type(recognizer)
    return _twin(recognizer, _lean_class(cls)) if _plain(cls) else recognizer


def stock(recognizer: Any) -> Any:
    """A twin of ``recognizer`` that analyzes with Presidio's own loop (the baseline of
    benchmarks/bench_text.py, and what the tests compare with)."""
    cls = type(recognizer)
    return _twin(recognizer, cls.__bases__[1]) if issubclass(cls, _Lean | _Guard) else recognizer


def _twin(recognizer: Any, cls: Any) -> Any:
    twin = cls.__new__(cls)
    twin.__dict__.update(recognizer.__dict__)
    return twin
