"""A labelled corpus format, its label mapping, and how detections are scored against it.

Format (JSON Lines, UTF-8): one object per text::

    {"text": "Call Jane Roe at 020 7946 0958", "spans": [
        {"start": 5, "end": 13, "label": "PER"},
        {"start": 17, "end": 30, "label": "PHONE_NUMBER"}], "source": "..."}

``start``/``end`` are character offsets into ``text`` (Python string indices, end
exclusive). ``label`` is the corpus' own label; :data:`LABELS` maps it to the entity type
veil detects (``None``: not scored, see below). Other keys are kept but not read.

Matching (span overlap): a gold span is *found* when a detected span of its mapped entity
type shares at least one character with it (recall). A detected span is *correct* when it
shares a character with a gold span of its type (precision); one that overlaps only gold
spans whose label is unscored (``None``: MISC, products, titles...) is left out of
precision, neither right nor wrong. Overlap rather than exact boundaries because veil's
question is whether the identifier is gone: a name found as "Smith" inside "John Smith"
counts for recall, and the leak rate below says how much of it survived.

Leak rate: the share of identifier characters (the characters of scored gold spans) that
survive in the sanitized text, where the sanitized text is what ``scan_text`` renders:
every detected span asked for, whatever its type, merged with its overlapping neighbours
(:func:`veil.text.spans.resolve`) and replaced whole (:func:`veil.text.spans.render`). A
name detected as LOCATION is still removed; it is a recall miss but not a leak.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from veil.text.spans import Span, render, resolve

#: corpus label -> veil entity type (None: present in the corpus but not scored).
#: CoNLL-2003 (PER, LOC, ORG, MISC), WNUT-17 (person, location, corporation, group,
#: product, creative-work), presidio-research's generator (PERSON, GPE, STREET_ADDRESS,
#: ZIP_CODE, ORGANIZATION, TITLE, AGE, NRP, DOMAIN_NAME... and Presidio's own types),
#: OntoNotes (PERSON, GPE, LOC, FAC, ORG, NORP).
LABELS: dict[str, str | None] = {
    # people
    "PER": "PERSON",
    "PERSON": "PERSON",
    "person": "PERSON",
    # places: a street address and a ZIP code are locations to a scrubbing policy
    # (HIPAA Safe Harbor: every geographic subdivision smaller than a state)
    "LOC": "LOCATION",
    "GPE": "LOCATION",
    "LOCATION": "LOCATION",
    "location": "LOCATION",
    "FAC": "LOCATION",
    "STREET_ADDRESS": "LOCATION",
    "ADDRESS": "LOCATION",
    "CITY": "LOCATION",
    "ZIP_CODE": "LOCATION",
    # organisations
    "ORG": "ORGANIZATION",
    "ORGANIZATION": "ORGANIZATION",
    "corporation": "ORGANIZATION",
    # nationalities, religious or political groups
    "NRP": "NRP",
    "NORP": "NRP",
    # Presidio's structured types map to themselves
    "PHONE_NUMBER": "PHONE_NUMBER",
    "EMAIL_ADDRESS": "EMAIL_ADDRESS",
    "CREDIT_CARD": "CREDIT_CARD",
    "IBAN_CODE": "IBAN_CODE",
    "US_SSN": "US_SSN",
    "IP_ADDRESS": "IP_ADDRESS",
    "US_DRIVER_LICENSE": "US_DRIVER_LICENSE",
    "DATE_TIME": "DATE_TIME",
    "DOMAIN_NAME": "URL",
    "URL": "URL",
    # not scored: no veil entity type stands for them
    "MISC": None,
    "group": None,
    "product": None,
    "creative-work": None,
    "TITLE": None,
    "AGE": None,
}


class CorpusError(ValueError):
    """The corpus file is not in the format above (the message names the line)."""


@dataclass(frozen=True)
class Gold:
    start: int
    end: int
    label: str  # the corpus' own label
    entity: str | None  # mapped by LABELS


@dataclass(frozen=True)
class Example:
    text: str
    spans: tuple[Gold, ...]


def load(path: Path, labels: dict[str, str | None] = LABELS) -> list[Example]:
    """The corpus at ``path``; an unknown label or a span outside its text is an error."""
    out: list[Example] = []
    with path.open(encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
                text = obj["text"]
                raw = obj["spans"]
                if not isinstance(text, str) or not isinstance(raw, list):
                    raise TypeError
                spans = tuple(_gold(s, text, labels) for s in raw)
            except (json.JSONDecodeError, KeyError, TypeError) as exc:
                raise CorpusError(
                    f"{path}:{n}: expected {{'text': str, 'spans': [{{start, end, label}}]}}"
                    f" ({type(exc).__name__})"
                ) from None
            except CorpusError as exc:
                raise CorpusError(f"{path}:{n}: {exc}") from None
            out.append(Example(text, spans))
    return out


def _gold(s: dict[str, object], text: str, labels: dict[str, str | None]) -> Gold:
    start, end, label = s["start"], s["end"], s["label"]
    if not (isinstance(start, int) and isinstance(end, int) and isinstance(label, str)):
        raise TypeError
    if not 0 <= start < end <= len(text):
        raise CorpusError(f"span {start}-{end} lies outside its text ({len(text)} characters)")
    if label not in labels:
        raise CorpusError(f"label {label!r} has no mapping; add it to corpora.corpus.LABELS")
    return Gold(start, end, label, labels[label])


def dump(examples: Iterable[tuple[str, Sequence[tuple[int, int, str]]]], path: Path) -> int:
    """Write ``(text, [(start, end, label), ...])`` pairs in the format above."""
    n = 0
    with path.open("w", encoding="utf-8") as f:
        for text, spans in examples:
            for start, end, _ in spans:
                assert 0 <= start < end <= len(text), (start, end, len(text))
            rec = {"text": text, "spans": [{"start": a, "end": b, "label": c} for a, b, c in spans]}
            f.write(json.dumps(rec, ensure_ascii=False) + "\n")
            n += 1
    return n


@dataclass
class Scores:
    """Per entity type: true/false positives, gold found/total, characters leaked/total;
    per corpus label: gold found/total (how each source label fares)."""

    tp: Counter[str]
    fp: Counter[str]
    found: Counter[str]
    gold: Counter[str]
    leaked: Counter[str]
    chars: Counter[str]
    label_found: Counter[str]
    label_gold: Counter[str]

    def precision(self, e: str) -> float | None:
        n = self.tp[e] + self.fp[e]
        return self.tp[e] / n if n else None

    def recall(self, e: str) -> float | None:
        return self.found[e] / self.gold[e] if self.gold[e] else None

    def leak(self, e: str | None = None) -> float | None:
        leaked = self.leaked[e] if e else sum(self.leaked.values())
        chars = self.chars[e] if e else sum(self.chars.values())
        return leaked / chars if chars else None


def score(
    corpus: Sequence[Example], predicted: Sequence[Sequence[Span]], entities: Iterable[str]
) -> Scores:
    """Score ``predicted`` (spans per example, as the analyzer returned them) on the
    entity types in ``entities`` (gold spans of other types are not counted; see the
    module docstring for the rules)."""
    asked = set(entities)
    s = Scores(*(Counter[str]() for _ in range(8)))
    for ex, spans in zip(corpus, predicted, strict=True):
        by_type: dict[str, list[Span]] = defaultdict(list)
        for p in spans:
            by_type[p.entity].append(p)
        scored = [g for g in ex.spans if g.entity in asked]
        unscored = [g for g in ex.spans if g.entity is None or g.entity not in asked]
        for g in scored:
            assert g.entity is not None
            hit = any(_overlaps(p, g) for p in by_type[g.entity])
            s.gold[g.entity] += 1
            s.found[g.entity] += hit
            s.label_gold[g.label] += 1
            s.label_found[g.label] += hit
        for p in spans:
            if p.entity not in asked:
                continue
            if any(_overlaps(p, g) for g in scored if g.entity == p.entity):
                s.tp[p.entity] += 1
            elif not any(_overlaps(p, g) for g in unscored):
                s.fp[p.entity] += 1
        # Leak: render as scan_text does, each span replaced whole by NULs (not in text).
        asked_spans = [p for p in spans if p.entity in asked]
        out = render(ex.text, resolve(asked_spans, lambda e: (0.0,)), lambda sp, t: "\0" * len(t))
        assert len(out) == len(ex.text)
        for g in scored:
            assert g.entity is not None
            seg = out[g.start : g.end]
            s.chars[g.entity] += sum(not c.isspace() for c in ex.text[g.start : g.end])
            s.leaked[g.entity] += sum(c != "\0" and not c.isspace() for c in seg)
    return s


def _overlaps(a: Span | Gold, b: Span | Gold) -> bool:
    return a.start < b.end and b.start < a.end
