"""Property tests of the HTTP service against its own OpenAPI schema (schemathesis, in process).

The schema is the contract clients code against, so whatever hypothesis throws at any
operation, with or without credentials, must yield a documented status code and a body
that matches the documented model, and never a 5xx. Runs are bounded and derandomized so
CI sees the same cases on every run (the whole file stays well under a minute on 2 cores).

Every test drives a fresh app with its own SQLite ledger in ``tmp_path`` (the deployed
configuration, not a memory stub). The schema itself must exist at collection time, so it
comes from a throwaway app built at import with an in-memory ledger; both apps come from
the same ``create_app`` and ``test_schema_is_the_served_one`` proves they publish the same
document. (``schemathesis.pytest.from_fixture`` would avoid the second app, but schemathesis
4.32 sets ``Function._nodeid``, which pytest 9 no longer has: AttributeError on every test.)
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, settings
from schemathesis import checks

from veil.policy.testing import MemoryLedger
from veil.service.app import create_app
from veil.service.auth import Authenticator, veil_keygen_api_key
from veil.service.settings import Limits, ServiceSettings, TextSettings

ROOT = Path(__file__).resolve().parent.parent.parent
OFFICER = ("po.singh", {"role": "privacy_officer", "org": "org-north"})
#: Only paths that answer without credentials; everything else must refuse anonymous calls.
PUBLIC = frozenset({"/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"})
CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
]
#: Small, fixed budget: the point is contract coverage per operation, not a soak test.
#: One app (and ledger) per operation is shared by its examples on purpose, as in production,
#: and an in-process request with a ledger write is slow by hypothesis's standards.
BOUNDED = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.filter_too_much,
    ],
)


def _app(tmp_path: Path) -> tuple[Any, str]:
    """The health bundle behind the real app, a file-backed ledger and one officer key.

    The officer is also an admin so POST /v1/admin/reload is exercised on its 200 path too.
    """
    bundle = tmp_path / "health"
    shutil.copytree(ROOT / "policies" / "health", bundle)
    secret, entry = veil_keygen_api_key(*OFFICER)
    (tmp_path / "api_keys.yaml").write_text(yaml.safe_dump({"api_keys": entry}))
    (tmp_path / "keys.yaml").write_text(
        "keys:\n"
        + "".join(
            f"  {k}: hex:{i:02x}{'ab' * 31}\n"
            for i, k in enumerate(["research-tokens", "research-dates", "audit-hash"])
        )
    )
    config = ServiceSettings(
        policies=bundle,
        ledger=f"sqlite:///{tmp_path / 'ledger.db'}",
        key_file=tmp_path / "keys.yaml",
        api_keys_file=tmp_path / "api_keys.yaml",
        admins=[OFFICER[0]],
        # Small limits keep generated bodies cheap and make the 413/422 limit paths reachable.
        limits=Limits(max_records=50, max_body_bytes=200_000, max_depth=6, max_string=5_000),
        # Free text analyzed in a thread: schemathesis runs the app's lifespan per call,
        # and worker processes would be started (and /readyz say "starting") every time.
        text=TextSettings(workers=0),
    )
    return create_app(config), secret


def _schema_app() -> Any:
    """Only for reading the OpenAPI document: no files, nothing is ever sent to it."""
    return create_app(
        ServiceSettings(policies=ROOT / "policies" / "health"),
        ledger=MemoryLedger(),
        authenticator=Authenticator(veil_keygen_api_key(*OFFICER)[1], None),
    )


schema = schemathesis.openapi.from_asgi("/openapi.json", _schema_app())


@pytest.fixture()
def app_and_key(tmp_path: Path) -> tuple[Any, str]:
    return _app(tmp_path)


def test_schema_is_the_served_one(app_and_key: tuple[Any, str]) -> None:
    """The fuzzed schema must be the document the app under test actually serves."""
    assert app_and_key[0].openapi() == schema.raw_schema


@schema.parametrize()
@BOUNDED
def test_authenticated_conforms(case: Any, app_and_key: tuple[Any, str]) -> None:
    """A privacy officer (and admin) gets only documented, schema-valid answers."""
    app, key = app_and_key
    case.call_and_validate(app=app, headers={"X-API-Key": key}, checks=CHECKS)


@schema.parametrize()
@BOUNDED
def test_unauthenticated_conforms(case: Any, app_and_key: tuple[Any, str]) -> None:
    """Without credentials every answer is documented, and nothing but health is served."""
    response = case.call_and_validate(app=app_and_key[0], checks=CHECKS)
    if case.operation.path not in PUBLIC:
        assert not 200 <= response.status_code < 300, (
            f"{case.operation.label} answered without credentials"
        )
