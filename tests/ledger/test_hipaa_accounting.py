"""The accounting of disclosures (45 CFR 164.528) from a ledger the shipped health bundle
wrote: exactly the accountable disclosures, with the (b)(2) content, (b)(3) summaries,
the six-year window of (a)(3)/(b)(1), and the (d) record of each accounting provided."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from veil.cli import app
from veil.core import Veil
from veil.keys import Keyring
from veil.ledger import hipaa, open_ledger
from veil.ledger.events import Event, Requester
from veil.policy.validate import load_bundle
from veil.request import Request

ROOT = Path(__file__).resolve().parent.parent.parent
MRN = "MRN-0000001"
RECORD: dict[str, Any] = {
    "patient_id": MRN,
    "ssn": "900-00-0001",
    "first_name": "Ada",
    "last_name": "Canary",
    "birth_date": "1931-05-02",
    "age": 95,
    "sex": "F",
    "phone": "555-010-0001",
    "email": "ada.canary@example.org",
    "street": "1 Elm Street",
    "city": "Springfield",
    "state": "NH",
    "zip": "03601",
    "admission_date": "2025-03-01",
    "discharge_date": "2025-03-05",
    "diagnosis_code": "A01.0",
    "diagnosis": "Typhoid fever",
    "attending_physician": "Dr. A",
    "organization_id": "org-north",
    "consent_research": True,
    "insurance_id": "INS-1",
    "sensitive": False,
    "note": "Seen today.",
    "weight_kg": 60.0,
}


def _req(role: str, purpose: str, org: str = "org-north", recipient: str | None = None) -> Request:
    return Request(
        subject_id=f"{role}-1",
        subject={"role": role, "org": org},
        purpose=purpose,
        dataset="patients",
        recipient=recipient,
    )


@pytest.fixture
def ledger_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'ledger.db'}"


@pytest.fixture
def disclosed(ledger_url: str) -> dict[str, Any]:
    """Treatment, payment, operations, research (Safe Harbor and LDS) and two public
    health reports of one patient."""
    ledger = open_ledger(ledger_url)
    veil = Veil(load_bundle(str(ROOT / "policies" / "health")), ledger, Keyring.demo())
    events: dict[str, Any] = {}
    for name, req in {
        "treatment": _req("clinician", "TREAT"),
        "payment": _req("billing_clerk", "HPAYMT", "payer-co"),
        "operations": _req("auditor", "HOPERAT", "org-east"),
        "research_sh": _req("researcher", "HRESCH", "university"),
        "research_lds": _req("researcher", "HRESCH", "university", "study-42"),
        "public_health_1": _req("registry_clerk", "PUBHLTH", "state-dph", "state-dph"),
        "public_health_2": _req("registry_clerk", "PUBHLTH", "state-dph", "state-dph"),
    }.items():
        events[name] = veil.sanitize(req, [RECORD]).event.event
    ledger.close()
    return events


def test_lists_exactly_the_accountable_disclosures(
    ledger_url: str, disclosed: dict[str, Any]
) -> None:
    with open_ledger(ledger_url) as ledger:
        report = hipaa.account(ledger, MRN)
    # Only the public health reports (164.512(b)) are accountable; the others are
    # treatment/payment/operations ((a)(1)(i)), a limited data set ((a)(1)(viii)) or
    # de-identified (not PHI).
    [entry] = report.entries
    ph1, ph2 = disclosed["public_health_1"], disclosed["public_health_2"]
    assert entry.event_ids == (ph1.event_id, ph2.event_id)
    # (b)(2): date, recipient's name and address, what, and why
    assert entry.date == ph1.time
    assert entry.recipient_name == "State Department of Public Health, Disease Surveillance Unit"
    assert entry.recipient_address == "29 Hazen Drive, Concord, NH 03301"
    assert "patients:" in entry.description and "diagnosis_code (clear)" in entry.description
    assert "164.512(b)" in entry.statement
    # (b)(3): one entry for repeated disclosures to one recipient for one purpose
    assert entry.disclosures == 2 and entry.last_date == ph2.time
    assert report.exempt == {
        "164.528(a)(1)(i): to carry out treatment (164.506)": 1,
        "164.528(a)(1)(i): to carry out payment (164.506)": 1,
        "164.528(a)(1)(i): to carry out health care operations (164.506)": 1,
        "164.528(a)(1)(viii): as part of a limited data set (164.514(e))": 1,
        "164.514(a)-(b): de-identified under Safe Harbor, not PHI": 1,
    }


def test_each_disclosure_listed_on_request(ledger_url: str, disclosed: dict[str, Any]) -> None:
    with open_ledger(ledger_url) as ledger:
        each = hipaa.account(ledger, MRN, summarize=False)
        audit = hipaa.account(ledger, MRN, include_exempt=True, summarize=False)
    assert [e.disclosures for e in each.entries] == [1, 1]
    assert len(audit.entries) == len(disclosed)


def test_six_year_window_and_events_without_a_basis(ledger_url: str) -> None:
    """(a)(3)/(b)(1): six years before the request; an event written before veil recorded
    the basis is listed (in doubt, say more)."""
    now = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)

    def old_event(days_ago: int) -> Event:
        return Event(
            time=(now - timedelta(days=days_ago)).isoformat(),
            requester=Requester(id="someone"),
            recipient="outside-lab",
            purpose="X",
            action="read",
            dataset="patients",
            bundle="health",
            bundle_version="v0",
            data_subjects=[MRN],
        )

    with open_ledger(ledger_url) as ledger:
        ledger.append(old_event(6 * 365 + 3))  # more than six years ago: out
        inside = ledger.append(old_event(6 * 365 - 3)).event
        report = hipaa.account(ledger, MRN, now=now)
    assert [e.event_ids for e in report.entries] == [(inside.event_id,)]
    assert report.since.startswith("2020-12-04")


def test_cli_html_records_the_accounting_provided(
    ledger_url: str, disclosed: dict[str, Any], tmp_path: Path
) -> None:
    page = tmp_path / "accounting.html"
    args = ["audit", "accounting", "--data-subject", MRN, "--ledger", ledger_url]
    res = CliRunner().invoke(
        app, [*args, "--format", "html", "-o", str(page), "--produced-by", "Privacy Office"]
    )
    assert res.exit_code == 0, res.output
    text = page.read_text(encoding="utf-8")
    assert "State Department of Public Health" in text and "2 disclosures; last on" in text
    assert "<script" not in text and "http" not in text.split("<body>")[1].split("</p>")[0]
    # (d): the accounting provided is itself recorded, and no later accounting lists it
    with open_ledger(ledger_url) as ledger:
        kinds = [s.event.kind for s in ledger.events(data_subject=MRN)]
        stored = list(ledger.events(data_subject=MRN))
        provided = [s.event for s in stored if s.event.kind == "accounting"]
        again = hipaa.account(ledger, MRN)
    assert kinds.count("accounting") == 1
    assert provided[0].requester.id == "Privacy Office"
    assert provided[0].details["rule"] == "45 CFR 164.528(d)"
    assert provided[0].details["disclosures"] == 2
    assert len(again.entries) == 1
    res = CliRunner().invoke(app, [*args, "--format", "json"])
    assert json.loads(res.stdout)["disclosures"] == 2


def test_names_never_values_in_the_accounting(ledger_url: str, disclosed: dict[str, Any]) -> None:
    with open_ledger(ledger_url) as ledger:
        report = hipaa.account(ledger, MRN, include_exempt=True)
    text = hipaa.render_json(report) + hipaa.render_csv(report) + hipaa.render_html(report)
    for canary in ("Canary", "900-00-0001", "ada.canary@example.org", "1 Elm Street"):
        assert canary not in text
