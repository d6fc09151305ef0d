"""Regulations as proven rule sets: HIPAA Safe Harbor, the Limited Data Set, PCI DSS display.

A profile names identifier *classes*, each with the regulation text it comes from and
what may be disclosed of a field of that class: a set of :data:`Disclosure` kinds that
are always acceptable, and a *check* for the kinds that are acceptable only with the
right parameters (a ZIP generalized to three digits with the restricted prefixes blanked,
a birth date reduced to a year that is never indicative of an age over 89, a card number
masked to at most the BIN and the last four digits).

Checks do not read parameters to decide. They bind the transform and run it over a
finite domain that covers every case the rule cares about (all 1,000 ZIP prefixes, every
day of the years around the age-90 boundary on several disclosure dates, card numbers of
every length from 12 to 19 digits in several layouts, ages 0 to 130), and judge the
outputs. A new transform or parameter is therefore judged by what it does, not by what
its name promises; a check that cannot bind or run a transform fails it.

Bundles apply a profile to some requests (a *view*, ``profiles:`` in a bundle) and tag
their fields with the classes (by default a class is the tag of the same name).
:mod:`veil.policy.proofs` enumerates the requests and checks every field's outcome.

What stays the covered entity's duty (the profile cannot see it) is listed in
``docs/compliance.md``: tagging every field that holds an identifier, the "actual
knowledge" condition of 164.514(b)(2)(ii), and what free-text detection misses.
"""

from __future__ import annotations

import functools
import random
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..errors import VeilError
from ..keys import Keyring
from ..text.engine import NER_ENTITIES, PATTERN_ENTITIES
from ..transforms import REGISTRY
from ..transforms.base import BindContext, CannotApply, Disclosure, FieldType, Op, Params
from ..transforms.generalize import load_zip3_table, zip3_tables
from .decision import Outcome

#: What a class check returns: None when the outcome is acceptable, else why not.
Check = Callable[[Outcome, FieldType, BaseModel], str | None]

REMOVED: frozenset[Disclosure] = frozenset({"removed", "constant", "random_token"})


@dataclass(frozen=True)
class IdClass:
    """One kind of identifier a profile governs."""

    id: str
    cite: str
    text: str
    #: disclosure kinds acceptable whatever their parameters
    allowed: frozenset[Disclosure] = REMOVED
    #: kinds acceptable when ``check`` passes (it judges the bound transform's outputs)
    checked: frozenset[Disclosure] = frozenset()
    check: Check | None = None
    #: what the class accepts, in words, for counterexamples
    accepts: str = "removal, a constant or a random re-identification code (164.514(c))"


@dataclass(frozen=True)
class Profile:
    name: str
    version: str
    title: str
    cites: tuple[str, ...]
    classes: tuple[IdClass, ...]
    options: type[BaseModel]
    #: class that the dataset's record id and data-subject fields belong to whatever their
    #: tags: a record key is a unique identifying number of the individual
    key_class: str | None = None
    #: agreement the recipient must have (164.514(e)(4): data use agreement)
    agreement: str | None = None
    #: purpose categories the profile may serve (164.514(e)(3)(i)); None: any
    purposes: frozenset[str] | None = None
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"

    def cls(self, class_id: str) -> IdClass:
        return next(c for c in self.classes if c.id == class_id)


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


def check_year_only(outcome: Outcome, ftype: FieldType, options: BaseModel) -> str | None:
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


def check_birth_year(outcome: Outcome, ftype: FieldType, options: BaseModel) -> str | None:
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


def check_age(outcome: Outcome, ftype: FieldType, options: BaseModel) -> str | None:
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


class SafeHarborOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    #: restricted 3-digit ZIP prefixes the outputs are judged against (shipped tables:
    #: ``veil.transforms.generalize.zip3_tables()``)
    zip3_table: str = "hipaa-census-2000"
    #: accept free text scanned for identifiers (scan_text); False: free text must be removed
    scanned_free_text: bool = True


_DIGITS = re.compile(r"\d")


def check_zip3(outcome: Outcome, ftype: FieldType, options: BaseModel) -> str | None:
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


def _scan_check(
    required: frozenset[str],
    entity_ok: Callable[[str, Outcome], str | None],
    free: frozenset[str] = frozenset(),
) -> Check:
    """A check of ``scan_text``: the NER engine, every required entity type listed, and
    each listed type but the ``free`` ones treated acceptably (``entity_ok``). Entity
    types a bundle adds with its own recognizers are judged like the required ones."""

    def check(outcome: Outcome, ftype: FieldType, options: BaseModel) -> str | None:
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


def _removed_entity(entity: str, outcome: Outcome) -> str | None:
    if disclosure_of(outcome) in REMOVED:
        return None
    return "it must be removed or replaced by a constant"


# -- HIPAA Safe Harbor ------------------------------------------------------------------

_SH = "45 CFR 164.514(b)(2)(i)"

#: Entity types scan_text must treat in free text under Safe Harbor: what veil's engines
#: detect among the 18 identifier kinds (names, places, contacts, dates, numbers).
SAFE_HARBOR_ENTITIES = frozenset(
    {
        "PERSON",
        "LOCATION",
        "PHONE_NUMBER",
        "EMAIL_ADDRESS",
        "US_SSN",
        "URL",
        "IP_ADDRESS",
        "DATE_TIME",
        "CREDIT_CARD",
        "IBAN_CODE",
        "US_BANK_NUMBER",
        "US_DRIVER_LICENSE",
        "US_PASSPORT",
        "MEDICAL_LICENSE",
    }
)


def _sh_entity(entity: str, outcome: Outcome) -> str | None:
    return _removed_entity(entity, outcome)


#: The direct identifiers both HIPAA lists name, in the words of the regulation:
#: (class, 164.514(b)(2)(i) letter, 164.514(e)(2) numeral, text).
DIRECT_IDENTIFIERS: tuple[tuple[str, str, str, str], ...] = (
    ("phone", "D", "iii", "Telephone numbers"),
    ("fax", "E", "iv", "Fax numbers"),
    ("email", "F", "v", "Electronic mail addresses"),
    ("ssn", "G", "vi", "Social security numbers"),
    ("medical_record_number", "H", "vii", "Medical record numbers"),
    ("health_plan_id", "I", "viii", "Health plan beneficiary numbers"),
    ("account_number", "J", "ix", "Account numbers"),
    ("license_number", "K", "x", "Certificate/license numbers"),
    ("vehicle_id", "L", "xi",
     "Vehicle identifiers and serial numbers, including license plate numbers"),
    ("device_id", "M", "xii", "Device identifiers and serial numbers"),
    ("url", "N", "xiii", "Web Universal Resource Locators (URLs)"),
    ("ip_address", "O", "xiv", "Internet Protocol (IP) address numbers"),
    ("biometric", "P", "xv", "Biometric identifiers, including finger and voice prints"),
    ("photo", "Q", "xvi", "Full face photographic images and any comparable images"),
)  # fmt: skip


def _removal(cid: str, letter: str, text: str) -> IdClass:
    return IdClass(cid, f"{_SH}({letter})", text)


SAFE_HARBOR = Profile(
    name="hipaa-safe-harbor",
    version="1",
    title="HIPAA de-identification, Safe Harbor method",
    cites=("45 CFR 164.514(a)", "45 CFR 164.514(b)(2)", "45 CFR 164.514(c)"),
    options=SafeHarborOptions,
    key_class="other_identifier",
    classes=(
        _removal("name", "A", "Names"),
        IdClass(
            "street_address",
            f"{_SH}(B)",
            "All geographic subdivisions smaller than a State, including street address",
        ),
        IdClass(
            "locality",
            f"{_SH}(B)",
            "All geographic subdivisions smaller than a State, including ... city, county, "
            "precinct, ... and their equivalent geocodes",
        ),
        IdClass(
            "zip",
            f"{_SH}(B)",
            "zip code, and their equivalent geocodes, except for the initial three digits of "
            "a zip code if, according to the current publicly available data from the Bureau "
            "of the Census: (1) The geographic unit formed by combining all zip codes with "
            "the same three initial digits contains more than 20,000 people; and (2) The "
            "initial three digits of a zip code for all such geographic units containing "
            "20,000 or fewer people is changed to 000",
            checked=frozenset({"generalized", "masked"}),
            check=check_zip3,
            accepts="removal, or its first three digits with restricted prefixes as 000",
        ),
        IdClass(
            "date",
            f"{_SH}(C)",
            "All elements of dates (except year) for dates directly related to an individual, "
            "including birth date, admission date, discharge date, date of death",
            checked=frozenset({"generalized", "masked"}),
            check=check_year_only,
            accepts="removal, or the year alone",
        ),
        IdClass(
            "birth_date",
            f"{_SH}(C)",
            "... and all ages over 89 and all elements of dates (including year) indicative "
            "of such age, except that such ages and elements may be aggregated into a single "
            "category of age 90 or older",
            checked=frozenset({"generalized", "masked"}),
            check=check_birth_year,
            accepts="removal, or the year alone with years indicative of an age over 89 as "
            "one category (generalize: {method: year, top_age: 89})",
        ),
        IdClass(
            "age",
            f"{_SH}(C)",
            "all ages over 89 ... may be aggregated into a single category of age 90 or older",
            checked=frozenset({"generalized", "masked"}),
            check=check_age,
            accepts="removal, or ages over 89 as one category (generalize: {method: age})",
        ),
        *(_removal(cid, letter, text) for cid, letter, _, text in DIRECT_IDENTIFIERS),
        _removal(
            "other_identifier",
            "R",
            "Any other unique identifying number, characteristic, or code, except as permitted "
            "by paragraph (c) of this section",
        ),
        IdClass(
            "free_text",
            f"{_SH}(A)-(R)",
            "narrative text may hold any of the identifiers above",
            allowed=frozenset({"removed", "constant"}),
            checked=frozenset({"scanned"}),
            check=_scan_check(SAFE_HARBOR_ENTITIES, _sh_entity),
            accepts="removal, or scan_text (engine: ner) removing every identifier type",
        ),
    ),
    notes=(
        "Safe Harbor also requires that the covered entity has no actual knowledge that the "
        "remaining information could identify an individual (164.514(b)(2)(ii)).",
        "Re-identification codes must be random (tokenize: {mode: random}), not derived "
        "from information about the individual (164.514(c)(1)).",
    ),
)

# -- HIPAA Limited Data Set -------------------------------------------------------------

_LDS = "45 CFR 164.514(e)(2)"


def _lds(cid: str, roman: str, text: str) -> IdClass:
    return IdClass(cid, f"{_LDS}({roman})", text)


class NoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


LIMITED_DATA_SET_ENTITIES = frozenset(
    {"PERSON", "PHONE_NUMBER", "EMAIL_ADDRESS", "US_SSN", "URL", "IP_ADDRESS", "CREDIT_CARD",
     "IBAN_CODE", "US_BANK_NUMBER", "US_DRIVER_LICENSE", "US_PASSPORT", "MEDICAL_LICENSE"}
)  # fmt: skip

LIMITED_DATA_SET = Profile(
    name="hipaa-limited-data-set",
    version="1",
    title="HIPAA limited data set",
    cites=("45 CFR 164.514(e)",),
    options=NoOptions,
    key_class="medical_record_number",
    agreement="data_use_agreement",
    purposes=frozenset({"research", "public_health", "health_care_operations"}),
    classes=(
        _lds("name", "i", "Names"),
        _lds(
            "street_address",
            "ii",
            "Postal address information, other than town or city, State, and zip code",
        ),
        *(_lds(cid, roman, text) for cid, _, roman, text in DIRECT_IDENTIFIERS),
        IdClass(
            "free_text",
            f"{_LDS}(i)-(xvi)",
            "narrative text may hold any of the direct identifiers above",
            allowed=frozenset({"removed", "constant"}),
            checked=frozenset({"scanned"}),
            # dates may stay in a limited data set (shifted, say); organizations are not
            # among the sixteen identifiers
            check=_scan_check(
                LIMITED_DATA_SET_ENTITIES,
                _removed_entity,
                frozenset({"DATE_TIME", "ORGANIZATION", "NRP"}),
            ),
            accepts="removal, or scan_text (engine: ner) removing every direct identifier type",
        ),
    ),
    notes=(
        "Dates, town or city, State, five-digit ZIP codes and ages may remain (164.514(e)(2)).",
        "The recipient must have a data use agreement (164.514(e)(4)); the purpose must be "
        "research, public health or health care operations (164.514(e)(3)(i)).",
    ),
)

# -- PCI DSS ----------------------------------------------------------------------------


class PciOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    #: digits of the BIN (issuer identification number) that may be displayed: 6, or 8 for
    #: 8-digit BINs. The PCI SSC FAQ on 8-digit BINs shows first eight and last TWO as a
    #: display any role may see; first eight and last four "requires a list of roles that
    #: need access to displays of more than BIN and last four", so veil caps a display at
    #: ten digits either way (``MAX_SHOWN``): 6 + 4, or 8 + 2.
    bin_digits: int = Field(default=6, ge=6, le=8)


#: At most this many PAN digits in one display (BIN + last four for a 6-digit BIN).
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


def check_pan(outcome: Outcome, ftype: FieldType, options: BaseModel) -> str | None:
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


def _pan_entity(entity: str, outcome: Outcome) -> str | None:
    kind = disclosure_of(outcome)
    if kind in PAN_ALLOWED:
        return None
    if kind == "masked":
        return check_pan(outcome, FieldType.STRING, PciOptions())
    return "a card number must be masked to the BIN and last four digits at most"


PAN_ALLOWED: frozenset[Disclosure] = REMOVED | {"derived", "reversible"}

PCI_DISPLAY = Profile(
    name="pci-dss-display",
    version="4.0",
    title="PCI DSS v4.0: PAN masked when displayed",
    cites=("PCI DSS v4.0 Requirement 3.4.1", "PCI DSS v4.0 Requirement 3.5.1"),
    options=PciOptions,
    classes=(
        IdClass(
            "pan",
            "PCI DSS v4.0 3.4.1",
            "PAN is masked when displayed (the BIN and last four digits are the maximum number "
            "of digits to be displayed), such that only personnel with a legitimate business "
            "need can see more than the BIN and last four digits of the PAN",
            allowed=PAN_ALLOWED,
            checked=frozenset({"masked"}),
            check=check_pan,
            accepts="removal, a keyed token or hash, encryption, or a mask showing at most the "
            "BIN and last four digits",
        ),
        IdClass(
            "free_text",
            "PCI DSS v4.0 3.4.1",
            "a PAN written in free text is displayed like any other",
            allowed=frozenset({"removed", "constant"}),
            checked=frozenset({"scanned"}),
            check=_scan_check(
                frozenset({"CREDIT_CARD"}),
                _pan_entity,
                # only card numbers are PCI's business in free text
                frozenset(PATTERN_ENTITIES | NER_ENTITIES) - {"CREDIT_CARD"},
            ),
            accepts="removal, or scan_text treating CREDIT_CARD like a PAN field",
        ),
    ),
    notes=(
        "Personnel with a documented legitimate business need may see more: leave them out "
        "of the view's scope (3.4.1).",
    ),
)

PROFILES: dict[str, Profile] = {p.name: p for p in (SAFE_HARBOR, LIMITED_DATA_SET, PCI_DISPLAY)}


def find_profile(ref: str) -> Profile | None:
    """``name`` or ``name@version``; None if veil ships no such profile (version)."""
    name, _, version = ref.partition("@")
    p = PROFILES.get(name)
    if p is None or (version and version != p.version):
        return None
    return p


def options_of(profile: Profile, raw: dict[str, Any]) -> BaseModel:
    """The view's options validated against the profile's model (raises ValidationError)."""
    return profile.options.model_validate(raw)


def judge(cls: IdClass, outcome: Outcome, ftype: FieldType, options: BaseModel) -> str | None:
    """None if ``outcome`` is acceptable for a field of ``cls``, else why not."""
    kind = disclosure_of(outcome)
    if kind in cls.allowed:
        return None
    if kind in cls.checked and cls.check is not None:
        try:
            return _judged(cls, outcome, ftype, options)
        except ProfileError as exc:
            return exc.message
    return f"{cls.cite} accepts {cls.accepts}; {outcome.describe()} discloses it {_words(kind)}"


def _words(kind: Disclosure) -> str:
    return {
        "clear": "in clear",
        "reversible": "encrypted (reversible)",
        "derived": "as a code derived from the value",
        "masked": "partly masked",
        "generalized": "generalized",
        "shifted": "as a shifted date",
        "random_token": "as a random code",
        "scanned": "scanned",
        "constant": "as a constant",
        "removed": "removed",
    }[kind]


@functools.lru_cache(maxsize=4096)
def _judged_cached(
    class_key: tuple[str, str], outcome: Outcome, ftype: FieldType, options_json: str
) -> str | None:
    profile = PROFILES[class_key[0]]
    cls = profile.cls(class_key[1])
    options = profile.options.model_validate_json(options_json)
    assert cls.check is not None
    return cls.check(outcome, ftype, options)


def _judged(cls: IdClass, outcome: Outcome, ftype: FieldType, options: BaseModel) -> str | None:
    owner = next(p for p in PROFILES.values() if cls in p.classes)
    try:
        return _judged_cached((owner.name, cls.id), outcome, ftype, options.model_dump_json())
    except TypeError:  # an outcome whose params cannot be hashed: judge without the cache
        assert cls.check is not None
        return cls.check(outcome, ftype, options)


__all__ = [
    "LIMITED_DATA_SET",
    "PCI_DISPLAY",
    "PROFILES",
    "SAFE_HARBOR",
    "IdClass",
    "Params",
    "Profile",
    "disclosure_of",
    "find_profile",
    "judge",
]
