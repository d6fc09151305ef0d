"""Finding 9 of issue 12: a lone surrogate (JSON ``"\\ud800"``) in a clear field gave 500
*after* its ledger event was written (an event for a disclosure that never happened);
in the data-subject id it gave 503 instead of 422. Now input is checked before the
ledger event is prepared: 422 naming the path, never the value, and no event."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from veil.samples.synth import patients

from .served import Served, veil_serve

CANARY = "CANARY-7119"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with veil_serve(tmp_path_factory.mktemp("surrogates")) as s:
        yield s


def _events(s: Served) -> int:
    with sqlite3.connect(s.ledger) as c:
        return int(c.execute("SELECT count(*) FROM events").fetchone()[0])


def _record(**changes: Any) -> dict[str, Any]:
    return dict(next(iter(patients(1, seed=4))), organization_id="org-north", **changes)


def _post(s: Served, body: dict[str, Any], path: str = "/v1/sanitize") -> httpx.Response:
    # json.dumps escapes the lone surrogate as \ud800, as a client's JSON would
    return httpx.post(
        s.url + path,
        headers={**s.headers("clinician"), "Content-Type": "application/json"},
        content=json.dumps(body).encode(),
        timeout=10,
    )


@pytest.mark.parametrize(
    ("changes", "where"),
    [
        ({"diagnosis": f"{CANARY} \ud800"}, "records[0].diagnosis"),  # clear for clinicians
        ({"patient_id": f"MRN-{CANARY}\udfff"}, "records[0].patient_id"),  # data subject
        ({f"x{CANARY}\ud800": 1}, "records[0]"),  # a key
    ],
)
def test_a_lone_surrogate_in_a_record_is_422_with_no_ledger_event(
    served: Served, changes: dict[str, Any], where: str
) -> None:
    before = _events(served)
    r = _post(served, {"dataset": "patients", "purpose": "TREAT", "records": [_record(**changes)]})
    assert r.status_code == 422, r.text
    assert where in r.json()["error"]["message"]
    assert CANARY not in r.text
    assert _events(served) == before


def test_a_lone_surrogate_in_the_request_is_422_with_no_ledger_event(served: Served) -> None:
    before = _events(served)
    for extra in ({"reason": f"{CANARY}\ud800"}, {"context": {"ticket": f"{CANARY}\ud800"}}):
        body = {"dataset": "patients", "purpose": "TREAT", "records": [_record()], **extra}
        r = _post(served, body)
        assert r.status_code == 422, r.text
        assert CANARY not in r.text
    assert _events(served) == before


def test_a_lone_surrogate_in_a_stream_line_is_422_with_no_ledger_event(served: Served) -> None:
    before = _events(served)
    lines = [json.dumps(_record()), json.dumps(_record(diagnosis=f"{CANARY}\ud800"))]
    r = httpx.post(
        served.url + "/v1/sanitize/stream",
        params={"dataset": "patients", "purpose": "TREAT"},
        headers={**served.headers("clinician"), "Content-Type": "application/x-ndjson"},
        content=("\n".join(lines) + "\n").encode(),
        timeout=10,
    )
    assert r.status_code == 422, r.text
    assert "line 2.diagnosis" in r.json()["error"]["message"]
    assert CANARY not in r.text
    assert _events(served) == before


def test_valid_text_still_goes_through(served: Served) -> None:
    before = _events(served)
    r = _post(
        served,
        {"dataset": "patients", "purpose": "TREAT", "records": [_record(diagnosis="Café 😀")]},
    )
    assert r.status_code == 200, r.text
    assert r.json()["records"][0]["diagnosis"] == "Café 😀"
    assert _events(served) == before + 1
