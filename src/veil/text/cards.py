"""Payment card numbers: the issuer ranges (IIN) and lengths of every major brand, and Luhn.

A run of 12 to 19 digits is a card number when its check digit is right (Luhn, ISO/IEC
7812-1 annex B) and its prefix and length belong to a brand below, with or without a
word like "card" nearby: with about one run in ten passing Luhn by chance, the table is
what keeps order numbers and timestamps out. Next to a card word ("card", "credit",
"debit", "visa", "amex", "PAN" ...), a Luhn-valid run of 12 to 19 digits is a card
whatever its prefix (:func:`veil.text.structured.card_spans`): fail closed where the
text says it is one, as for SSNs.

Source: the IIN table of Wikipedia's "Payment card number" article (revision of
October 2023, as mirrored by the Kiwix archive ``wikipedia_en_all_maxi_2023-10``),
plus the older ranges it dropped but cards still carry (Maestro 50 and 56-69, Diners
300-305 and 38-39 at 14 digits). Brands no longer issued are kept: a card number from a
closed network is still a card number. Overlapping ranges are fine; a number matches
if any brand takes it.
"""

from __future__ import annotations

import functools

#: brand, IIN prefixes (a prefix, or "low-high" of equal length), lengths
BRANDS: tuple[tuple[str, tuple[str, ...], tuple[int, ...]], ...] = (
    ("American Express", ("34", "37"), (15,)),
    ("BORICA", ("2205",), (16,)),
    ("China T-Union", ("31",), (19,)),
    ("China UnionPay", ("62", "81"), (16, 17, 18, 19)),
    ("Diners Club International", ("36",), (14, 15, 16, 17, 18, 19)),
    ("Diners Club International", ("300-305", "3095", "38-39"), (14, 15, 16, 17, 18, 19)),
    ("Diners Club United States & Canada", ("54", "55"), (16,)),
    ("Discover", ("6011", "644-649", "65", "622126-622925"), (16, 17, 18, 19)),
    ("UkrCard", ("60400100-60420099",), (16, 17, 18, 19)),
    ("RuPay", ("60", "65", "81", "82", "508", "353", "356"), (16,)),
    ("InterPayment", ("636",), (16, 17, 18, 19)),
    ("InstaPayment", ("637-639",), (16,)),
    ("JCB", ("3528-3589",), (15, 16, 17, 18, 19)),
    # JCB's 15-digit numbers of the 1990s (older revisions of the same article; Faker's
    # credit card provider still issues them as "jcb15")
    ("JCB (15 digits)", ("1800", "2131"), (15,)),
    ("Maestro UK", ("6759", "676770", "676774"), (12, 13, 14, 15, 16, 17, 18, 19)),
    (
        "Maestro",
        ("50", "56-69", "5018", "5020", "5038", "5893", "6304", "6759", "6761", "6762", "6763"),
        (12, 13, 14, 15, 16, 17, 18, 19),
    ),
    ("Dankort", ("5019",), (16,)),
    ("Mir", ("2200-2204",), (16, 17, 18, 19)),
    ("NPS Pridnestrovie", ("6054740-6054744",), (16,)),
    ("Mastercard", ("51-55", "2221-2720"), (16,)),
    ("Troy", ("65", "9792"), (16,)),
    ("Visa", ("4",), (13, 16, 19)),
    ("UATP", ("1",), (15,)),
    ("Verve", ("506099-506198", "650002-650027", "507865-507964"), (16, 18, 19)),
    ("LankaPay", ("357111",), (16,)),
    ("Uzcard", ("8600", "5614"), (16,)),
    ("Humo", ("9860",), (16,)),
    ("GPN", ("1946", "50", "56", "58", "60-63"), (16, 18, 19)),
    ("Napas", ("9704",), (16, 19)),
)

MIN_DIGITS, MAX_DIGITS = 12, 19


@functools.cache
def _ranges() -> dict[str, tuple[tuple[str, str, frozenset[int], str], ...]]:
    """By first digit: (low, high, lengths, brand)."""
    out: dict[str, list[tuple[str, str, frozenset[int], str]]] = {}
    for brand, prefixes, lengths in BRANDS:
        for p in prefixes:
            lo, _, hi = p.partition("-")
            hi = hi or lo
            if len(lo) != len(hi) or not (lo + hi).isdigit() or lo > hi:
                raise ValueError(f"bad IIN range {p!r} for {brand}")
            for first in range(int(lo[0]), int(hi[0]) + 1):  # "56-69" starts with 5 and 6
                out.setdefault(str(first), []).append((lo, hi, frozenset(lengths), brand))
    return {k: tuple(v) for k, v in out.items()}


def brand(digits: str) -> str | None:
    """The first brand whose ranges and lengths take ``digits`` (ASCII), else None."""
    n = len(digits)
    for lo, hi, lengths, name in _ranges().get(digits[:1], ()):
        if n in lengths and lo <= digits[: len(lo)] <= hi:
            return name
    return None


def luhn(digits: str) -> bool:
    """The Luhn check (ISO/IEC 7812-1) over ASCII ``digits``."""
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = ord(c) - 48
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def is_card(digits: str) -> bool:
    """True if ``digits`` (ASCII) is a card number: length, brand range and Luhn."""
    return MIN_DIGITS <= len(digits) <= MAX_DIGITS and brand(digits) is not None and luhn(digits)
