"""JWT bearer tokens through the HTTP service: claims become the subject, attacks get 401.

The full attack matrix (HS256 with the RSA public key, alg/key mismatches, ...) is in
test_auth.py; this file checks the wiring through the app."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient

from veil.samples.synth import patients
from veil.service.app import create_app
from veil.service.settings import ServiceSettings

ROOT = Path(__file__).resolve().parent.parent.parent
ISS, AUD = "https://idp.example.org", "veil"
KEYS = ("research-tokens", "research-dates", "audit-hash")


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _write_jwks(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key.public_key()))
    jwk.update(kid="k1", use="sig", alg="RS256")
    (tmp_path / "jwks.json").write_text(json.dumps({"keys": [jwk]}))


@pytest.fixture()
def client(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> TestClient:
    _write_jwks(tmp_path, rsa_key)
    settings = ServiceSettings(
        policies=ROOT / "policies" / "health",
        ledger=f"sqlite:///{tmp_path / 'l.db'}",
        jwks_file=tmp_path / "jwks.json",
        jwt_issuer=ISS,
        jwt_audience=AUD,
        claims_map={"role": "role", "org": "org"},
    )
    return TestClient(create_app(settings))


def _token(key: Any, **over: Any) -> str:
    now = int(time.time())
    claims = {
        "iss": ISS,
        "aud": AUD,
        "sub": "dr.alvarez",
        "iat": now,
        "nbf": now,
        "exp": now + 300,
        "role": "clinician",
        "org": "org-north",
        **over,
    }
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})


def _body() -> dict[str, Any]:
    recs = [dict(r, organization_id="org-north") for r in patients(2, seed=4)]
    return {"dataset": "patients", "purpose": "TREAT", "records": recs}


def test_valid_token_discloses_as_its_subject(
    client: TestClient, rsa_key: rsa.RSAPrivateKey
) -> None:
    r = client.post(
        "/v1/sanitize", json=_body(), headers={"Authorization": f"Bearer {_token(rsa_key)}"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["returned"] == 2


def _b64(obj: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def test_attacks_are_401(client: TestClient, rsa_key: rsa.RSAPrivateKey) -> None:
    now = int(time.time())
    good = _token(rsa_key)
    head, payload, sig = good.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=="))
    tampered = ".".join([head, _b64({**claims, "role": "privacy_officer"}), sig])
    none = ".".join([_b64({"alg": "none", "kid": "k1"}), _b64(claims), ""])
    attacks = {
        "expired": _token(rsa_key, exp=now - 3600, iat=now - 7200, nbf=now - 7200),
        "not yet valid": _token(rsa_key, nbf=now + 3600),
        "wrong aud": _token(rsa_key, aud="someone-else"),
        "wrong iss": _token(rsa_key, iss="https://evil.example"),
        "tampered": tampered,
        "alg none": none,
        "unknown kid": jwt.encode(claims, rsa_key, algorithm="RS256", headers={"kid": "k9"}),
    }
    for name, token in attacks.items():
        r = client.post("/v1/sanitize", json=_body(), headers={"Authorization": f"Bearer {token}"})
        assert r.status_code == 401, name
        assert token not in r.text


def test_body_attributes_cannot_change_the_subject(
    client: TestClient, rsa_key: rsa.RSAPrivateKey
) -> None:
    token = _token(rsa_key, role="researcher", org="university")
    body = {**_body(), "purpose": "TREAT", "subject": {"role": "clinician"}}
    r = client.post("/v1/sanitize", json=body, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 422
    r = client.post(
        "/v1/sanitize",
        json={**_body(), "context": {"role": "clinician"}},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert r.status_code in (403, 422)


def test_a_token_named_like_an_admin_cannot_reload(
    tmp_path: Path, rsa_key: rsa.RSAPrivateKey
) -> None:
    """Finding 11 of the attack: admin rights followed the bare subject id."""
    _write_jwks(tmp_path, rsa_key)
    base = {
        "policies": ROOT / "policies" / "health",
        "ledger": f"sqlite:///{tmp_path / 'l.db'}",
        "jwks_file": tmp_path / "jwks.json",
        "jwt_issuer": ISS,
        "jwt_audience": AUD,
    }
    spoof = {"Authorization": f"Bearer {_token(rsa_key, sub='ops.admin')}"}
    bare = TestClient(create_app(ServiceSettings(**base, admins=["ops.admin"])))
    assert bare.post("/v1/admin/reload", headers=spoof).status_code == 403
    qualified = TestClient(create_app(ServiceSettings(**base, admins=[f"jwt:{ISS}#ops.admin"])))
    assert qualified.post("/v1/admin/reload", headers=spoof).status_code == 200


def test_recipients_come_from_the_credential(tmp_path: Path, rsa_key: rsa.RSAPrivateKey) -> None:
    """Finding 2: a researcher could claim any recipient and receive its tokens."""
    _write_jwks(tmp_path, rsa_key)
    (tmp_path / "keys.yaml").write_text(
        "keys:\n" + "".join(f"  {n}: hex:{i:02x}{'00' * 31}\n" for i, n in enumerate(KEYS, 1))
    )
    app = create_app(
        ServiceSettings(
            policies=ROOT / "policies" / "health",
            ledger=f"sqlite:///{tmp_path / 'l.db'}",
            jwks_file=tmp_path / "jwks.json",
            jwt_issuer=ISS,
            jwt_audience=AUD,
            claims_map={"role": "role", "org": "org", "recipients": "veil_recipients"},
            key_file=tmp_path / "keys.yaml",
        )
    )
    c = TestClient(app)

    def ask(recipient: str, **claims: Any) -> int:
        token = _token(rsa_key, sub="r.chen", role="researcher", org="university", **claims)
        body = {**_body(), "purpose": "HRESCH", "recipient": recipient}
        r = c.post("/v1/sanitize", json=body, headers={"Authorization": f"Bearer {token}"})
        return r.status_code

    assert ask("study-42", veil_recipients=["study-42"]) == 200
    # declared in the bundle and selected by named_by, but not listed in this token
    assert ask("outcomes-registry", veil_recipients=["study-42"]) == 403
    assert ask("study-99", veil_recipients=["study-99"]) == 403  # not declared at all
    assert ask("study-42") == 403  # the claim is mapped but missing: lists none (fail closed)


def test_console_sign_in_with_a_pasted_token(
    client: TestClient, rsa_key: rsa.RSAPrivateKey
) -> None:
    """The console takes the same tokens as the API: a privacy officer's token opens the
    ledger; an expired one, or one signed by another key, does not sign anyone in."""
    import re

    def sign_in(token: str) -> int:
        client.cookies.clear()
        form = client.get("/console/login").text
        csrf = re.search(r'name="csrf" value="([^"]+)"', form)
        assert csrf
        r = client.post(
            "/console/login", data={"csrf": csrf.group(1), "token": token}, follow_redirects=False
        )
        return r.status_code

    officer = {"sub": "po.singh", "role": "privacy_officer", "org": "org-north"}
    assert sign_in(_token(rsa_key, **officer)) == 303
    assert client.get("/console/ledger").status_code == 200
    assert sign_in(_token(rsa_key, **officer, exp=int(time.time()) - 600)) == 401
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert sign_in(_token(other, **officer)) == 401
    assert client.get("/console/ledger", follow_redirects=False).status_code == 303
