"""scan_text: each entity kind treated as policy says; fail closed; nothing leaks."""

from __future__ import annotations

import logging
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import RESEARCHER, scan_op
from veil.text import collect
from veil.text.engine import EngineConfig, TextAnalyzer
from veil.text.spans import Span, resolve
from veil.transforms import CannotApply
from veil.transforms.text import parse_text_date

NOTE = (
    "Seen 03/14/2024. Call 555-631-0387 or write jo.doe@example.org; "
    "SSN 937-16-6771, card 4111 1111 1111 1111, IBAN GB82 WEST 1234 5698 7654 32."
)


def test_each_entity_is_handled_as_the_policy_says(default_analyzer: TextAnalyzer) -> None:
    op = scan_op()
    out = op(NOTE, "patient-1")
    assert "555-631-0387" not in out and "***-***-0387" in out  # mask keep_last 4
    assert "jo.doe@example.org" not in out and "<EMAIL>" in out  # replace
    assert "937-16-6771" not in out and "SSN ," in out  # redact: the span is removed
    assert "4111" not in out and re.search(r"card card_[a-z2-7]{16}", out)  # tokenize
    assert "GB82" not in out and out.endswith("IBAN " + "*" * 23 + "4 32.")  # IBAN masked
    shifted = re.search(r"Seen (\d\d/\d\d/\d{4})\.", out)  # date shifted, same format
    assert shifted and shifted.group(1) != "03/14/2024"
    # deterministic per subject (dates keep intervals within a patient)
    assert op(NOTE, "patient-1") == out
    assert op(NOTE, "patient-2") != out


def test_entity_counts_go_to_the_job_in_scope_only() -> None:
    op = scan_op()
    state = collect.JobText()
    with collect.job_scope(state):
        op(NOTE, "p")
        op("Call 555-631-0387.", "p")
    assert dict(state.entities["note"]) == {
        "PHONE_NUMBER": 2,
        "EMAIL_ADDRESS": 1,
        "US_SSN": 1,
        "CREDIT_CARD": 1,
        "DATE_TIME": 1,
        "IBAN_CODE": 1,
    }
    other = collect.JobText()
    with collect.job_scope(other):
        op("nothing here", "p")
    assert other.entities == {}
    op(NOTE, "p")  # outside any job: works, counts nowhere
    assert sum(state.entities["note"].values()) == 7


def test_only_listed_entity_types_are_treated() -> None:
    op = scan_op({"US_SSN": {"transform": "redact"}})
    assert op(NOTE, "p") == NOTE.replace("937-16-6771", "")


def test_fail_closed_non_string_and_unparseable_date_without_fallback() -> None:
    op = scan_op()
    with pytest.raises(CannotApply):
        op(12345, "p")
    strict = scan_op({"DATE_TIME": {"transform": "date_shift", "params": {"key": "dates"}}})
    with pytest.raises(CannotApply) as exc:
        strict("Seen in Jan-2024.", "p")  # a date without a day cannot be shifted
    assert "2024" not in str(exc.value)
    # no subject: date_shift cannot apply, and there is no fallback
    with pytest.raises(CannotApply):
        strict("Seen 03/14/2024.", None)
    # with a fallback the span is replaced by it
    assert scan_op()("Seen 03/14/2024.", None) == "Seen <DATE>."


def test_analysis_failure_withholds(monkeypatch: pytest.MonkeyPatch) -> None:
    op = scan_op()

    def boom(*a: object) -> None:
        raise RuntimeError("detector bug holding 937-16-6771")

    monkeypatch.setattr(TextAnalyzer, "analyze", boom)
    with pytest.raises(CannotApply) as exc:
        op(NOTE, "p")
    assert "937" not in str(exc.value) and exc.value.__cause__ is None


def test_missing_ner_model_withholds_and_says_how_to_fix(caplog: pytest.LogCaptureFixture) -> None:
    op = scan_op({"PERSON": {"transform": "redact"}}, engine="ner", model="no_such_model_xyz")
    with caplog.at_level(logging.WARNING, "veil.text"), pytest.raises(CannotApply):
        op("Ann Lee was seen.", "p")
    assert "veil[ner]" in caplog.text and "Ann" not in caplog.text
    with pytest.raises(CannotApply):  # remembered: no second load attempt
        op("Ann Lee was seen.", "p")


def test_overlaps_are_merged_most_restrictive_wins() -> None:
    order = {"A": (10.0,), "B": (60.0,), "C": (60.0,)}.__getitem__
    spans = [Span(5, 9, "B", 0.9), Span(0, 6, "A", 0.4), Span(20, 25, "C", 0.5)]
    for perm in (spans, spans[::-1], [spans[1], spans[2], spans[0]]):
        assert resolve(perm, order) == [Span(0, 9, "A", 0.9), Span(20, 25, "C", 0.5)]
    # equal restrictiveness: higher score, then name
    assert resolve([Span(0, 4, "C", 0.5), Span(2, 6, "B", 0.5)], order) == [Span(0, 6, "B", 0.5)]
    assert resolve([Span(0, 4, "C", 0.9), Span(2, 6, "B", 0.5)], order)[0].entity == "C"


def test_overlapping_detections_never_show_part_of_an_identifier() -> None:
    # Presidio's URL recognizer also matches "jo.doe" and "example.org" inside the e-mail;
    # kept URLs must not reveal the e-mail's parts: the union takes the stricter action.
    op = scan_op(
        {
            "EMAIL_ADDRESS": {"transform": "replace", "params": {"value": "<EMAIL>"}},
            "URL": {"transform": "keep"},
        }
    )
    assert op("write jo.doe@example.org now", "p") == "write <EMAIL> now"
    assert op("visit www.example.org", "p") == "visit www.example.org"


@pytest.mark.parametrize(
    ("text", "iso"),
    [
        ("03/14/2024", "2024-03-14"),
        ("2024-03-14", "2024-03-14"),
        ("14/03/2024", "2024-03-14"),
        ("3/4/24", "2024-03-04"),
        ("March 14, 2024", "2024-03-14"),
        ("14 Mar 2024", "2024-03-14"),
        ("15-Mar-2024", "2024-03-15"),
        ("2024-03-14T10:00:00", "2024-03-14"),
    ],
)
def test_date_spans_round_trip_their_format(text: str, iso: str) -> None:
    parsed = parse_text_date(text)
    assert parsed is not None
    day, form = parsed
    assert day.isoformat() == iso
    if "T" not in text:
        assert form.write(day) == text


def test_written_date_variants_parse() -> None:
    """Forms the written-date recognizer finds; written back in a normal form."""
    variants = {"Sept. 4, 2024": "Sep 4, 2024", "4th March 2024": "4 March 2024"}
    for text, written in variants.items():
        parsed = parse_text_date(text)
        assert parsed is not None and parsed[1].write(parsed[0]) == written


@pytest.mark.parametrize("text", ["yesterday", "2024", "13/13/2024", "Smarch 3, 2024"])
def test_unparseable_dates(text: str) -> None:
    assert parse_text_date(text) is None


def test_engine_config_key_round_trips() -> None:
    from veil.text.decl import RecognizerDecl

    decl = RecognizerDecl.model_validate({"entity": "MRN", "patterns": [{"regex": r"\d{7}"}]})
    cfg = EngineConfig("ner", "m", ("US", "GB"), (("mrn", decl),))
    assert EngineConfig.from_key(cfg.key) == cfg


# Canary identifiers: Luhn-valid card, valid-format SSN, e-mail, mod-97-valid IBAN.
CANARY_SSN = "937-16-6771"
CANARY_EMAIL = "canary.7319@example.org"
CANARY_CARD = "4111 1111 1111 1111"
CANARY_IBAN = "GB82 WEST 1234 5698 7654 32"
filler = st.text(alphabet=st.sampled_from("abcdefghij klmnop,.;:()"), min_size=0, max_size=30).map(
    lambda s: f" {s} "
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    parts=st.lists(
        st.sampled_from([CANARY_SSN, CANARY_EMAIL, CANARY_CARD, CANARY_IBAN]), max_size=4
    ),
    fill=st.lists(filler, min_size=5, max_size=5),
)
def test_property_no_canary_identifier_reaches_the_researcher(
    default_analyzer: TextAnalyzer, parts: list[str], fill: list[str]
) -> None:
    op = scan_op()
    text = fill[0] + "".join(p + f for p, f in zip(parts, fill[1:], strict=False))
    out = op(text, "p")
    for secret in (CANARY_SSN, CANARY_EMAIL, CANARY_CARD, CANARY_IBAN):
        assert secret not in out
    assert "6771" not in out and "7319" not in out


def test_values_never_reach_logs(caplog: pytest.LogCaptureFixture) -> None:
    op = scan_op()
    with caplog.at_level(logging.DEBUG):
        op(NOTE, "p")
        with pytest.raises(CannotApply):
            scan_op({"DATE_TIME": {"transform": "date_shift", "params": {"key": "dates"}}})(
                "Seen in Jan-2024.", None
            )
    for secret in ("937-16-6771", "jo.doe@example.org", "4111", "555-631", "Jan-2024"):
        assert secret not in caplog.text


def test_researcher_params_cover_the_done_when_kinds() -> None:
    assert {"PHONE_NUMBER", "EMAIL_ADDRESS", "US_SSN", "CREDIT_CARD", "DATE_TIME"} <= set(
        RESEARCHER
    )


def test_an_evaded_identifier_gets_the_token_of_its_plain_form() -> None:
    """A card in full-width digits, or with zero-width spaces, is the same card: the span's
    transform sees the identifier as detected, so the recipient's token does not tell
    (nor depend on) how it was written."""
    op = scan_op()
    plain = re.search(r"card (card_\w+)", op("Paid by card 4111 1111 1111 1111 today.", "p"))
    assert plain
    wide = "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in "4111 1111 1111 1111")
    for written in (wide, "4111\u200b 1111 1111 1111"):
        out = op(f"Paid by card {written} today.", "p")
        assert f"card {plain.group(1)} today" in out, out
