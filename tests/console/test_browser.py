"""The console in a real browser: Debian's Chromium driven by Playwright (no download).

A real ``veil serve`` app runs in a thread on a free port with a temporary SQLite ledger.
The tests sign in, preview as a researcher and as a clinician, open the matrix and a
diff, browse the ledger, verify the chain, download an accounting PDF, acknowledge a
break-glass event, and check that a requester without the role gets 403 pages. Each page
is photographed into ``docs/console/`` for the documentation.

Without Chromium or Playwright the tests skip and say why, unless
``VEIL_REQUIRE_BROWSER=1`` (set by ``.ci/run``) makes that a failure.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from health_service import health_settings
from veil.samples.synth import patients
from veil.service.app import create_app

from .conftest import USERS

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "docs" / "console"
CHROMIUM = os.environ.get("VEIL_CHROMIUM", "/usr/bin/chromium")
CANARY = "987-65-4329"


def _require_browser() -> Any:
    missing = None
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing = "playwright is not installed (pip install playwright)"
    if missing is None and not Path(CHROMIUM).exists():
        missing = f"no Chromium at {CHROMIUM} (apt-get install chromium)"
    if missing is not None:
        if os.environ.get("VEIL_REQUIRE_BROWSER") == "1":
            pytest.fail(f"browser tests required but {missing}")
        pytest.skip(missing)
    return sync_playwright


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("browser")
    settings, secrets = health_settings(tmp, USERS, text={"workers": 0})
    shutil.copytree(settings.policies, tmp / "candidate")
    rules = tmp / "candidate" / "rules.yaml"
    rules.write_text(rules.read_text().replace("state, ", "").replace(", state]", "]"))
    app = create_app(settings)
    port = _free_port()
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                break
        except httpx.HTTPError:
            time.sleep(0.05)
    records = [
        dict(r, organization_id="org-north", consent_research=True, ssn=CANARY)
        for r in patients(4, seed=21)
    ]

    def send(who: str, purpose: str, **extra: Any) -> dict[str, Any]:
        r = httpx.post(
            f"{base}/v1/sanitize",
            headers={"X-API-Key": secrets[who]},
            json={"dataset": "patients", "purpose": purpose, "records": records, **extra},
            timeout=30,
        )
        assert r.status_code == 200, r.text
        out: dict[str, Any] = r.json()
        return out

    send("clinician", "TREAT")
    send("researcher", "HRESCH", recipient="study-42")  # a limited data set: not accounted
    send("registry", "PUBHLTH", recipient="state-dph")  # 164.512(b): accounted
    bg = send("clinician", "ETREAT", reason="cardiac arrest in the ER, patient unconscious")
    yield {
        "base": base,
        "secrets": secrets,
        "subject": records[0]["patient_id"],
        "records": records,
        "break_glass": bg["event_id"],
    }
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_playwright = _require_browser()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield b
        b.close()


def _page(browser: Any, server: dict[str, Any], who: str) -> Any:
    ctx = browser.new_context(viewport={"width": 1400, "height": 900}, accept_downloads=True)
    page = ctx.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(f"{server['base']}/console/login")
    page.get_by_label("API key").fill(server["secrets"][who])
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/console/")
    page.errors = errors  # CSP violations show up as console errors
    return page


def _shot(page: Any, name: str, at: str | None = None) -> None:
    """A screenshot for docs/console.md; ``at``: scroll that element into view first."""
    SHOTS.mkdir(parents=True, exist_ok=True)
    if at is not None:
        page.locator(at).first.evaluate("el => el.scrollIntoView({block: 'start'})")
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=False)


def _no_canary(page: Any) -> None:
    assert CANARY not in page.content()
    assert not [e for e in page.errors if "Content Security Policy" in e], page.errors


def test_officer_walks_the_console(browser: Any, server: dict[str, Any]) -> None:
    page = _page(browser, server, "officer")
    _shot(page, "home")
    assert page.get_by_role("link", name="Ledger").count() >= 1

    # preview as a researcher: tokenized ids, no SSN, no names
    page.goto(f"{server['base']}/console/preview")
    page.get_by_label("Dataset").select_option("patients")
    page.get_by_label("Purpose", exact=True).select_option("HRESCH")
    page.get_by_label("Recipient (if not the requester)").select_option("study-42")
    page.get_by_label("role").select_option("researcher")
    page.get_by_label("org").select_option("university")
    page.get_by_label("Paste records", exact=False).fill(json.dumps(server["records"][:2]))
    page.get_by_role("button", name="Preview").click()
    table = page.locator("table.preview").first
    table.wait_for()
    ssn_row = table.locator("tr", has=page.locator("code", has_text="ssn")).first
    assert "withheld" in ssn_row.inner_text()
    pid_row = table.locator("tr", has=page.locator("code", has_text="patient_id")).first
    assert "pt_" in pid_row.inner_text()
    _no_canary(page)
    _shot(page, "preview-researcher", at="#res")

    # preview as a clinician: the SSN is masked, the name is there
    page.get_by_label("Purpose", exact=True).select_option("TREAT")
    page.get_by_label("Recipient (if not the requester)").select_option("")
    page.get_by_label("role").select_option("clinician")
    page.get_by_label("org").select_option("org-north")
    assert page.get_by_label("Paste records", exact=False).input_value() == ""  # never echoed back
    page.get_by_label("Paste records", exact=False).fill(json.dumps(server["records"][:2]))
    page.get_by_role("button", name="Preview").click()
    table = page.locator("table.preview").first
    table.wait_for()
    ssn_row = table.locator("tr", has=page.locator("code", has_text="ssn")).first
    assert "***-**-4329" in ssn_row.inner_text()
    name_row = table.locator("tr", has=page.locator("code", has_text="first_name")).first
    assert server["records"][0]["first_name"] in name_row.inner_text()
    _no_canary(page)
    _shot(page, "preview-clinician", at="#res")

    # the matrix, and a cell's rules loaded in place by htmx
    page.goto(f"{server['base']}/console/matrix?dataset=patients")
    page.locator("table.matrix").wait_for()
    page.locator("table.matrix a[title^='tokenize']").first.click()
    page.locator("#cell h2").wait_for()
    assert "/console/matrix" in page.url  # stayed on the page: htmx swapped the cell in
    assert "research-random-id" in page.locator("#cell").inner_text()
    _shot(page, "matrix")

    # a diff against the candidate bundle
    page.goto(f"{server['base']}/console/diff")
    page.get_by_label("Candidate bundle directory").fill("candidate")
    page.get_by_role("button", name="Compare").click()
    page.locator("table.diff").wait_for()
    assert "reveals less" in page.locator("table.diff").inner_text()
    _shot(page, "diff", at="main h2")

    # the ledger, filtered; an event; the chain
    page.goto(f"{server['base']}/console/ledger")
    page.get_by_label("Requester").fill("r.chen")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_url("**requester=r.chen**")
    assert page.locator("table.ledger tbody tr").count() == 1
    page.get_by_label("Requester").fill("")
    page.get_by_role("button", name="Filter").click()
    _shot(page, "ledger")
    page.locator("table.ledger tbody a").first.click()
    page.locator("dl.facts").wait_for()
    _no_canary(page)
    _shot(page, "event")
    page.goto(f"{server['base']}/console/ledger")
    page.get_by_role("button", name="Verify the chain").click()
    assert "Intact" in page.locator("main").inner_text()
    _shot(page, "verify")

    # the accounting, on the page and as a PDF
    page.goto(f"{server['base']}/console/accounting")
    page.get_by_label("Data subject").fill(server["subject"])
    page.get_by_role("button", name="Produce").click()
    page.locator("article.accounting").wait_for()
    listed = page.locator("article.accounting").inner_text()
    assert "164.512(b)" in listed and "Cardiology Outcomes Study 42" not in listed
    _shot(page, "accounting")
    with page.expect_download() as dl:
        page.get_by_role("button", name="Download PDF").click()
    pdf = Path(dl.value.path()).read_bytes()
    assert pdf.startswith(b"%PDF") and server["subject"].encode() in pdf

    # break-glass review: acknowledge the emergency access
    page.goto(f"{server['base']}/console/breakglass")
    assert "cardiac arrest" in page.locator("table.review").inner_text()
    page.get_by_label("Note").first.fill("reviewed with the ER lead: justified")
    page.get_by_role("button", name="Acknowledge").first.click()
    page.wait_for_url("**/console/breakglass")
    assert "acknowledged" in page.locator("table.review").inner_text()
    _shot(page, "breakglass")

    # sign out: the pages are gone
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/console/login")
    _shot(page, "login")
    page.goto(f"{server['base']}/console/ledger")
    assert page.url.endswith("/console/login")
    page.context.close()


def test_a_researcher_gets_403_pages(browser: Any, server: dict[str, Any]) -> None:
    page = _page(browser, server, "researcher")
    assert page.get_by_role("link", name="Ledger").count() == 0
    for path in ("ledger", "accounting", "preview", "matrix", "breakglass"):
        response = page.goto(f"{server['base']}/console/{path}")
        assert response is not None and response.status == 403, path
        assert "Not allowed" in page.content() and "<table" not in page.content()
    _shot(page, "forbidden")
    page.context.close()
