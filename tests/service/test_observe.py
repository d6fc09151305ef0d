"""Operators' view of the service: JSON logs without values, request ids that lead from a
log line or a response to its ledger event, traces that carry the event id, /docs
without a CDN.

The canary test sends a distinctive value through every route, in every place a caller
can put one (record fields, free text, context, reason, query, path, headers, broken
bodies) and then looks for it in everything the service logged. The list of routes is
read from the app, so a route added later without coverage fails the test.
"""

from __future__ import annotations

import io
import json
import logging
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from health_service import health_settings
from veil.samples.synth import patients
from veil.service.app import create_app
from veil.service.observe import JsonFormatter
from veil.service.settings import ServiceSettings

ROOT = Path(__file__).resolve().parent.parent.parent
CANARY = "QZX7301CANARY"
USERS = {
    "clinician": ("dr.alvarez", {"role": "clinician", "org": "org-north"}),
    "researcher": ("r.chen", {"role": "researcher", "org": "university"}),
    "officer": ("po.singh", {"role": "privacy_officer", "org": "org-north"}),
    "admin": ("ops.admin", {"role": "auditor", "org": "org-north"}),
}


def _settings(tmp_path: Path, **extra: Any) -> tuple[ServiceSettings, dict[str, str]]:
    return health_settings(tmp_path, USERS, **extra)


@pytest.fixture()
def logs() -> Iterator[io.StringIO]:
    """Everything logged, as the service's JSON formatter writes it."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)  # the service default
    logging.getLogger("httpx").setLevel(logging.WARNING)  # the test client, not the service
    try:
        yield out
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def _records(n: int = 3) -> list[dict[str, Any]]:
    recs = []
    for r in patients(n, seed=4):
        rec = dict(r, organization_id="org-north", consent_research=True)
        rec["ssn"] = "536-22-8714"
        rec["notes"] = f"Patient {CANARY} called from 617-555-0142 about {CANARY}"
        rec["last_name"] = CANARY
        recs.append(rec)
    return recs


def _rows(db: Path) -> list[dict[str, Any]]:
    with sqlite3.connect(db) as c:
        return [json.loads(b) for (b,) in c.execute("select body from events order by seq")]


def test_no_canary_in_logs_and_every_answer_names_its_ledger_events(
    tmp_path: Path, logs: io.StringIO
) -> None:
    settings, secrets = _settings(tmp_path)
    app = create_app(settings)
    answers: list[tuple[str, Any]] = []  # (request id, response)

    def h(who: str, **more: str) -> dict[str, str]:
        return {"X-API-Key": secrets[who], **more}

    with TestClient(app) as c:

        def call(method: str, url: str, **kw: Any) -> Any:
            r = c.request(method, url, **kw)
            assert "x-request-id" in r.headers, url
            answers.append((r.headers["x-request-id"], r))
            return r

        body = {"dataset": "patients", "purpose": "TREAT", "records": _records()}
        assert call("POST", "/v1/sanitize", headers=h("clinician"), json=body).status_code == 200
        research = {
            "dataset": "patients",
            "purpose": "HRESCH",
            "recipient": "study-42",
            "records": _records(),
        }
        r = call("POST", "/v1/sanitize", headers=h("researcher"), json=research)
        assert r.status_code == 200
        undeclared = {**research, "context": {"note": CANARY}}
        r = call("POST", "/v1/sanitize", headers=h("researcher"), json=undeclared)
        assert r.status_code == 422
        glass = {
            "dataset": "patients",
            "purpose": "ETREAT",
            "reason": f"unconscious patient {CANARY}",
            "records": _records(1),
        }
        call("POST", "/v1/sanitize", headers=h("clinician"), json=glass)
        lines = "\n".join(json.dumps(r) for r in _records())
        r = call(
            "POST",
            f"/v1/sanitize/stream?dataset=patients&purpose=TREAT&reason={CANARY}",
            headers=h("clinician"),
            content=lines.encode(),
        )
        assert r.status_code == 200
        explain = {k: v for k, v in research.items() if k != "records"}
        assert call("POST", "/v1/explain", headers=h("researcher"), json=explain).status_code == 200
        assert (
            call(
                "GET",
                f"/v1/audit/events?purpose=HOPERAT&data_subject={CANARY}",
                headers=h("officer"),
            ).status_code
            == 200
        )
        assert (
            call(
                "GET", f"/v1/audit/accounting/{CANARY}?purpose=HOPERAT", headers=h("officer")
            ).status_code
            == 200
        )
        r = call("POST", "/v1/audit/verify?purpose=HOPERAT", headers=h("officer"))
        assert r.status_code == 200 and r.json()["ok"]
        assert call("POST", "/v1/admin/reload", headers=h("admin")).status_code == 200
        # refused, malformed and unauthenticated requests carrying the canary
        call("POST", "/v1/sanitize", headers=h("researcher"), json={**body, "purpose": "MARKETING"})
        call(
            "POST",
            "/v1/sanitize",
            headers=h("clinician", **{"Content-Type": "application/json"}),
            content=f'{{"dataset": "patients", "purpose": "TREAT", "records": [{CANARY}'.encode(),
        )
        call("POST", "/v1/sanitize", headers=h("clinician"), json={**body, "bogus": CANARY})
        call("POST", "/v1/sanitize", headers={"X-API-Key": f"vk_{CANARY}.{CANARY}"}, json=body)
        call("POST", "/v1/sanitize", headers={"Authorization": f"Bearer {CANARY}"}, json=body)
        call(
            "POST",
            "/v1/sanitize",
            headers=h("clinician", **{"X-Request-ID": f"{CANARY} <script>"}),
            json=body,
        )
        call("GET", f"/no/such/{CANARY}?q={CANARY}")
        for path in ("/healthz", "/readyz", "/metrics", "/docs", "/openapi.json"):
            assert call("GET", path).status_code == 200, path
        call("GET", "/static/swagger/veil-docs.js")

    text = logs.getvalue()
    assert CANARY not in text
    assert "536-22-8714" not in text and "617-555-0142" not in text
    access = [json.loads(line) for line in text.splitlines() if '"veil.access"' in line]
    logged_ids = {a["request_id"] for a in access}
    assert {rid for rid, _ in answers} <= logged_ids, "every request has an access line"
    # every route of the app was exercised (the console has its own canary tests)
    routes = {r.path for r in app.routes if isinstance(r, APIRoute)} | {"/docs"}
    exercised = {a["route"] for a in access}
    assert {p for p in routes if not p.startswith("/console")} <= exercised
    for line in access:
        assert set(line) >= {"time", "level", "request_id", "method", "route", "status"}
        assert "?" not in line["route"]

    # each answer's request id is in the ledger events it made, and only in those
    events = _rows(settings_db(settings))
    by_request: dict[str, list[str]] = {}
    for e in events:
        assert e.get("request_id"), f"{e['kind']} event without request id"
        by_request.setdefault(e["request_id"], []).append(e["event_id"])
    for rid, r in answers:
        if r.status_code == 200 and "x-veil-event-id" in r.headers:
            assert r.headers["x-veil-event-id"] in by_request[rid]
        if r.status_code == 200 and r.request.url.path == "/v1/sanitize":
            assert r.json()["event_id"] in by_request[rid]
    logged_events = {a["request_id"]: a["events"] for a in access}
    for rid, ids in by_request.items():
        assert sorted(logged_events[rid]) == sorted(ids), "access line names the events"
    refused = [e for e in events if e["kind"] == "refusal"]
    assert refused and all(e["request_id"] in logged_ids for e in refused)
    accounting = [e for e in events if e["kind"] == "accounting"]
    assert accounting and accounting[0]["request_id"] in logged_ids


def settings_db(settings: ServiceSettings) -> Path:
    return Path(settings.ledger.removeprefix("sqlite:///"))


def test_request_id_kept_only_when_it_is_a_plain_token(tmp_path: Path) -> None:
    settings, _ = _settings(tmp_path)
    with TestClient(create_app(settings)) as c:
        mine = "req-2026.12.05:abc_DEF"
        assert c.get("/healthz", headers={"X-Request-ID": mine}).headers["x-request-id"] == mine
        for bad in ("a b", "x" * 65, "", "\u00e9".encode("latin-1"), "a;b", "a/b"):
            got = c.get("/healthz", headers={"X-Request-ID": bad}).headers["x-request-id"]
            assert got != bad and len(got) == 32
        ids = {c.get("/healthz").headers["x-request-id"] for _ in range(20)}
        assert len(ids) == 20


def test_json_formatter_drops_exception_text(logs: io.StringIO) -> None:
    log = logging.getLogger("veil.test")
    try:
        raise ValueError(f"could not parse {CANARY}")
    except ValueError:
        log.exception("parse failed")
    line = json.loads(logs.getvalue().splitlines()[-1])
    assert line["message"] == "parse failed" and line["error"] == "ValueError"
    assert CANARY not in logs.getvalue()


def test_ledger_failure_is_logged_without_detail(tmp_path: Path, logs: io.StringIO) -> None:
    settings, secrets = _settings(tmp_path)
    app = create_app(settings)
    with TestClient(app) as c:
        app.state.ledger.inner.close()  # the ledger goes away under the service
        if app.state.ledger.writer is not None:
            app.state.ledger.writer.close()
        r = c.post(
            "/v1/sanitize",
            headers={"X-API-Key": secrets["clinician"]},
            json={"dataset": "patients", "purpose": "TREAT", "records": _records(1)},
        )
    assert r.status_code == 503
    errors = [json.loads(x) for x in logs.getvalue().splitlines() if '"veil.ledger"' in x]
    assert errors and errors[0]["level"] == "error" and errors[0]["request_id"]
    assert CANARY not in logs.getvalue()


def test_reload_is_logged(tmp_path: Path, logs: io.StringIO) -> None:
    settings, secrets = _settings(tmp_path)
    with TestClient(create_app(settings)) as c:
        rules = settings.policies / "rules.yaml"
        rules.write_text(rules.read_text() + "\n  - this is: [not valid\n")
        r = c.post("/v1/admin/reload", headers={"X-API-Key": secrets["admin"]})
        assert r.status_code == 200 and r.json()["ok"] is False
    lines = [json.loads(x) for x in logs.getvalue().splitlines()]
    reload = [x for x in lines if "reload" in x["message"] or "bundle" in x["message"]]
    assert reload and reload[-1]["level"] == "warning"
    assert (
        reload[-1]["request_id"]
        == [x for x in lines if x["logger"] == "veil.access"][-1]["request_id"]
    )


def test_docs_are_served_from_the_wheel_with_a_strict_csp(tmp_path: Path) -> None:
    settings, _ = _settings(tmp_path)
    with TestClient(create_app(settings)) as c:
        r = c.get("/docs")
        assert r.status_code == 200
        csp = r.headers["content-security-policy"]
        script_src = csp.split("script-src")[1].split(";")[0]
        assert script_src.strip() == "'self'"
        assert "http://" not in r.text and "https://" not in r.text and "<script>" not in r.text
        for src in ("/static/swagger/swagger-ui-bundle.js", "/static/swagger/swagger-ui.css"):
            assert src in r.text
            asset = c.get(src)
            assert asset.status_code == 200 and len(asset.content) > 10_000
        assert c.get("/redoc").status_code == 404


def test_spans_carry_the_ledger_event_id(tmp_path: Path) -> None:
    pytest.importorskip("opentelemetry.sdk", reason="the otel extra is not installed")
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    settings, secrets = _settings(tmp_path, otel=True)
    # in production the tracer comes from the process's (global) provider
    assert trace.get_tracer("veil") is not None
    app = create_app(settings, tracer=provider.get_tracer("veil"))
    with TestClient(app) as c:
        r = c.post(
            "/v1/sanitize",
            headers={"X-API-Key": secrets["clinician"], "X-Request-ID": "trace-me-1"},
            json={"dataset": "patients", "purpose": "TREAT", "records": _records(2)},
        )
        assert r.status_code == 200
    spans = [
        s
        for s in exporter.get_finished_spans()
        if (s.attributes or {}).get("veil.request_id") == "trace-me-1"
    ]
    assert len(spans) == 1
    attrs = spans[0].attributes or {}
    assert list(attrs["veil.ledger.event_ids"]) == [r.json()["event_id"]]
    assert attrs["http.route"] == "/v1/sanitize" and attrs["http.response.status_code"] == 200


def test_otel_without_the_extra_is_a_start_up_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    from veil.errors import ConfigError

    monkeypatch.setitem(sys.modules, "opentelemetry", None)
    settings, _ = _settings(tmp_path, otel=True)
    with pytest.raises(ConfigError, match="OpenTelemetry is not installed") as got:
        create_app(settings)
    assert "veil[otel]" in got.value.hint
