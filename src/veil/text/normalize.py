"""Text as the detectors should see it, and the way back to the characters it came from.

An identifier can be written so that it looks the same to a reader and different to a
pattern: full-width or Arabic-Indic digits (``５３６-２２-８７１４``), a full-width at
sign (``JOHN.SMITH＠example.org``), a non-breaking hyphen or a minus sign between digit
groups, a zero-width space, a bidi control or a soft hyphen inside a number. Detection
runs on a normalized copy of the text, made character cluster by cluster (a base
character and the combining marks after it):

    what                                            becomes
    ----------------------------------------------  -----------------------------------
    any cluster                                     its NFKC form (full-width letters,
                                                    digits and punctuation, ligatures,
                                                    compatibility spaces)
    a decimal digit of any script (str.isdecimal)   the ASCII digit of the same value
    default-ignorable code points: zero-width       nothing (removed)
    space/joiners, word joiner, BOM, bidi marks,
    embeddings, overrides and isolates, soft
    hyphen, variation selectors, invisible
    operators, Mongolian vowel separator
    hyphen and dash look-alikes (U+2010-2015,       ``-``
    U+2212 minus, small/full-width hyphen-minus)
    full stop look-alikes (U+2024, U+3002, U+FF61,  ``.``
    U+FE52)
    at sign look-alikes (U+FF20, U+FE6B)            ``@`` (NFKC)
    other spaces (NBSP, U+2000-200A, U+202F,        `` `` (NFKC, and U+1680 by hand)
    U+3000, U+1680)
    line and paragraph separators, NEL              ``\\n``

:class:`Normalized` keeps, for every character of the normalized text, the range of
original characters it came from, so a span found on the normalized text is mapped back
to the *whole* original characters it covers, the characters removed inside it
included: ``JOHN.SMITH＠example.org`` is replaced from ``J`` to ``g``, not in fragments.

Pure-ASCII text (nearly every note) is already normalized: :func:`normalize` returns it
as is, after one ``str.isascii`` call, and maps spans by identity.
"""

# ruff: noqa: RUF002 (the docstring shows the look-alikes it folds)
from __future__ import annotations

import bisect
import functools
import re
import unicodedata
from dataclasses import dataclass

from .spans import Span


def _ignorable() -> frozenset[str]:
    """Unicode's Default_Ignorable_Code_Point set (DerivedCoreProperties.txt), less
    U+034F's neighbours that NFKC handles: invisible by definition, so removing them
    changes what a reader sees not at all."""
    ranges = [
        (0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160),
        (0x17B4, 0x17B5), (0x180B, 0x180F), (0x200B, 0x200F), (0x202A, 0x202E),
        (0x2060, 0x206F), (0x3164, 0x3164), (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF),
        (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A),
        (0xE0000, 0xE0FFF),
    ]  # fmt: skip
    return frozenset(chr(c) for lo, hi in ranges for c in range(lo, hi + 1))


IGNORABLE = _ignorable()

#: look-alikes NFKC leaves alone (or maps to another look-alike), by what they imitate
HOMOGLYPHS: dict[str, str] = {
    **dict.fromkeys("\u2010\u2011\u2012\u2013\u2014\u2015\u2043\u2212\u02d7\ufe58", "-"),
    **dict.fromkeys("\u2024\u3002\uff61\ufe52", "."),
    **dict.fromkeys("\u1680", " "),
    **dict.fromkeys("\u2028\u2029\x85", "\n"),
}

_NON_ASCII = re.compile(r"[^\x00-\x7f]+")


@functools.lru_cache(maxsize=8192)
def fold(cluster: str) -> str:
    """The normalized form of one cluster (see the module docstring)."""
    out = []
    for c in unicodedata.normalize("NFKC", cluster):
        if c in IGNORABLE:
            continue
        c = HOMOGLYPHS.get(c, c)
        if not c.isascii() and c.isdecimal():
            c = str(unicodedata.decimal(c))
        out.append(c)
    return "".join(out)


@dataclass(frozen=True)
class Normalized:
    """A normalized text and, unless it equals the original, how to map back.

    ``pieces`` are ``(norm_start, orig_start, orig_end, one_to_one)`` in order: a
    one-to-one piece maps its characters to the original characters at the same
    distance from its start; any other piece (one cluster) maps each of its characters
    to the whole original range. Original characters of no piece were removed.
    """

    text: str
    pieces: tuple[tuple[int, int, int, bool], ...] | None = None

    def original(self, start: int, end: int) -> tuple[int, int]:
        """The original range covering normalized ``[start, end)`` (``end > start``)."""
        pieces = self.pieces
        if pieces is None:
            return start, end
        starts = self._starts
        p = pieces[bisect.bisect_right(starts, start) - 1]
        o_start = p[1] + (start - p[0]) if p[3] else p[1]
        q = pieces[bisect.bisect_right(starts, end - 1) - 1]
        o_end = q[1] + (end - q[0]) if q[3] else q[2]
        return o_start, o_end

    @functools.cached_property
    def _starts(self) -> list[int]:
        return [p[0] for p in self.pieces or ()]

    def spans(self, spans: list[Span]) -> list[Span]:
        """``spans`` found on :attr:`text`, on the original text (sorted)."""
        if self.pieces is None:
            return spans
        out = []
        for s in spans:
            start, end = self.original(s.start, s.end)
            out.append(Span(start, end, s.entity, s.score))
        return sorted(out)


def normalize(text: str) -> Normalized:
    """``text`` normalized for detection, with the map back (see the module docstring)."""
    if text.isascii():
        return Normalized(text)
    parts: list[str] = []
    pieces: list[tuple[int, int, int, bool]] = []
    n = 0  # length of the normalized text so far

    def keep(o_start: int, o_end: int) -> None:  # original characters kept as they are
        nonlocal n
        if o_end <= o_start:
            return
        last = pieces[-1] if pieces else None
        if (
            last is not None
            and last[3]
            and last[2] == o_start
            and last[0] + (o_start - last[1]) == n
        ):
            pieces[-1] = (last[0], last[1], o_end, True)
        else:
            pieces.append((n, o_start, o_end, True))
        parts.append(text[o_start:o_end])
        n += o_end - o_start

    pos = 0
    for m in _NON_ASCII.finditer(text):
        start, end = m.span()
        # A combining mark belongs to the character before it, ASCII or not.
        if start > 0 and unicodedata.combining(text[start]) and start - 1 >= pos:
            start -= 1
        keep(pos, start)
        i = start
        while i < end:
            j = i + 1
            while j < len(text) and not text[j].isascii() and unicodedata.combining(text[j]):
                j += 1
            cluster = text[i:j]
            folded = fold(cluster)
            if folded == cluster:
                keep(i, j)
            elif folded:
                pieces.append((n, i, j, len(folded) == j - i == 1))
                parts.append(folded)
                n += len(folded)
            i = j
        pos = max(pos, end, i)
    keep(pos, len(text))
    normal = "".join(parts)
    if normal == text:
        return Normalized(text)
    return Normalized(normal, tuple(pieces))
