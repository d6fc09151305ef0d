"""The adversarial generator against scan_text (default engine): nothing leaks.

What survives is read from scan_text's output and the generator's own spans
(:func:`veil.samples.evasions.leaked`), never from veil's detector.
"""

from __future__ import annotations

import random
import re
import unicodedata
from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from stdnum import iban as stdnum_iban
from stdnum import luhn as stdnum_luhn

from conftest import scan_op
from veil.samples import evasions as ev
from veil.text.engine import PATTERN_ENTITIES
from veil.transforms.text import ScanText

REGIONS = ev.DEFAULT_REGIONS


def _op() -> ScanText:
    marked = {e: {"transform": "replace", "params": {"value": ev.MARK}} for e in PATTERN_ENTITIES}
    return scan_op(marked, phone_regions=list(REGIONS))


def test_a_thousand_seeded_notes_leak_nothing() -> None:
    op = _op()
    counted: Counter[str] = Counter()
    survived: Counter[str] = Counter()
    for note in ev.notes(1000, seed=16, regions=REGIONS):
        for planted, count, kept in ev.leaked(note, op(note.text, "p")):
            counted[planted.entity] += count
            survived[planted.entity] += kept
    assert set(counted) == set(ev.ENTITIES)
    rates = {e: survived[e] / counted[e] for e in counted}
    assert rates == dict.fromkeys(counted, 0.0)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32),
    entity=st.sampled_from(ev.ENTITIES),
    evasions=st.lists(
        st.sampled_from([*ev.EVASIONS, *(f"digits:{s}" for s in ev.DIGIT_SCRIPTS)]),
        max_size=4,
        unique=True,
    ),
)
def test_no_letter_or_digit_of_an_evaded_identifier_survives(
    seed: int, entity: str, evasions: list[str]
) -> None:
    note = ev.planted_note(random.Random(seed), [entity], REGIONS, [evasions])
    ((planted, count, kept),) = ev.leaked(note, _op()(note.text, "p"))
    assert count > 0
    assert kept == 0, (planted.kind, note.text)


def _digits(s: str) -> str:
    """ASCII digits of ``s`` read with int() (any script) after NFKC."""
    s = unicodedata.normalize("NFKC", s)
    return "".join(str(int(c)) for c in s if c.isdecimal())


def test_the_generator_plants_valid_identifiers_where_it_says() -> None:
    """Checked with python-stdnum, independently of veil's detector."""
    rng = random.Random(3)
    seen = Counter()
    for _ in range(300):
        note = ev.planted_note(rng, [rng.choice(ev.ENTITIES)], REGIONS)
        (p,) = note.planted
        written = note.text[p.start : p.end]
        assert written and not written[0].isspace() and not written[-1].isspace()
        seen[p.entity] += 1
        if p.entity == "CREDIT_CARD":
            assert stdnum_luhn.is_valid(_digits(written)), written
            assert 12 <= len(_digits(written)) <= 19
        elif p.entity == "IBAN_CODE":
            plain = unicodedata.normalize("NFKC", written)
            plain = "".join(str(int(c)) if c.isdecimal() else c for c in plain if c.isalnum())
            assert stdnum_iban.is_valid(plain, check_country=False), written
        elif p.entity == "US_SSN":
            assert len(_digits(written)) == 9
    assert set(seen) == set(ev.ENTITIES)


def test_every_registry_country_gets_ibans() -> None:
    formats = ev.iban_formats()
    assert len(formats) >= 89
    rng = random.Random(1)
    for cc in formats:
        number, kind = ev._iban(rng, cc)
        assert kind == f"iban:{cc}" and stdnum_iban.is_valid(number, check_country=False)


def test_leaked_aligns_a_scrubbed_note_with_its_source() -> None:
    note = ev.Note(
        "SSN 536-22-8714 and card 4111 1111 1111 1111.",
        (
            ev.Planted(4, 15, "US_SSN", "ssn", ()),
            ev.Planted(25, 44, "CREDIT_CARD", "card", ()),
        ),
    )
    scrubbed = note.text[:4] + ev.MARK + note.text[15:29] + ev.MARK + "."
    ((_, n1, k1), (_, n2, k2)) = ev.leaked(note, scrubbed)
    assert (n1, k1) == (9, 0)
    assert (n2, k2) == (16, 4)  # "4111" kept
    assert ev.leaked(note, note.text)[0][2] == 9  # nothing scrubbed: all kept
    try:
        ev.leaked(note, "something else")
    except ValueError as exc:
        assert re.search("align", str(exc))
    else:
        raise AssertionError("a text that is not the note's scrub must not align")
