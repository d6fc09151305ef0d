"""The vocabulary bound (veil.text.vocab): a pipeline that has taken in too many new words
is replaced, the vocabulary in use stays under the bound, and results do not change."""

from __future__ import annotations

import logging
import random
import string
import threading

import pytest

from conftest import needs_ner
from veil.text.engine import LANGUAGE, EngineConfig, Query, TextAnalyzer, _nlp_engine
from veil.text.vocab import VocabBound

QUERY = Query(("EMAIL_ADDRESS", "PHONE_NUMBER", "US_SSN", "CREDIT_CARD", "IBAN_CODE"), 0.4)
PROBES = [
    "Call 212-555-0143 or write to ana.lima@example.org about card 4111 1111 1111 1111.",
    "SSN 536-22-8714 on file; IBAN DE89 3704 0044 0532 0130 00 for the refund.",
    "No identifiers here, only words the pipeline has seen many times.",
]


def _new_words(n: int, seed: int) -> list[str]:
    """``n`` notes of ten words that no English vocabulary holds (seeded)."""
    rng = random.Random(seed)
    return [
        " ".join(
            "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randint(6, 11)))
            for _ in range(10)
        )
        for _ in range(n)
    ]


def _bounded(config: EngineConfig, max_new: int, background: bool = False) -> TextAnalyzer:
    a = TextAnalyzer(config)
    a.vocab = VocabBound(
        a._engine, LANGUAGE, lambda: _nlp_engine(config).nlp[LANGUAGE], max_new, background
    )
    return a


def _strings(a: TextAnalyzer) -> int:
    return len(a._engine.nlp[LANGUAGE].vocab.strings)


def _check_bound(config: EngineConfig) -> None:
    a = _bounded(config, max_new=2_000)
    before = a.analyze_batch(PROBES, QUERY)
    base = _strings(a)
    for k in range(6):  # 3,000 notes, about 30,000 words never seen before
        a.analyze_batch(_new_words(500, seed=k), QUERY)
        # checked after every pipe call (at most 64 notes, ~640 new strings past it)
        assert _strings(a) <= base + 2_000, "the vocabulary in use passed its bound"
    # the notes added words (test_without_a_bound...: over 3,000 per 500 notes), and
    # the bound replaced the pipeline each time it was reached
    assert a.vocab.rebuilds >= 5
    assert a.analyze_batch(PROBES, QUERY) == before
    assert [a.analyze(t, QUERY) for t in PROBES] == before


def test_default_engine_vocabulary_stays_bounded() -> None:
    _check_bound(EngineConfig())


@needs_ner
def test_ner_engine_vocabulary_stays_bounded_and_names_unchanged() -> None:
    config = EngineConfig("ner")
    query = Query(("PERSON", "LOCATION"), 0.4)
    texts = ["Dr. Amara Okafor saw the patient in Leeds.", "Regards,\nPriya Natarajan"]
    a = _bounded(config, max_new=1_000)
    before = a.analyze_batch(texts, query)
    a.analyze_batch(_new_words(300, seed=9), query)
    assert a.vocab.rebuilds >= 1
    assert a.analyze_batch(texts, query) == before


def test_without_a_bound_the_vocabulary_grows() -> None:
    """The problem the bound solves, shown on the same notes (so the test above could fail)."""
    a = _bounded(EngineConfig(), max_new=10**9)
    base = _strings(a)
    a.analyze_batch(_new_words(500, seed=0), QUERY)
    assert _strings(a) > base + 3_000
    assert a.vocab.rebuilds == 0


def test_a_failed_rebuild_keeps_the_pipeline_in_use(caplog: pytest.LogCaptureFixture) -> None:
    config = EngineConfig()
    a = TextAnalyzer(config)

    def broken() -> object:
        raise OSError("model files unreadable")

    a.vocab = VocabBound(a._engine, LANGUAGE, broken, max_new=100, background=False)
    nlp = a._engine.nlp[LANGUAGE]
    with caplog.at_level(logging.WARNING, logger="veil.text"):
        got = a.analyze_batch([*_new_words(50, seed=3), PROBES[0]], QUERY)
    assert a._engine.nlp[LANGUAGE] is nlp and a.vocab.rebuilds == 0
    assert {s.entity for s in got[-1]} >= {"EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD"}
    assert "rebuild failed (OSError)" in caplog.text
    assert "unreadable" not in caplog.text  # the exception's message is not logged


def test_background_rebuild_swaps_between_analyses() -> None:
    """The rebuild runs in a thread; analyses go on meanwhile, and the swap happens."""
    config = EngineConfig()
    loaded = threading.Event()
    release = threading.Event()

    def slow_load() -> object:
        loaded.set()
        release.wait(10)
        return _nlp_engine(config).nlp[LANGUAGE]

    a = TextAnalyzer(config)
    a.vocab = VocabBound(a._engine, LANGUAGE, slow_load, max_new=100, background=True)
    old = a._engine.nlp[LANGUAGE]
    a.analyze_batch(_new_words(50, seed=4), QUERY)
    assert loaded.wait(10)
    # the load is still running: analysis continues on the old pipeline, no second load
    assert a.analyze(PROBES[0], QUERY) and a._engine.nlp[LANGUAGE] is old
    release.set()
    for t in threading.enumerate():
        if t.name == "veil-vocab-rebuild":
            t.join(10)
    assert a._engine.nlp[LANGUAGE] is not old and a.vocab.rebuilds == 1
