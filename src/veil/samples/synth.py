"""Seeded synthetic sample data: flat and FHIR patients, bank accounts, card transactions.

Everything is fake by construction: SSNs use the never-issued 9xx area, phones the
fictional 555 area code, e-mails the reserved ``example.*`` domains, IP addresses the
documentation ranges, and names, streets, cities and companies come from Faker. Card
numbers and IBANs are random but carry valid check digits, so validators and PII
detectors see them as real-looking.

Benchmarks need 100k+ records in seconds and Faker costs tens of microseconds a call, so
each locale's values are drawn once into fixed pools by a seeded Faker and records are
composed from the pools by a seeded ``random.Random``. Same seed and Faker version, same
output. Faker is an optional extra (``veil[synth]``), imported only when a pool is built.

Why one module of ~840 lines: four datasets (patients, FHIR patients, accounts,
transactions) drawn from shared pools and one seed scheme; most of it is data (clinical
note templates, diagnosis codes, merchant categories) rather than logic.
"""

from __future__ import annotations

import random
import unicodedata
import uuid
from bisect import bisect
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, date, datetime
from functools import cache, cached_property
from itertools import accumulate
from typing import Any, NamedTuple, TypeVar

__all__ = [
    "DIAGNOSES",
    "REFERENCE_DATE",
    "RESTRICTED_ZIP3",
    "Diagnosis",
    "Record",
    "accounts",
    "fhir_patients",
    "iban_valid",
    "luhn_valid",
    "patients",
    "transactions",
]

Record = dict[str, Any]
T = TypeVar("T")

REFERENCE_DATE = date(2026, 1, 1)
"""Ages are computed as of this day, so the output does not change with the clock."""

RESTRICTED_ZIP3 = frozenset(
    {
        "036", "059", "063", "102", "203", "556", "692", "790", "821",
        "823", "830", "831", "878", "879", "884", "890", "893",
    }
)  # fmt: skip
"""HIPAA Safe Harbor 3-digit ZIP prefixes (population < 20,000) that must become 000."""


class Diagnosis(NamedTuple):
    code: str
    description: str
    phrase: str  # how a clinician would write it mid-sentence
    sensitive: bool  # HIV and mental/behavioural health: special-category data
    weight: int


DIAGNOSES: tuple[Diagnosis, ...] = (
    Diagnosis("I10", "Essential hypertension", "hypertension", False, 14),
    Diagnosis(
        "E11.9", "Type 2 diabetes mellitus without complications", "type 2 diabetes", False, 11
    ),
    Diagnosis("E78.5", "Hyperlipidemia", "hyperlipidemia", False, 9),
    Diagnosis("J45.909", "Asthma, uncomplicated", "asthma", False, 7),
    Diagnosis("J44.9", "Chronic obstructive pulmonary disease", "COPD", False, 6),
    Diagnosis("J18.9", "Pneumonia, unspecified organism", "pneumonia", False, 7),
    Diagnosis("N39.0", "Urinary tract infection", "a urinary tract infection", False, 6),
    Diagnosis("I25.10", "Coronary artery disease", "coronary artery disease", False, 6),
    Diagnosis("I48.91", "Atrial fibrillation", "atrial fibrillation", False, 5),
    Diagnosis("K21.9", "Gastro-esophageal reflux disease", "reflux", False, 5),
    Diagnosis("M54.50", "Low back pain", "low back pain", False, 6),
    Diagnosis("U07.1", "COVID-19", "COVID-19", False, 3),
    Diagnosis("B20", "HIV disease", "HIV disease", True, 3),
    Diagnosis("F32.9", "Major depressive disorder", "depression", True, 6),
    Diagnosis("F41.1", "Generalized anxiety disorder", "anxiety", True, 4),
    Diagnosis("F10.20", "Alcohol dependence", "alcohol use disorder", True, 2),
)

_DX_CUM = tuple(accumulate(d.weight for d in DIAGNOSES))

_US_STATES = (
    "AL", "AK", "AZ", "AR", "CA", "CO", "CT", "DE", "DC", "FL", "GA", "HI", "ID", "IL", "IN",
    "IA", "KS", "KY", "LA", "ME", "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH",
    "NJ", "NM", "NY", "NC", "ND", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT",
    "VT", "VA", "WA", "WV", "WI", "WY",
)  # fmt: skip
_RESTRICTED = tuple(sorted(RESTRICTED_ZIP3))
_RESTRICTED_INTS = frozenset(int(p) for p in RESTRICTED_ZIP3)
_ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_EMAIL_DOMAINS = ("example.com", "example.org", "example.net")
_DOC_NETS = ("192.0.2.", "198.51.100.", "203.0.113.")  # RFC 5737: never routed
_ADMIT_FIRST = date(2023, 1, 1).toordinal()
_ADMIT_LAST = date(2025, 11, 30).toordinal()
_TXN_EPOCH = int(datetime(2025, 1, 1, tzinfo=UTC).timestamp())
_MONTH_NAMES = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip

# --------------------------------------------------------------------------- pools

_POOL_NAMES = 2000
_POOL_PLACES = 1000


class _Pool:
    """Faker values for one locale, drawn once per seed; records only index into them.

    Each field is seeded on its own so a pool's content does not depend on which fields
    happened to be built first.
    """

    def __init__(self, locale: str, seed: int) -> None:
        self.locale = locale
        self.seed = seed

    def _draw(self, field: str, method: str, size: int) -> tuple[str, ...]:
        fake = _faker(self.locale)
        fake.seed_instance(f"veil.synth:{self.locale}:{field}:{self.seed}")
        make = getattr(fake, method)
        return tuple(" ".join(str(make()).split()) for _ in range(size))

    @cached_property
    def female(self) -> tuple[str, ...]:
        return self._draw("female", "first_name_female", _POOL_NAMES)

    @cached_property
    def male(self) -> tuple[str, ...]:
        return self._draw("male", "first_name_male", _POOL_NAMES)

    @cached_property
    def first(self) -> tuple[str, ...]:
        return self.female + self.male

    @cached_property
    def last(self) -> tuple[str, ...]:
        return self._draw("last", "last_name", _POOL_NAMES)

    @cached_property
    def street(self) -> tuple[str, ...]:
        return self._draw("street", "street_name", _POOL_PLACES)

    @cached_property
    def city(self) -> tuple[str, ...]:
        return self._draw("city", "city", _POOL_PLACES)

    @cached_property
    def company(self) -> tuple[str, ...]:
        return self._draw("company", "company", _POOL_PLACES)


@cache
def _faker(locale: str) -> Any:
    try:
        from faker import Faker
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError("veil.synth needs Faker: pip install 'veil[synth]'") from exc
    return Faker(locale)


@cache
def _pool(locale: str, seed: int) -> _Pool:
    return _Pool(locale, seed)


@cache
def _slug(name: str) -> str:
    """ASCII e-mail local part from a (possibly accented) name: 'Müller-Lüdenscheidt'."""
    text = unicodedata.normalize("NFKD", name.replace("ß", "ss"))
    return "".join(c for c in text.lower() if c.isascii() and c.isalnum()) or "user"


# --------------------------------------------------------------------------- small pieces


def _below(rng: random.Random, k: int) -> int:
    """``randrange(k)`` at a third of the cost; the float's bias is far below noise."""
    return int(rng.random() * k)


def _range(rng: random.Random, lo: int, hi: int) -> int:
    return lo + int(rng.random() * (hi - lo))


def _pick(rng: random.Random, seq: Sequence[T]) -> T:
    return seq[int(rng.random() * len(seq))]


def _check_n(n: int, limit: int, what: str) -> None:
    if not isinstance(n, int) or n < 0:
        raise ValueError(f"{what}: n must be a non-negative int, got {n!r}")
    if n > limit:
        raise ValueError(f"{what}: n must be at most {limit:,} (unique ids), got {n:,}")


def _unique(rng: random.Random, used: set[int], space: int) -> int:
    while True:
        value = _below(rng, space)
        if value not in used:
            used.add(value)
            return value


@cache
def _alnum3() -> tuple[str, ...]:
    """All 46,656 three-character A-Z0-9 strings: 3 picks beat 9 for an insurance id."""
    return tuple(a + b + c for a in _ALNUM for b in _ALNUM for c in _ALNUM)


def _digits(rng: random.Random, k: int) -> str:
    """``k`` random digits, 15 per draw (a double carries ~15.9 decimal digits)."""
    out = ""
    while k > 0:
        m = min(k, 15)
        out += f"{int(rng.random() * 10**m):0{m}d}"
        k -= m
    return out


def _phone(rng: random.Random) -> str:
    exchange, line = _range(rng, 200, 1000), _below(rng, 10000)
    if rng.random() < 0.5:
        return f"(555) {exchange}-{line:04d}"
    return f"555-{exchange}-{line:04d}"


def _ssn(rng: random.Random) -> str:
    # 9xx areas are never issued as SSNs; group and serial avoid the all-zero blocks
    # that detectors reject, so the values still look like SSNs.
    v = int(rng.random() * 98_990_100)  # 100 areas x 99 groups x 9999 serials, one draw
    return f"9{v % 100:02d}-{v // 100 % 99 + 1:02d}-{v // 9900 + 1:04d}"


def _email(rng: random.Random, first: str, last: str) -> str:
    f, l_, r = _slug(first), _slug(last), rng.random()
    if r < 0.4:
        local = f"{f}.{l_}"
    elif r < 0.6:
        local = f"{f[0]}{l_}"
    elif r < 0.85:
        local = f"{f}.{l_}{_range(rng, 1, 100)}"
    else:
        local = f"{l_}_{f}{_range(rng, 10, 100)}"
    return f"{local}@{_pick(rng, _EMAIL_DOMAINS)}"


def _zip(rng: random.Random) -> str:
    """5% of ZIPs fall in a restricted 3-digit area so Safe Harbor rules have work to do."""
    if rng.random() < 0.05:
        return f"{_pick(rng, _RESTRICTED)}{_below(rng, 100):02d}"
    z = _range(rng, 500, 100_000)
    while z // 100 in _RESTRICTED_INTS:
        z = _range(rng, 500, 100_000)
    return f"{z:05d}"


def _us_street(rng: random.Random, names: Sequence[str]) -> str:
    street = f"{_range(rng, 1, 9999)} {_pick(rng, names)}"
    r = rng.random()
    if r < 0.1:
        return f"{street} Apt. {_range(rng, 1, 999)}"
    if r < 0.15:
        return f"{street} Suite {_range(rng, 100, 999)}"
    return street


def _age(birth: date, on: date = REFERENCE_DATE) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def _birth_date(rng: random.Random, lo_age: int, hi_age: int, old_share: float) -> date:
    """A birth date; ``old_share`` of people are 90+, whom Safe Harbor must aggregate."""
    old = rng.random() < old_share
    age = _range(rng, 90, 105) if old else _range(rng, lo_age, hi_age + 1)
    year = REFERENCE_DATE.year - age
    first = date(year - 1, 1, 1).toordinal() + 1  # born after this Jan 1: not yet age+1
    return date.fromordinal(_range(rng, first, date(year, 1, 1).toordinal() + 1))


def _us_date(d: date) -> str:
    return f"{d.month:02d}/{d.day:02d}/{d.year}"


def _luhn_digit(payload: str) -> str:
    total = 0
    for i, ch in enumerate(reversed(payload)):
        d = ord(ch) - 48
        if i % 2 == 0:  # doubled once the check digit is appended
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return str(-total % 10)


def _card_number(rng: random.Random) -> str:
    r = rng.random()
    if r < 0.08:
        prefix, length = _pick(rng, ("34", "37")), 15  # American Express
    elif r < 0.55:
        prefix, length = "4", 16  # Visa
    else:
        prefix, length = str(_range(rng, 51, 56)), 16  # Mastercard
    body = prefix + _digits(rng, length - len(prefix) - 1)
    return body + _luhn_digit(body)


def _spaced(card: str) -> str:
    if len(card) == 15:
        return f"{card[:4]} {card[4:10]} {card[10:]}"
    return " ".join(card[i : i + 4] for i in range(0, len(card), 4))


def luhn_valid(s: str) -> bool:
    """True if ``s`` (spaces and hyphens allowed) passes the Luhn mod-10 check."""
    digits = s.replace(" ", "").replace("-", "")
    if len(digits) < 2 or not (digits.isascii() and digits.isdigit()):
        return False
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


_IBAN_LENGTHS = {
    "AT": 20, "BE": 16, "CH": 21, "DE": 22, "DK": 18, "ES": 24, "FI": 18, "FR": 27,
    "GB": 22, "IE": 22, "IT": 27, "LU": 20, "NL": 18, "NO": 15, "PL": 28, "PT": 25, "SE": 24,
}  # fmt: skip


_LETTER_VALUES = str.maketrans({chr(65 + i): str(10 + i) for i in range(26)})  # A=10 .. Z=35


def _mod97(text: str) -> int:
    return int(text.translate(_LETTER_VALUES)) % 97


def iban_valid(s: str) -> bool:
    """True if ``s`` (spaces allowed) is a well-formed IBAN with ISO 13616 check digits."""
    iban = s.replace(" ", "").upper()
    if not (15 <= len(iban) <= 34 and iban.isascii() and iban.isalnum()):
        return False
    country, check = iban[:2], iban[2:4]
    if not (country.isalpha() and check.isdigit()) or check in ("00", "01", "99"):
        return False
    if len(iban) != _IBAN_LENGTHS.get(country, len(iban)):
        return False
    return _mod97(iban[4:] + iban[:4]) == 1


def _iban(country: str, bban: str) -> str:
    return f"{country}{98 - _mod97(bban + country + '00'):02d}{bban}"


def _bban(rng: random.Random, country: str) -> str:
    """Country-shaped BBAN; FR carries its RIB key and NL passes the 11-test."""
    if country == "DE":  # 8-digit bank code, 10-digit account
        return _digits(rng, 18)
    if country == "GB":  # 4-letter bank, 6-digit sort code, 8-digit account
        return _pick(rng, ("VEIL", "SYNT", "DEMO", "FAKE")) + _digits(rng, 14)
    if country == "FR":  # bank 5, branch 5, account 11, RIB key 2
        bank, branch, account = _digits(rng, 5), _digits(rng, 5), _digits(rng, 11)
        key = 97 - (89 * int(bank) + 15 * int(branch) + 3 * int(account)) % 97
        return f"{bank}{branch}{account}{key:02d}"
    if country == "NL":  # 4-letter bank, 10-digit account
        while True:
            head = [_range(rng, 1, 10), *(_below(rng, 10) for _ in range(8))]
            last = -sum(d * w for d, w in zip(head, range(10, 1, -1), strict=True)) % 11
            if last < 10:
                return _pick(rng, ("VEIL", "SYNT", "DEMO")) + "".join(map(str, head)) + str(last)
    raise ValueError(f"no BBAN format for {country}")


# --------------------------------------------------------------------------- patients


class _Note:
    """What a note sentence may mention; values that cost draws are made only on demand."""

    __slots__ = ("admitted", "birth", "dx", "pool", "rec", "rng")

    def __init__(
        self,
        rng: random.Random,
        pool: _Pool,
        rec: Record,
        dx: Diagnosis,
        birth: date,
        admitted: date,
    ) -> None:
        self.rng, self.pool, self.rec, self.dx = rng, pool, rec, dx
        self.birth, self.admitted = birth, admitted

    def name(self) -> str:
        return f"{self.rec['first_name']} {self.rec['last_name']}"

    def who(self) -> str:
        words = ("girl", "boy", "child") if self.rec["age"] < 18 else ("woman", "man", "patient")
        return words["FMX".index(self.rec["sex"])]

    def contact(self) -> str:
        rng, pool = self.rng, self.pool
        relation = _pick(rng, ("daughter", "son", "spouse", "sister", "brother", "mother"))
        return f"{_pick(rng, pool.first)} {_pick(rng, pool.last)} ({relation}), tel {_phone(rng)}"

    def follow_up(self) -> str:
        discharged = date.fromisoformat(self.rec["discharge_date"]).toordinal()
        return _us_date(date.fromordinal(discharged + _range(self.rng, 7, 43)))

    def bp(self) -> str:
        return f"{_range(self.rng, 100, 166)}/{_range(self.rng, 60, 101)}"

    def card(self) -> str:
        return _card_number(self.rng)


# f-string lambdas, not str.format with lazy lookups: that nearly doubled a record's cost.
_NOTE_OPENERS: tuple[Callable[[_Note], str], ...] = (
    lambda p: f"{p.name()} admitted on {p.rec['admission_date']} for {p.dx.phrase}.",
    lambda p: (
        f"Patient {p.name()} (DOB {_us_date(p.birth)}) admitted "
        f"{_us_date(p.admitted)} with {p.dx.phrase}."
    ),
    lambda p: f"{p.rec['age']}-year-old {p.who()} presenting with {p.dx.phrase}.",
    lambda p: f"Follow-up visit for {p.dx.phrase}; {p.rec['first_name']} reports feeling better.",
    lambda p: (
        f"{p.rec['attending_physician']} examined {p.rec['first_name']} today; "
        f"findings consistent with {p.dx.phrase}."
    ),
    lambda p: f"Chief complaint related to {p.dx.phrase}, stable on current regimen.",
    lambda p: (
        f"Pt {p.rec['first_name']} {p.rec['last_name'][0]}. seen in clinic for {p.dx.phrase}."
    ),
    lambda p: f"Reviewed {p.dx.phrase} management plan with the patient.",
)
_NOTE_EXTRAS: tuple[Callable[[_Note], str], ...] = (
    lambda p: f"Contact: {p.rec['phone']}.",
    lambda p: f"Patient can be reached at {p.rec['phone']} or {p.rec['email']}.",
    lambda p: f"Prefers e-mail ({p.rec['email']}) for results.",
    lambda p: f"SSN {p.rec['ssn']} verified at registration.",
    lambda p: f"Insurance checked against SSN {p.rec['ssn'].replace('-', '')}.",
    lambda p: f"Emergency contact {p.contact()}.",
    lambda p: f"Copay paid by card {p.card()}.",
    lambda p: f"Card on file {_spaced(p.card())} declined; billing will call {p.rec['phone']}.",
    lambda p: f"Discharged home on {p.rec['discharge_date']}.",
    lambda p: f"Follow-up appointment on {p.follow_up()}.",
    lambda p: f"Weight {p.rec['weight_kg']} kg, BP {p.bp()}.",
    lambda p: "No known drug allergies.",
    lambda p: f"Allergic to penicillin; rash noted on {_us_date(p.admitted)}.",
    lambda p: "Discussed medication adherence and diet.",
)


def _note(note: _Note) -> str:
    """One opener plus zero to two distinct extras: 1-3 sentences."""
    rng = note.rng
    r = rng.random()
    text = _pick(rng, _NOTE_OPENERS)(note)
    if r < 0.25:
        return text
    i = _below(rng, len(_NOTE_EXTRAS))
    text = f"{text} {_NOTE_EXTRAS[i](note)}"
    if r < 0.7:
        return text
    j = _below(rng, len(_NOTE_EXTRAS) - 1)
    return f"{text} {_NOTE_EXTRAS[j + (j >= i)](note)}"


def _weight(rng: random.Random, age: int, sex: str) -> float:
    if age < 1:
        kg = rng.uniform(3.0, 10.0)
    elif age < 18:
        kg = (8.0 + age * 3.3) * rng.uniform(0.8, 1.25)
    else:
        kg = rng.gauss(71.0 if sex == "F" else 85.0 if sex == "M" else 78.0, 15.0)
    return round(min(max(kg, 2.5), 190.0), 1)


def patients(n: int, seed: int = 7) -> Iterator[Record]:
    """Yield ``n`` flat patient records: identifiers, demographics, one admission, a note.

    Built to exercise de-identification: ~3% are over 89, ~5% live in a restricted ZIP3
    area, ~15% refuse research consent, ``sensitive`` marks HIV and mental-health
    diagnoses, and ``note`` embeds names, phones, e-mails, SSNs, dates and card numbers.
    """
    _check_n(n, 5_000_000, "patients")
    return _patients(n, seed)


def _patients(n: int, seed: int) -> Iterator[Record]:
    pool = _pool("en_US", seed)
    female, male, firsts, last, cities = pool.female, pool.male, pool.first, pool.last, pool.city
    streets = pool.street
    orgs = ("org-north", "org-south", "org-east")
    alnum3 = _alnum3()
    rng = random.Random(f"veil.synth.patients:{seed}")
    rnd = rng.random  # hot loop: index pools directly instead of rng.choice
    used: set[int] = set()
    for _ in range(n):
        mrn = _unique(rng, used, 10_000_000)
        r = rnd()
        sex = "F" if r < 0.5 else "M" if r < 0.98 else "X"
        names = female if sex == "F" or (sex == "X" and r < 0.99) else male
        first = names[int(rnd() * len(names))]
        surname = last[int(rnd() * len(last))]
        birth = _birth_date(rng, 0, 89, 0.03)
        age = _age(birth)
        admit_from = max(birth.toordinal(), _ADMIT_FIRST)
        admitted = admit_from + int(rnd() * max(_ADMIT_LAST + 1 - admit_from, 1))
        stay = 1 + min(int(rng.expovariate(0.25)), 59)
        dx = DIAGNOSES[bisect(_DX_CUM, rnd() * _DX_CUM[-1])]
        doctor = f"Dr. {firsts[int(rnd() * len(firsts))]} {last[int(rnd() * len(last))]}"
        rec: Record = {
            "patient_id": f"MRN-{mrn:07d}",
            "ssn": _ssn(rng),
            "first_name": first,
            "last_name": surname,
            "birth_date": birth.isoformat(),
            "age": age,
            "sex": sex,
            "phone": _phone(rng),
            "email": _email(rng, first, surname),
            "street": _us_street(rng, streets),
            "city": cities[int(rnd() * len(cities))],
            "state": _US_STATES[int(rnd() * len(_US_STATES))],
            "zip": _zip(rng),
            "admission_date": date.fromordinal(admitted).isoformat(),
            "discharge_date": date.fromordinal(admitted + stay).isoformat(),
            "diagnosis_code": dx.code,
            "diagnosis": dx.description,
            "attending_physician": doctor,
            "organization_id": orgs[int(rnd() * 3)],
            "consent_research": rnd() >= 0.15,
            "insurance_id": f"INS-{_pick(rng, alnum3)}{_pick(rng, alnum3)}{_pick(rng, alnum3)}",
            "sensitive": dx.sensitive,
            "note": "",
            "weight_kg": _weight(rng, age, sex),
        }
        rec["note"] = _note(_Note(rng, pool, rec, dx, birth, date.fromordinal(admitted)))
        yield rec


# --------------------------------------------------------------------------- FHIR patients

_CONFIDENTIALITY = "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
_GENDERS = ("female", "male", "other", "unknown")


def fhir_patients(n: int, seed: int = 11) -> Iterator[Record]:
    """Yield ``n`` FHIR R4 ``Patient`` resources as plain dicts, for nested-path policies.

    Lists vary in length (one or two given names, optional nickname, one to three
    telecoms) and ``meta.security`` carries an N/R/V confidentiality code.
    """
    _check_n(n, 5_000_000, "fhir_patients")
    return _fhir_patients(n, seed)


def _fhir_patients(n: int, seed: int) -> Iterator[Record]:
    pool = _pool("en_US", seed)
    rng = random.Random(f"veil.synth.fhir_patients:{seed}")
    used: set[int] = set()
    for _ in range(n):
        mrn = _unique(rng, used, 10_000_000)
        gender = rng.choices(_GENDERS, cum_weights=(49, 97, 99, 100))[0]
        firsts = {"female": pool.female, "male": pool.male}.get(gender, pool.first)
        given = [_pick(rng, firsts)]
        if rng.random() < 0.3:
            given.append(_pick(rng, firsts))
        family = _pick(rng, pool.last)
        names: list[Record] = [{"use": "official", "family": family, "given": given}]
        if rng.random() < 0.2:
            names.append({"use": "nickname", "given": [_pick(rng, firsts)]})
        telecom: list[Record] = [
            {"system": "phone", "value": _phone(rng), "use": _pick(rng, ("home", "mobile"))}
        ]
        if rng.random() < 0.3:
            telecom.append({"system": "phone", "value": _phone(rng), "use": "work"})
        if rng.random() < 0.6:
            email = _email(rng, given[0], family)
            telecom.append({"system": "email", "value": email, "use": _pick(rng, ("home", "work"))})
        r = rng.random()
        yield {
            "resourceType": "Patient",
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "meta": {
                "security": [
                    {
                        "system": _CONFIDENTIALITY,
                        "code": "N" if r < 0.8 else "R" if r < 0.95 else "V",
                    }
                ]
            },
            "identifier": [
                {"system": "urn:oid:2.16.840.1.113883.4.1", "value": _ssn(rng)},
                {"system": "urn:veil:mrn", "value": f"MRN-{mrn:07d}"},
            ],
            "name": names,
            "telecom": telecom,
            "gender": gender,
            "birthDate": _birth_date(rng, 0, 89, 0.03).isoformat(),
            "address": [
                {
                    "line": [_us_street(rng, pool.street)],
                    "city": _pick(rng, pool.city),
                    "state": _pick(rng, _US_STATES),
                    "postalCode": _zip(rng),
                    "country": "US",
                }
            ],
            "managingOrganization": {
                "reference": "Organization/" + _pick(rng, ("org-north", "org-south", "org-east"))
            },
        }


# --------------------------------------------------------------------------- accounts

_LOCALES = {"DE": "de_DE", "FR": "fr_FR", "NL": "nl_NL", "GB": "en_GB", "US": "en_US"}
_HOME_CURRENCY = {"DE": "EUR", "FR": "EUR", "NL": "EUR", "GB": "GBP", "US": "USD"}
_ACCOUNT_COUNTRIES = ("DE", "FR", "NL", "GB")  # IBAN countries: every account has one
_ACCOUNT_COUNTRY_CUM = tuple(accumulate((35, 25, 15, 25)))
_KYC_RISK = ("low",) * 15 + ("medium",) * 4 + ("high",)  # 75% / 20% / 5%
_OPEN_FIRST = date(2005, 1, 1).toordinal()
_OPEN_LAST = date(2025, 12, 31).toordinal()


def accounts(n: int, seed: int = 13) -> Iterator[Record]:
    """Yield ``n`` bank accounts in DE, FR, NL or GB with valid IBANs and Luhn card numbers.

    About 10% belong to a customer who already holds one, so customer-level joins and
    pseudonyms have repeats to keep consistent.
    """
    _check_n(n, 500_000, "accounts")
    return _accounts(n, seed)


def _accounts(n: int, seed: int) -> Iterator[Record]:
    rng = random.Random(f"veil.synth.accounts:{seed}")
    used_accounts: set[int] = set()
    used_customers: set[int] = set()
    customers: list[tuple[str, str, str, str, date, str]] = []
    for _ in range(n):
        account_no = _unique(rng, used_accounts, 100_000_000)
        if customers and rng.random() < 0.1:
            customer = _pick(rng, customers)
        else:
            country = _ACCOUNT_COUNTRIES[bisect(_ACCOUNT_COUNTRY_CUM, rng.random() * 100)]
            pool = _pool(_LOCALES[country], seed)
            first = _pick(rng, pool.female if rng.random() < 0.5 else pool.male)
            surname = _pick(rng, pool.last)
            customer = (
                f"CUST-{_unique(rng, used_customers, 1_000_000):06d}",
                f"{first} {surname}",
                _email(rng, first, surname),
                _phone(rng),
                _birth_date(rng, 18, 89, 0.01),
                country,
            )
            customers.append(customer)
        customer_id, holder, email, phone, born, country = customer
        pool = _pool(_LOCALES[country], seed)
        r = rng.random()
        status = "active" if r < 0.85 else "closed" if r < 0.93 else "frozen"
        r = rng.random()
        if status == "closed":
            balance = 0.0
        elif r < 0.05:
            balance = -round(rng.uniform(1, 2500), 2)
        else:
            balance = round(rng.lognormvariate(7.5, 1.6), 2)
        adult = born.toordinal() + 6575  # 18 years, give or take a leap day
        open_from = min(max(_OPEN_FIRST, adult), _OPEN_LAST)
        yield {
            "account_id": f"ACC-{account_no:08d}",
            "customer_id": customer_id,
            "holder_name": holder,
            "email": email,
            "phone": phone,
            "date_of_birth": born.isoformat(),
            "iban": _iban(country, _bban(rng, country)),
            "card_number": _card_number(rng),
            "card_expiry": f"{_range(rng, 1, 13):02d}/{_range(rng, 26, 32)}",
            "balance": balance,
            "currency": _HOME_CURRENCY[country] if rng.random() < 0.88 else "USD",
            "opened_date": date.fromordinal(_range(rng, open_from, _OPEN_LAST + 1)).isoformat(),
            "branch": _pick(rng, pool.city),
            "country": country,
            "credit_score": min(max(round(rng.gauss(690, 75)), 300), 850),
            "kyc_risk": _pick(rng, _KYC_RISK),
            "status": status,
            "organization_id": _pick(rng, ("bank-a", "bank-b")),
        }


# --------------------------------------------------------------------------- transactions

_MCC = {
    "card": (
        "5411", "5812", "5814", "5541", "4111", "5732", "5912", "5311", "5999", "7011",
        "4511", "5691", "5942", "8062", "6011",
    ),
    "transfer": ("4829", "6012", "6051"),
    "direct_debit": ("4900", "4814", "6300", "7997", "4899"),
}  # fmt: skip


class _Memo:
    """What a payment memo may mention; names come from the account holder's locale."""

    __slots__ = ("city", "ibans", "merchant", "pool", "rng")

    def __init__(
        self, rng: random.Random, pool: _Pool, merchant: str, city: str, ibans: Sequence[str]
    ) -> None:
        self.rng, self.pool, self.merchant, self.city, self.ibans = rng, pool, merchant, city, ibans

    def first(self) -> str:
        return _pick(self.rng, self.pool.first)

    def name(self) -> str:
        return f"{self.first()} {_pick(self.rng, self.pool.last)}"

    def iban(self) -> str:
        return _pick(self.rng, self.ibans)

    def iban_print(self) -> str:
        iban = self.iban()
        return " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))

    def phone(self) -> str:
        return _phone(self.rng)

    def ref(self) -> int:
        return _range(self.rng, 10_000, 1_000_000)

    def month(self) -> str:
        return _pick(self.rng, _MONTH_NAMES)


_MEMOS: dict[str, tuple[Callable[[_Memo], str], ...]] = {
    "card": (
        lambda m: m.merchant,
        lambda m: f"POS purchase {m.city}",
        lambda m: "Contactless payment",
        lambda m: f"Online order #{m.ref()}",
        lambda m: f"Refund {m.merchant}",
        lambda m: f"Card payment {m.merchant} {m.city}",
    ),
    "transfer": (
        lambda m: f"Rent {m.month()}",
        lambda m: f"Transfer to {m.name()}",
        lambda m: f"To {m.iban_print()} {m.name()}",
        lambda m: f"Paying back dinner - {m.first()}",
        lambda m: f"Invoice {m.ref()} IBAN {m.iban()}",
        lambda m: f"Loan repayment {m.month()}",
        lambda m: f"Gift for {m.first()}",
        lambda m: f"Deposit, call {m.phone()} if questions",
        lambda m: "Savings",
    ),
    "direct_debit": (
        lambda m: f"SEPA DD {m.merchant} mandate MD-{m.ref()}",
        lambda m: f"Insurance premium {m.month()}",
        lambda m: f"Utility bill {m.month()} ref {m.ref()}",
        lambda m: "Gym membership",
        lambda m: f"Mobile plan {m.month()} - support {m.phone()}",
    ),
}


def _amount(rng: random.Random, channel: str) -> float:
    if rng.random() < 0.02:
        return round(rng.uniform(1_000, 25_000), 2)
    mu = 5.0 if channel == "transfer" else 3.2
    return max(round(rng.lognormvariate(mu, 1.0), 2), 0.5)


def transactions(
    n: int, seed: int = 17, accounts: Iterable[Mapping[str, Any]] | None = None
) -> Iterator[Record]:
    """Yield ``n`` transactions on ``accounts`` (default: ``accounts(200, seed)``).

    Accounts need ``account_id``, ``customer_id``, ``card_number``, ``currency``,
    ``country`` and ``iban``; some accounts are busier than others.
    """
    _check_n(n, 1_000_000_000, "transactions")
    accts: list[Mapping[str, Any]] = list(_accounts(200, seed) if accounts is None else accounts)
    if n and not accts:
        raise ValueError("transactions: need at least one account")
    needed = {"account_id", "customer_id", "card_number", "currency", "country", "iban"}
    for acct in accts:
        if missing := needed - acct.keys():
            raise ValueError(f"transactions: account lacks {sorted(missing)}")
    return _transactions(n, seed, accts)


def _transactions(n: int, seed: int, accts: list[Mapping[str, Any]]) -> Iterator[Record]:
    rng = random.Random(f"veil.synth.transactions:{seed}")
    activity = tuple(accumulate(rng.lognormvariate(0, 1) for _ in accts))
    ibans = [str(a["iban"]) for a in accts]
    abroad = tuple(_LOCALES)
    used: set[int] = set()
    for _ in range(n):
        acct = accts[min(bisect(activity, rng.random() * activity[-1]), len(accts) - 1)]
        home = str(acct["country"])
        r = rng.random()
        channel = "card" if r < 0.75 else "transfer" if r < 0.9 else "direct_debit"
        country = _pick(rng, abroad) if rng.random() < 0.12 else home
        pool = _pool(_LOCALES.get(country, "en_US"), seed)
        merchant, city = _pick(rng, pool.company), _pick(rng, pool.city)
        memo_pool = _pool(_LOCALES.get(home, "en_US"), seed)
        memo = _Memo(rng, memo_pool, merchant, city, ibans)
        r = rng.random()
        yield {
            "txn_id": f"TXN-{_unique(rng, used, 10_000_000_000):010d}",
            "account_id": acct["account_id"],
            "customer_id": acct["customer_id"],
            "card_number": acct["card_number"],
            "amount": _amount(rng, channel),
            "currency": acct["currency"],
            "timestamp": datetime.fromtimestamp(
                _TXN_EPOCH + _below(rng, 365 * 86_400), UTC
            ).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "merchant": merchant,
            "mcc": _pick(rng, _MCC[channel]),
            "city": city,
            "country": country,
            "memo": _pick(rng, _MEMOS[channel])(memo),
            "channel": channel,
            "ip_address": f"{_pick(rng, _DOC_NETS)}{_range(rng, 1, 255)}",
            "status": "settled" if r < 0.9 else "pending" if r < 0.97 else "declined",
        }
