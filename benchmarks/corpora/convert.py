"""Build labelled corpora (the JSONL format of ``corpus.py``) from data veil did not write.

    python benchmarks/corpora/convert.py presidio-research SRC -o FILE
    python benchmarks/corpora/convert.py conll SRC -o FILE        # CoNLL-2003 or WNUT-17
    python benchmarks/corpora/convert.py faker -n 2000 --seed 7 -o FILE
    python benchmarks/corpora/convert.py phonenumbers -o FILE [--regions US,GB,DE,FR,IN]
    python benchmarks/corpora/convert.py stdnum-iban SRC -o FILE

``SRC`` is a file, or ``GIT_DIR::REV:PATH`` to read a file from a fetched repository
without a work tree (e.g. ``/work/.mirror/microsoft+presidio-research/repo::HEAD:data/
synth_dataset_v2.json``). Provenance and licences of each source: README.md.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from corpora.corpus import LABELS, dump

HERE = Path(__file__).resolve().parent
Labelled = tuple[str, list[tuple[int, int, str]]]


def read_source(spec: str) -> str:
    """A file's text, or ``GIT_DIR::REV:PATH`` read with ``git show``."""
    if "::" in spec:
        git_dir, obj = spec.split("::", 1)
        out = subprocess.run(
            ["git", "--git-dir", git_dir, "show", obj], check=True, capture_output=True
        )
        return out.stdout.decode("utf-8")
    return Path(spec).read_text(encoding="utf-8")


# ----------------------------------------------------------------- presidio-research


def presidio_research(src: str) -> Iterator[Labelled]:
    """presidio-research's ``data/synth_dataset_v2.json`` (MIT): sentences its generator
    filled with fake values; spans ``start_position``/``end_position``, checked against
    ``entity_value``."""
    for rec in json.loads(read_source(src)):
        text = rec["full_text"]
        spans = []
        for s in rec["spans"]:
            a, b = s["start_position"], s["end_position"]
            assert text[a:b] == s["entity_value"], (text, s)
            spans.append((a, b, s["entity_type"]))
        yield text, sorted(spans)


# ----------------------------------------------------------------- CoNLL / WNUT


def conll(src: str) -> Iterator[Labelled]:
    """Token-per-line files: the token first, the IOB tag last (CoNLL-2003's four
    columns, IOB1 or IOB2; WNUT-17's two). A sentence per example, tokens joined by one
    space; ``-DOCSTART-`` lines dropped."""
    tokens: list[tuple[str, str]] = []
    for line in [*read_source(src).splitlines(), ""]:
        cols = line.split()
        if cols and cols[0] == "-DOCSTART-":
            continue
        if cols:
            tokens.append((cols[0], cols[-1]))
            continue
        if tokens:
            yield _iob(tokens)
            tokens = []


def _iob(tokens: list[tuple[str, str]]) -> Labelled:
    text, spans, pos = "", [], 0
    current: list[int | str] | None = None  # [start, end, label]
    for word, tag in tokens:
        start = pos + (1 if text else 0)
        text += (" " if text else "") + word
        pos = len(text)
        kind, _, label = tag.partition("-")
        if kind == "O" or not label:
            current = None
            continue
        if current is not None and kind == "I" and current[2] == label:
            current[1] = pos
            continue
        current = [start, pos, label]
        spans.append(current)
    return text, [(int(a), int(b), str(c)) for a, b, c in spans]


# ----------------------------------------------------------------- Faker


#: presidio-research template placeholder -> (Faker provider, corpus label or None)
FAKER_SLOTS: dict[str, tuple[str, str | None]] = {
    "person": ("name", "PERSON"),
    "name": ("name", "PERSON"),
    "name_male": ("name_male", "PERSON"),
    "name_female": ("name_female", "PERSON"),
    "first_name": ("first_name", "PERSON"),
    "first_name_male": ("first_name_male", "PERSON"),
    "first_name_female": ("first_name_female", "PERSON"),
    "first_name_nonbinary": ("first_name_nonbinary", "PERSON"),
    "last_name": ("last_name", "PERSON"),
    "last_name_male": ("last_name_male", "PERSON"),
    "last_name_female": ("last_name_female", "PERSON"),
    "prefix": ("prefix", None),
    "prefix_male": ("prefix_male", None),
    "prefix_female": ("prefix_female", None),
    "address": ("address", "STREET_ADDRESS"),
    "street_name": ("street_name", "STREET_ADDRESS"),
    "building_number": ("building_number", "STREET_ADDRESS"),
    "secondary_address": ("secondary_address", "STREET_ADDRESS"),
    "city": ("city", "CITY"),
    "country": ("country", "GPE"),
    "state_abbr": ("state_abbr", "GPE"),
    "postcode": ("postcode", "ZIP_CODE"),
    "zipcode": ("postcode", "ZIP_CODE"),
    "organization": ("company", "ORGANIZATION"),
    "credit_card_number": ("credit_card_number", "CREDIT_CARD"),
    "phone_number": ("phone_number", "PHONE_NUMBER"),
    "email": ("email", "EMAIL_ADDRESS"),
    "iban": ("iban", "IBAN_CODE"),
    "ssn": ("ssn", "US_SSN"),
    "ip_address": ("ipv4", "IP_ADDRESS"),
    "url": ("url", "URL"),
    "date_time": ("date", "DATE_TIME"),
    "date_of_birth": ("date_of_birth", "DATE_TIME"),
    "day_of_week": ("day_of_week", "DATE_TIME"),
    "year": ("year", "DATE_TIME"),
    "job": ("job", None),
    "age": ("age", "AGE"),
}
FAKER_LOCALES = ("en_US", "en_GB", "de_DE", "fr_FR", "en_IN")
#: Faker's card types: every brand its provider knows (13- and 19-digit Visa included)
CARD_TYPES = (
    "amex", "diners", "discover", "jcb15", "jcb16", "maestro", "mastercard",
    "visa13", "visa16", "visa19",
)  # fmt: skip
_SLOT = re.compile(r"\{\{(\w+)\}\}")


def faker_corpus(
    n: int, seed: int, locales: tuple[str, ...] = FAKER_LOCALES, templates: Path | None = None
) -> Iterator[Labelled]:
    """``n`` sentences: presidio-research's templates (MIT, written by its authors),
    each filled with values from one Faker locale chosen at random (seeded). Templates
    whose placeholders Faker has no provider for are skipped. A US_SSN, and any value a
    locale has no provider for, comes from en_US."""
    from faker import Faker

    rng = random.Random(seed)
    fakers = {}
    for loc in locales:
        f = Faker(loc)
        f.seed_instance(rng.randrange(2**32))
        fakers[loc] = f
    lines = (templates or HERE / "presidio_templates.txt").read_text("utf-8").splitlines()
    usable = [t.strip() for t in lines if t.strip() and _usable(t)]
    for _ in range(n):
        template = rng.choice(usable).replace("\\n", "\n")  # the file writes "\n" for a line break
        loc = rng.choice(locales)
        fake = fakers[loc]
        text, spans, pos = "", [], 0
        for m in _SLOT.finditer(template):
            text += template[pos : m.start()]
            provider, label = FAKER_SLOTS[m.group(1)]
            # ssn: other locales' are other national numbers; en_US fills in what a
            # locale has no provider for (secondary_address, state_abbr...)
            use = fake if provider != "ssn" and hasattr(fake, provider) else fakers["en_US"]
            value = _fake(use, provider, rng)
            if label is not None:
                spans.append((len(text), len(text) + len(value), label))
            text += value
            pos = m.end()
        text += template[pos:]
        yield text, spans


def _usable(template: str) -> bool:
    return all(m.group(1) in FAKER_SLOTS for m in _SLOT.finditer(template))


def _fake(fake: object, provider: str, rng: random.Random) -> str:
    if provider == "credit_card_number":
        return str(fake.credit_card_number(card_type=rng.choice(CARD_TYPES)))  # type: ignore[attr-defined]
    if provider == "age":
        return str(rng.randint(1, 99))
    if provider in ("date", "date_of_birth"):
        day = fake.date_object() if provider == "date" else fake.date_of_birth()  # type: ignore[attr-defined]
        return str(day.strftime(rng.choice(["%B %d, %Y", "%d/%m/%Y", "%Y-%m-%d"])))
    return str(getattr(fake, provider)())


# ----------------------------------------------------------------- phonenumbers


PHONE_FRAMES = (
    "Call me on {}.",
    "Mobile: {}",
    "You can reach the clinic at {} during office hours.",
    "Tel. {} (ask for billing)",
    "Left a voicemail at {}; no answer.",
)


def phonenumbers_corpus(regions: tuple[str, ...]) -> Iterator[Labelled]:
    """Every example number libphonenumber's metadata gives for ``regions`` (per number
    type), written in its national, international and E.164 forms, each in a frame."""
    import phonenumbers
    from phonenumbers import PhoneNumberFormat, PhoneNumberType

    kinds = [v for k, v in vars(PhoneNumberType).items() if k.isupper() and k != "UNKNOWN"]
    i = 0
    for region in regions:
        for kind in kinds:
            num = phonenumbers.example_number_for_type(region, kind)
            if num is None:
                continue
            for fmt in (
                PhoneNumberFormat.NATIONAL,
                PhoneNumberFormat.INTERNATIONAL,
                PhoneNumberFormat.E164,
            ):
                value = phonenumbers.format_number(num, fmt)
                frame = PHONE_FRAMES[i % len(PHONE_FRAMES)]
                i += 1
                start = frame.index("{}")
                yield frame.format(value), [(start, start + len(value), "PHONE_NUMBER")]


# ----------------------------------------------------------------- python-stdnum


IBAN_FRAMES = ("Please pay into {} by Friday.", "IBAN: {}", "refund to account {} requested")


def stdnum_iban(src: str) -> Iterator[Labelled]:
    """The IBAN registry's sample numbers as python-stdnum's ``tests/test_iban.doctest``
    lists them (its first ``numbers = '''`` block: valid numbers, some with spaces)."""
    text = read_source(src)
    block = text.split("numbers = '''", 1)[1].split("'''", 1)[0]
    for i, line in enumerate(block.splitlines()):
        value = line.removeprefix("...").strip()
        if not value:
            continue
        frame = IBAN_FRAMES[i % len(IBAN_FRAMES)]
        start = frame.index("{}")
        yield frame.format(value), [(start, start + len(value), "IBAN_CODE")]


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "kind", choices=["presidio-research", "conll", "faker", "phonenumbers", "stdnum-iban"]
    )
    ap.add_argument("src", nargs="?")
    ap.add_argument("-o", "--out", type=Path, required=True)
    ap.add_argument("-n", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--locales", default=",".join(FAKER_LOCALES))
    ap.add_argument("--regions", default="US,GB,DE,FR,IN")
    args = ap.parse_args()
    if args.kind in ("presidio-research", "conll", "stdnum-iban") and not args.src:
        ap.error(f"{args.kind} needs SRC (a file or GIT_DIR::REV:PATH)")
    rows = {
        "presidio-research": lambda: presidio_research(args.src),
        "conll": lambda: conll(args.src),
        "faker": lambda: faker_corpus(args.n, args.seed, tuple(args.locales.split(","))),
        "phonenumbers": lambda: phonenumbers_corpus(tuple(args.regions.split(","))),
        "stdnum-iban": lambda: stdnum_iban(args.src),
    }[args.kind]()
    rows = list(rows)
    unknown = {label for _, spans in rows for *_, label in spans} - set(LABELS)
    if unknown:
        raise SystemExit(f"labels without a mapping in corpus.LABELS: {sorted(unknown)}")
    n = dump(rows, args.out)
    print(f"{n} texts, {sum(len(s) for _, s in rows)} spans -> {args.out}")


if __name__ == "__main__":
    main()
