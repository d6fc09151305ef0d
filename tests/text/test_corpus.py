"""The corpus harness (benchmarks/corpora): format and its errors, the matching and leak
rules on hand-made cases, the converters, and the committed presidio-research corpus."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from veil.text.engine import EngineConfig, Query, analyzer_for
from veil.text.spans import Span

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from corpora.convert import _iob, faker_corpus, presidio_research
from corpora.corpus import LABELS, CorpusError, Example, Gold, dump, load, score

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
PRESIDIO = BENCH / "corpora" / "presidio_research_synth_v2.jsonl"


def _write(tmp_path: Path, *lines: str) -> Path:
    p = tmp_path / "c.jsonl"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


def test_load_maps_labels(tmp_path: Path) -> None:
    spans = [{"start": 0, "end": 8, "label": "PER"}, {"start": 10, "end": 15, "label": "GPE"}]
    rec = {"text": "Jane Roe, Leeds", "spans": spans}
    (ex,) = load(_write(tmp_path, json.dumps(rec)))
    assert ex.spans == (Gold(0, 8, "PER", "PERSON"), Gold(10, 15, "GPE", "LOCATION"))


@pytest.mark.parametrize(
    ("line", "why"),
    [
        ('{"text": "abc", "spans": [{"start": 0, "end": 9, "label": "PER"}]}', "outside"),
        ('{"text": "abc", "spans": [{"start": 0, "end": 2, "label": "HERO"}]}', "no mapping"),
        ('{"text": "abc"}', "expected"),
        ("not json", "expected"),
    ],
)
def test_bad_corpus_lines_name_their_line(tmp_path: Path, line: str, why: str) -> None:
    p = _write(tmp_path, '{"text": "ok", "spans": []}', line)
    with pytest.raises(CorpusError, match=rf":2: .*{why}"):
        load(p)


def _ex(text: str, *spans: tuple[str, str]) -> Example:
    """An example whose gold spans are given by their text and label."""
    out = []
    for value, label in spans:
        a = text.index(value)
        out.append(Gold(a, a + len(value), label, LABELS[label]))
    return Example(text, tuple(out))


def _span(text: str, value: str, entity: str) -> Span:
    a = text.index(value)
    return Span(a, a + len(value), entity, 0.9)


def test_overlap_matching_and_leak() -> None:
    text = "John Smith met Ana in Leeds about MISC-thing"
    ex = _ex(text, ("John Smith", "PER"), ("Ana", "PER"), ("Leeds", "LOC"), ("MISC-thing", "MISC"))
    predicted = [
        _span(text, "Smith", "PERSON"),  # overlaps John Smith: found; "John" leaks
        _span(text, "Leeds", "PERSON"),  # wrong type: Leeds not found, but not leaked
        _span(text, "MISC", "PERSON"),  # on an unscored span: neither right nor wrong
        _span(text, "about", "PERSON"),  # on nothing: a false positive
    ]
    s = score([ex], [predicted], ["PERSON", "LOCATION"])
    assert (s.found["PERSON"], s.gold["PERSON"]) == (1, 2)
    assert (s.tp["PERSON"], s.fp["PERSON"]) == (1, 2)  # Smith right; Leeds, about wrong
    assert s.recall("LOCATION") == 0.0 and s.leak("LOCATION") == 0.0
    # PERSON characters: "JohnSmith" (9) + "Ana" (3); "John" and "Ana" survive
    assert (s.leaked["PERSON"], s.chars["PERSON"]) == (7, 12)
    assert s.label_found["PER"] == 1 and s.label_gold["LOC"] == 1


def test_entities_not_asked_are_not_scored() -> None:
    text = "Call 555-0100, Jane"
    ex = _ex(text, ("555-0100", "PHONE_NUMBER"), ("Jane", "PER"))
    s = score([ex], [[_span(text, "Jane", "PERSON")]], ["PHONE_NUMBER"])
    assert s.gold["PERSON"] == 0 and s.fp["PERSON"] == 0 and s.leak("PHONE_NUMBER") == 1.0


def test_iob1_and_iob2_read_alike() -> None:
    # IOB1 (CoNLL-2003): B- only where a span follows one of its type
    iob1 = [("Hassan", "I-PER"), ("Abbas", "I-PER"), ("of", "O"), ("Syria", "I-LOC"),
            ("United", "B-LOC"), ("Arab", "I-LOC"), ("Jordan", "I-PER")]  # fmt: skip
    # IOB2 (WNUT-17): every span opens with B-
    iob2 = [("Hassan", "B-PER"), ("Abbas", "I-PER"), ("of", "O"), ("Syria", "B-LOC"),
            ("United", "B-LOC"), ("Arab", "I-LOC"), ("Jordan", "B-PER")]  # fmt: skip
    text, spans = _iob(iob1)
    assert text == "Hassan Abbas of Syria United Arab Jordan"
    want = [("Hassan Abbas", "PER"), ("Syria", "LOC"), ("United Arab", "LOC"), ("Jordan", "PER")]
    assert [(text[a:b], c) for a, b, c in spans] == want
    assert _iob(iob2) == (text, spans)


def test_faker_corpus_is_seeded_and_its_spans_hold_the_values(tmp_path: Path) -> None:
    first = list(faker_corpus(60, seed=5))
    assert first == list(faker_corpus(60, seed=5)) != list(faker_corpus(60, seed=6))
    assert dump(first, tmp_path / "f.jsonl") == 60
    loaded = load(tmp_path / "f.jsonl")
    assert sum(len(ex.spans) for ex in loaded) > 60
    for (text, spans), ex in zip(first, loaded, strict=True):
        assert ex.text == text and [(g.start, g.end, g.label) for g in ex.spans] == spans


def test_committed_presidio_corpus_matches_its_converter(tmp_path: Path) -> None:
    """The committed file is what the converter makes of presidio-research's JSON (here
    rebuilt from the committed file's own records, so no copy of the repository is needed):
    every span's text is its value, every label is mapped."""
    corpus = load(PRESIDIO)
    assert len(corpus) == 1500 and sum(len(ex.spans) for ex in corpus) == 2863
    raw = [
        {"full_text": ex.text, "spans": [
            {"entity_type": g.label, "start_position": g.start, "end_position": g.end,
             "entity_value": ex.text[g.start:g.end]} for g in ex.spans]}
        for ex in corpus
    ]  # fmt: skip
    src = tmp_path / "synth.json"
    src.write_text(json.dumps(raw), encoding="utf-8")
    rebuilt = list(presidio_research(str(src)))
    assert [(t, [(a, b, c) for a, b, c in s]) for t, s in rebuilt] == [
        (ex.text, sorted((g.start, g.end, g.label) for g in ex.spans)) for ex in corpus
    ]


def test_no_email_address_of_the_corpus_leaks() -> None:
    """End to end on text veil did not write: the default engine leaves no character of
    an e-mail address or IP address of the presidio-research corpus in clear."""
    corpus = [ex for ex in load(PRESIDIO) if any(g.entity in ("EMAIL_ADDRESS", "IP_ADDRESS")
                                                  for g in ex.spans)]  # fmt: skip
    asked = ("EMAIL_ADDRESS", "IP_ADDRESS")
    analyzer = analyzer_for(EngineConfig())
    predicted = analyzer.analyze_batch([ex.text for ex in corpus], Query(asked, 0.4))
    s = score(corpus, predicted, asked)  # type: ignore[arg-type]
    assert s.gold["EMAIL_ADDRESS"] >= 40 and s.leak() == 0.0
