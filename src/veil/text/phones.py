"""Presidio's phone recognizer, minus the parses that cannot succeed.

Presidio runs phonenumbers' matcher once per region over every text, and the matcher
parses every number-like run it finds (years, day numbers, house numbers, SSNs) as a
phone number of that region, with the inner groups of each run. On clinical notes that
was about 40% of the default engine's CPU, most of it spent failing on runs of two to
four digits.

A run can only match if its national significant number (NSN) is valid in the region
the number resolves to, and validity requires the NSN's length to be one of that
region's possible lengths. Without a ``+`` and without the region's international
dialling prefix, a run is parsed as a national number of the matcher's region: its
calling code is the region's, and its NSN has at most as many digits as the run (the
national prefix is stripped, never added, when the region has no prefix transform
rule). So a run of plain ASCII digits and punctuation with fewer digits than the
shortest possible length of any region sharing that calling code cannot match, nor can
any group inside it. Those runs are skipped; everything else goes to phonenumbers as
before. ``tests/text/test_phones.py`` checks that the matches equal Presidio's.

One difference, on the safe side: phonenumbers gives up on a text after 65,535 failed
tries; skipped runs count once, not once per inner group, so on a text with that many
number-like runs veil may find more phone numbers than Presidio, never fewer.
"""

from __future__ import annotations

import functools
import re
from typing import Any

import phonenumbers
from phonenumbers import PhoneMetadata
from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE, NumberParseException
from presidio_analyzer.predefined_recognizers import PhoneRecognizer

_NON_DIGIT = re.compile(r"[^0-9]")
#: ASCII digits, whitespace and punctuation but the plus sign (0x2B)
_PLAIN = re.compile(r"[0-9\s!-*,-/:-@\[-`{-~]*", re.ASCII)


@functools.cache
def national_floor(region: str) -> tuple[int, str] | None:
    """(fewest digits a national number of ``region`` can have to be valid, the region's
    international prefix), or None where the reasoning above does not hold: a prefix
    that is a pattern rather than digits, a prefix transform rule, a region sharing the
    calling code without possible lengths."""
    meta = PhoneMetadata.metadata_for_region(region)
    if meta is None or meta.national_prefix_transform_rule:
        return None
    idd = meta.international_prefix or ""
    if not idd.isdigit() or not idd.isascii():
        return None
    lengths = []
    for other in COUNTRY_CODE_TO_REGION_CODE.get(meta.country_code or 0, ()):
        other_meta = PhoneMetadata.metadata_for_region(other)
        desc = other_meta.general_desc if other_meta is not None else None
        if desc is None or not desc.possible_length:
            return None
        lengths.append(min(desc.possible_length))
    return (min(lengths), idd) if lengths else None


def cannot_match(candidate: str, floor: tuple[int, str]) -> bool:
    """True if ``candidate`` (and every group in it) is too short to be a valid number."""
    if _PLAIN.fullmatch(candidate) is None:  # letters, a plus sign, non-ASCII
        return False
    digits = _NON_DIGIT.sub("", candidate)
    fewest, idd = floor
    return len(digits) < fewest and idd not in digits


# Keep every compiled metadata pattern: the re module's bounded cache was a tenth of the
# matcher's time on four regions, part of it recompiling evicted patterns.
phonenumbers.enable_pattern_cache()


class _Matcher(phonenumbers.PhoneNumberMatcher):
    def __init__(self, text: str, region: str, leniency: int) -> None:
        super().__init__(text, region, leniency=leniency)
        self._floor = national_floor(region)

    def _extract_match(self, candidate: str, offset: int) -> Any:
        if self._floor is not None and cannot_match(candidate, self._floor):
            return None
        return super()._extract_match(candidate, offset)

    def _parse_and_verify(self, candidate: str, offset: int) -> Any:
        # The groups inside a long run (the blocks of a card number, the parts of a date)
        if self._floor is not None and cannot_match(candidate, self._floor):
            return None
        return super()._parse_and_verify(candidate, offset)


class VeilPhoneRecognizer(PhoneRecognizer):
    """Presidio's ``PhoneRecognizer`` (same name, scores, regions and leniency) on the
    matcher above."""

    def __init__(self, supported_regions: tuple[str, ...], **kwargs: Any) -> None:
        super().__init__(supported_regions=supported_regions, name="PhoneRecognizer", **kwargs)

    def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> list[Any]:
        # The loop of PhoneRecognizer.analyze (presidio-analyzer 2.2), on _Matcher.
        results = []
        for region in self.supported_regions:
            for match in _Matcher(text, region, leniency=self.leniency or 0):
                found = region
                try:
                    parsed = phonenumbers.parse(text[match.start : match.end])
                    found = phonenumbers.region_code_for_number(parsed)
                except NumberParseException:
                    pass
                results.append(self._get_recognizer_result(match, text, found, nlp_artifacts))  # type: ignore[no-untyped-call]
        return self.remove_duplicates(results)
