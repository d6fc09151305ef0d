"""The console over HTTP (no browser): sign-in, sessions, CSRF, headers, who may open
what, what each page shows and records, and that no withheld value ever appears."""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import APIRoute

from veil.samples.synth import patients

from .conftest import Served, csrf_of, sign_in

CANARY_SSN = "987-65-4329"
CANARY_NAME = "Qzxcanary"
GET_PAGES = [
    "/console/",
    "/console/preview",
    "/console/matrix",
    "/console/matrix?dataset=patients",
    "/console/matrix/cell?dataset=patients&field=ssn&role=researcher&purpose=HRESCH",
    "/console/diff",
    "/console/ledger",
    "/console/breakglass",
    "/console/accounting",
]


def _events(served: Served, kind: str | None = None) -> list[dict[str, Any]]:
    with sqlite3.connect(served.db) as c:
        rows = c.execute("select body from events order by seq").fetchall()
    events = [json.loads(b) for (b,) in rows]
    return [e for e in events if kind is None or e["kind"] == kind]


def _records(n: int = 3) -> list[dict[str, Any]]:
    out = []
    for r in patients(n, seed=5):
        rec = dict(r, organization_id="org-north", consent_research=True)
        rec["ssn"], rec["last_name"] = CANARY_SSN, CANARY_NAME
        out.append(rec)
    return out


def _disclose(served: Served, who: str, purpose: str, **extra: Any) -> dict[str, Any]:
    r = served.client.post(
        "/v1/sanitize",
        headers={"X-API-Key": served.secrets[who]},
        json={"dataset": "patients", "purpose": purpose, "records": _records(), **extra},
    )
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


# ---------------------------------------------------------------- sign-in and sessions
def test_sign_in_sets_a_strict_session_cookie(served: Served) -> None:
    c = served.client
    form = c.get("/console/login")
    assert "HttpOnly" in form.headers["set-cookie"]
    r = c.post(
        "/console/login",
        data={"csrf": csrf_of(form.text), "api_key": served.secrets["officer"]},
        follow_redirects=False,
    )
    assert r.status_code == 303
    cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith("veil_console="))
    flags = {f.strip().lower() for f in cookie.split(";")[1:]}
    assert {"httponly", "secure", "samesite=strict", "path=/console"} <= flags
    assert not any(f.startswith(("max-age", "expires")) for f in flags)  # ends with the browser
    assert c.get("/console/").status_code == 200


def test_no_secure_flag_over_plain_http(served: Served) -> None:
    c = served.client
    form = c.get("http://testserver/console/login")
    r = c.post(
        "http://testserver/console/login",
        data={"csrf": csrf_of(form.text), "api_key": served.secrets["officer"]},
        follow_redirects=False,
    )
    cookie = next(h for h in r.headers.get_list("set-cookie") if h.startswith("veil_console="))
    assert "secure" not in cookie.lower() and "samesite=strict" in cookie.lower()


@pytest.mark.parametrize("bad", ["", "forged-token"])
def test_sign_in_needs_its_csrf_token(served: Served, bad: str) -> None:
    c = served.client
    c.get("/console/login")
    r = c.post(
        "/console/login",
        data={"csrf": bad, "api_key": served.secrets["officer"]},
        follow_redirects=False,
    )
    assert r.status_code == 403 and "veil_console=" not in r.headers.get("set-cookie", "")


def test_wrong_credentials_are_refused_without_echo(served: Served) -> None:
    c = served.client
    form = c.get("/console/login")
    r = c.post(
        "/console/login",
        data={"csrf": csrf_of(form.text), "api_key": "vk_nope.CANARYSECRET"},
    )
    assert r.status_code == 401 and "CANARYSECRET" not in r.text
    token = "eyJhbGciOiJSUzI1NiJ9.e30.c2ln"  # not a token this service trusts
    r = c.post("/console/login", data={"csrf": csrf_of(form.text), "token": token})
    assert r.status_code == 401
    assert c.get("/console/", follow_redirects=False).status_code == 303


def test_pages_need_a_session(served: Served) -> None:
    for path in GET_PAGES:
        r = served.client.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/console/login", path


def test_sign_out_ends_the_session(served: Served) -> None:
    csrf = sign_in(served, "officer")
    cookie = served.client.cookies.get("veil_console")
    r = served.client.post("/console/logout", data={"csrf": csrf}, follow_redirects=False)
    assert r.status_code == 303
    served.client.cookies.set("veil_console", cookie, path="/console")  # replay the old one
    r = served.client.get("/console/ledger", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/login"


def test_sessions_expire(served: Served) -> None:
    sign_in(served, "officer")
    assert served.client.get("/console/ledger").status_code == 200
    served.app.state.console.sessions.idle = 0  # every session is now idle too long
    r = served.client.get("/console/ledger", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/console/login"


# ---------------------------------------------------------------- headers and CSRF
def test_every_page_and_asset_has_a_strict_policy(served: Served) -> None:
    sign_in(served, "officer")
    for path in [*GET_PAGES, "/console/login"]:
        r = served.client.get(path)
        assert r.status_code == 200, path
        csp = r.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp, path
        assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert r.headers["x-frame-options"] == "DENY" and r.headers["cache-control"] == "no-store"
        # no inline script or style, nothing from elsewhere
        assert not re.search(r"<script(?![^>]*\bsrc=)", r.text), path
        assert "<style" not in r.text and " style=" not in r.text and "onclick" not in r.text
        assert not re.search(r"""(src|href)=["']https?://""", r.text), path
    for asset in ("htmx.min.js", "console.css"):
        assert served.client.get(f"/console/static/{asset}").status_code == 200


def _console_posts(served: Served) -> list[str]:
    return sorted(
        r.path
        for r in served.app.routes
        if isinstance(r, APIRoute) and r.path.startswith("/console") and "POST" in r.methods
    )


def test_every_form_post_needs_the_session_csrf_token(served: Served) -> None:
    bg = _disclose(served, "clinician", "ETREAT", reason="cardiac arrest, patient unconscious")
    sign_in(served, "officer")
    before = len(_events(served))
    posts = _console_posts(served)
    assert len(posts) >= 7
    for path in posts:
        url = path.replace("{event_id}", bg["event_id"])
        if path == "/console/login":
            continue
        for token in ("", "x" * 43):
            r = served.client.post(
                url,
                data={"csrf": token, "subject": "MRN-1", "candidate": ".", "dataset": "patients"},
                follow_redirects=False,
            )
            assert r.status_code == 403, url
    assert len(_events(served)) == before, "a refused form changed the ledger"
    assert served.client.get("/console/").status_code == 200  # still signed in


# ---------------------------------------------------------------- who may open what
def test_a_requester_without_the_role_gets_403_pages(served: Served) -> None:
    _disclose(served, "clinician", "TREAT")
    for who in ("researcher", "clinician"):
        csrf = sign_in(served, who)
        home = served.client.get("/console/")
        assert home.status_code == 200 and "/console/ledger" not in home.text
        for path in GET_PAGES[1:]:
            r = served.client.get(path)
            assert r.status_code == 403, (who, path)
            assert "Not allowed" in r.text and "<table" not in r.text
        for path in ("/console/accounting", "/console/accounting.pdf", "/console/ledger/verify"):
            r = served.client.post(path, data={"csrf": csrf, "subject": "MRN-1"})
            assert r.status_code == 403 and not r.content.startswith(b"%PDF"), (who, path)


def test_an_admin_reviews_policy_but_the_bundle_decides_the_ledger(served: Served) -> None:
    sign_in(served, "admin")  # an auditor: in the admins list, not a ledger reader here
    assert served.client.get("/console/matrix").status_code == 200
    assert served.client.get("/console/ledger").status_code == 403


# ---------------------------------------------------------------- preview
def test_preview_as_researcher_shows_what_they_receive_and_hides_the_rest(served: Served) -> None:
    csrf = sign_in(served, "officer")
    recs = "\n".join(json.dumps(r) for r in _records())
    r = served.client.post(
        "/console/preview",
        data={
            "csrf": csrf, "dataset": "patients", "purpose": "HRESCH", "recipient": "study-42",
            "attr_role": "researcher", "attr_org": "university", "records": recs,
            "own_purpose": "HOPERAT",
        },
    )  # fmt: skip
    assert r.status_code == 200
    assert CANARY_SSN not in r.text and CANARY_NAME not in r.text
    assert "research-random-id" in r.text and "pt_" in r.text  # tokenized patient ids
    assert "default deny" in r.text
    previews = _events(served, "preview")
    assert len(previews) == 1 and previews[0]["details"]["source"] == "pasted"
    assert previews[0]["details"]["as"]["subject"] == {"role": "researcher", "org": "university"}


def test_preview_originals_only_as_the_viewer_may_see_them(served: Served) -> None:
    csrf = sign_in(served, "admin")  # an auditor may read patients for HOPERAT, masked
    recs = json.dumps(_records(1))
    r = served.client.post(
        "/console/preview",
        data={
            "csrf": csrf, "dataset": "patients", "purpose": "TREAT",
            "attr_role": "clinician", "attr_org": "org-north", "records": recs,
            "own_purpose": "HOPERAT",
        },
    )  # fmt: skip
    assert r.status_code == 200
    # the original column is the auditor's own view, where the bundle hashes names: the
    # name is not shown there in clear, and that own view is logged as a disclosure
    rows = re.findall(r"<th scope=\"row\"><code>last_name</code></th>\s*<td>(.*?)</td>", r.text)
    assert rows and CANARY_NAME not in rows[0]
    assert _events(served, "disclosure")[-1]["requester"]["id"] == "ops.admin"


def test_preview_shows_the_break_glass_prompt(served: Served) -> None:
    csrf = sign_in(served, "officer")
    form = {
        "csrf": csrf, "dataset": "patients", "purpose": "ETREAT", "attr_role": "nurse",
        "attr_org": "org-north",
    }  # fmt: skip
    r = served.client.post("/console/preview", data=form)
    assert "Break-glass rules apply" in r.text
    r = served.client.post("/console/preview", data={**form, "reason": "cardiac arrest"})
    assert "Break-glass rules apply" not in r.text


def test_bad_pasted_records_are_a_clear_error(served: Served) -> None:
    csrf = sign_in(served, "officer")
    r = served.client.post(
        "/console/preview",
        data={"csrf": csrf, "dataset": "patients", "purpose": "TREAT",
              "records": '{"ssn": "' + CANARY_SSN + '", '},
    )  # fmt: skip
    assert r.status_code == 422 and "not JSON" in r.text and CANARY_SSN not in r.text


# ---------------------------------------------------------------- matrix and diff
def test_matrix_cells_and_rules(served: Served) -> None:
    sign_in(served, "officer")
    r = served.client.get("/console/matrix?dataset=patients")
    assert r.status_code == 200 and "researcher" in r.text and "HRESCH" in r.text
    cell = served.client.get(
        "/console/matrix/cell?dataset=patients&field=ssn&role=researcher&purpose=HRESCH",
        headers={"HX-Request": "true"},
    )
    assert cell.status_code == 200 and "<html" not in cell.text  # a fragment for htmx
    assert "withheld by default" in cell.text
    cell = served.client.get(
        "/console/matrix/cell?dataset=patients&field=patient_id&role=researcher&purpose=HRESCH"
    )
    assert "research-random-id" in cell.text and "<html" in cell.text


def test_diff_lists_every_changed_cell_and_both_proofs(served: Served, tmp_path: Path) -> None:
    root = served.settings.policies.parent
    candidate = root / "candidate"
    shutil.copytree(served.settings.policies, candidate)
    rules = candidate / "rules.yaml"
    text = rules.read_text()
    # the candidate lets researchers see the state in clear no longer: generalize nothing,
    # withhold it (a rule removed is a change a reviewer must see)
    assert "research-clinical-clear" in text
    rules.write_text(text.replace("state, ", "").replace(", state]", "]"))
    csrf = sign_in(served, "officer")
    r = served.client.post("/console/diff", data={"csrf": csrf, "candidate": "candidate"})
    assert r.status_code == 200
    m = re.search(r"<h2>(\d+) cells? change", r.text)
    assert m and int(m.group(1)) >= 1
    assert "<code>state</code>" in r.text and "reveals less" in r.text
    assert r.text.count("proved") >= 2  # both bundles' proofs are shown
    outside = served.client.post("/console/diff", data={"csrf": csrf, "candidate": "/etc"})
    assert outside.status_code == 422 and "under" in outside.text


# ---------------------------------------------------------------- ledger
def test_ledger_browser_filters_pages_and_logs_its_reads(served: Served) -> None:
    for _ in range(3):
        _disclose(served, "clinician", "TREAT")
    _disclose(served, "researcher", "HRESCH", recipient="study-42")
    sign_in(served, "officer")
    before = len(_events(served, "disclosure"))
    r = served.client.get("/console/ledger?requester=r.chen")
    assert r.status_code == 200 and r.text.count("/console/ledger/event/") == 1
    reads = _events(served, "disclosure")[before:]
    assert len(reads) == 1 and reads[0]["dataset"] == "ledger_events"
    assert reads[0]["requester"]["id"] == "po.singh"
    r = served.client.get("/console/ledger?purpose=TREAT&kind=disclosure")
    assert r.text.count("/console/ledger/event/") == 3
    subject = _records(1)[0]["patient_id"]
    r = served.client.get(f"/console/ledger?subject={subject}")
    assert r.text.count("/console/ledger/event/") == 4
    for page in (r.text, served.client.get("/console/ledger").text):
        assert CANARY_SSN not in page and CANARY_NAME not in page


def test_ledger_pages_by_cursor(served: Served) -> None:
    import veil.console.pages as pages

    for _ in range(5):
        _disclose(served, "clinician", "TREAT")
    sign_in(served, "officer")
    seen: list[str] = []
    url = "/console/ledger?kind=disclosure&purpose=TREAT"
    old = pages.PAGE_SIZE
    try:
        import veil.console.routes as routes

        routes.PAGE_SIZE = 2  # the route reads the module's value
        while url:
            r = served.client.get(url)
            seen += re.findall(r"/console/ledger/event/([0-9a-f]{32})", r.text)
            nxt = re.search(r'rel="next" href="([^"]+)"', r.text)
            url = nxt.group(1).replace("&amp;", "&") if nxt else ""
    finally:
        routes.PAGE_SIZE = old
    assert len(seen) == 5 and len(set(seen)) == 5


def test_event_detail_shows_outcomes_never_values(served: Served) -> None:
    ev = _disclose(served, "clinician", "ETREAT", reason="unconscious on arrival")
    sign_in(served, "officer")
    r = served.client.get(f"/console/ledger/event/{ev['event_id']}")
    assert r.status_code == 200
    assert "unconscious on arrival" in r.text  # the break-glass reason is for review
    assert "<code>ssn</code>" in r.text and "mask" in r.text
    assert CANARY_SSN not in r.text and CANARY_NAME not in r.text
    assert served.client.get("/console/ledger/event/zz").status_code == 422


def test_verify_names_the_first_broken_event(served: Served) -> None:
    for _ in range(3):
        _disclose(served, "clinician", "TREAT")
    csrf = sign_in(served, "officer")
    r = served.client.post("/console/ledger/verify", data={"csrf": csrf})
    assert "Intact" in r.text
    with sqlite3.connect(served.db) as c:
        seq, body = c.execute("select seq, body from events where seq = 2").fetchone()
        c.execute("update events set body = ? where seq = 2", (body.replace("TREAT", "HPAYMT"),))
    r = served.client.post("/console/ledger/verify", data={"csrf": csrf})
    assert "Broken" in r.text and f"#{seq}" in r.text


# ---------------------------------------------------------------- accounting, break-glass
def test_accounting_page_and_pdf_are_produced_and_recorded(served: Served) -> None:
    _disclose(served, "researcher", "HRESCH", recipient="study-42")
    subject = _records(1)[0]["patient_id"]
    csrf = sign_in(served, "officer")
    r = served.client.post("/console/accounting", data={"csrf": csrf, "subject": subject})
    assert r.status_code == 200 and subject in r.text and "164.528" in r.text
    pdf = served.client.post("/console/accounting.pdf", data={"csrf": csrf, "subject": subject})
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF")
    assert subject.encode() in pdf.content
    assert pdf.headers["content-disposition"].startswith("attachment")
    provided = _events(served, "accounting")
    assert [e["details"]["format"] for e in provided] == ["html", "pdf"]
    assert CANARY_SSN.encode() not in pdf.content


def test_break_glass_review_and_acknowledgement(served: Served) -> None:
    ev = _disclose(served, "clinician", "ETREAT", reason="cardiac arrest")
    _disclose(served, "clinician", "TREAT")
    csrf = sign_in(served, "officer")
    r = served.client.get("/console/breakglass")
    assert r.status_code == 200 and "cardiac arrest" in r.text
    assert r.text.count("Acknowledge</button>") == 1
    r = served.client.post(
        f"/console/breakglass/{ev['event_id']}/ack", data={"csrf": csrf, "note": "justified"}
    )
    assert r.status_code == 200 and "acknowledged" in r.text and "justified" in r.text
    acks = _events(served, "acknowledgement")
    assert len(acks) == 1 and acks[0]["details"]["acknowledges"] == ev["event_id"]
    assert acks[0]["requester"]["id"] == "po.singh" and acks[0]["request_id"]
