"""The HTTP service end to end (in process): auth, ledger-first, limits, reload, audit."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from health_service import health_settings
from veil.errors import LedgerError
from veil.ledger import open_ledger
from veil.samples.synth import patients
from veil.service.app import create_app
from veil.service.settings import Limits

ROOT = Path(__file__).resolve().parent.parent.parent
CANARY = "CANARY-5150"
USERS = {
    "clinician": ("dr.alvarez", {"role": "clinician", "org": "org-north"}),
    "researcher": ("r.chen", {"role": "researcher", "org": "university"}),
    "officer": ("po.singh", {"role": "privacy_officer", "org": "org-north"}),
    "registry": ("reg.okafor", {"role": "registry_clerk", "org": "state-dph"}),
    "admin": ("ops.admin", {"role": "auditor", "org": "org-north"}),
}


@pytest.fixture()
def env(tmp_path: Path) -> dict[str, Any]:
    settings, secrets = health_settings(
        tmp_path,
        USERS,
        limits=Limits(max_records=50, max_body_bytes=200_000, max_depth=6, max_string=5_000),
    )
    bundle = settings.policies
    app = create_app(settings)
    return {
        "client": TestClient(app),
        "secrets": secrets,
        "bundle": bundle,
        "db": tmp_path / "ledger.db",
        "app": app,
        "settings": settings,
    }


def _h(env: dict[str, Any], who: str) -> dict[str, str]:
    return {"X-API-Key": env["secrets"][who]}


def _events(db: Path) -> int:
    with sqlite3.connect(db) as c:
        return int(c.execute("select count(*) from events where kind='disclosure'").fetchone()[0])


def _recs(n: int = 5) -> list[dict[str, Any]]:
    return [
        dict(r, organization_id="org-north", consent_research=True) for r in patients(n, seed=9)
    ]


def test_no_credentials_is_401(env: dict[str, Any]) -> None:
    r = env["client"].post(
        "/v1/sanitize", json={"dataset": "patients", "purpose": "TREAT", "records": []}
    )
    assert r.status_code == 401 and "WWW-Authenticate" in r.headers
    r = env["client"].post(
        "/v1/sanitize",
        headers={"X-API-Key": "vk_nope.secret"},
        json={"dataset": "patients", "purpose": "TREAT", "records": []},
    )
    assert r.status_code == 401


def test_sanitize_logs_before_answering(env: dict[str, Any]) -> None:
    c = env["client"]
    r = c.post(
        "/v1/sanitize",
        headers=_h(env, "clinician"),
        json={"dataset": "patients", "purpose": "TREAT", "records": _recs()},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["returned"] == 5 and all(x["ssn"].startswith("***") for x in body["records"])
    assert _events(env["db"]) == 1
    r = c.post(
        "/v1/sanitize",
        headers=_h(env, "researcher"),
        json={"dataset": "patients", "purpose": "HRESCH", "records": _recs()},
    )
    assert r.status_code == 200, r.text
    assert all("first_name" not in x for x in r.json()["records"])
    assert _events(env["db"]) == 2


def test_body_cannot_choose_the_subject(env: dict[str, Any]) -> None:
    for extra in ({"subject_id": "dr.other"}, {"subject": {"role": "privacy_officer"}}):
        r = env["client"].post(
            "/v1/sanitize",
            headers=_h(env, "researcher"),
            json={"dataset": "patients", "purpose": "TREAT", "records": [], **extra},
        )
        assert r.status_code == 422
    assert _events(env["db"]) == 0


def test_errors_never_echo_values(env: dict[str, Any]) -> None:
    rec = dict(_recs(1)[0], age=CANARY)
    r = env["client"].post(
        "/v1/sanitize",
        headers=_h(env, "clinician"),
        json={"dataset": "patients", "purpose": "TREAT", "records": [rec]},
    )
    assert r.status_code == 422 and CANARY not in r.text
    assert "age" in r.json()["error"]["message"]
    r = env["client"].post(
        "/v1/sanitize",
        headers=_h(env, "clinician"),
        json={"dataset": "patients", "purpose": "TREAT", "records": CANARY},
    )
    assert r.status_code == 422 and CANARY not in r.text
    assert _events(env["db"]) == 0


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_non_json_numbers_are_422_not_a_broken_answer(env: dict[str, Any], token: str) -> None:
    """Python's json reads NaN and Infinity; veil must refuse them (a JSON answer holding
    them is invalid, and the array endpoint used to fail with a 500 after logging)."""
    rec = json.dumps(dict(_recs(1)[0], weight_kg=1.5)).replace("1.5", token)
    body = f'{{"dataset": "patients", "purpose": "TREAT", "records": [{rec}]}}'
    h = {**_h(env, "clinician"), "Content-Type": "application/json"}
    r = env["client"].post("/v1/sanitize", headers=h, content=body)
    assert r.status_code == 422 and "weight_kg" in r.json()["error"]["message"]
    r = env["client"].post(
        "/v1/sanitize/stream?dataset=patients&purpose=TREAT", headers=h, content=rec
    )
    assert r.status_code == 422 and "finite number" in r.json()["error"]["message"]
    assert _events(env["db"]) == 0


def test_non_json_numbers_in_the_context_are_422(env: dict[str, Any]) -> None:
    """A context number JSON cannot spell would reach policy conditions and the ledger's
    context snapshot; it is refused, naming where it is."""
    body = '{"dataset": "patients", "purpose": "TREAT", "records": [], "context": {"a": [1, NaN]}}'
    h = {**_h(env, "clinician"), "Content-Type": "application/json"}
    r = env["client"].post("/v1/sanitize", headers=h, content=body)
    assert r.status_code == 422 and "context.a[1]" in r.json()["error"]["message"]
    assert _events(env["db"]) == 0


def test_refusals_and_unknowns(env: dict[str, Any]) -> None:
    c = env["client"]
    r = c.post(
        "/v1/sanitize",
        headers=_h(env, "clinician"),
        json={"dataset": "patients", "purpose": "MARKETING", "records": _recs(1)},
    )
    assert r.status_code == 403 and r.json()["error"]["code"] == "access_denied"
    r = c.post(
        "/v1/sanitize/stream?dataset=patients&purpose=MARKETING",
        headers=_h(env, "clinician"),
        content=json.dumps(_recs(1)[0]),
    )
    assert r.status_code == 403
    with sqlite3.connect(env["db"]) as db:  # both refusals are in the ledger, nothing else
        kinds = [k for (k,) in db.execute("select kind from events order by seq")]
    assert kinds == ["refusal", "refusal"]
    r = c.post(
        "/v1/sanitize",
        headers=_h(env, "clinician"),
        json={"dataset": "nope", "purpose": "TREAT", "records": []},
    )
    assert r.status_code == 422


@pytest.mark.parametrize(
    ("records", "status", "limit"),
    [
        (lambda: _recs(1) * 51, 413, "max_records"),
        (lambda: [dict(_recs(1)[0], note="x" * 6000)], 422, "max_string"),
        (
            lambda: [dict(_recs(1)[0], junk={"a": {"b": {"c": {"d": {"e": {"f": 1}}}}}})],
            422,
            "max_depth",
        ),
        (lambda: [dict(_recs(1)[0], note="y" * 4000) for _ in range(49)], 413, "max_body_bytes"),
    ],
    ids=["records", "string", "depth", "body"],
)
def test_limits(env: dict[str, Any], records: Any, status: int, limit: str) -> None:
    r = env["client"].post(
        "/v1/sanitize",
        headers=_h(env, "clinician"),
        json={"dataset": "patients", "purpose": "TREAT", "records": records()},
    )
    assert r.status_code == status, r.text
    assert limit in r.json()["error"]["message"]
    assert _events(env["db"]) == 0


def test_ndjson_stream(env: dict[str, Any]) -> None:
    lines = "".join(json.dumps(x) + "\n" for x in _recs(30))
    r = env["client"].post(
        "/v1/sanitize/stream?dataset=patients&purpose=TREAT",
        headers={**_h(env, "clinician"), "Content-Type": "application/x-ndjson"},
        content=lines.encode(),
    )
    assert r.status_code == 200, r.text
    out = [json.loads(x) for x in r.text.splitlines()]
    assert len(out) == 30 and r.headers["X-Veil-Records-Returned"] == "30"
    assert _events(env["db"]) == 1
    bad = lines + '{"patient_id": "MRN-9", broken\n'
    r = env["client"].post(
        "/v1/sanitize/stream?dataset=patients&purpose=TREAT",
        headers=_h(env, "clinician"),
        content=bad.encode(),
    )
    assert r.status_code == 422 and "line 31" in r.text
    assert _events(env["db"]) == 1


def test_ledger_down_is_503_and_nothing_disclosed(env: dict[str, Any], tmp_path: Path) -> None:
    class Down:
        def __init__(self) -> None:
            self.inner = open_ledger(f"sqlite:///{tmp_path / 'x.db'}", None)
            self.down = True

        def append(self, event: Any) -> Any:
            if self.down:
                raise LedgerError("ledger unavailable (test)")
            return self.inner.append(event)

        def write_batch(self, batch: Any) -> Any:  # the service's batched path
            if self.down:
                raise LedgerError("ledger unavailable (test)")
            return self.inner.write_batch(batch)

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

    led = Down()
    client = TestClient(create_app(env["settings"], ledger=led))
    body = {"dataset": "patients", "purpose": "TREAT", "records": _recs(3)}
    r = client.post("/v1/sanitize", headers=_h(env, "clinician"), json=body)
    assert r.status_code == 503 and r.headers["Retry-After"]
    assert "MRN-" not in r.text
    led.down = False
    r = client.post("/v1/sanitize", headers=_h(env, "clinician"), json=body)
    assert r.status_code == 200


def test_reload_keeps_last_good_bundle(env: dict[str, Any]) -> None:
    c = env["client"]
    before = c.get("/readyz").json()["bundle_version"]
    (env["bundle"] / "broken.yaml").write_text("rules:\n  - id: x\n    then: alow\n")
    r = c.post("/v1/admin/reload", headers=_h(env, "admin"))
    assert r.status_code == 200 and r.json()["ok"] is False and r.json()["problems"]
    assert c.get("/readyz").json()["bundle_version"] == before
    (env["bundle"] / "broken.yaml").write_text(
        "rules:\n  - id: extra\n    target: {fields: [weight_kg]}\n    then: redact\n"
    )
    r = c.post("/v1/admin/reload", headers=_h(env, "admin"))
    assert r.json()["ok"] is True and r.json()["bundle_version"] != before
    r = c.post(
        "/v1/sanitize",
        headers=_h(env, "clinician"),
        json={"dataset": "patients", "purpose": "TREAT", "records": _recs(2)},
    )
    assert r.json()["bundle_version"] == c.get("/readyz").json()["bundle_version"]
    assert all("weight_kg" not in x for x in r.json()["records"])
    assert c.post("/v1/admin/reload", headers=_h(env, "clinician")).status_code == 403


def test_audit_is_governed_by_policy(env: dict[str, Any]) -> None:
    c = env["client"]
    recs = _recs(2)
    c.post(
        "/v1/sanitize",
        headers=_h(env, "clinician"),
        json={"dataset": "patients", "purpose": "TREAT", "records": recs},
    )
    r = c.post(
        "/v1/sanitize",
        headers=_h(env, "registry"),
        json={
            "dataset": "patients",
            "purpose": "PUBHLTH",
            "recipient": "state-dph",
            "records": recs[:1],
        },
    )
    assert r.status_code == 200, r.text
    pid = recs[0]["patient_id"]
    r = c.get(f"/v1/audit/accounting/{pid}?purpose=TREAT", headers=_h(env, "clinician"))
    assert r.status_code == 403
    r = c.get(f"/v1/audit/accounting/{pid}?purpose=HOPERAT", headers=_h(env, "officer"))
    assert r.status_code == 200, r.text
    # 164.528(a)(1)(i): the treatment disclosure is not listed; the public health one is
    (entry,) = r.json()["disclosures"]
    assert entry["recipient"].startswith("State Department of Public Health")
    assert entry["purpose"] == "PUBHLTH" and "164.512(b)" in entry["statement"]
    assert r.json()["not_accountable"] == 1
    r = c.get("/v1/audit/events?purpose=HOPERAT", headers=_h(env, "officer"))
    assert r.status_code == 200 and r.json()["events"]
    r = c.post("/v1/audit/verify?purpose=HOPERAT", headers=_h(env, "officer"))
    assert r.status_code == 200 and r.json()["ok"] is True


def test_explain_and_metrics_have_no_values(env: dict[str, Any]) -> None:
    c = env["client"]
    r = c.post(
        "/v1/explain",
        headers=_h(env, "researcher"),
        json={"dataset": "patients", "purpose": "HRESCH"},
    )
    assert r.status_code == 200
    outcomes = {f["path"]: f["outcome"] for f in r.json()["fields"]}
    assert outcomes["ssn"] == "redacted" and outcomes["zip"].startswith("generalize")
    rec = dict(_recs(1)[0], first_name=CANARY)
    c.post(
        "/v1/sanitize",
        headers=_h(env, "clinician"),
        json={"dataset": "patients", "purpose": "TREAT", "records": [rec]},
    )
    m = c.get("/metrics").text
    assert "veil_field_outcomes_total" in m and CANARY not in m and "MRN-" not in m
    assert c.get("/healthz").status_code == 200


def test_field_outcome_metrics_count_every_request(env: dict[str, Any]) -> None:
    """Requests that end alike share their event's field entries, and the metrics sum
    them once per shared entry: the counters must still add up every request's values,
    as the ledger recorded them."""
    c = env["client"]
    one, two = _recs(1), _recs(2)
    for who, purpose, recs in [
        ("clinician", "TREAT", one),
        ("clinician", "TREAT", one),
        ("clinician", "TREAT", two),
        ("researcher", "HRESCH", two),
        ("clinician", "TREAT", one),
    ]:
        r = c.post(
            "/v1/sanitize",
            headers=_h(env, who),
            json={"dataset": "patients", "purpose": purpose, "records": recs},
        )
        assert r.status_code == 200, r.text
    logged: dict[str, int] = {}
    with sqlite3.connect(env["db"]) as db:
        for (body,) in db.execute("select body from events where kind='disclosure'"):
            for fd in json.loads(body)["fields"].values():
                for label, n in fd["outcomes"].items():
                    logged[label] = logged.get(label, 0) + n
    counted: dict[str, float] = {}
    for line in c.get("/metrics").text.splitlines():
        if line.startswith("veil_field_outcomes_total{"):
            label = line.split('outcome="')[1].split('"')[0]
            counted[label] = counted.get(label, 0) + float(line.rsplit(" ", 1)[1])
    assert counted == logged and sum(logged.values()) > 0


@pytest.mark.parametrize(("ms", "while_serving"), [(0.1, 0.0001), (2.0, 0.002), (None, None)])
def test_the_gil_switch_interval_is_set_while_serving_and_restored(
    tmp_path: Path, ms: float | None, while_serving: float | None
) -> None:
    """The ledger's writer thread needs the GIL back after each database call; the app
    shortens the interpreter's switch interval while it serves (null: leaves it), and
    puts the previous one back when it stops."""
    import sys

    from veil.service.settings import ServerSettings

    settings, secrets = health_settings(
        tmp_path, USERS, server=ServerSettings(gil_switch_interval_ms=ms)
    )
    before = sys.getswitchinterval()
    with TestClient(create_app(settings)) as client:
        during = sys.getswitchinterval()
        r = client.post(
            "/v1/sanitize",
            headers={"X-API-Key": secrets["clinician"]},
            json={"dataset": "patients", "purpose": "TREAT", "records": _recs(2)},
        )
        assert r.status_code == 200
    assert during == pytest.approx(before if while_serving is None else while_serving)
    assert sys.getswitchinterval() == before


def test_a_switch_interval_of_zero_is_refused() -> None:
    from pydantic import ValidationError

    from veil.service.settings import ServerSettings

    with pytest.raises(ValidationError):
        ServerSettings(gil_switch_interval_ms=0)
