"""Normalization before detection: what it folds, and that spans map back to whole
original characters."""

# ruff: noqa: RUF001 (the look-alike characters are what these tests are about)
from __future__ import annotations

import sys
import unicodedata

from hypothesis import given, settings
from hypothesis import strategies as st

from veil.text.normalize import IGNORABLE, fold, normalize
from veil.text.spans import Span


def test_ascii_text_is_returned_as_is() -> None:
    n = normalize("SSN 536-22-8714, mail jo@example.org")
    assert n.pieces is None and n.text == "SSN 536-22-8714, mail jo@example.org"
    assert n.original(4, 15) == (4, 15)


def test_the_issues_examples_fold_to_ascii() -> None:
    assert normalize("SSN ５３６-２２-８７１４").text == "SSN 536-22-8714"
    n = normalize("email JOHN.SMITH＠example.org")
    assert n.text == "email JOHN.SMITH@example.org"
    # the whole address, found on the normalized text, covers the whole original
    start, end = n.original(6, len(n.text))
    assert (start, end) == (6, len("email JOHN.SMITH＠example.org"))


def test_invisible_characters_and_lookalikes() -> None:
    hidden = "5\u200b3\u200c6\u2060-\u00ad2\u202e2\u2066-\ufeff8\u200d714"
    n = normalize(hidden)
    assert n.text == "536-22-8714"
    assert n.original(0, len(n.text)) == (0, len(hidden))  # removed ones inside are covered
    dashes = "536\u2011" + "22\u2212" + "8714 5\u201336\u201422\ufe638714 536\uff0d22\u20128714"
    assert normalize(dashes).text == "536-22-8714 5-36-22-8714 536-22-8714"
    assert normalize("a\uff20b\u3002c\u2024d\uff61e\ufe6bf").text == "a@b.c.d.e@f"
    assert normalize("020\u00a07946\u202f0958\u30001\u16802").text == "020 7946 0958 1 2"
    assert normalize("a\u2028b\u2029c\x85d").text == "a\nb\nc\nd"


def test_every_decimal_digit_of_every_script_becomes_ascii() -> None:
    # int() reads any Unicode decimal digit: an independent oracle for the value
    digits = [chr(c) for c in range(sys.maxunicode + 1) if chr(c).isdecimal()]
    assert len(digits) > 600
    for d in digits:
        assert fold(d) == str(int(d)), hex(ord(d))


def test_combining_marks_stay_with_their_base() -> None:
    text = "jose\u0301@exa\u0308mple.de"  # decomposed é and ä
    n = normalize(text)
    assert n.text == "josé@exämple.de"
    # the normalized é maps to both original code points
    assert n.original(3, 4) == (3, 5)
    assert n.original(0, len(n.text)) == (0, len(text))


def test_spans_are_mapped_and_sorted() -> None:
    text = "\u200bSSN ５３６-２２-８７１４ and ４１１１"
    n = normalize(text)
    found = [Span(20, 24, "X", 1.0), Span(4, 15, "US_SSN", 1.0)]
    mapped = n.spans(found)
    assert [text[s.start : s.end] for s in mapped] == ["５３６-２２-８７１４", "４１１１"]


_POOL = (
    "aZ09 .-@_/\n"
    "５Ａ＠．－\u3000\u00a0\u202f"  # full-width, spaces
    "\u200b\u200c\u200d\u2060\ufeff\u200e\u202e\u2066\u00ad"  # invisible
    "\u0301\u0308\u0327"  # combining
    "٣७๕\U0001d7d0"  # other digits
    "ﬁ½²éñ用户"  # compatibility forms, letters
    "\u2011\u2212\u2013\u3002\ufe6b"  # look-alikes
)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=_POOL, max_size=40), st.data())
def test_mapping_property(text: str, data: st.DataObject) -> None:
    """Every normalized character comes from original characters that fold to text
    containing it; ranges are ordered; characters of no piece are invisible ones."""
    n = normalize(text)
    if not n.text:
        assert all(c in IGNORABLE or unicodedata.combining(c) or not fold(c) for c in text)
        return
    prev_start = 0
    for i, c in enumerate(n.text):
        o_start, o_end = n.original(i, i + 1)
        assert 0 <= o_start < o_end <= len(text)
        assert c in normalize(text[o_start:o_end]).text
        assert o_start >= prev_start  # in order
        prev_start = o_start
    start = data.draw(st.integers(0, len(n.text) - 1))
    end = data.draw(st.integers(start + 1, len(n.text)))
    o_start, o_end = n.original(start, end)
    # the original slice, normalized, holds the normalized slice whole
    assert n.text[start:end] in normalize(text[o_start:o_end]).text
    covered = set()
    for p in n.pieces or ():
        covered.update(range(p[1], p[2]))
    if n.pieces is not None:
        assert all(not fold(text[i]) or i in covered for i in range(len(text)))
