"""Keys in a PKCS#11 token, against a real SoftHSM2 (no mocks): HMAC keys made and used in
the token and never leaving it; a master key in the token that encrypts the keyset (FF1
keys, which no PKCS#11 mechanism computes); sanitize, rotate, and reveal old and new codes.
"""

from __future__ import annotations

import hmac
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pkcs11
import pytest
import yaml
from keys_helpers import (
    ACCOUNTS,
    events,
    ok,
    patients,
    research_extract,
    reveal_cards,
    reveal_codes,
    veil,
    vendor_extract,
)
from pkcs11 import Attribute, KeyType, Mechanism, ObjectClass
from pkcs11 import exceptions as p11

from veil.keys import Key, Keyring, KeyVersion
from veil.keyset.pkcs11 import TokenConfig, TokenKey
from veil.transforms import BindContext, FieldType
from veil.transforms import get as transform
from veil.transforms.dates import DateShiftParams, shift_key

pytestmark = pytest.mark.usefixtures("softhsm")


@pytest.fixture
def token(softhsm: Any) -> Iterator[Any]:
    """A session of our own on the test token, to look at what veil made (PKCS#11 login
    is per process: veil's session may have logged this process in already)."""
    tok = pkcs11.lib(softhsm.module).get_token(token_label=softhsm.token)
    try:
        session = tok.open(user_pin=softhsm.pin, rw=True)
    except p11.UserAlreadyLoggedIn:
        session = tok.open(rw=True)
    with session:
        yield session


def _keys_env(softhsm: Any, tmp: Path, *names: str) -> Path:
    keys = tmp / "keys.yaml"
    for name in names:
        ok(veil("keys", "new", name, "--hsm", "--pkcs11", softhsm.uri, "-f", str(keys),
                env=softhsm.env))  # fmt: skip
    return keys


def test_an_hmac_key_made_in_the_token_never_leaves_it(
    softhsm: Any, tmp_path: Path, token: Any
) -> None:
    keys = _keys_env(softhsm, tmp_path, "never-leaves")
    assert any(softhsm.tokendir.iterdir())  # the test's own token directory, not the system's
    doc = yaml.safe_load(keys.read_text())
    assert doc["pkcs11"] == softhsm.uri  # the token is recorded; the PIN never is
    entry = doc["keys"]["never-leaves"]["versions"]["v1"]
    assert set(entry) == {"created", "pkcs11", "fingerprint"}  # no 'secret'
    assert entry["pkcs11"] == "pkcs11:object=veil%3Anever-leaves%3Av1"
    assert softhsm.pin not in keys.read_text()
    key = token.get_key(object_class=ObjectClass.SECRET_KEY, label="veil:never-leaves:v1")
    assert key[Attribute.SENSITIVE] is True and key[Attribute.EXTRACTABLE] is False
    with pytest.raises(p11.AttributeSensitive):
        key[Attribute.VALUE]
    wrapping = token.generate_key(KeyType.AES, 256, store=False, template={Attribute.WRAP: True})
    with pytest.raises(p11.KeyUnextractable):
        wrapping.wrap_key(key, mechanism=Mechanism.AES_KEY_WRAP)
    with pytest.raises(p11.AttributeReadOnly):
        key[Attribute.EXTRACTABLE] = True
    # the token signs with it, and veil's fingerprint is what the file recorded
    assert len(key.sign(b"x", mechanism=Mechanism.SHA256_HMAC)) == 32
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VEIL_HSM_PIN", softhsm.pin)
        assert Keyring.from_file(keys).fingerprint("never-leaves") == entry["fingerprint"]


def test_token_keys_compute_what_the_same_key_in_a_file_computes(
    softhsm: Any, token: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The constructions are the same, so the token changes where the key lives, not the
    outputs: shown with a key of known value put in the token for this test only."""
    raw = bytes(range(32))
    token.create_object(
        {
            Attribute.CLASS: ObjectClass.SECRET_KEY,
            Attribute.KEY_TYPE: KeyType.GENERIC_SECRET,
            Attribute.VALUE: raw,
            Attribute.TOKEN: True,
            Attribute.SENSITIVE: True,
            Attribute.EXTRACTABLE: False,
            Attribute.SIGN: True,
            Attribute.LABEL: "known-for-test",
        }
    )
    monkeypatch.setenv("VEIL_HSM_PIN", softhsm.pin)
    held = TokenKey(TokenConfig(softhsm.module, softhsm.token), "known-for-test")
    assert held.sign(b"data") == hmac.digest(raw, b"data", "sha256")
    in_token = Keyring(versioned={"k": Key("k", "hmac", (KeyVersion("k", 1, "hmac", token=held),))})
    in_file = Keyring(keys={"k": raw}, use_env=False)

    def out(ring: Keyring, name: str, params: dict[str, Any], value: Any) -> Any:
        spec = transform(name)
        ctx = BindContext("d", "f", FieldType.STRING, "analyst", ring)
        return spec.bind(spec.parse_params({"key": "k", **params}), ctx)(value, "subject-1")

    for name, params, value in [
        ("tokenize", {}, "alice@example.org"),
        ("tokenize", {"per_recipient": False}, "alice@example.org"),  # MAC'd in the token
        ("hash", {"length": 32}, 12345),
        ("hash", {"per_recipient": True}, "x"),
    ]:
        assert out(in_token, name, params, value) == out(in_file, name, params, value)
    shifted = DateShiftParams(key="k", per_recipient=True)
    assert shift_key(shifted, in_token, "r") == shift_key(shifted, in_file, "r")


def test_sanitize_rotate_and_reveal_with_hmac_keys_in_the_token(
    softhsm: Any, tmp_path: Path
) -> None:
    env = softhsm.env
    keys = _keys_env(softhsm, tmp_path, "research-tokens", "research-dates", "audit-hash")
    assert "secret:" not in keys.read_text()  # every key of this keyset is in the token
    led = tmp_path / "l.db"
    src, rows = patients(tmp_path, 8)
    mrns = [r["patient_id"] for r in rows]
    old = [r["patient_id"] for r in research_extract(src, tmp_path / "a.jsonl", keys, led,
                                                     "study-42", env)]  # fmt: skip
    res = ok(veil("keys", "rotate", "research-tokens", "-f", str(keys), env=env))
    assert "token 'veil-test'" in res.output and "veil:research-tokens:v2" in res.output
    new = [r["patient_id"] for r in research_extract(src, tmp_path / "b.jsonl", keys, led,
                                                     "study-42", env)]  # fmt: skip
    assert all(c.startswith("pt_v2_") for c in new)
    res = ok(reveal_codes(old, keys, led, "study-42", env))
    assert res.stdout.split() == mrns and "version 1" in res.stderr
    res = ok(reveal_codes(new, keys, led, "study-42", env))
    assert res.stdout.split() == mrns and "version 2" in res.stderr
    recorded = yaml.safe_load(keys.read_text())["keys"]["research-tokens"]["versions"]
    log = events(led)
    assert [e.key_fingerprints["research-tokens"] for e in log] == [
        f"v1:{recorded['v1']['fingerprint']}",
        f"v2:{recorded['v2']['fingerprint']}",
        f"v1:{recorded['v1']['fingerprint']}",
        f"v2:{recorded['v2']['fingerprint']}",
    ]
    listing = ok(veil("keys", "list", "-f", str(keys), "--json")).output
    assert listing.count("token (veil:") == 4


def test_a_master_key_in_the_token_encrypts_the_keyset(
    softhsm: Any, tmp_path: Path, token: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    env = softhsm.env
    keys = tmp_path / "keys.yaml"
    ok(veil("keys", "new", "card-fpe", "--kind", "aes", "-f", str(keys)))  # FF1: bytes needed
    ok(veil("keys", "new", "analytics-tokens", "--hsm", "--pkcs11", softhsm.uri,
            "-f", str(keys), env=env))  # fmt: skip
    ok(veil("keys", "new", "audit-hash", "-f", str(keys)))
    fpe_v1 = Keyring.from_file(keys).primary("card-fpe").secret("test").hex()
    res = ok(veil("keys", "encrypt", "--master", "pkcs11", "-f", str(keys), env=env))
    assert "pkcs11:object=veil-master" in res.output
    text = keys.read_text()
    assert "sealed:" in text and fpe_v1 not in text and "card-fpe" not in text
    master = token.get_key(object_class=ObjectClass.SECRET_KEY, label="veil-master")
    assert master[Attribute.EXTRACTABLE] is False and master[Attribute.KEY_TYPE] == KeyType.AES
    with pytest.raises(p11.AttributeSensitive):
        master[Attribute.VALUE]

    led = tmp_path / "l.db"
    originals = {json.loads(x)["card_number"] for x in ACCOUNTS.read_text().splitlines()}
    old = [r["card_number"] for r in vendor_extract(tmp_path / "a.jsonl", keys, led, env=env)]
    ok(veil("keys", "rotate", "card-fpe", "-f", str(keys), env=env))
    assert "sealed:" in keys.read_text()  # still encrypted under the token's master key
    new = [r["card_number"] for r in vendor_extract(tmp_path / "b.jsonl", keys, led, env=env)]
    res = ok(reveal_cards(old[:5], keys, led, "--key-version", "1", env=env))
    revealed = res.stdout.split()
    assert len(revealed) == 5 and set(revealed) <= originals
    res = ok(reveal_cards(new[:5], keys, led, "--key-version", "2", env=env))
    assert res.stdout.split() == revealed
    monkeypatch.setenv("VEIL_HSM_PIN", softhsm.pin)
    ring = Keyring.from_file(keys)
    assert [e.key_fingerprints["card-fpe"] for e in events(led)] == [
        ring.version("card-fpe", 1).label,
        ring.version("card-fpe", 2).label,
        ring.version("card-fpe", 1).label,
        ring.version("card-fpe", 2).label,
    ]


def test_a_fresh_process_needs_the_pin(softhsm: Any, tmp_path: Path) -> None:
    keys = _keys_env(softhsm, tmp_path, "pin-check")

    def check(pin: str) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "VEIL_HSM_PIN": pin, "VEIL_KEY_FILE": ""}
        return subprocess.run(
            [sys.executable, "-m", "veil.cli", "keys", "check", "-f", str(keys)],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )

    good = check(softhsm.pin)
    assert good.returncode == 0, good.stdout + good.stderr
    bad = check("000000")
    assert bad.returncode == 7 and "PIN" in bad.stdout + bad.stderr
    assert "000000" not in bad.stdout + bad.stderr
