"""The lean pattern loop must give what Presidio's own loop gives, field by field."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from presidio_analyzer import Pattern, PatternRecognizer
from presidio_analyzer.predefined_recognizers import IbanRecognizer

from veil.text import budget, patterns
from veil.text.decl import PatternDecl, RecognizerDecl
from veil.text.engine import EngineConfig, analyzer_for
from veil.text.patterns import lean, stock

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from notes_synth import notes

CANARY = "CANARY-7731-do-not-log"

MRN = RecognizerDecl(
    entity="MEDICAL_RECORD_NUMBER",
    patterns=[PatternDecl(name="mrn", regex=r"\bMRN-\d{7}\b", score=0.5)],
    deny_list=["Zeta Ward"],
    context=["mrn", "record"],
)
CARDISH = RecognizerDecl(
    entity="INTERNAL_CARD",
    patterns=[PatternDecl(regex=r"\b\d{4}(?:[ -]?\d{4}){3}\b", score=0.3)],
    validator="luhn",
)


def _recognizers() -> list[Any]:
    config = EngineConfig(
        phone_regions=("US", "GB"), recognizers=(("mrn", MRN), ("cardish", CARDISH))
    )
    return list(analyzer_for(config).presidio.registry.recognizers)


def _fields(results: list[Any]) -> list[tuple[Any, ...]]:
    return sorted(
        (
            r.entity_type,
            r.start,
            r.end,
            r.score,
            tuple(sorted(r.recognition_metadata.items())),
            tuple(sorted(vars(r.analysis_explanation).items())),
        )
        for r in results
    )


def _same(text: str, recognizers: list[Any]) -> None:
    for r in recognizers:
        entities = r.supported_entities
        expected = _fields(stock(r).analyze(text=text, entities=entities, nlp_artifacts=None))
        assert _fields(r.analyze(text=text, entities=entities, nlp_artifacts=None)) == expected


def test_plain_pattern_recognizers_are_lean_and_the_rest_are_not() -> None:
    by_name = {r.name: r for r in _recognizers()}
    for name in ("UsSsnRecognizer", "DateRecognizer", "veil:nanp-shape", "bundle:mrn"):
        assert isinstance(by_name[name], patterns._Lean), name
    assert not isinstance(by_name["IbanRecognizer"], patterns._Lean)  # its own analyze
    assert not isinstance(by_name["PhoneRecognizer"], patterns._Lean)
    assert type(stock(by_name["DateRecognizer"])).analyze is PatternRecognizer.analyze
    assert lean(IbanRecognizer()).analyze.__func__ is IbanRecognizer.analyze


def test_same_results_as_presidio_on_synthetic_notes() -> None:
    recognizers = [r for r in _recognizers() if isinstance(r, patterns._Lean)]
    texts = [n.text for n in notes(120, seed=5)]
    texts += ["Seen in Zeta Ward, MRN-0012345, card 4111 1111 1111 1111, card 4111 1111 1111 1112"]
    for text in texts:
        _same(text, recognizers)


pieces = st.sampled_from(
    [" ", "-", "/", ".", "@", "MRN-", "Zeta Ward", "4111", "1111", "2024", "12", "03",
     "x.org", "mail", "192.168.", "Mar", "IL", "+1 ", "(555) ", "SSN ", "\n"]
)  # fmt: skip
soup = st.lists(pieces | st.text(max_size=4), max_size=14).map("".join)


@settings(max_examples=150, deadline=None)
@given(text=soup)
def test_same_results_as_presidio_on_fragments(text: str) -> None:
    _same(text, [r for r in _recognizers() if isinstance(r, patterns._Lean)])


def test_a_regex_that_runs_out_of_time_withholds_instead_of_skipping(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Presidio skipped a pattern that timed out (and the value went out with whatever that
    pattern would have found). Now the value's analysis is unfinished, and nothing about
    the text is logged."""
    # A lookahead keeps this one in the backtracking engine (RE2 cannot run it).
    slow = lean(
        PatternRecognizer(
            supported_entity="SLOW", patterns=[Pattern("nested", r"(?=a)(a|aa)+$", 0.5)]
        )
    )
    # (the final "a" matches, so the prefilter lets the pattern run; the run of forty
    # before it is where the backtracking engine loses itself)
    text = CANARY + " " + "a" * 40 + "! a"
    start = time.monotonic()
    with (
        caplog.at_level(logging.DEBUG),
        budget.scope(budget.Budget(value_seconds=0.05)),
        budget.current().value(),
        pytest.raises(budget.AnalysisIncomplete),
    ):
        slow.analyze(text=text, entities=["SLOW"])
    assert time.monotonic() - start < 2
    assert CANARY not in caplog.text


def test_a_catastrophic_shape_runs_in_linear_time_where_re2_can_run_it() -> None:
    """``(a|aa)+$`` backtracks exponentially in Python's engines; RE2 answers at once, with
    the same matches."""
    fast = lean(
        PatternRecognizer(supported_entity="FAST", patterns=[Pattern("n", r"(a|aa)+$", 0.5)])
    )
    for text in ("a" * 40 + "!", "b" + "a" * 5000):
        start = time.monotonic()
        found = [(r.start, r.end) for r in fast.analyze(text=text, entities=["FAST"])]
        assert time.monotonic() - start < 0.5
        assert found == ([] if text.endswith("!") else [(1, len(text))])
