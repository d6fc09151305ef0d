"""Presidio's analyzer with its per-text bookkeeping done once, where it does not depend
on the text.

``AnalyzerEngine.analyze`` (presidio-analyzer 2.2), for every text:

* asks the registry for the recognizers of the requested entities, which builds a set
  over every recognizer and entity, and the answer is the same for every text of a
  request;
* splits the results by recognizer, twice per recognizer, to offer each recognizer its
  own through ``enhance_using_context``, which only recognizers that override it use;
* builds ``NlpArtifacts``, whose keywords take two vocabulary lookups per token,
  though only the context enhancer reads them, and only on a text with a result from a
  recognizer that has context words.

Here the recognizer lists are kept per request shape, the results are split once, and
the keywords are worked out when first read, each lemma's share by Presidio's own
``NlpArtifacts.set_keywords``, kept per lemma. Results, scores and explanations stay
Presidio's: ``tests/text/test_analyzer.py`` compares each piece with Presidio's own on
texts it did not write, and the Presidio differential tests compare whole analyses.
"""

from __future__ import annotations

import itertools
from typing import Any

from presidio_analyzer import AnalyzerEngine, EntityRecognizer, RecognizerRegistry, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

_ID = RecognizerResult.RECOGNIZER_IDENTIFIER_KEY

#: lemmas whose keywords are kept per NLP engine; the memo starts again when full
#: (a note brings new words, names and numbers, so it would otherwise grow with the
#: text seen)
KEYWORD_MEMO = 65_536


class Registry(RecognizerRegistry):
    """A registry that answers the same recognizer list for the same request shape.

    The answer depends on the language, the entities, ``all_fields`` and the
    recognizers held, which are part of the key (by identity, so adding or replacing a
    recognizer asks Presidio again). Each kept answer holds the recognizers its key
    names, so none of them can be freed and its id taken by a new recognizer while the
    answer is kept. Requests with ad hoc recognizers are not kept."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._answers: dict[tuple[Any, ...], tuple[tuple[Any, ...], list[Any]]] = {}

    def get_recognizers(
        self,
        language: str,
        entities: list[str] | None = None,
        all_fields: bool = False,
        ad_hoc_recognizers: list[Any] | None = None,
    ) -> list[Any]:
        if ad_hoc_recognizers:
            return list(super().get_recognizers(language, entities, all_fields, ad_hoc_recognizers))
        held = tuple(self.recognizers)
        key = (language, None if entities is None else tuple(entities), all_fields, *map(id, held))
        kept = self._answers.get(key)
        if kept is None:
            answer = list(super().get_recognizers(language, entities, all_fields))
            if len(self._answers) >= 64:
                self._answers.clear()
            kept = self._answers[key] = (held, answer)
        return list(kept[1])


def per_recognizers(store: dict[tuple[int, ...], Any], recognizers: list[Any], make: Any) -> Any:
    """``make()``, kept in ``store`` per list of recognizers (by identity). What is kept
    must hold the recognizers themselves, so that none can be freed and its id taken by
    another object while it is kept; at most 64 lists are kept."""
    key = tuple(map(id, recognizers))
    kept = store.get(key)
    if kept is None:
        if len(store) >= 64:
            store.clear()
        kept = store[key] = make()
    return kept


def _offers_context(recognizer: Any) -> bool:
    """True if ``recognizer`` does something of its own with context (overrides
    ``EntityRecognizer.enhance_using_context``, which returns its results as given)."""
    method = getattr(type(recognizer), "enhance_using_context", None)
    return method is not EntityRecognizer.enhance_using_context


class Analyzer(AnalyzerEngine):
    """``AnalyzerEngine`` that splits the results by recognizer once per text."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._rosters: dict[tuple[int, ...], Any] = {}

    def _roster(self, recognizers: list[Any]) -> list[tuple[Any, str, bool]]:
        """Per recognizer: itself, its id, and whether it offers context of its own."""
        return per_recognizers(  # type: ignore[no-any-return]
            self._rosters, recognizers, lambda: [(r, r.id, _offers_context(r)) for r in recognizers]
        )

    def _enhance_using_context(
        self,
        text: str,
        raw_results: list[Any],
        nlp_artifacts: Any,
        recognizers: list[Any],
        context: list[str] | None = None,
    ) -> list[Any]:
        # AnalyzerEngine._enhance_using_context: the results in recognizer order, each
        # recognizer's as its enhance_using_context returns them (its own results in
        # their order where it does not override it), then the context enhancer.
        mine: dict[str, list[Any]] = {}
        for r in raw_results:
            mine.setdefault(r.recognition_metadata[_ID], []).append(r)
        results: list[Any] = []
        for recognizer, rid, offers in self._roster(recognizers):
            own = mine.get(rid, [])
            if offers:
                others = [r for r in raw_results if r.recognition_metadata[_ID] != rid]
                own = recognizer.enhance_using_context(
                    text=text,
                    raw_recognizer_results=list(own),
                    other_raw_recognizer_results=others,
                    nlp_artifacts=nlp_artifacts,
                    context=context,
                )
            results.extend(own)
        return list(
            self.context_aware_enhancer.enhance_using_context(
                text=text,
                raw_results=results,
                nlp_artifacts=nlp_artifacts,
                recognizers=recognizers,
                context=context,
            )
        )


class _Pending:
    """What :meth:`Artifacts.set_keywords` returns: the inputs, to be worked out later."""

    __slots__ = ("engine", "language", "lemmas")

    def __init__(self, engine: Any, lemmas: list[str], language: str) -> None:
        self.engine, self.lemmas, self.language = engine, lemmas, language


class Artifacts(NlpArtifacts):
    """``NlpArtifacts`` whose keywords are worked out when first read.

    Presidio's ``__init__`` runs as it is; its ``self.keywords = self.set_keywords(...)``
    lands in the property below, which keeps the inputs. Each lemma's keywords depend on
    that lemma alone (a filter on it, then its lower case split at colons), so the list
    is the concatenation of each lemma's, and each lemma's comes from Presidio's own
    ``set_keywords`` on that one lemma, kept per engine (``veil_keyword_memo``)."""

    @staticmethod
    def set_keywords(nlp_engine: Any, lemmas: list[str], language: str) -> Any:
        return _Pending(nlp_engine, lemmas, language)

    @property
    def keywords(self) -> list[str]:
        value = self.__dict__["_keywords"]
        if isinstance(value, _Pending):
            value = _keywords(value)
            self.__dict__["_keywords"] = value
        return value  # type: ignore[no-any-return]

    @keywords.setter
    def keywords(self, value: Any) -> None:
        self.__dict__["_keywords"] = value

    def to_json(self) -> str:
        # NlpArtifacts.to_json dumps __dict__: give it Presidio's fields only, the
        # keywords under their name (veil keeps token ends and a keyword set beside them).
        keywords = self.keywords
        saved = dict(self.__dict__)
        fields = {k: v for k, v in saved.items() if k != "_keywords" and not k.startswith("veil_")}
        self.__dict__.clear()
        self.__dict__.update(fields, keywords=keywords)
        try:
            return str(super().to_json())
        finally:
            self.__dict__.clear()
            self.__dict__.update(saved)


def _keywords(pending: _Pending) -> list[str]:
    engine = pending.engine
    if not engine:
        return []
    memo: dict[str, list[str]] | None = getattr(engine, "veil_keyword_memo", None)
    if memo is None:
        memo = engine.veil_keyword_memo = {}
    lemmas = pending.lemmas
    found: list[Any] = list(map(memo.get, lemmas))
    for i, words in enumerate(found):
        if words is None:
            lemma = lemmas[i]
            words = found[i] = NlpArtifacts.set_keywords(engine, [lemma], pending.language)
            if len(memo) >= KEYWORD_MEMO:
                memo.clear()
            memo[lemma] = words
    return list(itertools.chain.from_iterable(found))


def doc_artifacts(engine: Any, doc: Any, language: str, lower_lemmas: bool = False) -> Artifacts:
    """``SpacyNlpEngine._doc_to_nlp_artifact`` (presidio-analyzer 2.2), building
    :class:`Artifacts` in one pass over the tokens, which also keeps where each token
    ends (``veil_token_ends``, for the context enhancer). ``lower_lemmas``: each token's
    lemma is its lower case (what the default pipeline's one component would have set)."""
    lemmas: list[str] = []
    tokens_indices: list[int] = []
    ends: list[int] = []
    for token in doc:
        lemmas.append(token.lower_ if lower_lemmas else token.lemma_)
        start = token.idx
        tokens_indices.append(start)
        ends.append(start + len(token))
    entities = engine._get_entities(doc)
    scores = engine._get_scores_for_entities(doc)
    entities, scores = engine._get_updated_entities(entities, scores)
    artifacts = Artifacts(
        entities=entities,
        tokens=doc,
        tokens_indices=tokens_indices,
        lemmas=lemmas,
        nlp_engine=engine,
        language=language,
        scores=scores,
    )
    artifacts.veil_token_ends = ends  # type: ignore[attr-defined]
    return artifacts


def as_shipped(tuned: Any) -> AnalyzerEngine:
    """Presidio as its users run it, on the recognizers and spaCy pipeline of ``tuned``
    (veil's analyzer): a plain ``AnalyzerEngine`` with Presidio's own registry, NLP
    engine class, context enhancer, phone recognizer and pattern loop. It is what the
    benchmarks measure veil against and what the tests compare veil's results with.
    The NLP engine is handed the already-built pipeline, since its ``load`` would try
    to download a model."""
    from presidio_analyzer.nlp_engine import SpacyNlpEngine
    from presidio_analyzer.predefined_recognizers import PhoneRecognizer

    from .patterns import stock
    from .phones import VeilPhoneRecognizer

    nlp = SpacyNlpEngine(
        models=[{"lang_code": "en", "model_name": "veil"}],
        ner_model_configuration=tuned.nlp_engine.ner_model_configuration,
    )
    nlp.nlp = dict(tuned.nlp_engine.nlp)  # type: ignore[assignment]
    registry = RecognizerRegistry(
        recognizers=[
            PhoneRecognizer(supported_regions=r.supported_regions)
            if isinstance(r, VeilPhoneRecognizer)
            else stock(r)
            for r in tuned.registry.recognizers
        ],
        global_regex_flags=tuned.registry.global_regex_flags,
        supported_languages=["en"],
    )
    return AnalyzerEngine(registry=registry, nlp_engine=nlp, supported_languages=["en"])
