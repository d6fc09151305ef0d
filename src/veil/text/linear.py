"""Regexes that cannot blow up: Python patterns run by RE2, in time linear in the text.

Python's engines (``re``, and ``regex`` that Presidio uses) backtrack: Presidio's URL
pattern takes seconds on a run of dots. RE2 (``google-re2``) never backtracks, so a
pattern it can run takes time linear in the text, whatever the text. It has its own
syntax and meanings, so a Python pattern is *translated* for it (:func:`translate`),
and only where the translation means the same:

    Python construct                       in RE2
    -------------------------------------  -------------------------------------------
    \\d \\w \\s and their negations         the exact sets of code points the Python
                                           engine matches (RE2's own are ASCII-only)
    \\b \\B                                 kept; RE2's are ASCII-only, so they mean
                                           the same only on texts whose word
                                           characters are all ASCII (``ascii_words``)
    {,n}                                   {0,n}
    \\Z                                     \\z
    \\uXXXX \\UXXXXXXXX                      \\x{...}
    $ without MULTILINE                    only at the end of the pattern (or of a
                                           top-level alternative); Python also
                                           matches it before a final newline, which
                                           the caller checks (``dollar_at_end``)
    lookaround, backreference, possessive  not translated (:class:`NotLinear`)
    or atomic group, conditional,
    VERBOSE, \\p{..}, \\N{..}, POSIX class

:class:`Matcher` runs a Presidio pattern: in RE2 when the translation means the same on
the text at hand, otherwise in ``regex`` with a timeout at the value's deadline
(:func:`veil.text.budget.time_left`), raising :class:`AnalysisIncomplete` when it runs
out, so a slow pattern withholds its value instead of skipping a recognizer.
``tests/text/test_linear.py`` checks the translations against Python's engines on
Presidio's own test strings and on random text.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import re2  # type: ignore[import-untyped]
import regex  # type: ignore[import-untyped]

from .budget import AnalysisIncomplete, time_left

Flavor = Literal["re", "regex"]

#: flags translate() understands; any other one makes a pattern NotLinear
_I, _M, _S = re.IGNORECASE, re.MULTILINE, re.DOTALL  # equal in re and regex
_KNOWN_FLAGS = _I | _M | _S | re.UNICODE


class NotLinear(ValueError):
    """The pattern cannot run in RE2 with its Python meaning. The message says why."""


@dataclass(frozen=True)
class Translation:
    """A Python pattern in RE2 syntax, and where the two may differ."""

    pattern: str
    #: uses \b or \B: same meaning only on texts whose word characters are ASCII
    ascii_words: bool
    #: ends with a non-MULTILINE ``$``: Python also matches it before a final "\n"
    dollar_at_end: bool
    #: matches case-insensitively somewhere: the same only on texts without
    #: :data:`CASE_TRAPS`
    ignore_case: bool


# ------------------------------------------------------------------- character sets

_CLASS_LOCK = threading.Lock()


@functools.cache
def _class_ranges(flavor: Flavor, escape: str, fold: bool) -> str:
    """The code points Python's ``escape`` (``\\d``, ``\\W``...) matches, as the inside
    of an RE2 class (``\\x{30}-\\x{39}...``). Computed once per process by running the
    engine over every code point (~0.1 s).

    With ``fold`` (the pattern matches case-insensitively somewhere) the
    :data:`CASE_TRAPS` are left out: RE2 would fold them into the class with partners
    Python keeps apart (U+0345 would bring Greek iota into ``\\W``). Texts holding a
    trap never reach RE2 in a case-insensitive pattern, so leaving them out changes
    nothing there."""
    engine: Any = re if flavor == "re" else regex
    with _CLASS_LOCK:
        text = _all_code_points()
        ranges: list[list[int]] = []
        for m in engine.finditer(escape, text):
            if fold and m.group() in CASE_TRAPS:
                continue
            c = ord(m.group())
            if ranges and ranges[-1][1] == c - 1:
                ranges[-1][1] = c
            else:
                ranges.append([c, c])
    return "".join(f"\\x{{{a:x}}}" if a == b else f"\\x{{{a:x}}}-\\x{{{b:x}}}" for a, b in ranges)


@functools.cache
def _all_code_points() -> str:
    return "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)


def _class(flavor: Flavor, letter: str, inside: bool, fold: bool) -> str:
    """``\\d`` and the like as an RE2 class, or inside one (negations enumerated too)."""
    ranges = _class_ranges(flavor, "\\" + letter, fold)
    return ranges if inside else f"[{ranges}]"


_INLINE_I = re.compile(r"\(\?[a-zA-Z]*i[a-zA-Z]*(?:-[a-zA-Z]*)?[:)]")


# ------------------------------------------------------------------- translation

_REPEAT = re.compile(r"\{(\d*)(,?)(\d*)\}")
_INLINE_FLAGS = re.compile(r"\(\?([a-zA-Z]*)(?:-([a-zA-Z]*))?(:|\))")
_HEX = frozenset("0123456789abcdefABCDEF")


@functools.lru_cache(maxsize=1024)
def translate(pattern: str, flags: int = 0, flavor: Flavor = "regex") -> Translation:
    """``pattern`` compiled by Python's ``flavor`` engine with ``flags``, in RE2 syntax
    with the same meaning (see the module table). Raises :class:`NotLinear`."""
    if flags & ~_KNOWN_FLAGS:
        raise NotLinear("uses flags RE2 has no equivalent for")
    multiline = bool(flags & _M)
    ignore_case = bool(flags & _I)
    fold = ignore_case or _INLINE_I.search(pattern) is not None
    out: list[str] = []
    ascii_words = False
    dollar_at_end = False
    inside = False  # in a character class
    depth = 0
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            if i + 1 >= n:
                raise NotLinear("ends with a backslash")
            e = pattern[i + 1]
            i += 2
            if e in "dDwWsS":
                out.append(_class(flavor, e, inside, fold))
            elif e in "bB":
                if inside:
                    raise NotLinear("'\\b' inside a character class")
                out.append("\\" + e)
                ascii_words = True
            elif e == "A" and not inside:
                out.append("\\A")
            elif e == "Z" and not inside:
                out.append("\\z")
            elif e in "xuU":
                size = {"x": 2, "u": 4, "U": 8}[e]
                digits = pattern[i : i + size]
                if len(digits) != size or not set(digits) <= _HEX:
                    raise NotLinear(f"'\\{e}' escape RE2 reads differently")
                out.append(f"\\x{{{int(digits, 16):x}}}")
                i += size
            elif e in "afnrtv":
                out.append("\\" + e)
            elif e.isascii() and not e.isalnum():
                out.append("\\" + e)  # an escaped punctuation character: itself
            else:
                raise NotLinear(f"escape '\\{e}' (backreference, property or named char)")
            continue
        if inside:
            if c == "]":
                inside = False
            elif c == "[":
                if pattern.startswith(("[:", "[=", "[."), i):
                    raise NotLinear("POSIX class syntax")
                out.append("\\[")
                i += 1
                continue
            out.append(c)
            i += 1
            continue
        if c == "[":
            inside = True
            out.append("[")
            i += 1
            if i < n and pattern[i] == "^":
                out.append("^")
                i += 1
            if i < n and pattern[i] == "]":  # a leading ']' is a literal in Python
                out.append("\\]")
                i += 1
            continue
        if c == "(":
            if pattern.startswith("(?", i):
                m = _INLINE_FLAGS.match(pattern, i)
                if pattern.startswith(("(?:", "(?P<"), i):
                    pass
                elif m and set(m.group(1) + (m.group(2) or "")) <= set("ims"):
                    ignore_case = ignore_case or "i" in m.group(1)
                    if m.group(3) == ")":  # global flags: Python reads them anywhere
                        if i != 0 or m.group(2):
                            raise NotLinear("inline flags after the start of the pattern")
                        multiline = multiline or "m" in m.group(1)
                        out.append(m.group())
                        i = m.end()
                        continue
                    if "m" in m.group(1) + (m.group(2) or ""):
                        raise NotLinear("a scoped MULTILINE flag")
                else:
                    raise NotLinear("lookaround, atomic group, conditional or comment")
            depth += 1
        elif c == ")":
            depth -= 1
        elif c == "{":
            m = _REPEAT.match(pattern, i)
            if m is None or (not m.group(1) and not m.group(3)):
                out.append("\\{")  # not a repetition: Python reads it as a literal
                i += 1
                continue
            lo, comma, hi = m.groups()
            out.append("{" + (lo or "0") + comma + hi + "}")
            i = m.end()
            if i < n and pattern[i] == "+":
                raise NotLinear("a possessive quantifier")
            continue
        elif c in "*+?" and i + 1 < n and pattern[i + 1] == "+":
            raise NotLinear("a possessive quantifier")
        elif c == "}":  # not closing a repetition: a literal
            out.append("\\}")
            i += 1
            continue
        elif c == "$" and not multiline:
            rest = pattern[i + 1 :]
            if depth != 0 or not (rest == "" or rest.startswith("|")):
                raise NotLinear("'$' before the end of the pattern (without MULTILINE)")
            out.append("\\z")
            dollar_at_end = True
            i += 1
            continue
        out.append(c)
        i += 1
    if inside:
        raise NotLinear("an unterminated character class")
    prefix = "".join(f for f, bit in (("i", _I), ("m", _M), ("s", _S)) if flags & bit)
    body = "".join(out)
    result = (f"(?{prefix})" if prefix else "") + body
    try:
        re2.compile(result, _OPTIONS)
    except Exception:  # re2.error, or a lone surrogate that UTF-8 cannot carry
        raise NotLinear("RE2 cannot compile it") from None
    return Translation(result, ascii_words, dollar_at_end, ignore_case)


def relax(pattern: str) -> str | None:
    """``pattern`` (``regex`` syntax) with its lookarounds left out and its atomic groups
    made plain groups: a pattern that matches wherever ``pattern`` matches (a lookaround
    only narrows where a match may stand; an atomic group only forbids some backtracking),
    so a text it has no match in has none of ``pattern`` either. None where that is not
    sure: a conditional, a comment, a quantified lookaround, an unterminated group or
    class."""
    out: list[str] = []
    i, n = 0, len(pattern)
    while i < n:
        c = pattern[i]
        if c == "\\":
            out.append(pattern[i : i + 2])
            i += 2
        elif c == "[":
            j = _class_end(pattern, i)
            if j is None:
                return None
            out.append(pattern[i:j])
            i = j
        elif pattern.startswith(("(?=", "(?!", "(?<=", "(?<!"), i):
            j = _group_end(pattern, i)
            if j is None or (j < n and pattern[j] in "*+?{"):
                return None
            i = j
        elif pattern.startswith("(?>", i):
            out.append("(?:")
            i += 3
        elif pattern.startswith(("(?(", "(?#"), i):
            return None
        else:
            out.append(c)
            i += 1
    return "".join(out)


def _class_end(pattern: str, i: int) -> int | None:
    """Where the character class opening at ``i`` ends (just past its ``]``)."""
    j, n = i + 1, len(pattern)
    if j < n and pattern[j] == "^":
        j += 1
    if j < n and pattern[j] == "]":  # a leading ']' is a literal
        j += 1
    while j < n:
        if pattern[j] == "\\":
            j += 2
        elif pattern[j] == "]":
            return j + 1
        else:
            j += 1
    return None


def _group_end(pattern: str, i: int) -> int | None:
    """Where the group opening at ``i`` ends (just past its ``)``)."""
    depth, j, n = 0, i, len(pattern)
    while j < n:
        c = pattern[j]
        if c == "\\":
            j += 2
            continue
        if c == "[":
            end = _class_end(pattern, j)
            if end is None:
                return None
            j = end
            continue
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return j + 1
        j += 1
    return None


def _options() -> Any:
    o = re2.Options()
    o.log_errors = False  # RE2 would print every pattern it rejects on stderr
    o.max_mem = 64 << 20  # Unicode classes make programs large (URL: ~1 MB)
    return o


_OPTIONS = _options()


def compile_linear(t: Translation) -> Any:
    """The RE2 program for ``t``."""
    return re2.compile(t.pattern, _OPTIONS)


# ------------------------------------------------------------------- matching

#: Code points whose case-insensitive matching differs between RE2 and Python's engines
#: (measured over every code point, ``tests/text/test_linear.py``): Turkish dotted and
#: dotless i, and (``re`` only) the combining ypogegrammeni, which RE2 folds to iota.
CASE_TRAPS = "\u0130\u0131\u0345"
_CASE_TRAP = re.compile(f"[{CASE_TRAPS}]")

#: a word character outside ASCII, by the ``regex`` engine's \w
_NON_ASCII_WORD = regex.compile(r"[^\W\x00-\x7f]")


def words_are_ascii(text: str) -> bool:
    """True if every word character of ``text`` is ASCII (RE2's \\b means Python's)."""
    return text.isascii() or _NON_ASCII_WORD.search(text) is None


class Matcher:
    """A Presidio pattern (``regex`` syntax and flags) run in linear time where possible.

    :meth:`finditer` yields match objects with ``span(group)`` and ``groups()``, equal
    to ``regex.finditer(pattern, text, flags=flags)``'s non-empty matches.
    """

    __slots__ = ("_ascii_words", "_backtracking", "_ignore_case", "_linear", "relaxed", "source")

    def __init__(self, pattern: str, flags: int) -> None:
        self._backtracking = regex.compile(pattern, flags=flags)
        self._linear: Any = None
        self._ascii_words = False
        self._ignore_case = False
        #: the RE2 pattern, where RE2 runs it
        self.source: str | None = None
        #: where RE2 cannot run it: an RE2 pattern that matches wherever it does (see
        #: :func:`relax`), for :class:`Prefilter`
        self.relaxed: str | None = None
        try:
            t = translate(pattern, flags, "regex")
        except NotLinear:
            self.relaxed = _relaxed(pattern, flags)
            return
        if t.dollar_at_end:  # Presidio passes MULTILINE; without it, stay exact
            return
        self._linear = compile_linear(t)
        self.source = t.pattern
        self._ascii_words = t.ascii_words
        self._ignore_case = t.ignore_case

    @property
    def linear(self) -> bool:
        """True if RE2 runs this pattern (on texts with ASCII words if it uses \\b)."""
        return self._linear is not None

    def finditer(self, text: str) -> Iterator[Any]:
        lin = self._linear
        if lin is not None:
            if text.isascii():  # byte offsets are character offsets: no re-counting
                return iter(lin.finditer(text.encode("ascii")))
            if self._ascii_words and not words_are_ascii(text):
                return self._slow(text)
            if self._ignore_case and _CASE_TRAP.search(text):
                return self._slow(text)
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:  # a lone surrogate: only Python's engine reads it
                pass
            else:
                return iter(lin.finditer(text))
        return self._slow(text)

    def _slow(self, text: str) -> Iterator[Any]:
        timeout = time_left()
        if timeout <= 0:
            raise AnalysisIncomplete("a value's analysis ran out of time")
        try:
            yield from self._backtracking.finditer(text, timeout=timeout, concurrent=True)
        except TimeoutError:
            raise AnalysisIncomplete("a pattern ran out of time on a value") from None


def _relaxed(pattern: str, flags: int) -> str | None:
    loose = relax(pattern)
    if loose is None or loose == pattern:
        return None
    try:
        t = translate(loose, flags, "regex")
    except NotLinear:
        return None
    # RE2's '$' is stricter than Python's: not a pattern that matches wherever it does
    return None if t.dollar_at_end else t.pattern


class Prefilter:
    """Which of several patterns :meth:`Matcher.finditer` needs to run on a text.

    One RE2 ``Set`` holds every pattern RE2 runs; one pass over a text names each of
    them that matches somewhere in it, and a pattern it does not name has no match
    there, empty or not. (A Presidio date recognizer has 13 patterns: their 13 searches
    of a short note took ~23 µs, the pass ~1 µs.) A pattern RE2 cannot run is in the set
    as its :func:`relax`-ed form, which matches wherever it does: not named, it has no
    match either (Presidio's card pattern, a lookahead in it, ran in ~5 µs a note under
    Python's engine); a pattern with no such form always runs. The pass is made only
    on ASCII text (``finditer`` uses RE2 on its bytes; a relaxed form is read on the
    same bytes, where RE2's and Python's ``\\b`` and case folding agree).

    RE2's set search has no fallback when its DFA runs out of memory: it answers "no
    match". So the set holds one more pattern, the empty one, which matches every text:
    an answer without it means the pass failed, and then every pattern runs.
    """

    __slots__ = ("_always", "_index", "_sentinel", "_set")

    def __init__(self, matchers: Sequence[Matcher]) -> None:
        entries = [(i, m.source or m.relaxed) for i, m in enumerate(matchers)]
        held = [(i, source) for i, source in entries if source is not None]
        self._always = frozenset(range(len(matchers))) - {i for i, _ in held}
        self._set: Any = None
        self._index: tuple[int, ...] = ()
        self._sentinel = -1
        # One RE2 search costs what a pass does: the pass pays where it saves two
        # searches, or one run of Python's engine.
        if len(held) < 2 and not any(m.relaxed for m in matchers):
            return
        rset = re2.Set.SearchSet(_OPTIONS)
        for _, source in held:
            rset.Add(source)
        self._sentinel = rset.Add("")
        rset.Compile()
        self._set, self._index = rset, tuple(i for i, _ in held)

    def which(self, text: str) -> frozenset[int] | None:
        """The indices of the patterns to run on ``text``; None for all of them."""
        if self._set is None or not text.isascii():
            return None
        hits = self._set.Match(text.encode("ascii"))
        if not hits or self._sentinel not in hits:
            return None
        index, sentinel = self._index, self._sentinel
        return self._always.union(index[h] for h in hits if h != sentinel)


_PREFILTERS: dict[tuple[tuple[str, ...], int], Prefilter] = {}


def prefilter(patterns: tuple[str, ...], flags: int) -> Prefilter:
    """The process's :class:`Prefilter` for these patterns (``regex`` syntax), built once."""
    key = (patterns, flags)
    p = _PREFILTERS.get(key)
    if p is None:
        p = _PREFILTERS.setdefault(key, Prefilter([matcher(x, flags) for x in patterns]))
    return p


_MATCHERS: dict[tuple[str, int], Matcher] = {}
_MATCHERS_LOCK = threading.Lock()


def matcher(pattern: str, flags: int) -> Matcher:
    """The process's :class:`Matcher` for (pattern, flags), built once."""
    key = (pattern, flags)
    m = _MATCHERS.get(key)
    if m is None:
        with _MATCHERS_LOCK:
            m = _MATCHERS.get(key)
            if m is None:
                m = _MATCHERS[key] = Matcher(pattern, flags)
    return m


# ------------------------------------------------------------------- boolean search


#: Lone surrogates cannot be UTF-8, which RE2 reads: a search sees each as U+FFFD
#: (neither is matched by \\d, \\w or \\s; a pattern naming surrogates is NotLinear).
_SURROGATE = re.compile("[\\ud800-\\udfff]")


class LinearSearch:
    """``re.search(pattern, text) is not None`` for the patterns :func:`translate`
    accepts (flavor ``re``), in linear time and picklable (compiled on first use)."""

    __slots__ = ("_program", "pattern", "translation")

    def __init__(self, pattern: str) -> None:
        self.pattern = pattern
        self.translation = translate(pattern, 0, "re")
        if self.translation.ascii_words:
            raise NotLinear(
                "'\\b' and '\\B' (RE2's word boundaries are ASCII-only; spell the boundary "
                "out, e.g. (?:^|[^A-Za-z0-9_]))"
            )
        self._program: Any = None

    def __getstate__(self) -> str:
        return self.pattern

    def __setstate__(self, state: str) -> None:
        self.__init__(state)  # type: ignore[misc]

    def search(self, text: str) -> bool:
        program = self._program
        if program is None:
            program = self._program = compile_linear(self.translation)
        if not text.isascii():
            if self.translation.ignore_case and _CASE_TRAP.search(text):
                raise ValueError(
                    "RegexMatch: a case-insensitive pattern cannot be decided in linear time "
                    "on a value with a Turkish i or U+0345"
                )
            try:
                text.encode("utf-8")
            except UnicodeEncodeError:  # see _SURROGATE
                text = _SURROGATE.sub("\ufffd", text)
        if program.search(text) is not None:
            return True
        # Python's '$' also matches before a final newline: the match ends there
        return (
            self.translation.dollar_at_end
            and text.endswith("\n")
            and program.search(text[:-1]) is not None
        )
