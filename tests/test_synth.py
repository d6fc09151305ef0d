"""veil.synth: deterministic, well-shaped, obviously fake, and the demo files do not drift."""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("faker")

from veil.samples import synth

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT / "examples" / "data"

PATIENT_KEYS = [
    "patient_id", "ssn", "first_name", "last_name", "birth_date", "age", "sex", "phone",
    "email", "street", "city", "state", "zip", "admission_date", "discharge_date",
    "diagnosis_code", "diagnosis", "attending_physician", "organization_id",
    "consent_research", "insurance_id", "sensitive", "note", "weight_kg",
]  # fmt: skip
FHIR_KEYS = [
    "resourceType", "id", "meta", "identifier", "name", "telecom", "gender", "birthDate",
    "address", "managingOrganization",
]  # fmt: skip
ACCOUNT_KEYS = [
    "account_id", "customer_id", "holder_name", "email", "phone", "date_of_birth", "iban",
    "card_number", "card_expiry", "balance", "currency", "opened_date", "branch", "country",
    "credit_score", "kyc_risk", "status", "organization_id",
]  # fmt: skip
TXN_KEYS = [
    "txn_id", "account_id", "customer_id", "card_number", "amount", "currency", "timestamp",
    "merchant", "mcc", "city", "country", "memo", "channel", "ip_address", "status",
]  # fmt: skip

ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
PHONE = re.compile(r"\(555\) \d{3}-\d{4}|555-\d{3}-\d{4}")
EMAIL = re.compile(r"[a-z0-9._]+@example\.(com|org|net)")
SSN = re.compile(r"9\d\d-\d\d-\d{4}")
CARD_IN_TEXT = re.compile(r"\b(?:\d{4} \d{4} \d{4} \d{4}|\d{4} \d{6} \d{5}|\d{15,16})\b")
IBAN_IN_TEXT = re.compile(r"\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){3,7}(?: ?[A-Z0-9]{1,3})?\b")

Gen = Callable[..., Iterator[dict[str, Any]]]


@pytest.fixture(scope="module")
def patients() -> list[dict[str, Any]]:
    return list(synth.patients(1000))


@pytest.fixture(scope="module")
def accounts() -> list[dict[str, Any]]:
    return list(synth.accounts(1000))


@pytest.fixture(scope="module")
def transactions(accounts: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return list(synth.transactions(3000, accounts=accounts))


@pytest.mark.parametrize(
    "gen", [synth.patients, synth.fhir_patients, synth.accounts, synth.transactions]
)
def test_same_seed_same_output_other_seed_other_output(gen: Gen) -> None:
    first = list(gen(300, seed=5))
    assert first == list(gen(300, seed=5))
    assert json.dumps(first) == json.dumps(list(gen(300, seed=5)))
    assert first != list(gen(300, seed=6))
    assert list(gen(0)) == []


def test_faker_pools_rebuild_identically() -> None:
    before = list(synth.patients(100))
    synth._pool.cache_clear()  # the cache would otherwise hide a non-deterministic draw
    assert list(synth.patients(100)) == before


def test_default_seeds_are_the_documented_ones() -> None:
    assert list(synth.patients(5)) == list(synth.patients(5, seed=7))
    assert list(synth.fhir_patients(5)) == list(synth.fhir_patients(5, seed=11))
    assert list(synth.accounts(5)) == list(synth.accounts(5, seed=13))
    assert list(synth.transactions(5)) == list(synth.transactions(5, seed=17))


def test_patient_shape(patients: list[dict[str, Any]]) -> None:
    for p in patients:
        assert list(p) == PATIENT_KEYS
        assert re.fullmatch(r"MRN-\d{7}", p["patient_id"])
        assert SSN.fullmatch(p["ssn"])
        assert PHONE.fullmatch(p["phone"])
        assert EMAIL.fullmatch(p["email"])
        assert p["sex"] in ("F", "M", "X")
        assert p["state"] in synth._US_STATES
        assert re.fullmatch(r"\d{5}", p["zip"])
        assert re.fullmatch(r"[A-Z]\d\d(\.\d{1,3})?", p["diagnosis_code"])
        assert p["attending_physician"].startswith("Dr. ")
        assert p["organization_id"] in ("org-north", "org-south", "org-east")
        assert re.fullmatch(r"INS-[A-Z0-9]{9}", p["insurance_id"])
        assert type(p["age"]) is int
        assert type(p["consent_research"]) is bool and type(p["sensitive"]) is bool
        assert type(p["weight_kg"]) is float and round(p["weight_kg"], 1) == p["weight_kg"]
        assert 1 <= p["note"].count(". ") + 1 <= 4 and p["note"].endswith(".")
        for key in ("birth_date", "admission_date", "discharge_date"):
            assert ISO_DATE.fullmatch(p[key])
    assert len({p["patient_id"] for p in patients}) == len(patients)


def test_patient_dates_and_ages_are_consistent(patients: list[dict[str, Any]]) -> None:
    for p in patients:
        born = date.fromisoformat(p["birth_date"])
        admitted = date.fromisoformat(p["admission_date"])
        discharged = date.fromisoformat(p["discharge_date"])
        assert born <= admitted < discharged
        ref = synth.REFERENCE_DATE
        assert p["age"] == ref.year - born.year - ((ref.month, ref.day) < (born.month, born.day))
    assert any(p["age"] > 89 for p in patients)
    assert all(0 <= p["age"] <= 104 for p in patients)


def test_patient_privacy_features_are_present(patients: list[dict[str, Any]]) -> None:
    restricted = sum(p["zip"][:3] in synth.RESTRICTED_ZIP3 for p in patients) / len(patients)
    assert 0 < restricted < 0.15
    refused = sum(not p["consent_research"] for p in patients) / len(patients)
    assert 0.08 < refused < 0.25
    by_code = {d.code: d for d in synth.DIAGNOSES}
    for p in patients:
        dx = by_code[p["diagnosis_code"]]
        assert p["diagnosis"] == dx.description
        assert p["sensitive"] is (dx.code == "B20" or dx.code.startswith("F"))
    assert {"B20", "F32.9"} <= {p["diagnosis_code"] for p in patients}
    notes = " ".join(p["note"] for p in patients)
    assert SSN.search(notes) and PHONE.search(notes) and EMAIL.search(notes)
    assert any(p["first_name"] in p["note"] for p in patients)
    cards = CARD_IN_TEXT.findall(notes)
    assert cards and all(synth.luhn_valid(c) for c in cards)


def test_fhir_shape() -> None:
    for r in synth.fhir_patients(500):
        assert list(r) == FHIR_KEYS and r["resourceType"] == "Patient"
        assert re.fullmatch(r"[0-9a-f-]{36}", r["id"])
        (label,) = r["meta"]["security"]
        assert label["system"] == "http://terminology.hl7.org/CodeSystem/v3-Confidentiality"
        assert label["code"] in ("N", "R", "V")
        ssn, mrn = r["identifier"]
        assert ssn["system"] == "urn:oid:2.16.840.1.113883.4.1" and SSN.fullmatch(ssn["value"])
        assert mrn["system"] == "urn:veil:mrn" and re.fullmatch(r"MRN-\d{7}", mrn["value"])
        official, *rest = r["name"]
        assert official["use"] == "official" and isinstance(official["family"], str)
        assert 1 <= len(official["given"]) <= 2
        assert all(n["use"] == "nickname" and len(n["given"]) == 1 for n in rest)
        assert 1 <= len(r["telecom"]) <= 3
        for t in r["telecom"]:
            assert list(t) == ["system", "value", "use"]
            assert t["use"] in ("home", "mobile", "work")
            assert (PHONE if t["system"] == "phone" else EMAIL).fullmatch(t["value"])
        assert r["gender"] in ("female", "male", "other", "unknown")
        assert ISO_DATE.fullmatch(r["birthDate"])
        (addr,) = r["address"]
        assert list(addr) == ["line", "city", "state", "postalCode", "country"]
        assert len(addr["line"]) == 1 and addr["country"] == "US"
        org = r["managingOrganization"]["reference"]
        assert org in {f"Organization/org-{x}" for x in ("north", "south", "east")}


def test_account_shape(accounts: list[dict[str, Any]]) -> None:
    lengths = {"DE": 22, "GB": 22, "FR": 27, "NL": 18}
    for a in accounts:
        assert list(a) == ACCOUNT_KEYS
        assert re.fullmatch(r"ACC-\d{8}", a["account_id"])
        assert re.fullmatch(r"CUST-\d{6}", a["customer_id"])
        assert PHONE.fullmatch(a["phone"]) and EMAIL.fullmatch(a["email"])
        assert ISO_DATE.fullmatch(a["date_of_birth"]) and ISO_DATE.fullmatch(a["opened_date"])
        assert a["opened_date"] > a["date_of_birth"]
        assert a["country"] in lengths and a["iban"].startswith(a["country"])
        assert len(a["iban"]) == lengths[a["country"]]
        assert re.fullmatch(r"(0[1-9]|1[0-2])/\d\d", a["card_expiry"])
        assert isinstance(a["balance"], float) and round(a["balance"], 2) == a["balance"]
        assert a["currency"] in ("EUR", "GBP", "USD")
        assert type(a["credit_score"]) is int and 300 <= a["credit_score"] <= 850
        assert a["kyc_risk"] in ("low", "medium", "high")
        assert a["status"] in ("active", "closed", "frozen")
        assert a["organization_id"] in ("bank-a", "bank-b")
    assert len({a["account_id"] for a in accounts}) == len(accounts)
    assert len({a["customer_id"] for a in accounts}) < len(accounts)  # some hold two


def test_every_card_number_passes_luhn(
    accounts: list[dict[str, Any]], transactions: list[dict[str, Any]]
) -> None:
    cards = [a["card_number"] for a in accounts] + [t["card_number"] for t in transactions]
    assert all(synth.luhn_valid(c) for c in cards)
    for c in cards:
        if len(c) == 15:
            assert c[:2] in ("34", "37")
        else:
            assert len(c) == 16 and (c[0] == "4" or "51" <= c[:2] <= "55")
    assert {len(c) for c in cards} == {15, 16}


def test_every_iban_is_valid(
    accounts: list[dict[str, Any]], transactions: list[dict[str, Any]]
) -> None:
    assert all(synth.iban_valid(a["iban"]) for a in accounts)
    assert {a["country"] for a in accounts} == {"DE", "GB", "FR", "NL"}
    in_memos = IBAN_IN_TEXT.findall(" ".join(t["memo"] for t in transactions))
    assert in_memos and all(synth.iban_valid(i) for i in in_memos)


def test_transaction_shape(
    accounts: list[dict[str, Any]], transactions: list[dict[str, Any]]
) -> None:
    by_id = {a["account_id"]: a for a in accounts}
    for t in transactions:
        assert list(t) == TXN_KEYS
        assert re.fullmatch(r"TXN-\d{10}", t["txn_id"])
        acct = by_id[t["account_id"]]
        assert (t["customer_id"], t["card_number"]) == (acct["customer_id"], acct["card_number"])
        assert isinstance(t["amount"], float) and t["amount"] > 0
        assert round(t["amount"], 2) == t["amount"]
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", t["timestamp"])
        assert re.fullmatch(r"\d{4}", t["mcc"])
        assert t["channel"] in ("card", "transfer", "direct_debit")
        assert t["status"] in ("settled", "pending", "declined")
        assert re.fullmatch(r"(192\.0\.2|198\.51\.100|203\.0\.113)\.\d{1,3}", t["ip_address"])
        assert t["merchant"] and t["city"] and t["memo"]
    assert len({t["txn_id"] for t in transactions}) == len(transactions)
    amounts = sorted(t["amount"] for t in transactions)
    assert amounts[len(amounts) // 2] < 200 and amounts[-1] > 1000  # mostly small, few large
    memos = " ".join(t["memo"] for t in transactions)
    assert PHONE.search(memos)


def test_transactions_default_to_their_own_accounts() -> None:
    own = {a["account_id"] for a in synth.accounts(200, seed=3)}
    assert {t["account_id"] for t in synth.transactions(200, seed=3)} <= own


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError):
        synth.patients(-1)
    with pytest.raises(ValueError):
        synth.accounts(10_000_000)
    with pytest.raises(ValueError):
        synth.transactions(5, accounts=[])
    with pytest.raises(ValueError, match="lacks"):
        synth.transactions(5, accounts=[{"account_id": "ACC-1"}])


def test_luhn_and_iban_checkers() -> None:
    assert synth.luhn_valid("4111 1111 1111 1111") and synth.luhn_valid("378282246310005")
    assert not synth.luhn_valid("4111111111111112")
    assert not synth.luhn_valid("4111-1111-1111-111x") and not synth.luhn_valid("")
    assert synth.iban_valid("GB82 WEST 1234 5698 7654 32")
    assert synth.iban_valid("DE89370400440532013000")
    assert synth.iban_valid("NL91ABNA0417164300") and synth.iban_valid(
        "fr1420041010050500013m02606"
    )
    assert not synth.iban_valid("DE89370400440532013001")  # one digit off
    assert not synth.iban_valid("DE8937040044053201300")  # too short for DE
    assert not synth.iban_valid("GB82-WEST-1234") and not synth.iban_valid("")


def test_generating_20k_patients_finishes() -> None:
    ids = {p["patient_id"] for p in synth.patients(20_000)}
    assert len(ids) == 20_000


def test_module_imports_without_faker() -> None:
    code = (
        "import sys; sys.modules['faker'] = None\n"
        "from veil.samples import synth\n"
        "assert synth.luhn_valid('4111111111111111')\n"
        "gen = synth.patients(1)\n"
        "try:\n    next(gen)\nexcept ImportError as e:\n    print(e)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert "veil[synth]" in out.stdout


def test_committed_samples_match_the_script(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "make_samples.py"), "--out", str(tmp_path)],
        check=True,
        capture_output=True,
    )
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == [
        "accounts.jsonl", "fhir_patients.json", "patients.csv", "patients.jsonl",
        "transactions.jsonl",
    ]  # fmt: skip
    for name in names:
        fresh, committed = (tmp_path / name).read_bytes(), (DATA / name).read_bytes()
        assert fresh == committed, f"examples/data/{name} drifted: run scripts/make_samples.py"


def test_sample_files_agree_with_each_other() -> None:
    rows = list(csv.DictReader((DATA / "patients.csv").open(encoding="utf-8", newline="")))
    records = [json.loads(line) for line in (DATA / "patients.jsonl").open(encoding="utf-8")]
    assert len(rows) == len(records) == 200
    for row, rec in zip(rows, records, strict=True):
        assert list(row) == PATIENT_KEYS
        expected = {
            k: ("true" if v else "false") if isinstance(v, bool) else str(v) for k, v in rec.items()
        }
        assert row == expected
    fhir = json.loads((DATA / "fhir_patients.json").read_text(encoding="utf-8"))
    assert isinstance(fhir, list) and len(fhir) == 30
    accts = [json.loads(line) for line in (DATA / "accounts.jsonl").open(encoding="utf-8")]
    txns = [json.loads(line) for line in (DATA / "transactions.jsonl").open(encoding="utf-8")]
    assert len(accts) == 100 and len(txns) == 400
    assert {t["account_id"] for t in txns} <= {a["account_id"] for a in accts}
