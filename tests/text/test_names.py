"""veil's name and address rules (veil.text.names, veil.text.addresses): each cue, the
words they must leave alone, a property over generated names, and the ner engine's
registry."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conftest import needs_ner
from veil.text.addresses import find_addresses
from veil.text.engine import EngineConfig, Query, analyzer_for
from veil.text.names import find_names, is_name_word


def covered(text: str, spans: list[tuple[int, int, float]] | list[tuple[int, int, str]]) -> str:
    """The characters of ``text`` inside any span, as a string ('' outside)."""
    mask = [False] * len(text)
    for a, b, _ in spans:
        for i in range(a, b):
            mask[i] = True
    return "".join(c if m else " " for c, m in zip(text, mask, strict=True))


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("Seen today by Dr. Amara Okafor for follow-up.", "Amara Okafor"),
        ("Seen today by Dr Okafor.", "Okafor"),
        ("Name: JOHN SMITH\nDOB 1990-01-02", "JOHN SMITH"),
        ("MR. JOHN SMITH called twice.", "JOHN SMITH"),
        ("Patient: Ana Lima, 45", "Ana Lima"),
        ("Emergency contact - Kwame Mensah (brother)", "Kwame Mensah"),
        ("Dear Mrs. van der Berg,\nyour results are ready.", "van der Berg"),
        ("Kind regards,\nPriya Natarajan", "Priya Natarajan"),
        ("Thanks!\n\nTomasz Nowak\nBilling", "Tomasz Nowak"),
        ("her daughter Marta called about the bill", "Marta"),
        ("My name is Rubija", "Rubija"),
        ("I spoke with Tom Baker today.", "Tom Baker"),
        ("Signed: Łukasz Żółć; later Żółć agreed.", "Łukasz Żółć"),
    ],
)
def test_each_cue_finds_the_name(text: str, name: str) -> None:
    got = covered(text, find_names(text))
    start = text.index(name)
    assert got[start : start + len(name)] == name, got


def test_a_name_found_once_is_found_again() -> None:
    text = "Seen by Dr. Amara Okafor. Later Okafor agreed; Okafor left."
    got = covered(text, find_names(text))
    assert got.count("Okafor") == 3


def test_model_spans_grow_over_adjacent_name_words() -> None:
    text = "Results sent to Jean-Luc Picard yesterday."
    model = [(text.index("Picard"), text.index("Picard") + 6)]
    got = covered(text, find_names(text, model))
    assert "Jean-Luc Picard" in got


@pytest.mark.parametrize(
    "text",
    [
        "Patient: Male, 45, no known allergies.",
        "Name: Unknown",
        "The Hospital Board met on Monday.",
        "dr visits are weekly",
        "Called 212-555-0143 twice, no answer.",
        "Regards, the team",
        "Best regards,\nthe billing team",
    ],
)
def test_words_that_are_not_names_stay(text: str) -> None:
    assert find_names(text) == []


def test_name_words() -> None:
    assert is_name_word("O'Neil") and is_name_word("SMITH") and is_name_word("Żółć")
    assert not is_name_word("smith") and not is_name_word("A") and not is_name_word("X2")
    assert not is_name_word("Monday") and not is_name_word("Patient")


_UPPER = "ABCDEFGHIJKLMNOPRSTUVWZĆŁŚŻÉÖ"
_LOWER = "abcdefghijklmnoprstuvwzćłśżéöü"
_CUES = ["Dr. {}", "Mrs {}", "Patient: {}", "Name - {}", "Dear {},", "Regards,\n{}", "Attn: {}"]


@st.composite
def name_in_text(draw: st.DrawFn) -> tuple[str, str]:
    """A generated name (1-3 capitalised or all-capital words that no list holds) after a
    cue, between lower-case filler words."""
    caps = draw(st.booleans())
    words = []
    for _ in range(draw(st.integers(1, 3))):
        w = draw(st.sampled_from(_UPPER)) + draw(st.text(_LOWER, min_size=2, max_size=9))
        words.append(w.upper() if caps else w)
    name = " ".join(words)
    before = " ".join(draw(st.lists(st.text(_LOWER, min_size=1, max_size=8), max_size=5)))
    after = " ".join(draw(st.lists(st.text(_LOWER, min_size=1, max_size=8), max_size=5)))
    cue = draw(st.sampled_from(_CUES))
    return f"{before} {cue.format(name)} {after}".strip(), name


@settings(max_examples=300, deadline=None)
@given(name_in_text())
def test_a_cued_name_is_covered_whole(case: tuple[str, str]) -> None:
    text, name = case
    if not all(is_name_word(w) for w in name.split()):
        return  # a generated word that happens to be on the stop list ("Will", "May")
    start = text.index(name)
    got = covered(text, find_names(text))
    assert got[start : start + len(name)] == name


# ------------------------------------------------------------------- addresses


@pytest.mark.parametrize(
    ("text", "address"),
    [
        ("Lives at 4821 Maple Hollow Rd Apt 7, Springfield, IL 62704 since May.",
         "4821 Maple Hollow Rd Apt 7, Springfield, IL 62704"),
        ("Billing: 260 Henderson Loaf Suite 798\nPort Cheyenneberg, UT 48819",
         "260 Henderson Loaf Suite 798\nPort Cheyenneberg, UT 48819"),
        ("Moved to Flat 7\nJones Light\nNorth Holly\nS6 7LJ",
         "Flat 7\nJones Light\nNorth Holly\nS6 7LJ"),
        ("Post to 42 Baker Street, London NW1 6XE please", "42 Baker Street, London NW1 6XE"),
        ("Adresse: Wesackstraße 26\n66907 Werdau", "Wesackstraße 26\n66907 Werdau"),
        ("8, avenue Manon Gillet\n97636 Sainte Antoinenec",
         "8, avenue Manon Gillet\n97636 Sainte Antoinenec"),
        ("Via delle Coste 41 is the office", "Via delle Coste 41"),
        ("PSC 3294, Box 9168\nAPO AA 61487", "PSC 3294, Box 9168\nAPO AA 61487"),
        ("Mail to P.O. Box 1234 only", "P.O. Box 1234"),
    ],
)  # fmt: skip
def test_address_parts_are_found(text: str, address: str) -> None:
    start = text.index(address)
    assert covered(text, find_addresses(text))[start : start + len(address)] == address


@pytest.mark.parametrize(
    "text",
    [
        "Take 2 Tablets daily for 10 days.",
        "Seen in Room 5 on the 3rd Floor.",
        "BP 120/80, HR 72, weight 81 kg.",
        "Dose increased to 20 mg on 2024-03-01.",
        "Group C match on Friday",
    ],
)
def test_clinical_numbers_are_not_addresses(text: str) -> None:
    assert find_addresses(text) == []


def test_faker_addresses_are_found() -> None:
    """Addresses veil did not write (Faker's en_US, en_GB and de_DE providers): at least
    nine in ten have every non-space character inside a found span."""
    from faker import Faker

    for locale in ("en_US", "en_GB", "de_DE"):
        fake = Faker(locale)
        fake.seed_instance(11)
        rng = random.Random(11)
        whole = 0
        for _ in range(200):
            address = fake.address()
            text = f"{rng.choice(['Address:', 'Moved to', 'Send to'])} {address} today."
            start = text.index(address)
            got = covered(text, find_addresses(text))[start : start + len(address)]
            whole += all(g == c or c.isspace() for g, c in zip(got, address, strict=True))
        assert whole >= 180, (locale, whole)


# ------------------------------------------------------------------- the engine


@needs_ner
def test_the_ner_engine_runs_the_rules() -> None:
    a = analyzer_for(EngineConfig("ner"))
    names = {r.name for r in a.presidio.registry.recognizers}
    assert {"veil:names", "veil:address", "veil:address-postcode"} <= names
    text = "Kind regards,\nPRIYA NATARAJAN\n4821 Maple Hollow Rd, Springfield, IL 62704"
    spans = a.analyze(text, Query(("PERSON", "LOCATION"), 0.4))
    got = {(text[s.start : s.end], s.entity) for s in spans}
    assert ("PRIYA NATARAJAN", "PERSON") in got
    assert any(e == "LOCATION" and "Maple Hollow Rd" in t for t, e in got)


def test_the_default_engine_does_not_run_them() -> None:
    a = analyzer_for(EngineConfig())
    names = {r.name for r in a.presidio.registry.recognizers}
    assert not any(n.startswith(("veil:names", "veil:address")) for n in names)
