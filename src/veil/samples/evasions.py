"""Seeded adversarial notes: valid identifiers written to slip past a detector.

Each note embeds identifiers of the structured kinds ``scan_text`` must never let
through (SSNs, card numbers, IBANs, e-mail addresses, IP addresses, phone numbers of
the declared regions), each written with a random combination of evasions:

    evasion          what it does to the identifier
    ---------------  -------------------------------------------------------------------
    fullwidth        ASCII letters, digits and punctuation as their full-width forms
    digits:SCRIPT    ASCII digits as another script's decimal digits (Arabic-Indic,
                     extended Arabic-Indic, Devanagari, Bengali, Thai, mathematical bold)
    zero-width       zero-width spaces/joiners, word joiner or BOM between characters
    bidi             bidi marks, embeddings, overrides or isolates between characters
    soft-hyphen      U+00AD between characters
    homoglyph        - . @ as look-alikes (non-breaking hyphen, minus, en dash, one dot
                     leader, ideographic full stop, full-width at sign, ...)
    separator        digit groups separated by ``.`` ``_`` ``/`` ``-`` or spaces instead
    line-split       a line break inside the identifier
    nbsp             spaces as non-breaking, narrow or ideographic spaces
    case             IBANs and e-mail addresses in lower or upper case

The identifiers are made here, from their own rules and from libraries that are not
veil's detector: card numbers from brand prefixes and lengths (Wikipedia's IIN table)
with python-stdnum's Luhn check digit, IBANs for every country of python-stdnum's copy
of the SWIFT registry with its mod 97 check digits, phone numbers varied from
phonenumbers' example numbers until ``is_valid_number``, IP addresses by ``ipaddress``.
SSNs include numbers that are never issued (area 000, 666, 9xx, the advertising number
078-05-1120), always next to a word that says they are SSNs.

Every :class:`Planted` identifier carries its exact span in the note's original
characters, so what survives a scrub can be measured without asking the detector:
:func:`leaked` aligns a scrubbed note with its source.
"""

from __future__ import annotations

import ipaddress
import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

__all__ = [
    "ENTITIES",
    "EVASIONS",
    "MARK",
    "Note",
    "Planted",
    "identifier",
    "leaked",
    "notes",
    "planted_note",
]

ENTITIES = ("US_SSN", "CREDIT_CARD", "IBAN_CODE", "EMAIL_ADDRESS", "IP_ADDRESS", "PHONE_NUMBER")
DEFAULT_REGIONS = ("US", "GB", "DE", "FR", "IN")

#: what a scrub must put in place of each span for :func:`leaked` to align it
MARK = "\ue000"


@dataclass(frozen=True)
class Planted:
    start: int
    end: int
    entity: str
    kind: str  # e.g. "card:JCB:17", "iban:DE", "phone:GB:MOBILE:NATIONAL"
    evasions: tuple[str, ...]


@dataclass(frozen=True)
class Note:
    text: str
    planted: tuple[Planted, ...]


# ------------------------------------------------------------------- identifiers

#: brand, a prefix range, lengths (Wikipedia, "Payment card number", IIN table)
CARD_SPECS: tuple[tuple[str, tuple[int, int], tuple[int, ...]], ...] = (
    ("Visa", (4, 4), (13, 16, 19)),
    ("Mastercard", (51, 55), (16,)),
    ("Mastercard 2-series", (2221, 2720), (16,)),
    ("American Express", (34, 34), (15,)),
    ("American Express", (37, 37), (15,)),
    ("Discover", (6011, 6011), (16, 19)),
    ("Discover", (644, 649), (16, 19)),
    ("Discover", (65, 65), (16, 19)),
    ("Discover", (622126, 622925), (16, 19)),
    ("JCB", (3528, 3589), (15, 16, 17, 18, 19)),
    ("Diners Club", (300, 305), (14, 16, 19)),
    ("Diners Club", (36, 36), (14, 16, 19)),
    ("Diners Club", (38, 39), (14, 16)),
    ("Maestro", (50, 50), (12, 13, 15, 16, 19)),
    ("Maestro", (56, 69), (12, 14, 16, 18, 19)),
    ("UnionPay", (62, 62), (16, 17, 18, 19)),
    ("RuPay", (60, 60), (16,)),
    ("RuPay", (508, 508), (16,)),
    ("RuPay", (81, 82), (16,)),
    ("Mir", (2200, 2204), (16, 17, 18, 19)),
    ("Troy", (9792, 9792), (16,)),
    ("Verve", (506099, 506198), (16, 19)),
    ("UATP", (1, 1), (15,)),
    ("Dankort", (5019, 5019), (16,)),
    ("InterPayment", (636, 636), (16, 19)),
)
SSN_WORDS = (
    "SSN",
    "SSN:",
    "SSN#",
    "Social Security Number",
    "social security no.",
    "SS#",
    "Soc. Sec.",
)
INVALID_SSNS = ("078-05-1120", "219-09-9999", "123-45-6789", "457-55-5462")
LOCALS = ("jo.doe", "john.smith", "a.b-c+tag", "m_muller", "x9", "josé", "用户", "иван.петров",
          "Ünïcödé", "राम", "o'neil", "dr.who42")  # fmt: skip
DOMAINS = ("example.org", "example.com", "mail.example.de", "exämple.de", "例子.广告", "пример.рф",
           "münchen.de", "example.co.uk", "hospital.example.fr", "example.in")  # fmt: skip


def _card(rng: random.Random) -> tuple[str, str]:
    from stdnum import luhn

    name, (lo, hi), lengths = rng.choice(CARD_SPECS)
    length = rng.choice(lengths)
    prefix = str(rng.randint(lo, hi))
    body = prefix + "".join(rng.choice("0123456789") for _ in range(length - len(prefix) - 1))
    number = body + luhn.calc_check_digit(body)
    if length == 15 and name == "American Express":
        parts = [number[:4], number[4:10], number[10:]]
    else:
        parts = [number[i : i + 4] for i in range(0, length, 4)]
    return rng.choice([number, " ".join(parts), "-".join(parts)]), f"card:{name}:{length}"


def iban_formats() -> dict[str, str]:
    """Country code -> BBAN format (``4!n6!c``...), read from python-stdnum's registry."""
    from stdnum import numdb

    db = numdb.get("iban")
    out = {}
    for cc in (f"{chr(a)}{chr(b)}" for a in range(65, 91) for b in range(65, 91)):
        info = db.info(cc)
        if info and info[0][1].get("bban"):
            out[cc] = info[0][1]["bban"]
    return out


_BBAN = re.compile(r"(\d+)!([nac])")
_ALPHABETS = {
    "n": "0123456789",
    "a": "ABCDEFGHIJKLMNOPQRSTUVWXYZ",
    "c": "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ",
}


def _iban(rng: random.Random, country: str | None = None) -> tuple[str, str]:
    from stdnum import iban

    formats = _iban_formats()
    cc = country or rng.choice(sorted(formats))
    bban = "".join(
        rng.choice(_ALPHABETS[kind])
        for n, kind in _BBAN.findall(formats[cc])
        for _ in range(int(n))
    )
    number = cc + iban.calc_check_digits(cc + "00" + bban) + bban
    if rng.random() < 0.5:
        number = " ".join(number[i : i + 4] for i in range(0, len(number), 4))
    return number, f"iban:{cc}"


_IBAN_FORMATS: dict[str, str] = {}


def _iban_formats() -> dict[str, str]:
    if not _IBAN_FORMATS:
        _IBAN_FORMATS.update(iban_formats())
    return _IBAN_FORMATS


def _ssn(rng: random.Random) -> tuple[str, str]:
    if rng.random() < 0.3:
        digits = rng.choice(INVALID_SSNS).replace("-", "")
        kind = "ssn:invalid"
    else:
        area = rng.choice([rng.randint(1, 899), 0, 666, rng.randint(900, 999)])
        digits = f"{area:03d}{rng.randint(0, 99):02d}{rng.randint(0, 9999):04d}"
        kind = "ssn:area-" + ("valid" if 0 < area < 900 and area != 666 else "invalid")
    sep = rng.choice(["-", " ", ""])
    return f"{digits[:3]}{sep}{digits[3:5]}{sep}{digits[5:]}", kind


def _email(rng: random.Random) -> tuple[str, str]:
    local, domain = rng.choice(LOCALS), rng.choice(DOMAINS)
    if rng.random() < 0.3:
        local += str(rng.randint(1, 999))
    kind = "email:" + ("ascii" if (local + domain).isascii() else "international")
    return f"{local}@{domain}", kind


def _ip(rng: random.Random) -> tuple[str, str]:
    if rng.random() < 0.5:
        v4 = ipaddress.IPv4Address(rng.randint(0x01000000, 0xDFFFFFFF))
        return str(v4), "ip:v4"
    v6 = ipaddress.IPv6Address(rng.getrandbits(128) & ~((1 << rng.choice([0, 16, 48, 64])) - 1))
    form = rng.choice(["compressed", "exploded", "mapped"])
    if form == "mapped":
        return f"::ffff:{ipaddress.IPv4Address(rng.getrandbits(32))}", "ip:v6-mapped"
    return (v6.compressed if form == "compressed" else v6.exploded), f"ip:v6-{form}"


def _phone(rng: random.Random, regions: Sequence[str]) -> tuple[str, str]:
    import phonenumbers as pn

    region = rng.choice(list(regions))
    kind = rng.choice(["FIXED_LINE", "MOBILE"])
    example = pn.example_number_for_type(region, getattr(pn.PhoneNumberType, kind))
    if example is None:
        raise ValueError(f"phonenumbers has no {kind} example for region {region!r}")
    national = str(example.national_number)
    for _ in range(200):  # vary the subscriber digits until the number is valid
        keep = max(len(national) - rng.randint(2, 4), 1)
        digits = national[:keep] + "".join(
            rng.choice("0123456789") for _ in range(len(national) - keep)
        )
        number = pn.PhoneNumber(country_code=example.country_code, national_number=int(digits))
        if pn.is_valid_number(number):
            break
    else:
        number = example
    fmt = rng.choice(["NATIONAL", "INTERNATIONAL", "E164"])
    text = pn.format_number(number, getattr(pn.PhoneNumberFormat, fmt))
    return text, f"phone:{region}:{kind}:{fmt}"


def identifier(
    rng: random.Random, entity: str, regions: Sequence[str] = DEFAULT_REGIONS
) -> tuple[str, str]:
    """A valid identifier of ``entity`` in a usual written form, and its kind."""
    if entity == "US_SSN":
        return _ssn(rng)
    if entity == "CREDIT_CARD":
        return _card(rng)
    if entity == "IBAN_CODE":
        return _iban(rng)
    if entity == "EMAIL_ADDRESS":
        return _email(rng)
    if entity == "IP_ADDRESS":
        return _ip(rng)
    if entity == "PHONE_NUMBER":
        return _phone(rng, regions)
    raise ValueError(f"no generator for entity type {entity!r}")


# ------------------------------------------------------------------- evasions

DIGIT_SCRIPTS = {"arabic-indic": 0x0660, "extended-arabic-indic": 0x06F0, "devanagari": 0x0966,
                 "bengali": 0x09E6, "thai": 0x0E50, "math-bold": 0x1D7CE}  # fmt: skip
ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff"
BIDI = "\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
HYPHENS = "\u2010\u2011\u2012\u2013\u2014\u2212\ufe63\uff0d"
DOTS = "\u2024\u3002\uff61\uff0e\ufe52"
ATS = "\uff20\ufe6b"
SPACES = "\u00a0\u202f\u3000\u2007\u2009"
SEPARATORS = (".", "_", "/", "-", " ")
EVASIONS = ("separator", "case", "homoglyph", "nbsp", "fullwidth", "digits", "line-split",
            "zero-width", "bidi", "soft-hyphen")  # fmt: skip
_ORDER = {ev: i for i, ev in enumerate(EVASIONS)}
_NUMERIC = frozenset({"US_SSN", "CREDIT_CARD", "IBAN_CODE", "PHONE_NUMBER"})


def _inside(rng: random.Random, value: str, chars: str, k: int) -> str:
    """``value`` with ``k`` characters from ``chars`` put between two of its characters."""
    out = list(value)
    for _ in range(k):
        i = rng.randint(1, len(out) - 1)
        out.insert(i, rng.choice(chars))
    return "".join(out)


def _regroup(rng: random.Random, value: str, entity: str) -> str:
    sep = rng.choice(SEPARATORS)
    if entity == "PHONE_NUMBER":  # keep the plan's grouping, change the separators
        return re.sub(r"(?<=\d)[ -]+(?=\d)", sep, value)
    compact = re.sub(r"[ -]", "", value)
    size = 3 if entity == "US_SSN" else 4
    if entity == "US_SSN":
        parts = [compact[:3], compact[3:5], compact[5:]]
    else:
        parts = [compact[i : i + size] for i in range(0, len(compact), size)]
    return sep.join(parts)


def evade(rng: random.Random, value: str, entity: str, evasions: Sequence[str]) -> str:
    """``value`` with ``evasions`` applied (those that do not apply are no-ops), in the
    order of :data:`EVASIONS`: regrouping after a line split would cut a CRLF in two."""
    for ev in sorted(evasions, key=lambda e: _ORDER.get(e.partition(":")[0], len(_ORDER))):
        if ev == "separator" and entity in _NUMERIC:
            value = _regroup(rng, value, entity)
        elif ev == "case" and entity in ("IBAN_CODE", "EMAIL_ADDRESS"):
            value = value.lower() if rng.random() < 0.5 else value.upper()
        elif ev == "homoglyph":
            value = "".join(
                rng.choice(HYPHENS) if c == "-" else rng.choice(DOTS) if c == "." else
                rng.choice(ATS) if c == "@" else c
                for c in value
            )  # fmt: skip
        elif ev == "nbsp":
            value = "".join(rng.choice(SPACES) if c == " " else c for c in value)
        elif ev == "fullwidth":
            value = "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in value)
        elif ev.startswith("digits"):
            script = ev.partition(":")[2] or rng.choice(sorted(DIGIT_SCRIPTS))
            zero = DIGIT_SCRIPTS[script]
            value = "".join(chr(zero + int(c)) if "0" <= c <= "9" else c for c in value)
        elif ev == "zero-width":
            value = _inside(rng, value, ZERO_WIDTH, rng.randint(1, 3))
        elif ev == "bidi":
            value = _inside(rng, value, BIDI, rng.randint(1, 2))
        elif ev == "soft-hyphen":
            value = _inside(rng, value, "\u00ad", rng.randint(1, 2))
        elif ev == "line-split":
            value = _line_split(rng, value, entity)
    return value


#: a separator of a numeric identifier (not a digit, sign, bracket or invisible character)
_SEPARATOR = re.compile(
    r"[^\w+()\uff0b\uff08\uff09\u00ad\u200b-\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]"
)


def _line_split(rng: random.Random, value: str, entity: str) -> str:
    if entity in _NUMERIC and rng.random() < 0.5:  # at a separator, as a wrapped line
        seps = [m.start() for m in _SEPARATOR.finditer(value)]
        if seps:
            i = rng.choice(seps)
            return value[:i] + rng.choice(["\n", "\r\n", " \n", "\n  "]) + value[i + 1 :]
    if entity == "IP_ADDRESS":
        return value  # an address split at a random point is no longer one address
    i = rng.randint(1, len(value) - 1)
    return value[:i] + rng.choice(["\n", "\r\n"]) + value[i:]


# ------------------------------------------------------------------- notes

_LEADS = {
    "CREDIT_CARD": ("Card", "card on file", "Paid with", "PAN", ""),
    "IBAN_CODE": ("IBAN", "refund to", "account", ""),
    "EMAIL_ADDRESS": ("email", "mail", "write to", "contact", ""),
    "IP_ADDRESS": ("ip", "login from", "host", ""),
    "PHONE_NUMBER": ("Call", "tel", "phone", "mobile", ""),
}
_FILLER = ("Patient seen today.", "No changes to medication.", "Follow up as planned.",
           "Reports sent.", "Discussed results with family.", "see attached;", "noted --",
           "Billing: please check.", "ok")  # fmt: skip


_JOINERS = ("; ", ", ", " and ", ". ", ".\n", " - ")


def _context(rng: random.Random, entity: str, value: str) -> tuple[str, str]:
    """Words before and after an identifier; SSNs always get their word."""
    if entity == "US_SSN":
        word = rng.choice(SSN_WORDS)
        return (f"{word} ", "") if rng.random() < 0.8 else ("", f" ({word})")
    lead = rng.choice(_LEADS[entity])
    return (f"{lead} " if lead else ""), ""


def planted_note(
    rng: random.Random,
    entities: Sequence[str],
    regions: Sequence[str] = DEFAULT_REGIONS,
    evasions: Sequence[Sequence[str]] | None = None,
) -> Note:
    """One note with an identifier of each of ``entities`` (in order), each written
    with ``evasions[i]`` or a random combination of up to three."""
    parts: list[str] = []
    planted = []
    pos = 0
    for i, entity in enumerate(entities):
        value, kind = identifier(rng, entity, regions)
        chosen = (
            tuple(evasions[i])
            if evasions is not None
            else tuple(rng.sample(EVASIONS, rng.randint(0, 3)))
        )
        written = evade(rng, value, entity, chosen)
        before, after = _context(rng, entity, value)
        filler = rng.choice(_FILLER) + " " if rng.random() < 0.6 else ""
        # identifiers are apart by more than a space: "55 24 4111 1111 ..." is one
        # number to a reader as much as to a detector
        head = ("" if i == 0 else rng.choice(_JOINERS)) + filler + before
        parts.append(head)
        pos += len(head)
        planted.append(Planted(pos, pos + len(written), entity, kind, chosen))
        parts.append(written + after)
        pos += len(written) + len(after)
    parts.append(" " + rng.choice(_FILLER))
    return Note("".join(parts), tuple(planted))


def notes(
    n: int,
    seed: int = 0,
    regions: Sequence[str] = DEFAULT_REGIONS,
    entities: Sequence[str] = ENTITIES,
) -> Iterator[Note]:
    """``n`` seeded notes, each with 1 to 4 identifiers of random kinds and evasions."""
    rng = random.Random(seed)
    for _ in range(n):
        yield planted_note(
            rng, [rng.choice(list(entities)) for _ in range(rng.randint(1, 4))], regions
        )


# ------------------------------------------------------------------- measuring


def _kept(source: str, scrubbed: str) -> list[bool]:
    """Per character of ``source``: whether ``scrubbed`` (``source`` with spans replaced
    by :data:`MARK`) kept it. Raises ValueError if ``scrubbed`` is not such a text."""
    pieces = scrubbed.split(MARK)
    kept = [False] * len(source)
    if not source.startswith(pieces[0]) or not source.endswith(pieces[-1]):
        raise ValueError("the scrubbed text does not align with its source")
    bounds = [(0, len(pieces[0]))]
    pos = len(pieces[0])
    for piece in pieces[1:-1]:
        at = source.find(piece, pos + 1)  # a replaced span is never empty
        if at < 0:
            raise ValueError("the scrubbed text does not align with its source")
        bounds.append((at, at + len(piece)))
        pos = at + len(piece)
    if len(pieces) > 1:
        last = len(source) - len(pieces[-1])
        if last <= pos:
            raise ValueError("the scrubbed text does not align with its source")
        bounds.append((last, len(source)))
    for lo, hi in bounds:
        for i in range(lo, hi):
            kept[i] = True
    return kept


def leaked(note: Note, scrubbed: str) -> list[tuple[Planted, int, int]]:
    """Per planted identifier: (it, characters that count, how many survived).

    Characters that count are its letters and digits (``str.isalnum``, any script);
    separators, punctuation and invisible characters do not."""
    kept = _kept(note.text, scrubbed)
    out = []
    for p in note.planted:
        idx = [i for i in range(p.start, p.end) if note.text[i].isalnum()]
        out.append((p, len(idx), sum(kept[i] for i in idx)))
    return out
