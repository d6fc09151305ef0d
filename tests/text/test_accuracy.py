"""A bounded accuracy check on labelled synthetic notes, so detection regressions show in
CI (the full report is benchmarks/bench_text.py)."""

from __future__ import annotations

import sys
from pathlib import Path

from veil.text.engine import EngineConfig, Query, TextAnalyzer

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from notes_synth import notes, score

PATTERN_KINDS = (
    "EMAIL_ADDRESS",
    "PHONE_NUMBER",
    "CREDIT_CARD",
    "US_SSN",
    "IBAN_CODE",
    "DATE_TIME",
)


def test_recall_on_50_notes(default_analyzer: TextAnalyzer) -> None:
    from veil.text.engine import analyzer_for

    analyzer = analyzer_for(EngineConfig(phone_regions=("US", "GB", "DE", "FR")))
    gold = notes(50, seed=7)
    spans = analyzer.analyze_batch([n.text for n in gold], Query(PATTERN_KINDS, 0.4))
    predicted = [[(s.start, s.end, s.entity) for s in sp] for sp in spans]
    result = score(gold, predicted, PATTERN_KINDS)
    for kind in PATTERN_KINDS:
        assert result[kind]["support"] > 0, kind
        assert result[kind]["recall"] >= 0.95, (kind, result[kind])


def test_written_dates_are_found_without_false_alarms(default_analyzer: TextAnalyzer) -> None:
    text = (
        "Admitted March 14, 2024, seen 15-Mar-2024 and 4th Apr. 2024; next visit Sept. 3, "
        "2024. May 5 patients attend? Room 12, floor 2024. Mar 32, 2024 is no date."
    )
    found = [
        text[s.start : s.end] for s in default_analyzer.analyze(text, Query(("DATE_TIME",), 0.4))
    ]
    assert found == ["March 14, 2024", "15-Mar-2024", "4th Apr. 2024", "Sept. 3, 2024"]


def test_in_place_context_enhancer_scores_like_presidios(default_analyzer: TextAnalyzer) -> None:
    from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer

    engine = default_analyzer.presidio
    texts = [n.text for n in notes(80, seed=11)]

    def run() -> list[list[tuple[int, int, str, float]]]:
        return [
            sorted((r.start, r.end, r.entity_type, r.score) for r in engine.analyze(t, "en"))
            for t in texts
        ]

    ours = run()
    stock = engine.context_aware_enhancer
    engine.context_aware_enhancer = LemmaContextAwareEnhancer()
    try:
        assert run() == ours
    finally:
        engine.context_aware_enhancer = stock
    # phone numbers near "call"/"phone": 0.4 + 0.35 from context
    assert any(e == "PHONE_NUMBER" and s == 0.75 for spans in ours for *_, e, s in spans)
