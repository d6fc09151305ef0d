"""The keyset file and `veil keys`: one command makes a key; versions, rotation, listing
and checks never show key material; flat key files of earlier releases keep working as
version 1; an encrypted keyset opens only with its master key."""

from __future__ import annotations

import base64
import pickle
import stat
from pathlib import Path

import pytest
import yaml
from keys_helpers import HEALTH, ok, veil

from veil.errors import ConfigError
from veil.keys import Keyring
from veil.keyset import file as keyset_file
from veil.keyset.model import marker, material_fingerprint, split_marker

MASTER = "hex:" + "ab" * 32


def _secrets(path: Path) -> list[str]:
    """Every key's material as written in a plain keyset."""
    doc = yaml.safe_load(path.read_text())
    return [
        v["secret"].removeprefix("hex:")
        for key in doc["keys"].values()
        for v in key["versions"].values()
        if "secret" in v
    ]


def test_new_key_is_one_command_private_and_never_printed(tmp_path: Path) -> None:
    keys = tmp_path / "keys.yaml"
    res = ok(veil("keys", "new", "research-tokens", "-f", str(keys)))
    assert "research-tokens" in res.output and "v1" in res.output
    assert stat.S_IMODE(keys.stat().st_mode) == 0o600
    (material,) = _secrets(keys)
    assert len(bytes.fromhex(material)) == 32
    assert material not in res.output
    ring = Keyring.from_file(keys)
    version = ring.primary("research-tokens")
    assert (version.version, version.kind) == (1, "hmac")
    assert ring.label("research-tokens") == f"v1:{material_fingerprint(bytes.fromhex(material))}"


@pytest.mark.parametrize(("size", "good"), [(16, True), (24, True), (32, True), (20, False)])
def test_aes_keys_have_an_aes_size(tmp_path: Path, size: int, good: bool) -> None:
    keys = tmp_path / "keys.yaml"
    res = veil("keys", "new", "card-fpe", "--kind", "aes", "--bytes", str(size), "-f", str(keys))
    if good:
        assert res.exit_code == 0, res.output
        assert Keyring.from_file(keys).primary("card-fpe").size == size
    else:
        assert res.exit_code == 7 and "16, 24 or 32" in res.output


def test_rotate_adds_a_primary_and_keeps_the_old_version(tmp_path: Path) -> None:
    keys = tmp_path / "keys.yaml"
    ok(veil("keys", "new", "t", "-f", str(keys)))
    ok(veil("keys", "new", "card", "--kind", "aes", "--bytes", "16", "-f", str(keys)))
    v1 = Keyring.from_file(keys).primary("t")
    res = ok(veil("keys", "rotate", "t", "-f", str(keys)))
    assert "v2 is primary" in res.output
    ok(veil("keys", "rotate", "card", "-f", str(keys)))
    ring = Keyring.from_file(keys)
    key = ring.key("t")
    assert [v.version for v in key.versions] == [1, 2] and key.primary.version == 2
    assert key.version(1).material == v1.material and key.primary.material != v1.material
    assert ring.primary("card").size == 16  # an aes key keeps its size
    listing = ok(veil("keys", "list", "-f", str(keys), "--json")).output
    for material in _secrets(keys):
        assert material not in listing
    assert listing.count('"primary": true') == 2 and key.primary.fingerprint in listing


def test_a_retired_version_is_never_primary(tmp_path: Path) -> None:
    keys = tmp_path / "keys.yaml"
    ok(veil("keys", "new", "t", "-f", str(keys)))
    ok(veil("keys", "rotate", "t", "-f", str(keys)))
    doc = yaml.safe_load(keys.read_text())
    doc["keys"]["t"]["versions"]["v2"]["status"] = "retired"  # roll the rotation back
    keys.write_text(yaml.safe_dump(doc))
    assert Keyring.from_file(keys).primary("t").version == 1


def test_key_commands_refuse_what_they_cannot_do(tmp_path: Path) -> None:
    keys = tmp_path / "keys.yaml"
    ok(veil("keys", "new", "t", "-f", str(keys)))
    assert "already exists" in veil("keys", "new", "t", "-f", str(keys)).output
    assert "not in" in veil("keys", "rotate", "nope", "-f", str(keys)).output
    ok(veil("keys", "new", "ledger", "-f", str(keys)))
    res = veil("keys", "rotate", "ledger", "-f", str(keys))
    assert res.exit_code == 7 and "ledger key is not rotated" in res.output
    assert veil("keys", "new", "bad name", "-f", str(keys)).exit_code == 7
    assert veil("keys", "list", "-f", str(tmp_path / "none.yaml")).exit_code == 7


def test_flat_key_files_read_as_version_one(tmp_path: Path) -> None:
    flat = tmp_path / "keys.yaml"
    flat.write_text("keys:\n  research-tokens: hex:" + "31" * 32 + "\n")
    ring = Keyring.from_file(flat)
    old_fingerprint = material_fingerprint(bytes.fromhex("31" * 32))
    assert ring.fingerprint("research-tokens") == old_fingerprint  # as before versions
    assert ring.label("research-tokens") == "v1:" + old_fingerprint
    assert ring.primary("research-tokens").kind is None
    # a flat key has no kind: rotating it asks for one, then writes the keyset format
    res = veil("keys", "rotate", "research-tokens", "-f", str(flat))
    assert res.exit_code == 7 and "--kind" in res.output
    ok(veil("keys", "rotate", "research-tokens", "--kind", "hmac", "-f", str(flat)))
    key = Keyring.from_file(flat).key("research-tokens")
    assert key.version(1).material == bytes.fromhex("31" * 32) and key.primary.version == 2
    assert yaml.safe_load(flat.read_text())["veil_keyset"] == 1


def test_environment_keys_are_version_one(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VEIL_KEY_SOME_KEY", "hex:" + "42" * 32)
    ring = Keyring()
    assert ring.label("some-key") == "v1:" + material_fingerprint(bytes.fromhex("42" * 32))


def test_invalid_keysets_list_every_problem(tmp_path: Path) -> None:
    bad = tmp_path / "keys.yaml"
    bad.write_text(
        "veil_keyset: 1\nkeys:\n"
        "  a: {kind: hmac, versions: {v1: {secret: 'hex:12'}}}\n"
        "  b: {kind: rsa, versions: {v1: {secret: 'hex:" + "00" * 32 + "'}}}\n"
        "  c: {kind: aes, versions: {v1: {secret: 'hex:" + "00" * 20 + "'}}}\n"
        "  d: {kind: hmac, versions: {one: {secret: 'hex:" + "00" * 32 + "'}}}\n"
    )
    with pytest.raises(ConfigError) as exc:
        Keyring.from_file(bad)
    msg = exc.value.message
    assert "'a'" in msg and "'b'" in msg and "'c'" in msg and "'d'" in msg
    assert "00" * 16 not in msg


def test_check_finds_mode_missing_keys_and_kinds(tmp_path: Path) -> None:
    keys = tmp_path / "keys.yaml"
    ok(veil("keys", "new", "research-tokens", "-f", str(keys)))
    ok(veil("keys", "new", "research-dates", "--kind", "aes", "-f", str(keys)))
    ok(veil("keys", "check", "-f", str(keys)))
    keys.chmod(0o644)
    res = veil("keys", "check", "-f", str(keys), "--policies", str(HEALTH))
    assert res.exit_code == 7
    assert "[mode]" in res.output and "chmod 600" in res.output
    assert "[missing_key]" in res.output and "veil keys new audit-hash" in res.output
    assert "[kind]" in res.output and "research-dates" in res.output  # date_shift needs hmac
    keys.unlink()
    for name in ("research-tokens", "research-dates", "audit-hash"):
        ok(veil("keys", "new", name, "-f", str(keys)))
    res = ok(veil("keys", "check", "-f", str(keys), "--policies", str(HEALTH)))
    assert "ok" in res.output


def test_encrypted_keyset_opens_only_with_its_master(tmp_path: Path) -> None:
    keys = tmp_path / "keys.yaml"
    env = {"VEIL_MASTER_KEY": MASTER}
    ok(veil("keys", "new", "t", "-f", str(keys)))
    ok(veil("keys", "new", "card", "--kind", "aes", "-f", str(keys)))
    material = _secrets(keys)
    before = Keyring.from_file(keys)
    ok(veil("keys", "encrypt", "-f", str(keys), env=env))
    text = keys.read_text()
    assert "master: env:VEIL_MASTER_KEY" in text and "sealed:" in text
    assert not any(m in text for m in material)
    assert stat.S_IMODE(keys.stat().st_mode) == 0o600
    # without the master key: a clear error, exit 7
    res = veil("keys", "list", "-f", str(keys))
    assert res.exit_code == 7 and "VEIL_MASTER_KEY" in res.output
    res = veil("keys", "list", "-f", str(keys), env={"VEIL_MASTER_KEY": "hex:" + "cd" * 32})
    assert res.exit_code == 7 and "does not open" in res.output
    # with it: the same keys; rotation keeps the file encrypted
    ok(veil("keys", "rotate", "t", "-f", str(keys), env=env))
    assert "sealed:" in keys.read_text()
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VEIL_MASTER_KEY", MASTER)
        after = Keyring.from_file(keys)
    assert after.version("t", 1).material == before.primary("t").material
    assert after.primary("t").version == 2
    ok(veil("keys", "decrypt", "-f", str(keys), env=env))
    assert "sealed:" not in keys.read_text() and len(_secrets(keys)) == 3


def test_encrypted_keyset_detects_changes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    keys = tmp_path / "keys.yaml"
    monkeypatch.setenv("VEIL_MASTER_KEY", MASTER)
    ok(veil("keys", "new", "t", "-f", str(keys)))
    ok(veil("keys", "encrypt", "-f", str(keys), env={"VEIL_MASTER_KEY": MASTER}))
    doc = yaml.safe_load(keys.read_text())
    blob = bytearray(base64.b64decode(doc["sealed"].removeprefix("base64:")))
    blob[-1] ^= 1
    flipped = dict(doc, sealed="base64:" + base64.b64encode(bytes(blob)).decode())
    keys.write_text(yaml.safe_dump(flipped))
    with pytest.raises(ConfigError, match="does not open"):
        Keyring.from_file(keys)
    # the header is bound to the ciphertext: pointing it at another variable fails too
    monkeypatch.setenv("OTHER_MASTER", MASTER)
    keys.write_text(yaml.safe_dump(dict(doc, master="env:OTHER_MASTER")))
    with pytest.raises(ConfigError, match="does not open"):
        Keyring.from_file(keys)


def test_keysets_in_json_and_keyrings_pickle(tmp_path: Path) -> None:
    keys = tmp_path / "keys.json"
    ok(veil("keys", "new", "t", "-f", str(keys)))
    ok(veil("keys", "rotate", "t", "-f", str(keys)))
    ring = Keyring.from_file(keys)
    copy = pickle.loads(pickle.dumps(ring))  # Spark ships keyrings to executors
    assert copy.label("t") == ring.label("t") and copy.version("t", 1).material


def test_written_keyset_reads_back_the_same(tmp_path: Path) -> None:
    keys = tmp_path / "keys.yaml"
    ok(veil("keys", "new", "a", "-f", str(keys)))
    ok(veil("keys", "rotate", "a", "-f", str(keys)))
    ks = keyset_file.read(keys)
    keyset_file.write(tmp_path / "again.yaml", ks)
    again = keyset_file.read(tmp_path / "again.yaml")
    assert [(v.version, v.material, v.created) for v in again.keys["a"].versions] == [
        (v.version, v.material, v.created) for v in ks.keys["a"].versions
    ]


@pytest.mark.parametrize(
    ("text", "version", "rest"),
    [
        ("abcdef", 1, "abcdef"),
        ("v2_abc", 2, "abc"),
        ("v12_abc", 12, "abc"),
        ("v2abc", 1, "v2abc"),  # a version-1 base32 code may start with v2
        ("v0_abc", 1, "v0_abc"),
        ("v_abc", 1, "v_abc"),
    ],
)
def test_markers(text: str, version: int, rest: str) -> None:
    assert split_marker(text) == (version, rest)
    assert marker(1) == "" and split_marker(marker(7) + "x") == (7, "x")


def test_new_for_a_bundle_makes_each_missing_key_of_its_kind(tmp_path: Path) -> None:
    keys = tmp_path / "keys.yaml"
    finance = HEALTH.parent / "finance"
    ok(veil("keys", "new", "analytics-tokens", "-f", str(keys)))
    before = Keyring.from_file(keys).label("analytics-tokens")
    res = ok(veil("keys", "new", "--for", str(finance), "-f", str(keys)))
    assert "card-fpe" in res.output and "analytics-tokens" not in res.output  # kept, not remade
    ring = Keyring.from_file(keys)
    assert ring.label("analytics-tokens") == before
    assert ring.primary("card-fpe").kind == "aes"  # fpe needs AES bytes
    ok(veil("keys", "check", "-f", str(keys), "--policies", str(finance)))
    again = ok(veil("keys", "new", "--for", str(finance), "-f", str(keys)))
    assert "already holds" in again.output
    assert veil("keys", "new", "x", "--for", str(finance), "-f", str(keys)).exit_code == 7


def test_version_flag() -> None:
    res = ok(veil("--version"))
    assert res.output.startswith("veil ") and res.output.split()[1][0].isdigit()
