"""The judgements profiles make: each runs a transform over a domain that covers every
case its rule cares about, and says why the outputs are not acceptable (or None).

They do not read parameters to decide. A check binds the transform (unkeyed: the ones
checked here need no key) and runs it: all 1,000 ZIP prefixes; every day of the years
around the age-90 boundary on several disclosure dates; card numbers of every length from
12 to 19 digits in several layouts; ages 0 to 130. A transform or parameter added later is
judged by what it does. A check that cannot bind or run a transform fails it.
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Callable, Iterable
from datetime import date, timedelta
from typing import Any

from pydantic import BaseModel

from ..errors import VeilError
from ..keys import Keyring
from ..transforms import REGISTRY
from ..transforms.base import BindContext, CannotApply, Disclosure, FieldType, Op
from ..transforms.generalize import load_zip3_table, zip3_tables
from .decision import Outcome

#: What a class check returns: None when the outcome is acceptable, else why not.
Check = Callable[[Outcome, FieldType, BaseModel | None], str | None]

REMOVED: frozenset[Disclosure] = frozenset({"removed", "constant", "random_token"})
#: What a PAN may become besides a mask: removal, keyed codes, encryption (PCI DSS 3.5.1).
PAN_ALLOWED: frozenset[Disclosure] = REMOVED | {"derived", "reversible"}


class ProfileError(VeilError):
    """A profile check could not run (a transform that cannot be bound or applied)."""


# -- binding and domains ---------------------------------------------------------------


def _bind(outcome: Outcome, ftype: FieldType, as_of: date | None = None) -> Op:
    """The transform of ``outcome`` bound for an unkeyed dry run, or ProfileError."""
    spec = REGISTRY.get(outcome.transform or "")
    if spec is None or outcome.params is None:
        raise ProfileError(f"transform '{outcome.transform}' is unknown")
    ctx = BindContext("-", "-", ftype, "-", Keyring(use_env=False), as_of=as_of)
    try:
        return spec.bind(outcome.params, ctx)
    except VeilError as exc:
        raise ProfileError(
            f"transform {outcome.describe()} cannot be bound: {exc.message}"
        ) from None


def _run(op: Op, value: Any) -> tuple[bool, Any]:
    """(True, output) or (False, None) when the op withholds the value (CannotApply)."""
    try:
        return True, op(value, "subject-1")
    except CannotApply:
        return False, None


#: Disclosure dates the date checks run on: a year's first and last day, a leap day, and
#: dates on either side of them, so an off-by-one in "age on the disclosure date" shows.
AS_OF_DATES = (
    date(2026, 1, 1),
    date(2026, 6, 15),
    date(2026, 12, 31),
    date(2028, 2, 29),
    date(2031, 3, 1),
)


def _iso(d: date, ftype: FieldType) -> str:
    return d.isoformat() if ftype == FieldType.DATE else f"{d.isoformat()}T13:45:30+00:00"


def _days(start: date, end: date, step: int = 1) -> Iterable[date]:
    d = start
    while d <= end:
        yield d
        d += timedelta(days=step)


# -- checks ----------------------------------------------------------------------------


def check_year_only(outcome: Outcome, ftype: FieldType, options: BaseModel | None) -> str | None:
    """Every date of one calendar year gives the same output: nothing but the year leaves
    (164.514(b)(2)(i)(C): "all elements of dates (except year)")."""
    if ftype not in (FieldType.DATE, FieldType.DATETIME):
        return f"a date class field of type {ftype.value} cannot be checked"
    for as_of in AS_OF_DATES[:2]:
        op = _bind(outcome, ftype, as_of)
        for year in (1899, 1960, 2000, 2024, 2025, as_of.year):
            seen: set[str] = set()
            for d in _days(date(year, 1, 1), date(year, 12, 31)):
                ok, out = _run(op, _iso(d, ftype))
                if ok:
                    seen.add(repr(out))
            if len(seen) > 1:
                return (
                    f"{outcome.describe()} gives {len(seen)} different outputs for dates of "
                    f"{year}: it discloses more than the year"
                )
    return None


def check_birth_year(outcome: Outcome, ftype: FieldType, options: BaseModel | None) -> str | None:
    """Year only, and no disclosed year indicative of an age over 89 on the disclosure date.

    Someone born on 1 January of year Y is ``as_of.year - Y`` years old on any day of
    ``as_of``'s year, so a year Y is indicative of an age over 89 exactly when
    ``as_of.year - Y >= 90``. Every birth date of such a year must leave as one category
    (164.514(b)(2)(i)(C): "aggregated into a single category of age 90 or older") that
    no younger birth date leaves as.
    """
    problem = check_year_only(outcome, ftype, options)
    if problem:
        return problem
    for as_of in AS_OF_DATES:
        op = _bind(outcome, ftype, as_of)
        old: set[str] = set()
        young: set[str] = set()
        # every 3rd day keeps the run short; the year boundaries are checked day by day
        starts = [date(as_of.year - y, 1, 1) for y in range(80, 131)]
        days = {d for s in starts for d in _days(s, date(s.year, 12, 31), 3)}
        days |= {
            date(as_of.year - y, m, dd) for y in (88, 89, 90, 91) for m, dd in ((1, 1), (12, 31))
        }
        days |= {as_of - timedelta(days=k) for k in range(0, 400, 7)}
        for d in sorted(days):
            if d > as_of:
                continue
            ok, out = _run(op, _iso(d, ftype))
            if not ok:
                continue
            (old if as_of.year - d.year >= 90 else young).add(repr(out))
        if len(old) > 1:
            return (
                f"{outcome.describe()} discloses {len(old)} different values for birth dates "
                f"indicative of an age over 89 on {as_of}: they must be one category"
            )
        if old & young:
            return (
                f"{outcome.describe()} gives birth dates indicative of an age over 89 on "
                f"{as_of} the same output as younger ones; the category must stand apart"
            )
    return None


def check_age(outcome: Outcome, ftype: FieldType, options: BaseModel | None) -> str | None:
    """Ages over 89 leave as one category that no age of 89 or under leaves as."""
    op = _bind(outcome, ftype)
    ages: list[Any] = list(range(0, 131))
    if ftype == FieldType.NUMBER:
        ages += [88.5, 89.0, 89.5, 89.99, 90.0, 90.5, 104.25]
    old: set[str] = set()
    young: set[str] = set()
    for a in ages:
        ok, out = _run(op, a)
        if ok:
            (old if a > 89 else young).add(repr(out))
    if len(old) > 1:
        return f"{outcome.describe()} discloses {len(old)} different values for ages over 89"
    if old & young:
        return f"{outcome.describe()} gives ages over 89 the same output as younger ages"
    return None


_DIGITS = re.compile(r"\d")


def check_zip3(outcome: Outcome, ftype: FieldType, options: BaseModel | None) -> str | None:
    """Every ZIP leaves as at most three digits, and every restricted prefix as ``000``.

    164.514(b)(2)(i)(B): the initial three digits may stay only where "the geographic unit
    formed by combining all zip codes with the same three initial digits contains more than
    20,000 people"; otherwise they are changed to 000. The restricted prefixes come from a
    versioned census table (the profile's ``zip3_table``).
    """
    table = getattr(options, "zip3_table", "hipaa-census-2000")
    if table not in zip3_tables():
        return f"unknown zip3 table '{table}' (shipped: {', '.join(zip3_tables())})"
    restricted = load_zip3_table(table)
    op = _bind(outcome, ftype)
    for n in range(1000):
        prefix = f"{n:03d}"
        for z in (f"{prefix}17", f"{prefix}00-1234"):
            ok, out = _run(op, z)
            if not ok:
                continue
            digits = "".join(_DIGITS.findall(str(out)))
            if len(digits) > 3:
                return f"{outcome.describe()} discloses more than three digits of a ZIP code"
            if prefix in restricted and digits not in ("", "000"):
                return (
                    f"{outcome.describe()} discloses restricted prefix {prefix} (fewer than "
                    f"20,000 people, table {table}); it must become 000"
                )
    return None


def _entity_outcome(action: Any) -> Outcome:
    spec = REGISTRY[action.transform]
    params = spec.parse_params(action.params)
    return Outcome("transform", spec.name, params, spec.rank)


def disclosure_of(outcome: Outcome) -> Disclosure:
    """What an outcome discloses (see :data:`veil.transforms.base.Disclosure`)."""
    if outcome.verdict == "allow":
        return "clear"
    if outcome.verdict in ("redact", "deny"):
        return "removed"
    spec = REGISTRY[outcome.transform or ""]
    assert outcome.params is not None
    return spec.discloses(outcome.params)


def scan_check(
    required: frozenset[str],
    entity_ok: Callable[[str, Outcome], str | None],
    free: frozenset[str] = frozenset(),
) -> Check:
    """A check of ``scan_text``: the NER engine, every required entity type listed, and
    each listed type but the ``free`` ones treated acceptably (``entity_ok``). Entity
    types a bundle adds with its own recognizers are judged like the required ones."""

    def check(outcome: Outcome, ftype: FieldType, options: BaseModel | None) -> str | None:
        if not getattr(options, "scanned_free_text", True):
            return "this view requires free text to be removed, not scanned"
        params = outcome.params
        entities = getattr(params, "entities", None)
        if outcome.transform != "scan_text" or entities is None:
            return f"{outcome.describe()} is not a free-text scan"
        needs_ner = required & {"PERSON", "LOCATION"}
        if needs_ner and getattr(params, "engine", "") != "ner":
            return "names and places in free text need scan_text with engine: ner"
        missing = sorted(required - set(entities))
        if missing:
            return f"scan_text does not treat {', '.join(missing)}"
        for entity, action in sorted(entities.items()):
            if entity in free:
                continue
            problem = entity_ok(entity, _entity_outcome(action))
            if problem:
                return f"scan_text treats {entity} as {action.transform}: {problem}"
        return None

    return check


def removed_entity(entity: str, outcome: Outcome) -> str | None:
    if disclosure_of(outcome) in REMOVED:
        return None
    return "it must be removed or replaced by a constant"


#: At most this many PAN digits in one display: the BIN and last four of a 6-digit BIN, or
#: the first eight and last two of an 8-digit one (see ``PciOptions``).
MAX_SHOWN = 10


def _pans() -> list[tuple[str, str]]:
    """(layout, PAN) samples: 12 to 19 digits, plain and grouped with spaces or dashes."""
    rng = random.Random(20240331)  # PCI DSS v4.0 effective date; any fixed seed works
    out: list[tuple[str, str]] = []
    for n in range(12, 20):
        for _ in range(6):
            digits = "".join(rng.choice("0123456789") for _ in range(n))
            groups = [digits[i : i + 4] for i in range(0, n, 4)]
            out += [("plain", digits), ("spaced", " ".join(groups)), ("dashed", "-".join(groups))]
    return out


@functools.lru_cache(maxsize=1)
def _pan_samples() -> tuple[tuple[str, str], ...]:
    return tuple(_pans())


def _shown_ok(pan: str, out: Any, bin_digits: int) -> bool:
    """Are the digits of ``out`` at most the first ``bin_digits`` and last four of ``pan``?

    The output's digits, in order, must be a prefix of the PAN's digits (at most
    ``bin_digits`` long) followed by a suffix (at most four), with at least one digit
    hidden. Any other digit in the output (a mask character that is a digit, a digit
    moved elsewhere) fails.
    """
    digits = "".join(_DIGITS.findall(pan))
    shown = "".join(_DIGITS.findall(str(out)))
    n = len(digits)
    if len(shown) > MAX_SHOWN:
        return False
    for head in range(min(bin_digits, len(shown)) + 1):
        tail = len(shown) - head
        if tail <= 4 and head + tail < n and shown == digits[:head] + digits[n - tail :]:
            return True
    return False


def check_pan(outcome: Outcome, ftype: FieldType, options: BaseModel | None) -> str | None:
    """At most the BIN and the last four digits are displayed (PCI DSS v4.0 3.4.1)."""
    bin_digits = getattr(options, "bin_digits", 6)
    op = _bind(outcome, FieldType.STRING)
    for layout, pan in _pan_samples():
        ok, out = _run(op, pan)
        if ok and not _shown_ok(pan, out, bin_digits):
            n = len(_DIGITS.findall(pan))
            return (
                f"{outcome.describe()} displays more than the BIN (first {bin_digits}) and "
                f"last 4 digits, {MAX_SHOWN} at most, of a {n}-digit card number ({layout})"
            )
    return None


def pan_entity(entity: str, outcome: Outcome) -> str | None:
    kind = disclosure_of(outcome)
    if kind in PAN_ALLOWED:
        return None
    if kind == "masked":
        return check_pan(outcome, FieldType.STRING, None)
    return "a card number must be masked to the BIN and last four digits at most"
