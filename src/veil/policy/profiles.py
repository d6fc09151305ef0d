"""Regulations as proven rule sets: HIPAA Safe Harbor, the Limited Data Set, PCI DSS display.

A profile names identifier *classes*, each with the regulation text it comes from and
what may be disclosed of a field of that class: a set of :data:`Disclosure` kinds that
are always acceptable, and a *check* for the kinds that are acceptable only with the
right parameters (a ZIP generalized to three digits with the restricted prefixes blanked,
a birth date reduced to a year that is never indicative of an age over 89, a card number
masked to at most the BIN and the last four digits).

Checks (:mod:`veil.policy.checks`) do not read parameters to decide. They bind the
transform and run it over a finite domain that covers every case the rule cares about
(all 1,000 ZIP prefixes, every day of the years around the age-90 boundary on several
disclosure dates, card numbers of every length from 12 to 19 digits in several layouts,
ages 0 to 130), and judge the outputs. A new transform or parameter is therefore judged
by what it does, not by what its name promises; a check that cannot bind or run a
transform fails it.

Bundles apply a profile to some requests (a *view*, ``profiles:`` in a bundle) and tag
their fields with the classes (by default a class is the tag of the same name).
:mod:`veil.policy.proofs` enumerates the requests and checks every field's outcome.

What stays the covered entity's duty (the profile cannot see it) is listed in
``docs/compliance.md``: tagging every field that holds an identifier, the "actual
knowledge" condition of 164.514(b)(2)(ii), and what free-text detection misses.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..text.engine import NER_ENTITIES, PATTERN_ENTITIES
from ..transforms.base import Disclosure, FieldType, Params
from .checks import (
    PAN_ALLOWED,
    REMOVED,
    Check,
    ProfileError,
    check_age,
    check_birth_year,
    check_pan,
    check_year_only,
    check_zip3,
    disclosure_of,
    pan_entity,
    removed_entity,
    scan_check,
)
from .decision import Outcome


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


class SafeHarborOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    #: restricted 3-digit ZIP prefixes the outputs are judged against (shipped tables:
    #: ``veil.transforms.generalize.zip3_tables()``)
    zip3_table: str = "hipaa-census-2000"
    #: accept free text scanned for identifiers (scan_text); False: free text must be removed
    scanned_free_text: bool = True


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
    return removed_entity(entity, outcome)


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
            check=scan_check(SAFE_HARBOR_ENTITIES, _sh_entity),
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
            check=scan_check(
                LIMITED_DATA_SET_ENTITIES,
                removed_entity,
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
            check=scan_check(
                frozenset({"CREDIT_CARD"}),
                pan_entity,
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
