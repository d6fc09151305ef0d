"""veil's phone recognizer skips parses that cannot succeed; it must find exactly what
Presidio's PhoneRecognizer finds."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers.phonenumberutil import SUPPORTED_REGIONS
from presidio_analyzer.predefined_recognizers import PhoneRecognizer

from veil.text.phones import VeilPhoneRecognizer, cannot_match, national_floor

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from notes_synth import notes

#: the bench's regions, regions sharing +1 and +44, regions with prefix transform rules,
#: a digit (RU: 810) and a pattern (AU) international prefix, a short-number plan (NU)
REGIONS = ("US", "GB", "DE", "FR", "CA", "IN", "BR", "AR", "JP", "SM", "JE", "RU", "NU", "IT", "AU")
ALL_REGIONS = sorted(SUPPORTED_REGIONS)


def spans(recognizer: Any, text: str) -> list[tuple[int, int, str, float]]:
    found = recognizer.analyze(text, ["PHONE_NUMBER"], None)
    return sorted((r.start, r.end, r.entity_type, r.score) for r in found)


def test_same_phones_as_presidio_on_synthetic_notes() -> None:
    veil, stock = VeilPhoneRecognizer(REGIONS), PhoneRecognizer(supported_regions=REGIONS)
    texts = [n.text for n in notes(150, seed=31)]
    found = [spans(veil, t) for t in texts]
    assert found == [spans(stock, t) for t in texts]
    assert sum(map(len, found)) > 50  # the notes do hold phone numbers


def test_floors_of_the_bench_regions() -> None:
    """The floor is the shortest valid national number of any region sharing the
    calling code (+1 includes Canada's 7-digit local numbers)."""
    assert national_floor("US") == (7, "011")
    assert national_floor("FR") == (9, "00")
    assert national_floor("DE") == (4, "00")
    assert national_floor("RU") == (10, "810")
    assert national_floor("AU") is None  # international prefix is a pattern
    assert national_floor("SM") is None  # prefix transform rule adds digits
    assert national_floor("XX") is None


def test_what_is_skipped() -> None:
    floor = (7, "00")
    assert cannot_match("2025", floor) and cannot_match("(20) 31-12", floor)
    assert not cannot_match("1234567", floor)  # long enough
    assert not cannot_match("+1 23", floor)  # international: any calling code
    assert not cannot_match("1 0049 2", floor)  # an inner group may dial out
    assert not cannot_match("1-800-FLOW", floor)  # letters can be digits
    assert not cannot_match("\uff12\uff10\uff12\uff15", floor)  # fullwidth: left to phonenumbers


number_like = st.text(alphabet="0123456789 -.()/+x", min_size=1, max_size=16)
texts = st.lists(
    st.one_of(
        number_like,
        st.sampled_from(["tel ", "call ", "ext. ", "on ", "a", ", ", "\n", "% ", "$"]),
        st.from_regex(r"\+?(00|011)?[1-9]\d{0,3}[ -]?\d{2,4}[ -]?\d{2,5}", fullmatch=True),
    ),
    max_size=8,
).map("".join)


@settings(max_examples=300, deadline=None)
@given(text=texts, regions=st.lists(st.sampled_from(REGIONS), min_size=1, max_size=3))
def test_same_phones_as_presidio_on_number_soup(text: str, regions: list[str]) -> None:
    veil = VeilPhoneRecognizer(tuple(regions))
    stock = PhoneRecognizer(supported_regions=tuple(regions))
    assert spans(veil, text) == spans(stock, text)


@settings(max_examples=400, deadline=None)
@given(
    candidate=number_like | st.from_regex(r"[1-9][0-9 .()-]{3,12}", fullmatch=True),
    region=st.sampled_from(ALL_REGIONS) | st.sampled_from(REGIONS),
)
def test_a_skipped_run_never_matches_in_any_region(candidate: str, region: str) -> None:
    """The claim behind the skip, over every region phonenumbers knows: a run it rules
    out is one phonenumbers finds nothing in, wherever the run stands in a text."""
    floor = national_floor(region)
    if floor is None or not cannot_match(candidate, floor):
        return
    for text in (candidate, f"see {candidate} today", f"({candidate})"):
        assert list(phonenumbers.PhoneNumberMatcher(text, region, leniency=1)) == []


@pytest.mark.parametrize("region", ["US", "GB", "DE", "FR"])
def test_every_short_run_is_ruled_out_correctly(region: str) -> None:
    """Exhaustive where it is cheap: every run of up to four digits."""
    floor = national_floor(region)
    assert floor is not None
    for n in range(1, 10_000):
        for run in {str(n), f"{n:04d}"}:
            if cannot_match(run, floor):
                assert list(phonenumbers.PhoneNumberMatcher(run, region, leniency=1)) == []
