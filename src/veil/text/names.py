"""veil's own person-name rules, on top of whatever NER model the ``ner`` engine runs.

A statistical model misses names that a reader finds from the words around them: the
title in "Dr. Okonkwo", the label in "Patient: Ana Lima", the closing of a letter
("Kind regards,\\nJohn Smith"), names in capitals ("MR. JOHN SMITH"), and a surname
the model found once but not the next time it appears. These rules look for exactly
those cues; each cue is followed by one to four *name words* (below), which become a
PERSON span:

    cue                                        example                          score
    -----------------------------------------  -------------------------------  -----
    title (Mr, Mrs, Ms, Dr, Prof, Sir, ...)    "seen by Dr. Amara Okafor"       0.85
    label and a colon or dash (Patient:,       "Name: JOHN SMITH"               0.85
      Name:, Contact:, Attn:, Signed:, ...)
    salutation (Dear, Hi, Hello)               "Dear Ms Rossi,"                 0.85
    closing of a letter, then a line break     "Regards,\\nPriya Natarajan"      0.85
    relation word (wife, son, mother, ...)     "his daughter Marta called"      0.6
    "my name is", "named"                      "My name is Rubija"              0.85
    phrase (spoke with, seen by, called, ...)  "spoke with Tom Baker today"     0.6
      and two name words or more
    a PERSON span's edge (NER or a rule)       NER "Smith" in "John Smith"      0.6
      grown over adjacent name words
    another occurrence of a found name's       "...Okafor agreed."              0.6
      word (3+ letters, capitalised)

A *name word* starts with an upper-case letter and is either capitalised ("Smith",
"O'Neil", "Jean-Luc", "Łukasz") or all capitals ("SMITH", from two letters); an
initial ("J." or "J") and lower-case particles inside a name ("van", "de", "bin") are
allowed between name words. A small stop list keeps common capitalised words that
follow labels in notes ("Patient: Male", "Name: Unknown") out.

The rules run on the text alone (no model needed), in time linear in the text (one
tokenizing pass with a pattern that cannot backtrack, then passes over the tokens), and
need the NLP artifacts only for the model's PERSON spans (``ner`` engine). Their
precision and recall on corpora veil did not write are in docs/free-text.md.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

ENTITY = "PERSON"


def _words(words: str) -> list[str]:
    return words.split()


STRONG, WEAK = 0.85, 0.6

_TITLES = frozenset(
    _words("""mr mrs ms miss mx mister madam madame dr doctor prof professor sir dame lady lord
    rev reverend fr father sr sister nurse capt captain sgt sergeant lt col gen hon judge
    justice rabbi imam pastor herr frau mme mlle monsieur sra sr señor señora dott""")
)
_LABELS = frozenset(
    _words("""patient pt name names fullname client customer member contact guardian parent
    caregiver attn attention signed signature physician doctor provider clinician nurse
    surgeon attending resident referrer from to cc bcc author reviewer witness applicant
    beneficiary holder cardholder insured subscriber employee tenant owner visitor
    kin nok""")
)
_TWO_WORD_LABELS = frozenset(
    {
        ("full", "name"), ("first", "name"), ("last", "name"), ("family", "name"),
        ("patient", "name"), ("emergency", "contact"), ("next", "kin"),
        ("referring", "physician"), ("primary", "care"), ("account", "holder"),
        ("card", "holder"), ("legal", "guardian"), ("contact", "person"),
    }
)  # fmt: skip
_SALUTATIONS = frozenset({"dear", "hi", "hello", "hey"})
_CLOSINGS = frozenset(
    _words("""regards sincerely thanks cheers best respectfully cordially faithfully truly
    wishes yours signed""")
)
_RELATIONS = frozenset(
    _words("""wife husband spouse partner son daughter mother father mom dad brother sister
    aunt uncle cousin nephew niece grandmother grandfather grandson granddaughter
    fiancé fiancée fiance fiancee friend neighbour neighbor colleague boss""")
)
#: lower-cased word sequences after which a name word is a name
_NAME_IS = (("my", "name", "is"), ("name", "is"), ("named",), ("names", "are"))
#: lower-cased word sequences after which two or more name words are a name
_PHRASES = (
    ("called",), ("spoke", "with"),
    ("spoke", "to"), ("seen", "by"), ("signed", "by"), ("prepared", "by"),
    ("reported", "by"), ("referred", "by"), ("examined", "by"), ("accompanied", "by"),
    ("i", "am"), ("i'm",), ("this", "is"), ("per",), ("c/o",), ("care", "of"),
    ("married", "to"), ("met", "with"), ("talked", "to"), ("talked", "with"),
)  # fmt: skip
_PARTICLES = frozenset(
    _words("van von der den de del della di da dos das du la le bin binti ibn al el ben st")
)
#: capitalised words that follow labels and titles in notes but are not names
_STOP = frozenset(
    _words("""the a an and or of in on at to for with by from this that these those it he she
    they we you i his her their our my your is was are were be been has have had will
    would can could should may might must not no yes none unknown n/a na male female
    man woman boy girl child adult patient doctor nurse mr mrs ms dr prof sir madam
    monday tuesday wednesday thursday friday saturday sunday january february march
    april june july august september october november december today tomorrow
    yesterday please thank thanks dear hi hello regards sincerely best team staff all
    everyone customer client user admin support service department hospital clinic
    ward room unit street road avenue city state county country email phone tel fax
    address date time age dob ssn id number account card bank ok okay note notes
    see call called left right new old other same first last next""")
)

_WORD = re.compile(r"[^\W\d_][\w'\u2019.\-]*|\d+|[^\w\s]|\n")


def _tokens(text: str) -> list[tuple[int, int, str]]:
    """Words (a trailing period kept apart: "Dr." is "Dr" then "."), numbers, single
    punctuation characters and line breaks, with offsets."""
    out: list[tuple[int, int, str]] = []
    for m in _WORD.finditer(text):
        a, b = m.span()
        w = m.group()
        trail = len(w) - len(w.rstrip(".-'\u2019"))
        if trail and b - trail > a:
            out.append((a, b - trail, w[: len(w) - trail]))
            out.extend((i, i + 1, text[i]) for i in range(b - trail, b))
        else:
            out.append((a, b, w))
    return out


def is_name_word(w: str) -> bool:
    """Capitalised or all-capitals word of letters (hyphens and apostrophes inside)."""
    if not w[:1].isupper() or w.lower() in _STOP:
        return False
    letters = [c for c in w if c.isalpha()]
    if len(letters) != len(w) - sum(c in "'\u2019-" for c in w):
        return False
    if len(letters) >= 2 and w.isupper():
        return True
    # capitalised: every part after a hyphen or apostrophe may be capitalised too
    # ("Jean-Luc", "O'Neil", "McDonald"); the rest is lower case
    return len(letters) >= 2 and any(c.islower() for c in w)


def _initial(w: str) -> bool:
    return len(w) == 1 and w.isupper()


def _name_run(toks: list[tuple[int, int, str]], i: int, limit: int = 4) -> tuple[int, int]:
    """The longest run of name words starting at token ``i`` (initials, their periods
    and inner particles allowed): (end token index exclusive, number of name words)."""
    j, words, end = i, 0, i
    while j < len(toks) and words < limit:
        w = toks[j][2]
        if is_name_word(w):
            words += 1
            j += 1
            end = j
        elif _initial(w):
            j += 1
            if j < len(toks) and toks[j][2] == ".":
                j += 1
            words += 1
            end = j
        elif w in _PARTICLES:  # "van der Berg": particles only before a name word
            k = j
            while k < len(toks) and toks[k][2] in _PARTICLES:
                k += 1
            if k == len(toks) or not is_name_word(toks[k][2]):
                break
            j = k
        else:
            break
    # a trailing initial is a sentence's "A." or "I" more often than a name's end
    while end > i and (_initial(toks[end - 1][2]) or toks[end - 1][2] == "."):
        end -= 1
        words -= 1
    return end, max(words, 0)


def _skip(toks: list[tuple[int, int, str]], i: int, chars: str) -> int:
    while i < len(toks) and toks[i][2] in chars:
        i += 1
    return i


def find_names(
    text: str, model_spans: Iterable[tuple[int, int]] = ()
) -> list[tuple[int, int, float]]:
    """(start, end, score) of the names the cues above find in ``text``;
    ``model_spans``: PERSON spans a model found (grown and propagated, never returned
    as they are)."""
    toks = _tokens(text)
    low = [t[2].lower() for t in toks]
    found: list[tuple[int, int, float]] = []

    def take(i: int, score: float, min_words: int = 1) -> None:
        end, words = _name_run(toks, i)
        if words >= min_words and end > i:
            found.append((toks[i][0], toks[end - 1][1], score))

    n = len(toks)
    for i, w in enumerate(low):
        nxt = i + 1
        # "Dr. Smith", "Dr Smith"; a title must be capitalised ("dr" alone is rare)
        if w in _TITLES and toks[i][2][:1].isupper():
            take(_skip(toks, nxt, "."), STRONG)
        if w in _LABELS or (i + 1 < n and (w, low[i + 1]) in _TWO_WORD_LABELS):
            j = nxt + (1 if i + 1 < n and (w, low[i + 1]) in _TWO_WORD_LABELS else 0)
            if j < n and low[j] == "of" and j + 1 < n and low[j + 1] == "kin":
                j += 2
            if j < n and toks[j][2] in ":-=":
                k = _skip(toks, j + 1, ":-=")
                if k < n and low[k] in _TITLES:
                    k = _skip(toks, k + 1, ".")
                take(k, STRONG)
        if w in _SALUTATIONS and toks[i][2][:1].isupper():
            k = nxt
            if k < n and low[k] in _TITLES:
                k = _skip(toks, k + 1, ".")
            take(k, STRONG)
        if w in _CLOSINGS:
            k = _skip(toks, nxt, ",!.")
            if k < n and toks[k][2] == "\n":
                k = _skip(toks, k, "\n")
                take(k, STRONG)
        if w in _RELATIONS:
            take(nxt, WEAK)
        for phrase in _NAME_IS:
            if low[i : i + len(phrase)] == list(phrase):
                take(i + len(phrase), STRONG)
        for phrase in _PHRASES:
            if low[i : i + len(phrase)] == list(phrase):
                take(i + len(phrase), WEAK, min_words=2)
    grown = _grow(toks, [*model_spans, *((a, b) for a, b, _ in found)])
    found.extend((a, b, WEAK) for a, b in grown)
    found.extend(_propagate(text, toks, [(a, b) for a, b, _ in found] + list(model_spans)))
    return found


def _grow(toks: list[tuple[int, int, str]], spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Spans extended over the name words next to them ("John" before NER's "Smith")."""
    starts = {t[0]: i for i, t in enumerate(toks)}
    ends = {t[1]: i for i, t in enumerate(toks)}
    out = []
    for a, b in spans:
        i, j = starts.get(a), ends.get(b)
        if i is None or j is None:
            continue
        lo, hi = i, j
        while lo > 0 and (is_name_word(toks[lo - 1][2]) or _initial(toks[lo - 1][2])):
            lo -= 1
        while hi + 1 < len(toks) and is_name_word(toks[hi + 1][2]):
            hi += 1
        if (lo, hi) != (i, j):
            out.append((toks[lo][0], toks[hi][1]))
    return out


def _propagate(
    text: str, toks: list[tuple[int, int, str]], spans: list[tuple[int, int]]
) -> list[tuple[int, int, float]]:
    """Every other occurrence of a word of a found name (three letters or more)."""
    words: set[str] = set()
    for a, b in spans:
        for t in _tokens(text[a:b]):
            if len(t[2]) >= 3 and is_name_word(t[2]):
                words.add(t[2])
    if not words:
        return []
    return [(a, b, WEAK) for a, b, w in toks if w in words]


def recognizer() -> Any:
    """veil's name rules as a Presidio recognizer (``veil:names``; Presidio is imported
    here, when an engine is built, not with this module)."""
    from presidio_analyzer import EntityRecognizer, RecognizerResult

    class VeilNameRecognizer(EntityRecognizer):
        """PERSON spans from titles, labels, salutations, closings, relations and
        phrases; the model's PERSON spans grown and propagated (module docstring)."""

        def load(self) -> None:
            pass

        def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> Any:
            if ENTITY not in entities:
                return []
            model = [
                (e.start_char, e.end_char)
                for e in (getattr(nlp_artifacts, "entities", None) or ())
                if e.label_ in ("PERSON", "PER")
            ]
            return [RecognizerResult(ENTITY, a, b, s) for a, b, s in find_names(text, model)]

    return VeilNameRecognizer(
        supported_entities=[ENTITY], name="veil:names", supported_language="en"
    )
