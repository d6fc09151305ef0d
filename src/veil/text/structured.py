"""veil's own recognizers for structured identifiers: fail closed, separators tolerated.

Presidio's recognizers look for identifiers written the usual way. These look for the
same identifiers written any way a person (or an evader) may write them, on the
normalized text (:mod:`veil.text.normalize`), and validate them with the identifier's
own rules, never with a guess:

    recognizer            finds                               validated by
    --------------------  ----------------------------------  ------------------------------
    veil:card             12-19 digits in groups              Luhn + a brand's IIN range and
                                                              length (:mod:`veil.text.cards`)
    veil:iban             country code, check digits and      python-stdnum's iban (mod 97,
                          BBAN in groups, any case            the SWIFT registry's length and
                                                              format for every country)
    veil:ssn-context      9 digits in groups next to an SSN   the context word alone: a known-
                          word (SSN, SS#, social security)    invalid or advertising number
                                                              is still withheld
    veil:email            e-mail addresses with Unicode       RFC 5321/6531 shape, the domain's
                          local parts and domains, split by   suffix (IDNA) in tldextract's
                          line breaks                         bundled public suffix list
    veil:phone-split      phone numbers split by line         phonenumbers, for the regions the
                          breaks, underscores or slashes,     rule declares (as Presidio's)
                          or glued to a number before them

Groups: digits (or, for IBANs, letters and digits) separated by spaces, ``.``, ``-``,
``/``, ``_`` and at most one line break (mixed, as a hurried or hostile writer mixes
them; a paragraph break ends a run). A candidate starts and ends at group boundaries
and never inside a longer word or after a ``+``, so a date next to a card number is
not glued to it, and digits inside a valid IBAN are the IBAN's, not a card's.

Linear time: candidates come from patterns run by :func:`veil.text.linear.matcher` (RE2;
``tests/text/test_structured.py`` checks each is linear), and each candidate is
extended over at most 19 digits (cards), 9 (SSNs) or 34 characters (IBANs).
"""

from __future__ import annotations

import functools
import importlib.resources
import re
import unicodedata
from collections.abc import Callable
from typing import Any

from presidio_analyzer import AnalysisExplanation, EntityRecognizer, RecognizerResult

from . import cards
from .linear import matcher

#: what may stand between two groups: spaces, . - / _ and one line break (checked by
#: :func:`separates`: at most three punctuation characters and one line break)
SEPARATOR = r"[ \t\r\n._/\-]{1,8}"
_SEP = re.compile(SEPARATOR)
DIGIT_RUN = rf"[0-9]+(?:{SEPARATOR}[0-9]+)*"
IBAN_START = rf"[A-Za-z](?:{SEPARATOR})?[A-Za-z](?:{SEPARATOR})?[0-9](?:{SEPARATOR})?[0-9]"
SSN_WORDS = r"ssns?|s\.s\.n\.?|ss ?#|ss ?no\.?|ssa|social[ -]?sec(?:urity)?|soc\.? ?sec\.?|socsec"
#: words that make a Luhn-valid 12-19 digit run a card number whatever its IIN
CARD_WORDS = (
    r"cards?|credit|debit|visa|master ?card|amex|american express|maestro|jcb|discover"
    r"|diners|unionpay|cc ?(?:no|num|#)|pan"
)
#: line breaks and underscores (with the spaces around them) that may split a phone
PHONE_SPLIT = r"[ \t]*(?:[\r\n_][ \t]*)+"
#: a list or sentence mark with spaces after it, which may glue two numbers
PHONE_GLUE = r"[ \t]*[-/.,;:][ \t]+"
#: every pattern above, with its flags (the tests check RE2 runs each)
PATTERNS = (
    (DIGIT_RUN, 0), (IBAN_START, 0), (SSN_WORDS, re.IGNORECASE), (PHONE_SPLIT, 0), (PHONE_GLUE, 0),
    (CARD_WORDS, re.IGNORECASE),
)  # fmt: skip

#: characters before an SSN's first digit, and after its last, where its word may be
SSN_BEFORE, SSN_AFTER = 40, 24


def separates(sep: str) -> bool:
    """True if ``sep`` (a :data:`SEPARATOR` match) may stand inside one identifier: a
    paragraph break or a row of dashes ends it."""
    breaks = sep.count("\n") + sep.count("\r") - sep.count("\r\n")
    return breaks <= 1 and sum(c in "._/-" for c in sep) <= 3


def _alnum(c: str) -> bool:
    return c.isascii() and c.isalnum()


# ------------------------------------------------------------------- digit groups

Group = tuple[int, int]  # start, end


@functools.lru_cache(maxsize=16)
def digit_runs(text: str) -> tuple[tuple[Group, ...], ...]:
    """The runs of digit groups in ``text`` (cached: several recognizers read them)."""
    runs = []
    for m in matcher(DIGIT_RUN, 0).finditer(text):
        start, end = m.span()
        groups: list[Group] = []
        pos = start
        while pos < end:
            g = pos
            while pos < end and "0" <= text[pos] <= "9":
                pos += 1
            if groups and not separates(text[groups[-1][1] : g]):
                runs.append(tuple(groups))
                groups = []
            groups.append((g, pos))
            while pos < end and not "0" <= text[pos] <= "9":
                pos += 1
        runs.append(tuple(groups))
    return tuple(runs)


def grouped(
    text: str, low: int, high: int, accept: Callable[[str, int, int], bool]
) -> list[tuple[int, int]]:
    """Spans of ``low``-``high`` digits made of whole groups of one run, not inside a
    longer word, that ``accept(digits, start, end)``: the longest from each group, so
    they may overlap (a number glued to the one before it is still found whole)."""
    found = []
    for run in digit_runs(text):
        k, i = len(run), 0
        while i < k:
            start = run[i][0]
            if i == 0 and start > 0 and (_alnum(text[start - 1]) or text[start - 1] == "+"):
                i += 1
                continue
            best, digits = -1, ""
            for j in range(i, k):
                g_start, g_end = run[j]
                digits += text[g_start:g_end]
                if len(digits) > high:
                    break
                clean_end = j < k - 1 or g_end == len(text) or not _alnum(text[g_end])
                if len(digits) >= low and clean_end and accept(digits, start, g_end):
                    best = j
            if best >= 0:
                found.append((start, run[best][1]))
            i += 1
    return found


# ------------------------------------------------------------------- cards and IBANs


def card_spans(text: str) -> list[tuple[int, int]]:
    ibans = iban_spans(text)
    found: list[Callable[[int, int], bool] | None] = []  # the card words, looked up once

    def card(digits: str, start: int, end: int) -> bool:
        if cards.is_card(digits):
            return True
        if not cards.luhn(digits):
            return False
        if not found:  # only texts with a Luhn-valid run outside the table pay for this
            found.append(_near_words(text, CARD_WORDS, SSN_BEFORE, SSN_AFTER))
        near = found[0]
        return near is not None and near(start, end)

    spans = grouped(text, cards.MIN_DIGITS, cards.MAX_DIGITS, card)
    return [(s, e) for s, e in spans if not any(s < ie and is_ < e for is_, ie in ibans)]


def _near_words(
    text: str, words_pattern: str, before: int, after: int
) -> Callable[[int, int], bool] | None:
    """``near(start, end)``: whether one of the words (whole words, any case) is within
    ``before`` characters before ``start`` or ``after`` after ``end``, with no other
    digits between; None when the text has none of the words."""
    words = [
        m.span()
        for m in matcher(words_pattern, re.IGNORECASE).finditer(text)
        if not (m.start() > 0 and text[m.start() - 1].isascii() and text[m.start() - 1].isalpha())
        and not (m.end() < len(text) and text[m.end()].isascii() and text[m.end()].isalpha())
    ]
    if not words:
        return None

    def near(start: int, end: int) -> bool:
        for w_start, w_end in words:
            if start - before <= w_end <= start and not _has_digit(text, w_end, start):
                return True
            if end <= w_start <= end + after and not _has_digit(text, end, w_start):
                return True
        return False

    return near


@functools.cache
def iban_lengths() -> dict[str, int]:
    """Country code -> IBAN length, from python-stdnum's copy of the SWIFT IBAN registry."""
    data = importlib.resources.files("stdnum").joinpath("iban.dat").read_text("utf-8")
    out = {}
    for m in re.finditer(r'^([A-Z]{2}) .*?bban="([^"]*)"', data, re.MULTILINE):
        out[m.group(1)] = 4 + sum(int(n) for n in re.findall(r"(\d+)!", m.group(2)))
    return out


def _iban_at(text: str, start: int) -> int | None:
    """Where the IBAN starting at ``start`` ends, or None if none starts there."""
    from stdnum import iban

    chars: list[str] = []
    pos, n = start, len(text)
    length = 4
    while len(chars) < length:
        if len(chars) == 2:
            length = iban_lengths().get("".join(chars).upper(), 0)
            if not length:
                return None
        if pos < n and _alnum(text[pos]):
            chars.append(text[pos])
            pos += 1
            continue
        m = _SEP.match(text, pos)
        if m is None or m.end() >= n or not _alnum(text[m.end()]) or not separates(m.group()):
            return None
        pos = m.end()
    if pos < n and _alnum(text[pos]):
        return None
    number = "".join(chars)
    return pos if number[2:4].isdigit() and iban.is_valid(number, check_country=False) else None


@functools.lru_cache(maxsize=16)
def iban_spans(text: str) -> list[tuple[int, int]]:
    found: list[tuple[int, int]] = []
    for m in matcher(IBAN_START, 0).finditer(text):
        start = m.start()
        if (start > 0 and _alnum(text[start - 1])) or (found and start < found[-1][1]):
            continue
        end = _iban_at(text, start)
        if end is not None:
            found.append((start, end))
    return found


# ------------------------------------------------------------------- SSNs in context


def ssn_spans(text: str) -> list[tuple[int, int]]:
    if not digit_runs(text):
        return []
    near = _near_words(text, SSN_WORDS, SSN_BEFORE, SSN_AFTER)
    if near is None:
        return []
    return grouped(text, 9, 9, lambda digits, start, end: near(start, end))


def _has_digit(text: str, start: int, end: int) -> bool:
    return any("0" <= c <= "9" for c in text[start:end])


# ------------------------------------------------------------------- e-mail


_LOCAL_PUNCT = frozenset("!#$%&'*+/=?^_`{|}~.-")
_DOMAIN_PUNCT = frozenset(".-_")


def _local_char(c: str) -> bool:
    return c.isalnum() or c in _LOCAL_PUNCT or unicodedata.category(c).startswith("M")


def _domain_char(c: str) -> bool:
    return c.isalnum() or c in _DOMAIN_PUNCT or unicodedata.category(c).startswith("M")


def _back(text: str, at: int, ok: Callable[[str], bool]) -> int:
    """Where the run of characters ``ok`` ending before ``at`` starts (a single line
    break between two of them does not end it)."""
    i = at
    while i > 0:
        j = i - 1
        if ok(text[j]):
            i = j
            continue
        if text[j] != "\n":
            break
        k = j - 2 if j > 0 and text[j - 1] == "\r" else j - 1
        if k < 0 or not ok(text[k]):
            break
        i = k
    return i


def _forth(text: str, at: int, ok: Callable[[str], bool]) -> int:
    """Where the run of characters ``ok`` starting after ``at`` ends (as :func:`_back`)."""
    i, n = at + 1, len(text)
    while i < n:
        if ok(text[i]):
            i += 1
            continue
        if text[i] not in "\r\n":
            break
        k = i + 2 if text.startswith("\r\n", i) else i + 1
        if k >= n or not ok(text[k]):
            break
        i = k + 1
    return i


def email_spans(text: str) -> list[tuple[int, int]]:
    """E-mail addresses: each ``@`` with the local part before it and the domain after
    it (over single line breaks). Each character is read from at most the ``@`` on
    either side of it, so the work is linear in the text."""
    found = []
    at = text.find("@")
    while at >= 0:
        start, end = _back(text, at, _local_char), _forth(text, at, _domain_char)
        if start < at and end > at + 1:
            span = _email_in(text, start, end, at)
            if span is not None:
                found.append(span)
        at = text.find("@", at + 1)
    return found


def _email_in(text: str, start: int, end: int, at: int) -> tuple[int, int] | None:
    """The longest e-mail address in ``text[start:end]`` (``@`` at ``at``), cutting at
    its line breaks if the whole does not validate."""
    lefts = [start] + [i + 1 for i in range(start, at) if text[i] == "\n"]
    rights = [end] + [i for i in range(end - 1, at, -1) if text[i] in "\r\n"]
    for left in lefts:
        for right in rights:
            lo, hi = left, right
            while hi > at and text[hi - 1] in ".-\r\n":
                hi -= 1
            while lo < at and text[lo] in ".\r\n":
                lo += 1
            if _valid_email(text[lo:hi].replace("\r", "").replace("\n", "")):
                return lo, hi
    return None


def _valid_email(address: str) -> bool:
    local, _, domain = address.partition("@")
    if not local or len(local) > 64 or ".." in local or local.endswith("."):
        return False
    labels = domain.split(".")
    if len(labels) < 2 or any(
        not label or len(label) > 63 or label[0] == "-" or label[-1] == "-" or "_" in label
        for label in labels
    ):
        return False
    tld = labels[-1]
    if not tld.isascii():
        # An internationalized top-level domain: new ones are delegated every year and
        # the bundled suffix list lags, so any all-letter one counts (fail closed).
        return tld.isalpha() and len(tld) >= 2
    try:
        ascii_domain = domain.encode("idna").decode("ascii")
    except UnicodeError:
        return False
    from .engine import _offline_tld

    return bool(_offline_tld().extract_str(ascii_domain).fqdn)


# ------------------------------------------------------------------- phones split


def split_phone_spans(text: str, phones: Any) -> list[tuple[int, int, float]]:
    """Phone numbers phonenumbers does not see as written, found by ``phones``
    (Presidio's phone recognizer) on a copy of ``text`` of the same length:

    * split where phonenumbers does not look: a line break or underscores between
      digits, or an international number's slashes (phonenumbers refuses more than
      one), become spaces;
    * glued to the number before it ("... 56728 - 738/18/48", "9999. 030 ..."): a list
      or sentence mark between two digit runs becomes ``;``, which phonenumbers never
      reads inside a number.

    Every number found on the copy is a valid number of a declared region; the ones
    found as written too are found twice and merged."""
    changed: dict[int, str] = {}
    if "\n" in text or "\r" in text or "_" in text:
        for m in matcher(PHONE_SPLIT, 0).finditer(text):
            start, end = m.span()
            if (
                start > 0
                and end < len(text)
                and _phone_char(text[start - 1])
                and _phone_char(text[end])
            ):
                changed.update((i, " ") for i in range(start, end) if text[i] in "\r\n_")
    if "/" in text:  # international, or more slashes than a date has
        for run in digit_runs(text):
            slashes = [i for i in range(run[0][0], run[-1][1]) if text[i] == "/"]
            if len(slashes) >= 3 or (slashes and run[0][0] > 0 and text[run[0][0] - 1] == "+"):
                changed.update((i, " ") for i in slashes)
    for m in matcher(PHONE_GLUE, 0).finditer(text):
        start, end = m.span()
        glued = start > 0 and end < len(text) and text[start - 1].isdigit()
        if glued and (text[end].isdigit() or text[end] in "+("):
            changed.update((i, ";") for i in range(start, end) if text[i] not in " \t")
    if not changed:
        return []
    chars = list(text)
    for i, c in changed.items():
        chars[i] = c
    return [
        (r.start, r.end, float(r.score)) for r in phones.analyze("".join(chars), ["PHONE_NUMBER"])
    ]


def _phone_char(c: str) -> bool:
    return "0" <= c <= "9" or c in "()+-./"


# ------------------------------------------------------------------- recognizers

_NAME_KEY = RecognizerResult.RECOGNIZER_NAME_KEY
_ID_KEY = RecognizerResult.RECOGNIZER_IDENTIFIER_KEY


class StructuredRecognizer(EntityRecognizer):
    """One entity type, found by a function of the text; every find scores 1.0 (each is
    validated by the identifier's own rules, or by the context that makes it one)."""

    def __init__(
        self, entity: str, name: str, find: Callable[[str], list[tuple[int, int]]]
    ) -> None:
        self._find = find
        self.label = name
        super().__init__(supported_entities=[entity], name=name, supported_language="en")

    def load(self) -> None:
        pass

    def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[Any]:
        entity = self.supported_entities[0]
        return [self._result(entity, s, e, 1.0) for s, e in self._find(text)]

    def _result(self, entity: str, start: int, end: int, score: float) -> Any:
        return RecognizerResult(
            entity_type=entity,
            start=start,
            end=end,
            score=score,
            analysis_explanation=AnalysisExplanation(
                recognizer=self.label, original_score=score, validation_result=True
            ),
            recognition_metadata={_NAME_KEY: self.label, _ID_KEY: self.id},
        )


class SplitPhoneRecognizer(StructuredRecognizer):
    """Phone numbers split or glued (see :func:`split_phone_spans`), with the phone
    recognizer's own scores."""

    def __init__(self, phones: Any) -> None:
        self._phones = phones
        super().__init__("PHONE_NUMBER", "veil:phone-split", lambda text: [])

    def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[Any]:
        return [
            self._result("PHONE_NUMBER", s, e, score)
            for s, e, score in split_phone_spans(text, self._phones)
        ]


def recognizers(phone_regions: tuple[str, ...]) -> list[Any]:
    """veil's structured recognizers, for an analyzer whose phone regions are these."""
    from .phones import VeilPhoneRecognizer

    return [
        StructuredRecognizer("CREDIT_CARD", "veil:card", card_spans),
        StructuredRecognizer("IBAN_CODE", "veil:iban", iban_spans),
        StructuredRecognizer("US_SSN", "veil:ssn-context", ssn_spans),
        StructuredRecognizer("EMAIL_ADDRESS", "veil:email", email_spans),
        SplitPhoneRecognizer(VeilPhoneRecognizer(supported_regions=phone_regions)),
    ]
