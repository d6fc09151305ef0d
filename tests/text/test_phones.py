"""veil's phone recognizer skips parses that cannot succeed; it must find exactly what
Presidio's PhoneRecognizer finds."""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Any

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from phonenumbers import Leniency, PhoneMetadata
from phonenumbers.phonenumbermatcher import _is_national_prefix_present_if_required
from phonenumbers.phonenumberutil import SUPPORTED_REGIONS
from presidio_analyzer.predefined_recognizers import PhoneRecognizer

from veil.text.phones import VeilPhoneRecognizer, national_plan

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


def test_the_possible_leniency_parses_everything() -> None:
    """Plans rest on validity; at leniency 0 (a possible length is enough) a 7-digit
    run is a US number, and it must still be found."""
    text = "call 555-1234 now"
    veil = VeilPhoneRecognizer(("US",), leniency=0)
    stock = PhoneRecognizer(supported_regions=("US",), leniency=0)
    assert spans(veil, text) == spans(stock, text) != []


def test_plans_of_the_bench_regions() -> None:
    """Lengths are those of every region sharing the calling code (+1 includes
    Canada's 7-digit local numbers)."""
    us, gb = national_plan("US"), national_plan("GB")
    assert us is not None and us.calling_code == "1" and us.idd == "011"
    assert us.prefixes == ("1",) and us.fewest == 7
    assert gb is not None and gb.prefixes == ("0", "180020") and gb.fewest == 7
    assert national_plan("AU") is None  # international prefix is a pattern
    assert national_plan("SM") is None  # prefix transform rule adds digits
    assert national_plan("XX") is None


def test_what_is_skipped() -> None:
    us, fr = national_plan("US"), national_plan("FR")
    assert us is not None and fr is not None
    assert us.too_short("2025") and us.too_short("(20) 31-12")
    assert not us.too_short("123-4567")  # long enough
    assert not us.too_short("+1 23")  # international: any calling code
    assert not fr.too_short("1 0049 2")  # an inner group may dial out
    assert not us.too_short("1-800-FLOW")  # letters can be digits
    assert not us.too_short("\uff12\uff10\uff12\uff15")  # fullwidth: left to phonenumbers
    assert us.cannot_parse("149-72-8203")  # 9 digits, or 8 without the leading 1
    assert us.cannot_parse("2024-08-09") and us.cannot_parse("4111 1111 1111 1111")
    assert not us.cannot_parse("1 1 212 555 1234")  # code and prefix stripped: 10
    assert not us.cannot_parse("212-555-1234")
    assert not us.cannot_parse("212-555-1234 #12")  # an extension: left to phonenumbers
    assert not us.cannot_parse("011 44 20 7946 0958")  # dialled abroad
    assert fr.cannot_parse("06 12 34 5") and not fr.cannot_parse("06 12 34 56 78")


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
    assert spans(veil, text) == spans(stock, text), repr((text, regions))


@settings(max_examples=500, deadline=None)
@given(
    candidate=number_like | st.from_regex(r"[0-9][0-9 .()-]{3,18}", fullmatch=True),
    region=st.sampled_from(ALL_REGIONS) | st.sampled_from(REGIONS),
)
def test_a_skipped_run_never_matches_in_any_region(candidate: str, region: str) -> None:
    """The claim behind each skip, over every region phonenumbers knows: what a plan
    rules out is what phonenumbers finds nothing in, wherever the run stands in a text."""
    plan = national_plan(region)
    if plan is None:
        return
    if plan.too_short(candidate):
        for text in (candidate, f"see {candidate} today", f"({candidate})"):
            assert list(phonenumbers.PhoneNumberMatcher(text, region, leniency=1)) == []
    if plan.cannot_parse(candidate):
        with contextlib.suppress(phonenumbers.NumberParseException):
            number = phonenumbers.parse(candidate, region)
            assert not phonenumbers.is_valid_number(number)


#: national numbers as written at home in several countries (most of what one region's
#: pass refuses for a missing national prefix), and SSN- and date-shaped runs
national = st.one_of(
    st.from_regex(r"\(?[1-9][0-9]{2}\)?[ .-]?[0-9]{3}[ .-]?[0-9]{4}", fullmatch=True),
    st.from_regex(r"0?[1-9][0-9]{1,4}[ /-]?[0-9]{3,8}", fullmatch=True),
    st.from_regex(r"[1-9][0-9]{2}-[0-9]{2}-[0-9]{4}", fullmatch=True),
    st.from_regex(r"[0-9]{1,2}[ .][0-9]{2}[ .][0-9]{2}[ .][0-9]{2}[ .]?[0-9]{0,2}", fullmatch=True),
)


#: regions whose main region formats some numbers with a required national prefix
PREFIXED = sorted(
    r
    for r in ALL_REGIONS
    if any(
        f.national_prefix_formatting_rule and not f.national_prefix_optional_when_formatting
        for f in PhoneMetadata.metadata_for_region(
            phonenumbers.region_code_for_country_code(phonenumbers.country_code_for_region(r))
        ).number_format
    )
)


@settings(max_examples=800, deadline=None)
@given(
    candidate=national | number_like,
    region=st.sampled_from(PREFIXED) | st.sampled_from(ALL_REGIONS),
)
def test_a_run_said_to_lack_its_prefix_fails_the_matchers_check(
    candidate: str, region: str
) -> None:
    """The claim behind the second skip, over every region phonenumbers knows: what
    prefix_missing rules out, the matcher's own check (a national prefix present where
    the number's format requires one) refuses whatever the run parses to, and the
    matcher's verdict on the run is None."""
    plan = national_plan(region)
    if plan is None or not plan.prefix_missing(candidate):
        return
    with contextlib.suppress(phonenumbers.NumberParseException):
        number = phonenumbers.parse(candidate, region, keep_raw_input=True)
        assert not _is_national_prefix_present_if_required(number)
    for leniency in (Leniency.VALID, Leniency.STRICT_GROUPING, Leniency.EXACT_GROUPING):
        matcher = phonenumbers.PhoneNumberMatcher(candidate, region, leniency=leniency)
        assert matcher._parse_and_verify(candidate, 0) is None


def test_what_lacks_its_prefix() -> None:
    de, gb, us = national_plan("DE"), national_plan("GB"), national_plan("US")
    assert de is not None and gb is not None and us is not None
    assert de.prefix_missing("(617) 225-0827")  # a US number in the German pass
    assert not de.prefix_missing("030 901820")  # the prefix is there
    assert not de.prefix_missing("49 30 901820")  # the calling code: maybe international
    assert not de.prefix_missing("+1 617 225 0827")  # not a national number
    assert not de.prefix_missing("(617) 225-0827 ext 2")  # an extension: left to phonenumbers
    assert not us.prefix_missing("(617) 225-0827")  # US numbers need no prefix
    assert gb.prefix_missing("20 7946 0958")  # London without its 0


@pytest.mark.parametrize("region", ["US", "GB", "DE", "FR"])
def test_every_short_run_is_ruled_out_correctly(region: str) -> None:
    """Exhaustive where it is cheap: every run of up to four digits, whole and as the
    only number in a text."""
    plan = national_plan(region)
    assert plan is not None
    for n in range(1, 10_000):
        for run in {str(n), f"{n:04d}"}:
            if plan.too_short(run):
                assert list(phonenumbers.PhoneNumberMatcher(run, region, leniency=1)) == []
            if plan.cannot_parse(run):
                with contextlib.suppress(phonenumbers.NumberParseException):
                    assert not phonenumbers.is_valid_number(phonenumbers.parse(run, region))


@pytest.mark.parametrize(
    "text",
    [
        "call +44 20 7946 0958 or +1 (415) 555-2671 today",
        "x+44 20 7946 0958",  # a letter right before the run
        "+33 1 42 68 53 00, +49 30 901820; (+44) 20 7946 0958",
        "+1 415 555 2671 ext. 12 and 020 7946 0958 and +\uff11 415 555 2671",
        "numbers +44 20 7946 0958 +44 20 7946 0958",  # the same run twice
        # no calling code after the plus: parsed again without it, the US reads its
        # international prefix 011 (found by the number soup below)
        "+01149\u0ce90000",
        "+011 49 30 901820 and +0044 20 7946 0958 and +(44) 20 7946 0958",
    ],
)
def test_international_runs_judged_once_per_text_match_presidio(
    text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run starting with a plus sign and a calling code is parsed once per text and
    shared by the four region passes: the spans and scores stay Presidio's, and every
    result (its explanation too) is what veil gives without the sharing."""
    from veil.text import phones

    regions = ("US", "GB", "DE", "FR")

    def seen(results: Any) -> list[tuple[int, int, float, str]]:
        return sorted(
            (r.start, r.end, r.score, r.analysis_explanation.textual_explanation) for r in results
        )

    shared = seen(VeilPhoneRecognizer(regions).analyze(text, ["PHONE_NUMBER"], None))
    stock = PhoneRecognizer(supported_regions=regions).analyze(text, ["PHONE_NUMBER"], None)
    # (Presidio's loop reuses its region variable for the region a match parses to, so
    # its explanations can name another pass's region; veil names the right one.)
    assert [r[:3] for r in shared] == sorted((r.start, r.end, r.score) for r in stock)
    monkeypatch.setattr(phones, "calling_code_after_plus", lambda candidate: False)
    assert shared == seen(VeilPhoneRecognizer(regions).analyze(text, ["PHONE_NUMBER"], None))
    assert shared


@pytest.mark.parametrize(
    ("candidate", "shared"),
    [
        ("+44 20 7946 0958", True),
        ("+1 415 555 2671", True),
        ("+ (33) 1 42 68 53 00", True),
        ("\uff0b44 20 7946 0958", True),
        ("+011 49 30 901820", False),  # no calling code 0: region-dependent retry
        ("+999 123", False),  # no known calling code
        ("+\u0ce944 123", False),  # a digit phonenumbers reads that is not ASCII
        ("44 20 7946 0958", False),
        ("+", False),
    ],
)
def test_which_runs_are_judged_once(candidate: str, shared: bool) -> None:
    from veil.text.phones import calling_code_after_plus

    assert calling_code_after_plus(candidate) is shared


def test_each_run_is_scanned_once_per_text(monkeypatch: pytest.MonkeyPatch) -> None:
    """The four passes of a text share the scan for runs: every search index is scanned
    once, and the spans stay Presidio's."""
    from veil.text import phones

    scanned: list[int] = []
    real = phones.candidate_at

    def counted(text: str, index: int) -> tuple[int, str] | None:
        scanned.append(index)
        return real(text, index)

    monkeypatch.setattr(phones, "candidate_at", counted)
    regions = ("US", "GB", "DE", "FR")
    text = "call (617) 225-0827, 030 901820 or +44 20 7946 0958; SSN 149-72-8203 on 2024-08-09"
    veil = VeilPhoneRecognizer(regions)
    assert spans(veil, text) == spans(PhoneRecognizer(supported_regions=regions), text) != []
    assert len(scanned) > 3 and len(scanned) == len(set(scanned))


class _Recording(phonenumbers.PhoneNumberMatcher):
    """phonenumbers' own matcher, recording each parse it tries and refusing them all."""

    def __init__(self, text: str, tries: int) -> None:
        super().__init__(text, "US", leniency=Leniency.VALID)
        self._max_tries = tries
        self.tried: list[tuple[str, int]] = []

    def _parse_and_verify(self, candidate: str, offset: int) -> Any:
        self.tried.append((candidate, offset))
        return None


@settings(max_examples=300, deadline=None)
@given(
    candidate=number_like
    | st.from_regex(r"[0-9][0-9 ./()x-]{3,30}", fullmatch=True)
    | st.from_regex(r"\d{3}/\d{3}[- ]\d{4}(/\d{2,4}){0,2}", fullmatch=True),
    tries=st.integers(0, 5) | st.just(65535),
)
def test_inner_groups_are_tried_as_phonenumbers_tries_them(candidate: str, tries: int) -> None:
    """Each run's inner groups are worked out once per text; the groups tried, their
    offsets and order, and where the tries run out must be phonenumbers' own."""
    from veil.text.phones import _Matcher

    class Ours(_Matcher):
        def _parse_and_verify(self, candidate: str, offset: int) -> Any:
            theirs.tried.append((candidate, offset))  # the same list: compared below
            return None

    text = "x " + candidate + " y"
    theirs = _Recording(text, tries)
    theirs._extract_match(candidate, 2)
    expected, left = theirs.tried, theirs._max_tries
    runs: dict[tuple[int, str], list[Any]] = {}
    for _ in range(2):  # the second pass reads what the first worked out
        theirs.tried = []
        ours = Ours(text, "US", Leniency.POSSIBLE, runs=runs)
        ours._max_tries = tries
        ours._extract_match(candidate, 2)
        assert theirs.tried == expected and ours._max_tries == left
