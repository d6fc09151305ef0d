"""Seeded, labelled synthetic notes for measuring free-text detection.

Faker values are placed into varied templates; every placed value's span and entity
type is recorded, so precision and recall can be computed exactly. Identifiers are
realistic in form (valid Luhn card numbers, mod-97 IBANs, SSNs in issued ranges, real
US area codes plus the fictional 555) and dates come in several written forms.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass

from faker import Faker

ENTITIES = (
    "PERSON",
    "LOCATION",
    "PHONE_NUMBER",
    "EMAIL_ADDRESS",
    "US_SSN",
    "CREDIT_CARD",
    "IBAN_CODE",
    "DATE_TIME",
)

TEMPLATES = (
    "{PERSON} was admitted on {DATE_TIME} with chest pain. Contact at {PHONE_NUMBER}.",
    "Pt {PERSON} (SSN {US_SSN}) seen in clinic today; follow-up on {DATE_TIME}.",
    "Called {PERSON} at {PHONE_NUMBER} about the results; e-mail sent to {EMAIL_ADDRESS}.",
    "Copay paid by card {CREDIT_CARD} on {DATE_TIME}. Receipt to {EMAIL_ADDRESS}.",
    "Refund of 40.00 to IBAN {IBAN_CODE} requested by {PERSON}.",
    "Patient moved to {LOCATION} last year; new number {PHONE_NUMBER}.",
    "Social security number {US_SSN} verified against insurance records.",
    "Emergency contact: {PERSON}, tel {PHONE_NUMBER}, lives in {LOCATION}.",
    "Discharged home on {DATE_TIME}. Reports sent to {EMAIL_ADDRESS} and {PERSON}.",
    "Card on file {CREDIT_CARD} was declined; billing will call {PHONE_NUMBER}.",
    "Transfer from {IBAN_CODE} received {DATE_TIME} for the account of {PERSON}.",
    "{PERSON} reports dizziness since {DATE_TIME}; SSN on file {US_SSN}.",
    "Referred by Dr. {PERSON} of {LOCATION}. Please reply to {EMAIL_ADDRESS}.",
    "Insurance checked for {PERSON}; SSN {US_SSN}, phone {PHONE_NUMBER}.",
    "Reviewed medication list with the patient. No changes. Next visit {DATE_TIME}.",
    "Payment via IBAN {IBAN_CODE}, card {CREDIT_CARD} kept as backup.",
)
_AREA = ("212", "415", "617", "312", "206", "303", "512", "646", "202", "305", "555")
_SLOT = re.compile(r"\{([A-Z_]+)\}")


@dataclass(frozen=True)
class Note:
    text: str
    spans: tuple[tuple[int, int, str], ...]  # (start, end, entity)


class _Values:
    def __init__(self, seed: int) -> None:
        self.fake = Faker("en_US")
        self.fake.seed_instance(seed)
        self.eu = Faker(["de_DE", "fr_FR", "nl_NL", "en_GB"])
        self.eu.seed_instance(seed + 1)
        self.rng = random.Random(seed)

    def value(self, entity: str) -> str:
        f, r = self.fake, self.rng
        if entity == "PERSON":
            return f.name() if r.random() < 0.7 else f"{f.first_name()} {f.last_name()}"
        if entity == "LOCATION":
            return f.city()
        if entity == "PHONE_NUMBER":
            a, b, c = r.choice(_AREA), r.randint(200, 999), r.randint(0, 9999)
            form = r.choice(("{a}-{b}-{c:04d}", "({a}) {b}-{c:04d}", "{a}.{b}.{c:04d}",
                             "+1 {a} {b} {c:04d}", "+1-{a}-{b}-{c:04d}"))  # fmt: skip
            return form.format(a=a, b=b, c=c)
        if entity == "EMAIL_ADDRESS":
            return f.email()
        if entity == "US_SSN":
            return f.ssn()
        if entity == "CREDIT_CARD":
            pan = f.credit_card_number(card_type=r.choice(("visa16", "mastercard", "amex")))
            if r.random() < 0.4 and len(pan) == 16:
                pan = " ".join(pan[i : i + 4] for i in range(0, 16, 4))
            return pan
        if entity == "IBAN_CODE":
            iban = self.eu.iban()
            if r.random() < 0.4:
                iban = " ".join(iban[i : i + 4] for i in range(0, len(iban), 4))
            return iban
        if entity == "DATE_TIME":
            d = f.date_between("-5y", "today")
            form = r.choice(("%m/%d/%Y", "%Y-%m-%d", "%B %d, %Y", "%d %b %Y", "%m/%d/%y",
                              "%d-%b-%Y", "%b. %d, %Y"))  # fmt: skip
            return d.strftime(form)
        raise ValueError(entity)


def notes(n: int, seed: int = 1234) -> list[Note]:
    """``n`` labelled notes; the same seed gives the same notes."""
    values = _Values(seed)
    out = []
    for _ in range(n):
        template = values.rng.choice(TEMPLATES)
        text, spans, pos = "", [], 0
        for m in _SLOT.finditer(template):
            text += template[pos : m.start()]
            v = values.value(m.group(1))
            spans.append((len(text), len(text) + len(v), m.group(1)))
            text += v
            pos = m.end()
        text += template[pos:]
        out.append(Note(text, tuple(spans)))
    return out


def score(
    gold: list[Note], predicted: list[list[tuple[int, int, str]]], entities: tuple[str, ...]
) -> dict[str, dict[str, float]]:
    """Per entity type: precision, recall, F1 and support; a hit is an overlapping span of
    the same type (partial overlaps count: they are what a reviewer would see)."""
    out: dict[str, dict[str, float]] = {}
    for e in entities:
        tp_gold = n_gold = tp_pred = n_pred = 0
        for note, pred in zip(gold, predicted, strict=True):
            g = [(s, t) for s, t, x in note.spans if x == e]
            p = [(s, t) for s, t, x in pred if x == e]
            n_gold += len(g)
            n_pred += len(p)
            tp_gold += sum(any(s < pt and ps < t for ps, pt in p) for s, t in g)
            tp_pred += sum(any(s < gt and gs < t for gs, gt in g) for s, t in p)
        prec = tp_pred / n_pred if n_pred else 0.0
        rec = tp_gold / n_gold if n_gold else 0.0
        f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
        out[e] = {"precision": prec, "recall": rec, "f1": f1, "support": float(n_gold)}
    return out
