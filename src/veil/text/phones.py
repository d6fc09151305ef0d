"""Presidio's phone recognizer, minus the parses that cannot succeed.

Presidio runs phonenumbers' matcher once per region over every text, and the matcher
parses every number-like run it finds (years, day numbers, SSNs, card numbers, the
blocks of an IBAN) as a phone number of that region, and then each group inside a run.
On clinical notes that was half of the default engine's CPU, nearly all of it failing.

A parse can only match if the national significant number (NSN) it yields is valid,
and validity requires the NSN's length to be one of the possible lengths of the region
the number resolves to. Without a plus sign, the region's international prefix,
letters or extension marks, a run is parsed as a national number of the matcher's
region, and the NSN is the run's digits less, at most, the region's calling code and
two national prefixes (when neither the region nor its calling code's main region
rewrites prefixes, and the prefixes are digit strings). A valid NSN has one of the
possible lengths of a region sharing the calling code and matches that region's
general pattern. :class:`NationalPlan` holds what that takes for a region; a run none
of whose possible NSNs could be valid is not parsed, and a run too short for any NSN
is not searched for inner groups either. Nor is a run parsed that the matcher would
refuse for want of a national prefix its format requires (:meth:`NationalPlan.prefix_missing`:
on clinical notes, most failed parses were US numbers read in the other regions' passes).
Everything else goes to phonenumbers as before. ``tests/text/test_phones.py`` checks
the matches equal Presidio's.

One difference, on the safe side: phonenumbers gives up on a text after 65,535 failed
tries; a run too short to hold a number counts once, not once per group inside it, so
on a text with that many number-like runs veil may find more phone numbers than
Presidio, never fewer.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

import phonenumbers
from phonenumbers import Leniency, PhoneMetadata
from phonenumbers.phonenumbermatcher import (  # type: ignore[attr-defined]  # not in the stubs
    _INNER_MATCHES,  # the matcher's own (see _Matcher._extract_match)
    _PATTERN,  # the matcher's own scan (see _find)
    _SECOND_NUMBER_START_PATTERN,
    _SLASH_SEPARATED_DATES,
    _TIME_STAMPS,
    _TIME_STAMPS_SUFFIX,
    _UNWANTED_END_CHAR_PATTERN,
)
from phonenumbers.phonenumberutil import (
    COUNTRY_CODE_TO_REGION_CODE,
    NumberParseException,
    _choose_formatting_pattern_for_number,
    _formatting_rule_has_first_group_only,
    region_code_for_country_code,
)
from presidio_analyzer.predefined_recognizers import PhoneRecognizer

from .patterns import deduplicated

_NON_DIGIT = re.compile(r"[^0-9]")
#: ASCII digits, whitespace and punctuation but the plus sign (0x2B): no letters that
#: could spell digits, no international number
_PLAIN = re.compile(r"[0-9\s!-*,-/:-@\[-`{-~]*", re.ASCII)
#: ... and no extension marks either (letters, # ~ , ;): every digit is the number's
_BARE = re.compile(r"[0-9\s\-./()\[\]]*", re.ASCII)
_LITERALS = re.compile(r"[0-9]+(?:\|[0-9]+)*")


# The same runs come up in every region's pass (and the same groups in each plan's
# checks): their digits are worked out once.
@functools.lru_cache(maxsize=4096)
def _plain_digits(candidate: str) -> str | None:
    """The digits of ``candidate`` if it is plain (see ``_PLAIN``), else None."""
    return None if _PLAIN.fullmatch(candidate) is None else _NON_DIGIT.sub("", candidate)


@functools.lru_cache(maxsize=4096)
def _bare_digits(candidate: str) -> str | None:
    """The digits of ``candidate`` if it is bare (see ``_BARE``), else None."""
    return None if _BARE.fullmatch(candidate) is None else _NON_DIGIT.sub("", candidate)


@dataclass(frozen=True)
class NationalPlan:
    """How phonenumbers reads a run without a plus sign as a number of one region."""

    calling_code: str
    #: the region's international prefix (a run starting with it is dialled abroad)
    idd: str
    #: national prefixes the parse may strip (the region's and its calling code's main
    #: region's; once, or twice after the calling code)
    prefixes: tuple[str, ...]
    #: per region sharing the calling code: the possible NSN lengths and the pattern
    #: every valid NSN of that region matches (its general description)
    regions: tuple[tuple[frozenset[int], re.Pattern[str]], ...]
    #: the metadata of the calling code's main region, whose formatting rules say
    #: whether a number written without a national prefix needs one
    main: PhoneMetadata

    @functools.cached_property
    def fewest(self) -> int:
        """Digits the shortest valid NSN of the calling code has."""
        return min(min(lengths) for lengths, _ in self.regions)

    @functools.cached_property
    def lengths(self) -> frozenset[int]:
        """Every possible NSN length of the regions sharing the calling code."""
        return frozenset().union(*(lengths for lengths, _ in self.regions))

    def too_short(self, candidate: str) -> bool:
        """True if no group inside ``candidate`` can hold a valid number."""
        digits = _plain_digits(candidate)
        return digits is not None and len(digits) < self.fewest and self.idd not in digits

    def cannot_parse(self, candidate: str) -> bool:
        """True if ``candidate`` itself cannot parse as a valid number."""
        digits = _bare_digits(candidate)
        if digits is None:
            return False
        if digits.startswith(self.idd):
            return False
        prefixes = self.prefixes
        states = [digits]
        if digits.startswith(self.calling_code):  # read as the region's own code, which
            rest = digits[len(self.calling_code) :]  # strips a national prefix as well
            states.append(rest)
            states.extend(rest[len(p) :] for p in prefixes if rest.startswith(p))
        for state in states[:]:  # parse's own strip
            states.extend(state[len(p) :] for p in prefixes if state.startswith(p))
        # (checking each state against the regions' number types too, as
        # is_valid_number does, skipped a quarter more parses but cost more than they did)
        anyhow = self.lengths
        for state in states:
            size = len(state)
            if size in anyhow:
                for lengths, pattern in self.regions:
                    if size in lengths and pattern.fullmatch(state):
                        return False
        return True

    def prefix_missing(self, candidate: str) -> bool:
        """True if ``candidate`` is a national number without the national prefix its
        format asks for, so that the matcher's check that the prefix is present when
        required (at VALID leniency and stricter) refuses it whatever it parses to.

        That check reads the number's country code source, NSN and raw digits. For a
        run of digits and separators starting with neither the international prefix
        nor the calling code, parse takes the number as national (source
        FROM_DEFAULT_COUNTRY); starting with none of the national prefixes, nothing is
        stripped, so the NSN is the run's digits, and the check finds no prefix at
        their start. It then fails where the calling code's main region formats that
        NSN with a rule that needs the prefix (not optional, not the first group
        alone): ``_is_national_prefix_present_if_required`` in phonenumbers' matcher.
        Numbers of other countries written as at home are most of what it refuses
        (a US number in the German pass).
        """
        digits = _bare_digits(candidate)
        if digits is None:
            return False
        if (
            digits.startswith(self.idd)
            or digits.startswith(self.calling_code)
            or any(digits.startswith(p) for p in self.prefixes)
        ):
            return False
        rule = _choose_formatting_pattern_for_number(self.main.number_format, digits)
        return bool(
            rule is not None
            and rule.national_prefix_formatting_rule
            and not rule.national_prefix_optional_when_formatting
            and not _formatting_rule_has_first_group_only(rule.national_prefix_formatting_rule)
        )


@functools.cache
def national_plan(region: str) -> NationalPlan | None:
    """The plan for ``region``, or None where the reasoning above does not hold: an
    international or national prefix that is a pattern rather than digits, a prefix
    transform rule, a region sharing the calling code without possible lengths."""
    meta = PhoneMetadata.metadata_for_region(region.upper())
    if meta is None or meta.country_code is None:
        return None
    idd = meta.international_prefix or ""
    if not (idd.isascii() and idd.isdigit()):
        return None
    main = PhoneMetadata.metadata_for_region(region_code_for_country_code(meta.country_code))
    prefixes: set[str] = set()
    for m in (meta, main):
        if m is None or m.national_prefix_transform_rule:
            return None
        pattern = m.national_prefix_for_parsing or ""
        if pattern and not _LITERALS.fullmatch(pattern):
            return None
        prefixes.update(p for p in pattern.split("|") if p)
    regions = []
    for other in COUNTRY_CODE_TO_REGION_CODE.get(meta.country_code, ()):
        other_meta = PhoneMetadata.metadata_for_region(other)
        desc = other_meta.general_desc if other_meta is not None else None
        if desc is None or not desc.possible_length or not desc.national_number_pattern:
            return None
        regions.append((frozenset(desc.possible_length), re.compile(desc.national_number_pattern)))
    if not regions or main is None:
        return None
    return NationalPlan(str(meta.country_code), idd, tuple(sorted(prefixes)), tuple(regions), main)


# Keep every compiled metadata pattern: the re module's bounded cache was a tenth of the
# matcher's time on four regions, part of it recompiling evicted patterns.
phonenumbers.enable_pattern_cache()


#: the plus signs phonenumbers reads as "an international number follows"
_PLUS = frozenset("+\uff0b")
_SEPARATORS = frozenset(" -.()/")


def calling_code_after_plus(candidate: str) -> bool:
    """True if ``candidate`` is a plus sign, then (after separators) ASCII digits that
    start with a calling code phonenumbers knows. Only then does its parse ignore the
    default region: after a plus with no known calling code (``+011 49 ...``),
    phonenumbers parses again without the plus, reading the default region's
    international prefix (US ``011``), so the verdict depends on the region."""
    if candidate[:1] not in _PLUS:
        return False
    digits = ""
    for ch in candidate[1:]:
        if ch in _SEPARATORS and not digits:
            continue
        if not ("0" <= ch <= "9"):
            break
        digits += ch
        if len(digits) == 3:
            break
    if not digits or digits[0] == "0":
        return False
    return any(int(digits[:i]) in COUNTRY_CODE_TO_REGION_CODE for i in range(1, len(digits) + 1))


def candidate_at(text: str, index: int) -> tuple[int, str] | None:
    """The next run phonenumbers' matcher considers at or after ``index``: where its
    pattern matches, cut before a second number's start (what ``_find`` does first).
    It depends on the text alone, not on the region or the leniency."""
    found = _PATTERN.search(text, index)
    if found is None:
        return None
    candidate = found.group()
    second = _SECOND_NUMBER_START_PATTERN.search(candidate)
    return found.start(), candidate if second is None else candidate[: second.start()]


_UNSCANNED: Any = object()

#: One step of phonenumbers' ``_extract_inner_match``: the group it parses, its offset
#: in the text, and whether the loop checks its tries left before it.
Step = tuple[str, int, bool]


def _trim(group: str) -> str:
    """``group`` cut where phonenumbers' ``_trim_after_first_match`` cuts it: before the
    first unwanted end character."""
    found = _UNWANTED_END_CHAR_PATTERN.search(group)
    return group if found is None else group[: found.start()]


def inner_steps(candidate: str, offset: int) -> list[Step]:
    """The groups phonenumbers' ``_extract_inner_match`` (as of 9.0) parses within
    ``candidate``, in its order, until one matches or its tries run out. Each inner
    pattern's search runs again from one past the last match's start; the group before
    its first match is tried first, and the loop checks its tries left at the top of
    each round (so not between that group and the first match's)."""
    steps: list[Step] = []
    for inner in _INNER_MATCHES:
        found = inner.search(candidate)
        first = True
        while found:
            if first:
                head = _trim(candidate[: found.start()])
                steps.append((head, offset, True))
                first, check = False, False
            else:
                check = True
            group = _trim(found.group(1))
            steps.append((group, offset + found.start(1), check))
            found = inner.search(candidate, found.start() + 1)
    return steps


class _Matcher(phonenumbers.PhoneNumberMatcher):
    def __init__(
        self,
        text: str,
        region: str,
        leniency: int,
        international: dict[tuple[int, str], Any] | None = None,
        scanned: dict[int, tuple[int, str] | None] | None = None,
        runs: dict[tuple[int, str], list[Any]] | None = None,
    ) -> None:
        super().__init__(text, region, leniency=leniency)
        #: the runs found at each search index, shared by the passes of one text
        self._scanned = scanned if scanned is not None else {}
        #: per run (offset, candidate): [skipped as a date or time?, its inner steps],
        #: shared by the passes of one text (neither depends on the region)
        self._runs = runs if runs is not None else {}
        # The plans rest on validity; the POSSIBLE leniency asks for a length only.
        self._plan = national_plan(region) if leniency >= Leniency.VALID else None
        #: verdicts on runs that start with a plus sign and a known calling code, shared
        #: by the matchers of one text: parse then ignores the region, and at VALID
        #: leniency nothing else in the verdict depends on it either (the national-prefix
        #: check passes numbers not read with the default region; the checks of the
        #: characters around the run depend on the text and offset)
        self._international = international if leniency == Leniency.VALID else None

    def _find(self, index: int) -> Any:
        # phonenumbers' PhoneNumberMatcher._find (as of 9.0), the scan for the next run taken
        # from the passes of the text before this one: its pattern is large, and the
        # scan was a quarter of the recognizer's time on four regions
        scanned = self._scanned
        while self._max_tries > 0:
            found = scanned.get(index, _UNSCANNED)
            if found is _UNSCANNED:
                found = scanned[index] = candidate_at(self.text, index)
            if found is None:
                return None
            start, candidate = found
            if len(candidate) >= self._min_candidate_length:
                match = self._extract_match(candidate, start)
                if match is not None:
                    return match
                self._max_tries -= 1
            index = start + len(candidate)
        return None

    def _extract_match(self, candidate: str, offset: int) -> Any:
        # phonenumbers' PhoneNumberMatcher._extract_match and _extract_inner_match (as of
        # 9.0), with what depends on the run alone worked out once per text
        if self._plan is not None and self._plan.too_short(candidate):
            return None
        key = (offset, candidate)
        run = self._runs.get(key)
        if run is None:
            skip = _SLASH_SEPARATED_DATES.search(candidate) is not None or (
                _TIME_STAMPS.search(candidate) is not None
                and _TIME_STAMPS_SUFFIX.match(self.text[offset + len(candidate) :]) is not None
            )
            run = self._runs[key] = [skip, None]
        if run[0]:  # a date or a time stamp
            return None
        match = self._parse_and_verify(candidate, offset)
        if match is not None:
            return match
        if run[1] is None:
            run[1] = inner_steps(candidate, offset)
        for group, at, check in run[1]:
            if check and self._max_tries <= 0:
                return None
            match = self._parse_and_verify(group, at)
            if match is not None:
                return match
            self._max_tries -= 1
        return None

    def _parse_and_verify(self, candidate: str, offset: int) -> Any:
        plan = self._plan
        if plan is not None and (plan.cannot_parse(candidate) or plan.prefix_missing(candidate)):
            return None
        shared = self._international
        if shared is None or not calling_code_after_plus(candidate):
            return super()._parse_and_verify(candidate, offset)
        key = (offset, candidate)
        if key not in shared:
            shared[key] = super()._parse_and_verify(candidate, offset)
        return shared[key]


class VeilPhoneRecognizer(PhoneRecognizer):
    """Presidio's ``PhoneRecognizer`` (same name, scores, regions and leniency) on the
    matcher above."""

    def __init__(self, supported_regions: tuple[str, ...], **kwargs: Any) -> None:
        super().__init__(supported_regions=supported_regions, name="PhoneRecognizer", **kwargs)

    def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[Any]:
        # The loop of PhoneRecognizer.analyze (presidio-analyzer 2.2), on _Matcher.
        results = []
        international: dict[tuple[int, str], Any] = {}
        scanned: dict[int, tuple[int, str] | None] = {}
        runs: dict[tuple[int, str], list[Any]] = {}
        #: per matched string, parsed once without a default region: (parsed?, its region)
        regions: dict[str, tuple[bool, str | None]] = {}
        for region in self.supported_regions:
            matcher = _Matcher(text, region, self.leniency or 0, international, scanned, runs)
            for match in matcher:
                raw = text[match.start : match.end]
                if raw not in regions:
                    try:
                        number = phonenumbers.parse(raw)
                        regions[raw] = (True, phonenumbers.region_code_for_number(number))
                    except NumberParseException:
                        regions[raw] = (False, None)
                parsed, own = regions[raw]
                found = own if parsed else region
                results.append(self._get_recognizer_result(match, text, found, nlp_artifacts))  # type: ignore[no-untyped-call]
        return deduplicated(results)
