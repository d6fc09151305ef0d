"""A served health bundle with users of every kind, and a signed-in console client."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from health_service import health_settings
from veil.service.app import create_app
from veil.service.settings import ServiceSettings

USERS = {
    "officer": ("po.singh", {"role": "privacy_officer", "org": "org-north"}),
    "researcher": ("r.chen", {"role": "researcher", "org": "university"}),
    "clinician": ("dr.alvarez", {"role": "clinician", "org": "org-north"}),
    "admin": ("ops.admin", {"role": "auditor", "org": "org-north"}),
    "registry": ("reg.okafor", {"role": "registry_clerk", "org": "state-dph"}),
}


@dataclass
class Served:
    client: TestClient
    settings: ServiceSettings
    secrets: dict[str, str]
    app: Any

    @property
    def db(self) -> Path:
        return Path(self.settings.ledger.removeprefix("sqlite:///"))


@pytest.fixture()
def served(tmp_path: Path) -> Iterator[Served]:
    settings, secrets = health_settings(tmp_path, USERS, text={"workers": 0})
    app = create_app(settings)
    with TestClient(app, base_url="https://testserver") as client:
        yield Served(client, settings, secrets, app)


def csrf_of(html: str) -> str:
    m = re.search(r'name="csrf" value="([^"]*)"', html)
    assert m, "the page has no CSRF field"
    return m.group(1)


def sign_in(served: Served, who: str) -> str:
    """Sign ``who`` in on ``served.client``; the session's CSRF token."""
    c = served.client
    c.cookies.clear()
    form = c.get("/console/login")
    r = c.post(
        "/console/login",
        data={"csrf": csrf_of(form.text), "api_key": served.secrets[who]},
        follow_redirects=False,
    )
    assert r.status_code == 303, r.text
    return csrf_of(c.get("/console/").text)
