"""The direct path of POST /v1/sanitize (``jsonio.direct``): the common request skips
FastAPI's generic handler, and every request gets the answer FastAPI's handler gives.

The same app answers each request twice: once as served, and once with a dependency
override set, which sends every request through FastAPI's own handler. Answers are
compared but for the ledger's event id and sequence number."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import fastapi.routing
import pytest
from fastapi import Depends, FastAPI
from fastapi import Request as HttpRequest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, ValidationError

import json_strategies as strategies
from health_service import health_settings
from veil.samples.synth import patients
from veil.service.app import SanitizeBody, create_app
from veil.service.jsonio import FROM_JSON, FastJSONRoute, direct
from veil.service.settings import Limits

USERS = {
    "clinician": ("dr.alvarez", {"role": "clinician", "org": "org-north"}),
    "researcher": ("r.chen", {"role": "researcher", "org": "university"}),
}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    tmp = tmp_path_factory.mktemp("direct")
    settings, secrets = health_settings(
        tmp, USERS, limits=Limits(max_records=20, max_depth=6, max_string=5_000)
    )
    app = create_app(settings)
    return {"app": app, "client": TestClient(app), "secrets": secrets, "db": tmp / "ledger.db"}


def _unused() -> None:  # only ever an override's key: forces FastAPI's handler
    return None


def _recs(n: int, **extra: Any) -> list[dict[str, Any]]:
    return [dict(r, organization_id="org-north", **extra) for r in patients(n, seed=5)]


def _body(**over: Any) -> dict[str, Any]:
    return {"dataset": "patients", "purpose": "TREAT", "records": _recs(2), **over}


def _answer(r: Any) -> tuple[int, Any, dict[str, str]]:
    try:
        body = r.json()
    except ValueError:
        body = r.text
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k not in ("event_id", "ledger_seq")}
    headers = {
        k: r.headers[k]
        for k in ("content-type", "www-authenticate", "retry-after")
        if k in r.headers
    }
    return r.status_code, body, headers


def _events(db: Path) -> list[str]:
    with sqlite3.connect(db) as c:
        return [k for (k,) in c.execute("select kind from events order by seq")]


CLINICIAN = "clinician"
JSON = "application/json"

#: (name, who, content type, body bytes, the direct path answers: True; FastAPI's handler:
#: False; FastAPI's handler, before it solves dependencies: None)
CASES: list[tuple[str, str | None, str | None, bytes, bool | None]] = [
    ("one record", CLINICIAN, JSON, json.dumps(_body(records=_recs(1))).encode(), True),
    ("a batch", CLINICIAN, JSON, json.dumps(_body(records=_recs(7))).encode(), True),
    (
        "research tokens",
        "researcher",
        JSON,
        json.dumps(_body(purpose="HRESCH", records=_recs(3, consent_research=True))).encode(),
        True,
    ),
    ("charset", CLINICIAN, "application/json; charset=utf-8", json.dumps(_body()).encode(), True),
    ("upper case type", CLINICIAN, "Application/JSON", json.dumps(_body()).encode(), True),
    ("refused purpose", CLINICIAN, JSON, json.dumps(_body(purpose="MARKETING")).encode(), True),
    ("unknown dataset", CLINICIAN, JSON, json.dumps(_body(dataset="nope")).encode(), True),
    ("too many records", CLINICIAN, JSON, json.dumps(_body(records=_recs(21))).encode(), True),
    ("bad record value", CLINICIAN, JSON, json.dumps(_body(records=[{"age": "x"}])).encode(), True),
    ("no credentials", None, JSON, json.dumps(_body()).encode(), True),
    ("wrong key", "wrong", JSON, json.dumps(_body()).encode(), True),
    ("no credentials, bad body", None, JSON, b'{"dataset": 1}', False),
    ("extra field", CLINICIAN, JSON, json.dumps(_body(subject_id="x")).encode(), False),
    ("missing field", CLINICIAN, JSON, b'{"dataset": "patients", "records": []}', False),
    ("records not a list", CLINICIAN, JSON, json.dumps(_body(records="CANARY")).encode(), False),
    ("a list body", CLINICIAN, JSON, b"[1, 2]", False),
    ("not JSON", CLINICIAN, JSON, b'{"dataset": ', None),
    ("NaN", CLINICIAN, JSON, json.dumps(_body()).replace('"TREAT"', "NaN").encode(), False),
    (
        "lone surrogate",
        CLINICIAN,
        JSON,
        b'{"dataset": "\\ud800", "purpose": "x", "records": []}',
        False,
    ),
    ("text/plain", CLINICIAN, "text/plain", json.dumps(_body()).encode(), False),
    ("no content type", CLINICIAN, None, json.dumps(_body()).encode(), False),
    ("empty body", CLINICIAN, JSON, b"", False),
]


@pytest.mark.parametrize(("name", "who", "ctype", "body", "fast"), CASES, ids=[c[0] for c in CASES])
def test_the_same_answer_as_fastapis_handler(
    served: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    name: str,
    who: str | None,
    ctype: str | None,
    body: bytes,
    fast: bool | None,
) -> None:
    solved: list[int] = []
    solve = fastapi.routing.solve_dependencies

    async def counting(*args: Any, **kwargs: Any) -> Any:
        solved.append(1)
        return await solve(*args, **kwargs)

    monkeypatch.setattr(fastapi.routing, "solve_dependencies", counting)
    headers = {}
    if ctype is not None:
        headers["Content-Type"] = ctype
    if who is not None:
        headers["X-API-Key"] = served["secrets"].get(who, "vk_nope.secret")
    app, client = served["app"], served["client"]

    before = len(_events(served["db"]))
    first = client.post("/v1/sanitize", content=body, headers=headers)
    kinds = _events(served["db"])[before:]
    assert len(solved) == (0 if fast in (True, None) else 1)

    app.dependency_overrides[_unused] = _unused
    try:
        second = client.post("/v1/sanitize", content=body, headers=headers)
    finally:
        app.dependency_overrides.clear()
    assert len(solved) == (0 if fast is None else 1 if fast else 2)  # FastAPI's handler
    assert _answer(first) == _answer(second)
    assert _events(served["db"])[before + len(kinds) :] == kinds  # the same ledger events
    assert "CANARY" not in first.text


class _Body(BaseModel):
    x: int


async def _who(request: HttpRequest) -> str:
    return "someone"


def _route(endpoint: Any, **kw: Any) -> None:
    app = FastAPI()
    app.router.route_class = FastJSONRoute
    app.post("/x", **kw)(direct(endpoint))


def test_an_endpoint_the_direct_path_cannot_serve_is_refused_when_routed() -> None:
    def sync(body: _Body) -> Any:  # sync endpoints run in FastAPI's thread pool
        return body

    async def query(body: _Body, q: int) -> Any:
        return body

    async def two_bodies(a: _Body, b: _Body) -> Any:
        return a

    async def nested(body: _Body, who: str = Depends(_who), n: int = 0) -> Any:
        return body

    for endpoint in (sync, query, two_bodies, nested):
        with pytest.raises(TypeError, match="@direct endpoint"):
            _route(endpoint)


def test_a_direct_endpoint_must_answer_with_a_response() -> None:
    app = FastAPI()
    app.router.route_class = FastJSONRoute

    @app.post("/x")
    @direct
    async def plain(body: _Body, who: str = Depends(_who)) -> Any:
        return {"x": body.x}

    client = TestClient(app, raise_server_exceptions=True)
    with pytest.raises(TypeError, match="must return a Response"):
        client.post("/x", json={"x": 1})


json_values = strategies.json_values(text_size=5, key_size=4, max_leaves=10)


@settings(max_examples=300, deadline=None)
@given(
    records=json_values | st.lists(st.dictionaries(st.text(max_size=4), json_values), max_size=4)
)
def test_records_taken_as_parsed_validate_as_declared(records: Any) -> None:
    """With FROM_JSON, a body's records are taken without pydantic's copy; the verdict,
    the errors and the value are those of ``list[dict[str, Any]]`` validated in full."""
    body = {"dataset": "patients", "purpose": "TREAT", "records": records}

    def verdict(context: dict[str, Any] | None) -> Any:
        try:
            return SanitizeBody.model_validate(body, context=context).model_dump()
        except ValidationError as exc:
            return [(e["loc"], e["type"], e["msg"]) for e in exc.errors()]

    assert verdict({FROM_JSON: True}) == verdict(None)
