"""Postal addresses in free text: street lines, units, PO and military boxes, US
city-state-ZIP lines and UK postcodes, reported as LOCATION.

NER models tag a city or a country, seldom "4821 Maple Hollow Rd Apt 7" (spaCy's
en_core_web_sm finds a tenth of the street addresses in presidio-research's corpus),
and the address libraries on PyPI parse an address already cut out of the text rather
than find one in it (usaddress labels every token of whatever it is given; pyap/pyap2
find only complete US/CA/UK addresses with city, state and ZIP: 10 in the first 300
texts of presidio-research's corpus, which holds about 120). So veil has its own
patterns, written from the postal standards:

    part                        pattern (case as written unless noted)        source
    --------------------------  --------------------------------------------  ---------------
    street line, number first   1-6 digit house number (optional letter or   USPS Pub. 28
      (US, UK, ...)             fraction), optional direction, 1-4 words,    (C1 suffixes,
                                a street suffix word                          C2 units)
    street line, type first     optional number, a street type word (rue,    UPU S42 country
      (FR, IT, ES, PT, ...)     via, calle, rua, ...), 1-4 words, optional   templates
                                number; a number is required on one side
    street line, glued suffix   a word ending in a street suffix (straße,    same
      (DE, NL, Nordic, HU)      -weg, -katu, -veien, -gatan, -vej, utca...)
                                then a house number
    unit                        Apt, Suite, Unit, Flat, Studio, ... + id     USPS Pub. 28 C2
    PO box, military box        P.O. Box 123; PSC 3294, Box 9168; APO AE     USPS Pub. 28
                                09012                                         (2.2, 2.4)
    US city, state ZIP          City, ST 12345(-6789)                        USPS Pub. 28
    UK postcode                 A9 9AA ... AA9A 9AA (and GIR 0AA)            Royal Mail PAF
    postcode by context         4-6 digits after "zip", "postcode", ...      (0.1 + context)

A street line or box found is extended over the short lines that follow it (a city
line, a state, a postcode: up to four segments of at most five words, each starting
with a capital letter or a digit, separated by line breaks or commas), since an
address block leaks as much through its city line as through its street.

Every pattern is linear-time (no nested quantifiers, RE2-compatible, run through
:func:`veil.text.linear.matcher`).
"""

from __future__ import annotations

import re
from typing import Any

from .linear import matcher

ENTITY = "LOCATION"


def _words(words: str) -> list[str]:
    return words.split()


SCORE = 0.7

# USPS Publication 28, Appendix C1 (primary street suffixes and their abbreviations,
# the common ones), and UK/IE thoroughfare words.
_SUFFIXES = _words("""
allee alley ally aly anex annex arcade arc avenue ave av bayou byu beach bch bend bnd bluff
blf bluffs blfs bottom btm boulevard blvd branch br bridge brg brook brk brooks burg bg
bypass byp camp canyon cyn cape cpe causeway cswy center ctr centre circle cir circles
cirs cliff clf cliffs clfs club clb common cmn commons cmns corner cor corners cors course
crse court ct courts cts cove cv coves cvs creek crk crescent cres crest crst crossing xing
crossroad xrd curve curv dale dam divide drive dr drives drs estate est estates
ests expressway expy extension ext falls fls ferry fry field fld fields flds flat flt flats
flts ford frd fords forest frst forge frg forges fork frk forks frks fort ft freeway fwy
garden gdn gardens gdns gateway gtwy glen gln glens green grn greens grove grv groves grvs
harbor hbr harbour harbors haven hvn heights hts highway hwy hill hl hills hls hollow holw
inlet inlt island islands isle junction jct junctions key ky keys kys knoll knl
knolls knls lake lk lakes lks landing lndg lane ln light lgt lights lgts loaf lock lck
locks lcks lodge ldg loop mall manor mnr manors mnrs meadow mdw meadows mdws mews mill ml
mills mls mission msn motorway mtwy mount mt mountain mtn mountains mtns neck nck orchard
orch oval ovl overpass opas park parks parkway pkwy parkways pass passage psge path pike
pine pne pines pnes place pl plain pln plains plns plaza plz point pt points pts port prt
ports prts prairie pr radial radl ramp ranch rnch rapid rpd rapids rpds rest rst ridge rdg
ridges rdgs river riv road rd roads rds route rte row rue run shoal shl shoals shls shore
shr shores shrs skyway skwy spring spg springs spgs spur spurs square sq squares sqs station
sta stravenue stra stream strm street st streets sts summit smt terrace ter throughway trwy
trace trce track trak trafficway trfy trail trl trailer trlr tunnel tunl turnpike tpke
underpass upas union unions valley vly valleys vlys viaduct via view vw views vws
village vlg villages vlgs ville vista vis walk walks wall way ways well wells
close grove rise wharf quay parade gate gardens wynd drove chase approach broadway
""")

# Type words written before the name (UPU S42 templates: FR, BE, CH, IT, ES, PT, BR,
# PL, RO, GR in Latin script...).
_TYPES_FIRST = _words("""
rue avenue av boulevard bd bld chemin place quai allée allee impasse route cours passage
square voie via viale piazza piazzale corso largo vicolo strada calle carrer avenida avda
plaza paseo camino carretera rua travessa praça praca estrada alameda ulica ul aleja al
plac strada bulevardul calea odos leoforos
""")

# Street words glued to the name (DE, AT, CH, NL, DK, NO, SE, FI, HU, EE...).
_GLUED = _words("""
straße strasse str. gasse weg platz allee ring damm ufer chaussee steig pfad markt
straat laan plein gracht kade singel dijk vej gade allé plads gata gatan gate vegen veien
vägen väg torget katu tie kuja polku tori väylä utca út tér körút sor tee
""")

_UNITS = "apt apartment suite ste unit flat studio bldg building trlr"
_US_STATES = _words("""
AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH
NJ NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY AS GU MP PR VI AA AE AP
""")


def _alt(words: list[str]) -> str:
    return "|".join(re.escape(w) for w in sorted(set(words), key=len, reverse=True))


_CAP = r"[A-Z][\w'\u2019.\-]*"  # a capitalised word (case-sensitive patterns)
_NUM = r"\d{1,6}[A-Za-z]?(?:[-/]\d{1,4}[A-Za-z]?)?"  # 12, 12B, 12-14, 1/2
_STATE = "|".join(_US_STATES)
_ZIP = r"\d{5}(?:-\d{4})?"
_PARTICLE = r"[a-zà-ÿ']{1,5}"  # de, la, delle, dos...
_DIRECTION = r"(?:[NSEW]\.?|North|South|East|West|NE|NW|SE|SW)"

PATTERNS: list[tuple[str, str, int]] = [
    # 4821 Maple Hollow Rd / 12 N. Main St. / 7 Flat Lane
    (
        "street-number-first",
        rf"\b{_NUM},?[ \t]+(?:{_DIRECTION}[ \t]+)?(?:(?:{_CAP}|\d+(?:st|nd|rd|th))[ \t]+){{0,3}}"
        rf"(?:{_CAP}|\d+(?:st|nd|rd|th))[ \t]+(?i:{_alt(_SUFFIXES)})\b\.?",
        0,
    ),
    # 8, avenue Manon Gillet / Via delle Coste 41 / 31 Rue Al Imam Al Bukhari
    (
        "street-type-first-number",
        rf"\b{_NUM},?[ \t]+(?i:{_alt(_TYPES_FIRST)})\b\.?(?:[ \t]+(?:{_CAP}|{_PARTICLE})){{1,4}}",
        0,
    ),
    (
        "street-type-first-name-number",
        rf"\b(?i:{_alt(_TYPES_FIRST)})\b\.?(?:[ \t]+(?:{_CAP}|{_PARTICLE})){{1,4}},?[ \t]+{_NUM}\b",
        0,
    ),
    # Wesackstraße 26 / Kiannonkatu 98 / Skoanveien 226 / Erzsébet tér 19.
    (
        "street-glued",
        rf"\b(?:{_CAP}[ \t]+){{0,2}}[A-Z][\w'\u2019\-]*(?i:{_alt(_GLUED)})\.?[ \t]+{_NUM}\b",
        0,
    ),
    (
        "street-word-glued",
        rf"\b(?:{_CAP}[ \t]+){{1,2}}(?i:{_alt(_GLUED)})\.?[ \t]+{_NUM}\b",
        0,
    ),
    # Apt. 805 / Suite 377 / Flat 7 / Studio 69z / Unit 4B
    ("unit", rf"\b(?i:{_UNITS.replace(' ', '|')})\.?[ \t]*#?[ \t]*\d{{1,5}}[A-Za-z]?\b", 0),
    ("unit-hash", r"(?:^|\s)#[ \t]?\d{1,5}[A-Za-z]?\b", 0),
    # P.O. Box 123 / PSC 3294, Box 9168 / USNS Brown, FPO AE 09012 / APO AA 61487
    ("po-box", r"\b(?i:p\.?[ \t]?o\.?[ \t]?box|post[ \t]+office[ \t]+box)[ \t]+\d{1,6}\b", 0),
    (
        "military",
        r"\b(?:PSC|CMR|Unit)[ \t]+\d{1,5}\b|\b(?:APO|FPO|DPO)[ \t]+(?:AA|AE|AP)[ \t]+\d{5}\b",
        0,
    ),
    # Springfield, IL 62704 / Port Cheyenneberg, UT 48819-1234 (a line break may
    # stand between the city, the state and the ZIP)
    (
        "city-state-zip",
        rf"\b(?:{_CAP}[ \t]+){{0,3}}{_CAP},?\s+(?:{_STATE})\.?,?\s+{_ZIP}\b",
        0,
    ),
    ("state-zip", rf"\b(?:{_STATE})\s+{_ZIP}\b", 0),
    # UK postcodes (Royal Mail: outward code A9, A99, A9A, AA9, AA99, AA9A; inward 9AA)
    ("uk-postcode", r"\b(?:GIR ?0AA|[A-PR-UWYZ][A-HK-Y]?\d[A-Z\d]? ?\d[ABD-HJLNP-UW-Z]{2})\b", 0),
]

#: a postcode written on its own: scored low, raised by a context word
POSTCODE = r"\b\d{4,6}(?:-\d{4})?\b"
POSTCODE_CONTEXT = ["zip", "zipcode", "postcode", "postal", "plz", "cp", "pin", "pincode"]

_TAIL_SEGMENT = re.compile(r"[ \t]*(?:\n|,)[ \t]*((?:[A-Z0-9][\w'\u2019.\-]*[ \t]*){1,5})")


def _tail(text: str, end: int) -> int:
    """The end of the address block that starts before ``end`` (see module docstring)."""
    for _ in range(4):
        m = _TAIL_SEGMENT.match(text, end)
        if m is None or len(m.group(1)) > 60:
            break
        end = m.start(1) + len(m.group(1).rstrip())
    return end


_EXTENDS = frozenset({"street-number-first", "street-type-first-number",
                      "street-type-first-name-number", "street-glued", "street-word-glued",
                      "unit", "po-box", "military"})  # fmt: skip


def find_addresses(text: str) -> list[tuple[int, int, str]]:
    """(start, end, pattern name) of every address part in ``text``, blocks extended."""
    out = []
    for name, pattern, flags in PATTERNS:
        for m in matcher(pattern, flags).finditer(text):
            a, b = m.span()
            while a < b and text[a].isspace():
                a += 1
            if name in _EXTENDS:
                b = _tail(text, b)
            out.append((a, b, name))
    return out


def recognizers() -> list[Any]:
    """The address rules as Presidio recognizers: ``veil:address`` (the patterns above)
    and ``veil:address-postcode`` (a bare postcode near a postcode word)."""
    from presidio_analyzer import EntityRecognizer, Pattern, PatternRecognizer, RecognizerResult

    class VeilAddressRecognizer(EntityRecognizer):
        """Street lines, units, boxes, city-state-ZIP lines and UK postcodes."""

        def load(self) -> None:
            pass

        def analyze(self, text: str, entities: list[str], nlp_artifacts: Any = None) -> Any:
            if ENTITY not in entities:
                return []
            return [RecognizerResult(ENTITY, a, b, SCORE) for a, b, _ in find_addresses(text)]

    postcode = PatternRecognizer(
        supported_entity=ENTITY,
        name="veil:address-postcode",
        supported_language="en",
        patterns=[Pattern("postcode", POSTCODE, 0.1)],
        context=POSTCODE_CONTEXT,
    )
    return [
        VeilAddressRecognizer(
            supported_entities=[ENTITY], name="veil:address", supported_language="en"
        ),
        postcode,
    ]
