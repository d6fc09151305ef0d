"""Free text through the HTTP service: the memo's identifiers are treated per requester, the
ledger counts entity types without values, and JSON and NDJSON paths agree."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from veil.service.app import create_app
from veil.service.auth import veil_keygen_api_key
from veil.service.settings import ServiceSettings, TextSettings

ROOT = Path(__file__).resolve().parent.parent.parent
SSN, CARD, EMAIL, IBAN = (
    "219-09-9999",
    "4111 1111 1111 1111",
    "jo.canary@example.com",
    ("DE89370400440532013000"),
)
MEMO = (
    f"Refund to {EMAIL}; card {CARD}; payee IBAN {IBAN}; caller SSN {SSN}, "
    "call back +1 (212) 555-0142."
)
RECORD = {
    "txn_id": "TXN-1",
    "account_id": "ACC-00000001",
    "customer_id": "CUST-1",
    "card_number": "4312181602913926",
    "amount": 10.5,
    "currency": "EUR",
    "timestamp": "2025-07-28T05:33:14Z",
    "merchant": "M",
    "mcc": "4829",
    "city": "Nagele",
    "country": "NL",
    "memo": MEMO,
    "channel": "transfer",
    "ip_address": "203.0.113.203",
    "status": "settled",
}
USERS = {
    "support": ("sa-7731", {"role": "support_agent", "org": "bank-a"}),
    "fraud": ("fa-0142", {"role": "fraud_analyst", "org": "bank-a"}),
}


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("svc")
    shutil.copytree(ROOT / "policies" / "finance", tmp / "finance")
    secrets, table = {}, {}
    for name, (sid, attrs) in USERS.items():
        secrets[name], entry = veil_keygen_api_key(sid, attrs)
        table.update(entry)
    (tmp / "api_keys.yaml").write_text(yaml.safe_dump({"api_keys": table}))
    (tmp / "keys.yaml").write_text(f"keys:\n  audit-hash: hex:{'cd' * 32}\n")
    settings = ServiceSettings(
        policies=tmp / "finance",
        ledger=f"sqlite:///{tmp / 'ledger.db'}",
        key_file=tmp / "keys.yaml",
        api_keys_file=tmp / "api_keys.yaml",
    )
    return {
        "client": TestClient(create_app(settings)),
        "secrets": secrets,
        "db": tmp / "ledger.db",
        "settings": settings,
    }


def _post(service: dict[str, Any], who: str, purpose: str) -> dict[str, Any]:
    r = service["client"].post(
        "/v1/sanitize",
        headers={"X-API-Key": service["secrets"][who]},
        json={"dataset": "transactions", "purpose": purpose, "records": [RECORD, RECORD]},
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


def _event_body(service: dict[str, Any], event_id: str) -> str:
    with sqlite3.connect(service["db"]) as c:
        row = c.execute("SELECT body FROM events WHERE event_id = ?", (event_id,)).fetchone()
    return str(row[0])


def test_support_gets_the_memo_with_identifiers_treated(service: dict[str, Any]) -> None:
    got = _post(service, "support", "SUPPORT")
    memo = got["records"][0]["memo"]
    for secret in (SSN, CARD, EMAIL, IBAN, "555-0142"):
        assert secret not in memo
    assert "<EMAIL>" in memo and "1111" in memo and "3000" in memo and "0142" in memo
    assert got["records"][0]["memo"] == got["records"][1]["memo"]
    body = _event_body(service, got["event_id"])
    entities = json.loads(body)["fields"]["memo"]["entities"]
    assert entities["US_SSN"] == 2 and entities["CREDIT_CARD"] == 2
    assert entities["EMAIL_ADDRESS"] == 2 and entities["IBAN_CODE"] == 2
    for secret in (SSN, CARD, EMAIL, IBAN, "555-0142"):
        assert secret not in body


def test_fraud_analyst_reads_the_memo_with_card_numbers_as_bin_and_last_four(
    service: dict[str, Any],
) -> None:
    """PCI DSS v4.0 3.4.1 holds inside free text too (the bundle's pan-display view)."""
    got = _post(service, "fraud", "FRAUD")
    memo = got["records"][0]["memo"]
    assert CARD not in memo
    digits = CARD.replace(" ", "").replace("-", "")
    assert memo == MEMO.replace(CARD, CARD[:7] + "** **** " + digits[-4:])
    entities = json.loads(_event_body(service, got["event_id"]))["fields"]["memo"]["entities"]
    assert entities == {"CREDIT_CARD": 2}


def test_stream_agrees_with_json(service: dict[str, Any]) -> None:
    want = _post(service, "support", "SUPPORT")["records"]
    lines = "\n".join(json.dumps(RECORD) for _ in range(2)) + "\n"
    r = service["client"].post(
        "/v1/sanitize/stream?dataset=transactions&purpose=SUPPORT",
        headers={"X-API-Key": service["secrets"]["support"]},
        content=lines.encode(),
    )
    assert r.status_code == 200, r.text
    assert [json.loads(x) for x in r.text.splitlines() if x.strip()] == want


def test_text_analyzed_in_a_thread_when_there_are_no_workers(
    service: dict[str, Any], tmp_path: Path
) -> None:
    """``text.workers: 0`` analyzes in a thread of the server (never on the event loop)
    and gives what the worker pool gives, on both paths."""
    settings = service["settings"].model_copy(
        update={"text": TextSettings(workers=0), "ledger": f"sqlite:///{tmp_path / 'l.db'}"}
    )
    threaded = {**service, "client": TestClient(create_app(settings))}
    want = _post(service, "support", "SUPPORT")["records"]
    assert _post(threaded, "support", "SUPPORT")["records"] == want
    r = threaded["client"].post(
        "/v1/sanitize/stream?dataset=transactions&purpose=SUPPORT",
        headers={"X-API-Key": service["secrets"]["support"]},
        content="".join(json.dumps(RECORD) + "\n" for _ in range(2)).encode(),
    )
    assert r.status_code == 200, r.text
    assert [json.loads(x) for x in r.text.splitlines()] == want
