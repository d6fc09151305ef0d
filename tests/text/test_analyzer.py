"""veil's analyzer must analyze as Presidio does, piece by piece and as a whole.

The whole: Presidio's own ``AnalyzerEngine`` (its registry, NLP engine class, context
enhancer, phone recognizer and pattern loop) on the same recognizers and spaCy pipeline,
compared result for result on Presidio's own test strings, synthetic notes and random
text. The pieces (veil.text.analyzer): each against the Presidio code it stands for."""

from __future__ import annotations

import json
import string
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from presidio_analyzer import AnalyzerEngine, EntityRecognizer, RecognizerRegistry
from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer
from presidio_analyzer.nlp_engine import NlpArtifacts, SpacyNlpEngine

from veil.text.analyzer import KEYWORD_MEMO, Artifacts, Registry, as_shipped, doc_artifacts
from veil.text.engine import EngineConfig, analyzer_for, default_pipeline
from veil.text.patterns import stock
from veil.text.phones import VeilPhoneRecognizer

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from notes_synth import notes

DATA = json.loads((Path(__file__).parent / "data" / "presidio_test_strings.json").read_text())
PRESIDIO_STRINGS = [s for strings in DATA["strings"].values() for s in strings]
CONFIG = EngineConfig(phone_regions=("US", "GB", "DE", "FR"))


def _presidio(tuned: Any) -> AnalyzerEngine:
    engine = as_shipped(tuned)
    assert type(engine) is AnalyzerEngine and type(engine.registry) is RecognizerRegistry
    assert type(engine.context_aware_enhancer) is LemmaContextAwareEnhancer
    assert type(engine.nlp_engine) is SpacyNlpEngine
    assert not any(isinstance(r, VeilPhoneRecognizer) for r in engine.registry.recognizers)
    return engine


TUNED = analyzer_for(CONFIG).presidio
PRESIDIO = _presidio(TUNED)
ENTITIES = sorted(TUNED.get_supported_entities("en"))


def _results(engine: Any, text: str, entities: list[str] | None) -> list[tuple[Any, ...]]:
    found = engine.analyze(
        text, language="en", entities=entities, score_threshold=0.0, return_decision_process=True
    )
    return sorted(
        (
            r.start,
            r.end,
            r.entity_type,
            r.score,
            r.analysis_explanation.supportive_context_word,
            r.analysis_explanation.score_context_improvement,
        )
        for r in found
    )


def _same(texts: list[str], entities: list[str] | None = None) -> None:
    for text in texts:
        assert _results(TUNED, text, entities) == _results(PRESIDIO, text, entities), text


def test_same_results_as_presidio_on_its_own_test_strings() -> None:
    assert len(PRESIDIO_STRINGS) > 500
    _same(PRESIDIO_STRINGS)


def test_same_results_as_presidio_on_notes_for_each_entity_set() -> None:
    texts = [n.text for n in notes(60, seed=21)]
    _same(texts)
    _same(texts, ["PHONE_NUMBER", "US_SSN"])
    _same(texts, ["DATE_TIME"])
    # context words do raise scores on these texts (else the enhancer is not compared)
    assert any(r[4] for t in texts for r in _results(TUNED, t, None))


pieces = st.sampled_from(
    [" ", "-", ":", ".", "@", "4111 1111 1111 1111", "2024-03-01", "12/03/2024", "SSN ",
     "078-05-1120", "phone", "Call", " the ", "card:", "DOB", "(617) 225-0827", "+44 20 7946 0958",
     "DE89 3704 0044 0532 0130 00", "mail a@b.org", "\n", "IBAN", "is", "and", "MRN"]
)  # fmt: skip
soup = st.lists(
    pieces | st.text(alphabet=string.printable + "\u00e9\u0130", max_size=5), max_size=16
)


@settings(max_examples=150, deadline=None)
@given(parts=soup)
def test_same_results_as_presidio_on_random_text(parts: list[str]) -> None:
    _same(["".join(parts)])


# ---------------------------------------------------------------------------- pieces


def test_the_registry_answers_what_presidios_answers() -> None:
    recognizers = list(TUNED.registry.recognizers)
    ours = Registry(recognizers=recognizers, supported_languages=["en"])
    theirs = RecognizerRegistry(recognizers=recognizers, supported_languages=["en"])
    asks = [None, ENTITIES, ["PHONE_NUMBER"], ["US_SSN", "DATE_TIME"], ["NOT_A_KIND", "URL"]]
    for _ in range(2):  # the second time from what was kept
        for entities in asks:
            all_fields = entities is None
            got = ours.get_recognizers("en", entities, all_fields=all_fields)
            expected = theirs.get_recognizers("en", entities, all_fields=all_fields)
            assert sorted(map(id, got)) == sorted(map(id, expected)), entities
    # a recognizer added later is part of the next answer
    extra = stock(next(r for r in recognizers if r.name == "UsSsnRecognizer"))
    ours.add_recognizer(extra)
    assert extra in ours.get_recognizers("en", ["US_SSN"])
    with pytest.raises(ValueError):
        ours.get_recognizers("en", ["NOT_A_KIND"])
    # one removed is not part of the next answer, and one put back is again
    ours.recognizers.remove(extra)
    assert extra not in ours.get_recognizers("en", ["US_SSN"])
    ours.recognizers.append(extra)
    assert extra in ours.get_recognizers("en", ["US_SSN"])


class _Boosting(EntityRecognizer):  # type: ignore[misc]
    """Overrides enhance_using_context: sees its own and the others' results."""

    def __init__(self) -> None:
        super().__init__(supported_entities=["US_SSN"], name="boosting")
        self.seen: list[tuple[int, int]] = []

    def load(self) -> None:
        pass

    def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[Any]:
        return []

    def enhance_using_context(self, text: str, raw_recognizer_results: list[Any],
                              other_raw_recognizer_results: list[Any], nlp_artifacts: Any,
                              context: list[str] | None = None) -> list[Any]:  # fmt: skip
        self.seen.append((len(raw_recognizer_results), len(other_raw_recognizer_results)))
        return raw_recognizer_results


def test_a_recognizer_with_its_own_context_rule_still_sees_every_result() -> None:
    ours, theirs = _Boosting(), _Boosting()
    text = "SSN 078-05-1120, call (617) 225-0827 on 2024-03-01"
    for engine, boosting in ((TUNED, ours), (PRESIDIO, theirs)):
        engine.registry.add_recognizer(boosting)
        try:
            engine.analyze(text, language="en")
        finally:
            engine.registry.recognizers.remove(boosting)
    assert ours.seen == theirs.seen and ours.seen[0][1] >= 3


def test_keywords_are_presidios() -> None:
    engine = TUNED.nlp_engine
    texts = [n.text for n in notes(40, seed=5)] + PRESIDIO_STRINGS[::5]
    texts += ["The patient's SSN: is 078-05-1120; he IS being seen", "a:b:c, -PRON- be Be"]
    for doc in engine.nlp["en"].pipe(texts):
        ours = doc_artifacts(engine, doc, "en")
        theirs = SpacyNlpEngine._doc_to_nlp_artifact(engine, doc, "en")
        assert type(theirs) is NlpArtifacts and isinstance(ours, Artifacts)
        assert ours.keywords == theirs.keywords  # worked out when read
        assert ours.keywords == theirs.keywords  # then kept
        for name in ("lemmas", "tokens_indices", "entities", "scores"):
            assert getattr(ours, name) == getattr(theirs, name), name
        assert json.loads(ours.to_json()) == json.loads(theirs.to_json())


@settings(max_examples=200, deadline=None)
@given(
    lemmas=st.lists(
        st.sampled_from(["the", "is", "be", "-PRON-", ":", "a:b", "SSN", "Call", "", "::", "."])
        | st.text(max_size=6),
        max_size=12,
    )
)
def test_keywords_of_any_lemmas_are_presidios(lemmas: list[str]) -> None:
    engine = TUNED.nlp_engine
    from veil.text.analyzer import _keywords, _Pending

    assert _keywords(_Pending(engine, lemmas, "en")) == NlpArtifacts.set_keywords(
        engine, lemmas, "en"
    )
    assert len(engine.veil_keyword_memo) <= KEYWORD_MEMO


words = st.sampled_from(
    ["phone", "Phone", "PHONE", "tel", "", "\x00", "a\x00b", "telephone", "stra\u00dfe", "STRASSE",
     "\u0130d", "id", "ph"]
) | st.text(max_size=4)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(
    context=st.none() | st.lists(words, max_size=6),
    recognizer=st.none() | st.lists(words, max_size=6),
    mode=st.sampled_from(["substring", "whole_word", "other"]),
)
def test_the_supportive_word_is_presidios(
    context: list[str] | None, recognizer: list[str] | None, mode: str
) -> None:
    ours = type(TUNED.context_aware_enhancer)._find_supportive_word_in_context
    theirs = LemmaContextAwareEnhancer._find_supportive_word_in_context
    assert ours(context, recognizer, mode) == theirs(context, recognizer, mode)


def test_the_batch_artifacts_are_presidios() -> None:
    """The default pipeline's batch reads lemmas from the lower case instead of running
    its lemma component: the artifacts must be those of Presidio's own batch."""
    engine = TUNED.nlp_engine
    texts = [n.text for n in notes(30, seed=8)] + PRESIDIO_STRINGS[::9] + ["", " ", "A:B c"]
    ours = list(engine.process_batch(texts, "en", batch_size=16))
    theirs = list(SpacyNlpEngine.process_batch(engine, texts, "en", batch_size=16))
    assert [t for t, _ in ours] == [t for t, _ in theirs] == texts
    for (_, a), (_, b) in zip(ours, theirs, strict=True):
        assert a.lemmas == b.lemmas and a.tokens_indices == b.tokens_indices
        assert a.keywords == b.keywords
        assert a.veil_token_ends == [t.idx + len(t.text) for t in b.tokens]


@settings(max_examples=300, deadline=None)
@given(word=st.sampled_from(["the", "The", "BE", ".", "...", "\u2014", "", "a:b", "'s", "n't"])
       | st.text(max_size=5))  # fmt: skip
def test_stop_words_and_punctuation_are_the_vocabularys(word: str) -> None:
    """Asked first of veil (which makes no lexeme for a new word), then of spaCy's
    vocabulary (which does)."""
    engine = TUNED.nlp_engine
    stop, punct = engine.is_stopword(word, "en"), engine.is_punct(word, "en")
    vocab = engine.nlp["en"].vocab
    assert (stop, punct) == (vocab[word].is_stop, vocab[word].is_punct)


def _token_facts(nlp: Any, texts: list[str]) -> list[list[tuple[Any, ...]]]:
    vocab = nlp.vocab
    return [
        [
            (
                t.text,
                t.idx,
                t.whitespace_,
                t.lemma_,
                t.lower_,
                t.is_stop,
                t.is_punct,
                vocab[t.lemma_].is_stop,
                vocab[t.lemma_].is_punct,
            )
            for t in doc
        ]
        for doc in nlp.pipe(texts)
    ]


def _full_pipeline() -> Any:
    """spaCy's blank English with every attribute getter, and veil's lemma component."""
    import spacy

    from veil.text import engine

    nlp = spacy.blank("en")
    engine._add_lower_lemmas(nlp)
    return nlp


FULL = _full_pipeline()
OURS = default_pipeline()


def test_the_default_pipeline_reads_what_the_full_vocabulary_reads() -> None:
    ours = OURS
    texts = PRESIDIO_STRINGS + [n.text for n in notes(40, seed=9)]
    assert _token_facts(ours, texts) == _token_facts(FULL, texts)
    assert len(ours.vocab.lex_attr_getters) < len(FULL.vocab.lex_attr_getters)


@settings(max_examples=200, deadline=None)
@given(parts=soup)
def test_the_default_pipeline_reads_what_the_full_vocabulary_reads_on_random_text(
    parts: list[str],
) -> None:
    text = "".join(parts)
    assert _token_facts(OURS, [text]) == _token_facts(FULL, [text])


@settings(max_examples=200, deadline=None)
@given(scores=st.lists(st.sampled_from([0.0, 0.4, 0.85, 1.0]), max_size=1),
       start=st.integers(0, 5), size=st.integers(0, 4))  # fmt: skip
def test_none_or_one_result_is_deduplicated_as_presidio_does(
    scores: list[float], start: int, size: int
) -> None:
    from presidio_analyzer import RecognizerResult

    from veil.text.patterns import deduplicated

    results = [RecognizerResult("US_SSN", start, start + size, s) for s in scores]
    assert deduplicated(results) == EntityRecognizer.remove_duplicates(results)


def test_what_is_kept_per_recognizer_list_is_per_list_and_bounded() -> None:
    from veil.text.analyzer import per_recognizers

    store: dict[tuple[int, ...], Any] = {}
    lists = [[object() for _ in range(k % 3 + 1)] for k in range(100)]
    made = [per_recognizers(store, rs, lambda rs=rs: list(rs)) for rs in lists]
    assert all(m == rs for m, rs in zip(made, lists, strict=True))
    assert len(store) <= 64
    last = lists[-1]
    assert per_recognizers(store, list(last), lambda: "made again") is made[-1]  # same objects
    assert per_recognizers(store, [object()], lambda: "new") == "new"
