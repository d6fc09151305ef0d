"""A bounded accuracy check on labelled synthetic notes, so detection regressions show in
CI (the full report is benchmarks/bench_text.py)."""

from __future__ import annotations

import sys
from pathlib import Path

from veil.text.engine import EngineConfig, Query, TextAnalyzer

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from notes_synth import notes, score

PATTERN_KINDS = ("EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "US_SSN", "IBAN_CODE")


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
