"""Authentication: who asks comes from a verified credential, and forgeries get 401.

Keys and tokens are generated here at runtime; no private key is committed.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jwt
import pytest
import yaml
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from hypothesis import given, settings
from hypothesis import strategies as st
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm
from starlette.datastructures import Headers

from veil.errors import ConfigError
from veil.service.auth import (
    Authenticator,
    AuthError,
    Principal,
    hash_api_key,
    new_api_key,
    veil_keygen_api_key,
)

ISS = "https://idp.example.org"
AUD = "veil-api"
CLAIMS_MAP = {"role": "role", "org": "org", "department": "https://example.org/claims/dept"}
CANARY = "CANARY-7f3e9b1c-do-not-echo"


# --------------------------------------------------------------------------- fixtures


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _jwk(public: Any, algo: Any, kid: str) -> dict[str, Any]:
    d: dict[str, Any] = algo.to_jwk(public, as_dict=True)
    return {**d, "kid": kid, "use": "sig"}


@pytest.fixture(scope="module")
def keys() -> dict[str, Any]:
    return {
        "rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "rsa_other": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "ec": ec.generate_private_key(ec.SECP256R1()),
        "ed": ed25519.Ed25519PrivateKey.generate(),
    }


@pytest.fixture(scope="module")
def jwks(keys: dict[str, Any]) -> dict[str, Any]:
    return {
        "keys": [
            _jwk(keys["rsa"].public_key(), RSAAlgorithm, "rsa-1"),
            _jwk(keys["ec"].public_key(), ECAlgorithm, "ec-1"),
            _jwk(keys["ed"].public_key(), OKPAlgorithm, "ed-1"),
        ]
    }


@pytest.fixture(scope="module")
def api_key() -> tuple[str, dict[str, Any]]:
    return veil_keygen_api_key("etl-nightly", {"role": "analyst", "org": "north"})


@pytest.fixture(scope="module")
def auth(jwks: dict[str, Any], api_key: tuple[str, dict[str, Any]]) -> Authenticator:
    return Authenticator(api_key[1], jwks, ISS, AUD, 30, CLAIMS_MAP)


def claims(**over: Any) -> dict[str, Any]:
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": ISS,
        "aud": AUD,
        "sub": "alice",
        "iat": now,
        "exp": now + 300,
        "role": "clinician",
        "org": "north",
        "https://example.org/claims/dept": "cardiology",
    }
    base.update(over)
    return {k: v for k, v in base.items() if v is not None}


Signer = Callable[..., str]


@pytest.fixture(scope="module")
def sign(keys: dict[str, Any]) -> Signer:
    """sign(payload, key="rsa"|"ec"|"ed"|"rsa_other", kid=..., **header overrides)."""
    algs = {"rsa": "RS256", "rsa_other": "RS256", "ec": "ES256", "ed": "EdDSA"}
    kids = {"rsa": "rsa-1", "rsa_other": "rsa-1", "ec": "ec-1", "ed": "ed-1"}

    def _sign(payload: dict[str, Any], key: str = "rsa", **headers: Any) -> str:
        hdr = {"kid": kids[key], **headers}
        hdr = {k: v for k, v in hdr.items() if v is not None}
        return jwt.encode(payload, keys[key], algorithm=algs[key], headers=hdr)

    return _sign


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def forge(header: dict[str, Any], payload: dict[str, Any], mac: Callable[[bytes], bytes]) -> str:
    signing_input = (
        _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(payload).encode())
    ).encode()
    return signing_input.decode() + "." + _b64(mac(signing_input))


def rsa_forge(keys: dict[str, Any], header: dict[str, Any], payload: dict[str, Any]) -> str:
    """An RS256 token with any header and payload, even ones PyJWT refuses to encode."""
    return forge(
        {"alg": "RS256", "typ": "JWT", **header},
        payload,
        lambda m: keys["rsa"].sign(m, padding.PKCS1v15(), hashes.SHA256()),
    )


def rejects(auth: Authenticator, headers: Any, reason: str | None = None) -> AuthError:
    with pytest.raises(AuthError) as info:
        auth.authenticate(headers)
    err = info.value
    assert err.http_status == 401 and err.code == "unauthenticated" and err.exit_code == 2
    if reason is not None:
        assert err.message == reason
    return err


# --------------------------------------------------------------------------- JWT: accepted


@pytest.mark.parametrize("key", ["rsa", "ec", "ed"])
def test_valid_tokens_give_principal_with_mapped_attributes(
    auth: Authenticator, sign: Signer, key: str
) -> None:
    token = sign(claims(), key=key)
    p = auth.authenticate(bearer(token))
    assert p == Principal(
        subject_id="alice",
        attributes={"role": "clinician", "org": "north", "department": "cardiology"},
        method="jwt",
        key_id=f"{key}-1",
        issuer=ISS,
    )
    assert p.qualified == f"jwt:{ISS}#alice"


def test_missing_or_null_claim_omits_attribute(auth: Authenticator, sign: Signer) -> None:
    payload = claims(org=None, role=None)
    payload["role"] = None  # present but null
    p = auth.authenticate(bearer(sign(payload)))
    assert p.attributes == {"department": "cardiology"}


def test_audience_list_containing_ours_is_accepted(auth: Authenticator, sign: Signer) -> None:
    token = sign(claims(aud=["other-api", AUD]))
    assert auth.authenticate(bearer(token)).subject_id == "alice"


def test_leeway_honoured(jwks: dict[str, Any], sign: Signer) -> None:
    now = int(time.time())
    just_expired = sign(claims(iat=now - 400, exp=now - 10))
    almost_valid = sign(claims(nbf=now + 10))
    lenient = Authenticator(None, jwks, ISS, AUD, leeway=30)
    strict = Authenticator(None, jwks, ISS, AUD, leeway=0)
    assert lenient.authenticate(bearer(just_expired)).subject_id == "alice"
    assert lenient.authenticate(bearer(almost_valid)).subject_id == "alice"
    rejects(strict, bearer(just_expired), "token expired")
    rejects(strict, bearer(almost_valid), "token not yet valid")


def test_scheme_and_header_names_are_case_insensitive(auth: Authenticator, sign: Signer) -> None:
    token = sign(claims())
    for headers in (
        {"authorization": f"bearer {token}"},
        {"AUTHORIZATION": f"BEARER {token}"},
        Headers({"authorization": f"Bearer {token}"}),
    ):
        assert auth.authenticate(headers).subject_id == "alice"


# --------------------------------------------------------------------------- JWT: rejected


def test_alg_none(auth: Authenticator) -> None:
    token = forge({"alg": "none", "typ": "JWT", "kid": "rsa-1"}, claims(), lambda _: b"")
    rejects(auth, bearer(token), "algorithm not allowed for this key")
    # and with the trailing signature segment dropped entirely
    rejects(auth, bearer(token.rsplit(".", 1)[0] + "."))


def test_hs256_signed_with_rsa_public_key(auth: Authenticator, keys: dict[str, Any]) -> None:
    pem = (
        keys["rsa"]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    for secret in (pem, pem.strip()):

        def mac(message: bytes, secret: bytes = secret) -> bytes:
            return hmac.new(secret, message, hashlib.sha256).digest()

        token = forge({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}, claims(), mac)
        rejects(auth, bearer(token), "algorithm not allowed for this key")
        # the same forgery without a kid, and under every other kid
        for kid in (None, "ec-1", "ed-1"):
            hdr = {"alg": "HS256", "typ": "JWT", "kid": kid}
            rejects(auth, bearer(forge({k: v for k, v in hdr.items() if v}, claims(), mac)))


def test_expired(auth: Authenticator, sign: Signer) -> None:
    now = int(time.time())
    rejects(auth, bearer(sign(claims(iat=now - 7200, exp=now - 3600))), "token expired")


def test_not_yet_valid(auth: Authenticator, sign: Signer) -> None:
    now = int(time.time())
    rejects(auth, bearer(sign(claims(nbf=now + 3600))), "token not yet valid")


def test_wrong_audience(auth: Authenticator, sign: Signer) -> None:
    rejects(auth, bearer(sign(claims(aud="other-api"))), "wrong audience")
    rejects(auth, bearer(sign(claims(aud=["a", "b"]))), "wrong audience")
    rejects(auth, bearer(sign(claims(aud=None))), "token lacks required claim 'aud'")


def test_wrong_issuer(auth: Authenticator, sign: Signer, keys: dict[str, Any]) -> None:
    rejects(auth, bearer(sign(claims(iss="https://evil.example.org"))), "wrong issuer")
    rejects(auth, bearer(sign(claims(iss="https://idp.example.or"))), "wrong issuer")
    rejects(auth, bearer(rsa_forge(keys, {"kid": "rsa-1"}, claims(iss=[ISS]))), "wrong issuer")
    rejects(auth, bearer(sign(claims(iss=None))), "token lacks required claim 'iss'")


def test_unknown_kid(auth: Authenticator, sign: Signer, keys: dict[str, Any]) -> None:
    rejects(auth, bearer(sign(claims(), kid="rsa-2")), "unknown key id")
    rejects(auth, bearer(rsa_forge(keys, {"kid": 7}, claims())))
    rejects(auth, bearer(rsa_forge(keys, {"kid": ["rsa-1"]}, claims())))


def test_no_kid(auth: Authenticator, sign: Signer) -> None:
    rejects(auth, bearer(sign(claims(), kid=None)), "token has no key id")


def test_tampered_payload(auth: Authenticator, sign: Signer) -> None:
    header, _, sig = sign(claims()).split(".")
    evil = _b64(json.dumps(claims(role="admin", sub="root")).encode())
    rejects(auth, bearer(f"{header}.{evil}.{sig}"), "invalid signature")


@pytest.mark.parametrize("kid", ["rsa-1", "ec-1"])
def test_rs256_token_claiming_es256(auth: Authenticator, sign: Signer, kid: str) -> None:
    _, payload, sig = sign(claims()).split(".")
    header = _b64(json.dumps({"alg": "ES256", "typ": "JWT", "kid": kid}).encode())
    err = rejects(auth, bearer(f"{header}.{payload}.{sig}"))
    assert err.message in ("algorithm not allowed for this key", "invalid signature")


def test_key_confusion_between_asymmetric_keys(auth: Authenticator, sign: Signer) -> None:
    # a valid EdDSA signature presented under the RSA key's kid
    rejects(
        auth, bearer(sign(claims(), key="ed", kid="rsa-1")), "algorithm not allowed for this key"
    )


def test_signed_by_other_rsa_key_with_same_kid(auth: Authenticator, sign: Signer) -> None:
    rejects(auth, bearer(sign(claims(), key="rsa_other")), "invalid signature")


def test_missing_sub(auth: Authenticator, sign: Signer) -> None:
    rejects(auth, bearer(sign(claims(sub=None))), "token lacks required claim 'sub'")
    rejects(auth, bearer(sign(claims(sub=""))))
    rejects(auth, bearer(sign(claims(sub=42))))


def test_missing_exp(auth: Authenticator, sign: Signer) -> None:
    payload = claims()
    del payload["exp"]
    rejects(auth, bearer(sign(payload)), "token lacks required claim 'exp'")


def test_unsupported_critical_header(auth: Authenticator, sign: Signer) -> None:
    rejects(auth, bearer(sign(claims(), crit=["x-veil-unknown"], **{"x-veil-unknown": 1})))


@pytest.mark.parametrize(
    "value", ["", "Bearer", "Bearer ", "Bearer a.b", "Bearer a.b.c", "Basic dXNlcjpwdw=="]
)
def test_malformed_authorization(auth: Authenticator, value: str) -> None:
    rejects(auth, {"Authorization": value})


def test_oversized_token(auth: Authenticator) -> None:
    rejects(auth, bearer("a" * 20_000 + ".b.c"), "malformed token")


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=300))
def test_arbitrary_headers_only_raise_auth_error(auth: Authenticator, text: str) -> None:
    for headers in (
        {"Authorization": text},
        {"Authorization": "Bearer " + text},
        {"X-API-Key": text},
    ):
        with pytest.raises(AuthError):
            auth.authenticate(headers)


# --------------------------------------------------------------------------- canary


def _canary_tokens(sign: Signer, keys: dict[str, Any]) -> list[str]:
    now = int(time.time())
    canary = claims(role=CANARY, org=CANARY, jti=CANARY, nonce=CANARY)
    tokens = [
        sign({**canary, "exp": now - 3600}),
        sign({**canary, "nbf": now + 3600}),
        sign({**canary, "aud": CANARY}),
        sign({**canary, "iss": CANARY}),
        sign({**canary, "sub": None}),
        sign({**canary, "iat": CANARY}),
        sign({**canary, "exp": CANARY}),
        sign(canary, kid=CANARY),
        sign(canary, kid=None),
        sign(canary, key="rsa_other"),
        rsa_forge(keys, {"kid": CANARY}, canary),
        rsa_forge(keys, {"kid": "rsa-1"}, {**canary, "iss": [CANARY]}),
        rsa_forge(keys, {"kid": "rsa-1"}, {**canary, "sub": [CANARY]}),
        forge({"alg": "none", "kid": "rsa-1"}, canary, lambda _: b""),
        forge({"alg": CANARY, "kid": "rsa-1"}, canary, lambda _: b"x"),
    ]
    header, _, sig = sign(canary).split(".")
    tokens.append(f"{header}.{_b64(json.dumps({**canary, 'sub': 'x'}).encode())}.{sig}")
    tokens.append(CANARY)
    return tokens


def test_errors_never_echo_token_or_claim_values(
    auth: Authenticator, sign: Signer, keys: dict[str, Any]
) -> None:
    for token in _canary_tokens(sign, keys):
        for headers in (bearer(token), {"Authorization": f"{CANARY} {token}"}):
            err = rejects(auth, headers)
            for text in (str(err), err.hint, err.render(), repr(err), repr(err.args)):
                assert CANARY not in text and token not in text
            assert err.__cause__ is None
            assert err.__context__ is None or err.__suppress_context__


def test_api_key_errors_never_echo_secret(
    auth: Authenticator, api_key: tuple[str, dict[str, Any]]
) -> None:
    key_id = next(iter(api_key[1]))
    for cred in (f"{key_id}.{CANARY}", f"vk_unknown.{CANARY}", CANARY, f"{CANARY}."):
        err = rejects(auth, {"X-API-Key": cred})
        assert CANARY not in err.render() and CANARY not in repr(err)


# --------------------------------------------------------------------------- API keys


def test_api_key_good_via_both_headers(
    auth: Authenticator, api_key: tuple[str, dict[str, Any]]
) -> None:
    cred, entry = api_key
    key_id = next(iter(entry))
    for headers in (
        {"X-API-Key": cred},
        {"x-api-key": cred},
        {"X-API-KEY": f"  {cred} "},
        {"Authorization": f"ApiKey {cred}"},
        {"authorization": f"apikey {cred}"},
        Headers({"x-api-key": cred}),
    ):
        p = auth.authenticate(headers)
        assert p == Principal("etl-nightly", {"role": "analyst", "org": "north"}, "api_key", key_id)


def test_api_key_wrong_secret_and_unknown_id_look_the_same(
    auth: Authenticator, api_key: tuple[str, dict[str, Any]]
) -> None:
    cred, _ = api_key
    key_id, secret = cred.split(".", 1)
    wrong = rejects(auth, {"X-API-Key": f"{key_id}.{secret[:-1]}x"})
    unknown = rejects(auth, {"X-API-Key": f"vk_0000000000000000.{secret}"})
    assert wrong.message == unknown.message == "invalid API key"
    assert wrong.hint == unknown.hint


@pytest.mark.parametrize("cred", ["", "nodot", "vk_abc.", ".secret", "vk_abc." + "x" * 600])
def test_api_key_malformed(auth: Authenticator, cred: str) -> None:
    rejects(auth, {"X-API-Key": cred})


def test_principal_attributes_are_a_copy(
    auth: Authenticator, api_key: tuple[str, dict[str, Any]]
) -> None:
    p = auth.authenticate({"X-API-Key": api_key[0]})
    p.attributes["role"] = "admin"
    assert auth.authenticate({"X-API-Key": api_key[0]}).attributes["role"] == "analyst"


def test_config_is_copied_at_construction(jwks: dict[str, Any]) -> None:
    cred, entry = veil_keygen_api_key("svc", {"role": "analyst"})
    mine = json.loads(json.dumps(entry))
    auth = Authenticator(mine, None)
    next(iter(mine.values()))["subject_id"] = "root"
    next(iter(mine.values()))["attributes"]["role"] = "admin"
    assert auth.authenticate({"X-API-Key": cred}).subject_id == "svc"
    assert auth.authenticate({"X-API-Key": cred}).attributes == {"role": "analyst"}


def test_scrypt_hash() -> None:
    stored = hash_api_key("correct horse battery staple", scheme="scrypt")
    assert stored.startswith("scrypt:16384:8:1:")
    auth = Authenticator({"human": {"hash": stored, "subject_id": "bob"}}, None)
    cred = "human.correct horse battery staple"
    assert auth.authenticate({"X-API-Key": cred}).subject_id == "bob"
    rejects(auth, {"X-API-Key": "human.wrong"}, "invalid API key")


def test_new_api_key_hash_matches() -> None:
    key_id, secret, stored = new_api_key()
    assert stored == "sha256:" + hashlib.sha256(secret.encode()).hexdigest()
    assert "." not in key_id and "." not in secret and len(secret) >= 43


def test_method_not_configured() -> None:
    _, entry = veil_keygen_api_key("svc", {})
    only_keys = Authenticator(entry, None)
    rejects(only_keys, bearer("a.b.c"), "bearer tokens are not accepted here")


def test_no_credentials(auth: Authenticator) -> None:
    err = rejects(auth, {"Accept": "application/json"}, "no credentials")
    assert err.hint == "send Authorization: Bearer <jwt> or X-API-Key"


def test_two_credentials_are_ambiguous(
    auth: Authenticator, sign: Signer, api_key: tuple[str, dict[str, Any]]
) -> None:
    rejects(auth, {"X-API-Key": api_key[0], "Authorization": f"Bearer {sign(claims())}"})
    rejects(auth, {"authorization": f"ApiKey {api_key[0]}", "Authorization": "Bearer x"})
    raw = [(b"x-api-key", api_key[0].encode()), (b"x-api-key", api_key[0].encode())]
    rejects(auth, Headers(raw=raw))


# --------------------------------------------------------------------------- configuration


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_from_files_round_trip(tmp_path: Path, jwks: dict[str, Any], sign: Signer) -> None:
    cred, entry = veil_keygen_api_key("etl", {"role": "analyst"})
    keys_file = _write(tmp_path / "api_keys.yaml", yaml.safe_dump({"api_keys": entry}))
    jwks_file = _write(tmp_path / "jwks.json", json.dumps(jwks))
    auth = Authenticator.from_files(keys_file, jwks_file, ISS, AUD, 30, CLAIMS_MAP)
    assert auth.authenticate({"X-API-Key": cred}).subject_id == "etl"
    assert auth.authenticate(bearer(sign(claims(), key="ed"))).attributes["role"] == "clinician"
    assert (
        Authenticator.from_files(None, jwks_file, ISS, AUD)
        .authenticate(bearer(sign(claims())))
        .attributes
        == {}
    )


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("missing.yaml", None),
        ("bad.yaml", "api_keys: [unclosed"),
        ("empty.yaml", ""),
        ("nokey.yaml", "keys: {}"),
        ("list.yaml", "api_keys: [1, 2]"),
        ("nohash.yaml", "api_keys: {k1: {subject_id: s}}"),
        ("badhash.yaml", "api_keys: {k1: {subject_id: s, hash: 'md5:abc'}}"),
        ("shorthash.yaml", "api_keys: {k1: {subject_id: s, hash: 'sha256:abcd'}}"),
        ("nosubject.yaml", f"api_keys: {{k1: {{hash: 'sha256:{'0' * 64}'}}}}"),
        (
            "typo.yaml",
            f"api_keys: {{k1: {{hash: 'sha256:{'0' * 64}', subject_id: s, atributes: {{}}}}}}",
        ),
        ("dotid.yaml", f"api_keys: {{k.1: {{hash: 'sha256:{'0' * 64}', subject_id: s}}}}"),
        ("emptykeys.yaml", "api_keys: {}"),
    ],
)
def test_bad_api_keys_file(tmp_path: Path, name: str, text: str | None) -> None:
    path = tmp_path / name
    if text is not None:
        _write(path, text)
    with pytest.raises(ConfigError) as info:
        Authenticator.from_files(path, None)
    assert str(path) in info.value.message or name == "emptykeys.yaml"
    assert info.value.hint


def _jwks_variants(keys: dict[str, Any], jwks: dict[str, Any]) -> dict[str, Any]:
    small = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    p384 = ec.generate_private_key(ec.SECP384R1())
    rsa_pub = jwks["keys"][0]
    return {
        "not-json": "{",
        "no-keys": {},
        "empty": {"keys": []},
        "no-kid": {"keys": [{k: v for k, v in rsa_pub.items() if k != "kid"}]},
        "dup-kid": {"keys": [rsa_pub, rsa_pub]},
        "private": {"keys": [{**_jwk(keys["rsa"], RSAAlgorithm, "p"), "kid": "p"}]},
        "hmac": {"keys": [{"kty": "oct", "k": _b64(b"x" * 32), "kid": "h"}]},
        "p384": {"keys": [_jwk(p384.public_key(), ECAlgorithm, "p384")]},
        "small-rsa": {"keys": [_jwk(small.public_key(), RSAAlgorithm, "small")]},
        "alg-mismatch": {"keys": [{**rsa_pub, "alg": "HS256"}]},
        "garbage": {"keys": [{"kty": "RSA", "kid": "g", "n": "!!", "e": "AQAB"}]},
    }


def test_bad_jwks_file(tmp_path: Path, keys: dict[str, Any], jwks: dict[str, Any]) -> None:
    for name, data in _jwks_variants(keys, jwks).items():
        path = _write(
            tmp_path / f"{name}.json", data if isinstance(data, str) else json.dumps(data)
        )
        with pytest.raises(ConfigError) as info:
            Authenticator.from_files(None, path, ISS, AUD)
        assert str(path) in info.value.message, name
        assert info.value.hint, name


def test_encryption_keys_are_skipped(jwks: dict[str, Any], sign: Signer) -> None:
    enc = {**jwks["keys"][1], "kid": "enc-1", "use": "enc"}
    auth = Authenticator(None, {"keys": [*jwks["keys"], enc]}, ISS, AUD)
    rejects(auth, bearer(sign(claims(), key="ec", kid="enc-1")), "unknown key id")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"api_keys": None, "jwks": None},
        {"issuer": None},
        {"audience": ""},
        {"leeway": -1},
        {"leeway": 3600},
        {"leeway": float("nan")},
        {"claims_map": {"role": ""}},
    ],
)
def test_bad_settings(jwks: dict[str, Any], kwargs: dict[str, Any]) -> None:
    args: dict[str, Any] = {"api_keys": None, "jwks": jwks, "issuer": ISS, "audience": AUD}
    with pytest.raises(ConfigError):
        Authenticator(**{**args, **kwargs})


def test_keygen_entry_shape() -> None:
    cred, entry = veil_keygen_api_key("svc", {"role": "analyst"})
    ((key_id, stored),) = entry.items()
    assert cred.startswith(key_id + ".")
    assert stored == {
        "hash": hash_api_key(cred.split(".", 1)[1]),
        "subject_id": "svc",
        "attributes": {"role": "analyst"},
    }
    with pytest.raises(ConfigError):
        veil_keygen_api_key("", {})


def test_admin_names_are_qualified_by_issuer(auth: Authenticator, sign: Signer) -> None:
    """Issue 12, finding 11: a token whose sub is an admin's API-key subject is no admin."""
    from veil.service.auth import is_admin

    token_user = auth.authenticate(bearer(sign(claims(sub="ops.admin"))))
    assert not is_admin(token_user, ["ops.admin"])
    assert is_admin(token_user, [f"jwt:{ISS}#ops.admin"])
    key_user = Principal("ops.admin", {}, "api_key", "vk_1")
    assert is_admin(key_user, ["ops.admin"]) and is_admin(key_user, ["api-key:ops.admin"])
    assert not is_admin(key_user, [f"jwt:{ISS}#ops.admin"])
