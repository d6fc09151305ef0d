"""Rotation end to end: codes made before and after `veil keys rotate` reveal correctly,
ledger events name the key versions, and reveal refuses what a key version cannot have
made (a wrong key no longer yields a believable wrong card number)."""

from __future__ import annotations

import json
from pathlib import Path

from keys_helpers import (
    ACCOUNTS,
    events,
    luhn_bundle,
    ok,
    patients,
    research_extract,
    reveal_cards,
    reveal_codes,
    veil,
    vendor_extract,
)

from veil.keys import Keyring
from veil.keyset.model import material_fingerprint
from veil.transforms import BindContext, FieldType
from veil.transforms import get as transform


def _health_keys(tmp: Path) -> Path:
    keys = tmp / "keys.yaml"
    for name in ("research-tokens", "research-dates", "audit-hash"):
        ok(veil("keys", "new", name, "-f", str(keys)))
    return keys


def _finance_keys(tmp: Path) -> Path:
    keys = tmp / "keys.yaml"
    ok(veil("keys", "new", "card-fpe", "--kind", "aes", "-f", str(keys)))
    for name in ("analytics-tokens", "audit-hash"):
        ok(veil("keys", "new", name, "-f", str(keys)))
    return keys


def _cards(rows: list[dict[str, object]]) -> list[str]:
    return [c for r in rows if isinstance(c := r["card_number"], str)]


def test_random_codes_before_and_after_rotation_reveal(tmp_path: Path) -> None:
    keys, led = _health_keys(tmp_path), tmp_path / "l.db"
    src, rows = patients(tmp_path)
    mrns = [r["patient_id"] for r in rows]
    before = research_extract(src, tmp_path / "a.jsonl", keys, led, "study-42", None)
    old = [r["patient_id"] for r in before]
    assert all(c.startswith("pt_") and "_" not in c[3:] and len(c) == 19 for c in old)
    ok(veil("keys", "rotate", "research-tokens", "-f", str(keys)))
    after = research_extract(src, tmp_path / "b.jsonl", keys, led, "study-42", None)
    new = [r["patient_id"] for r in after]
    assert all(c.startswith("pt_v2_") and len(c) == 22 for c in new)  # a new code, marked
    assert not set(old) & {c.replace("v2_", "") for c in new}

    res = ok(reveal_codes(old[:4], keys, led, "study-42", None))
    assert res.stdout.split() == mrns[:4]
    assert "key 'research-tokens' version 1" in res.stderr
    res = ok(reveal_codes(new[:4], keys, led, "study-42", None))
    assert res.stdout.split() == mrns[:4]
    assert "key 'research-tokens' version 2" in res.stderr

    ring = Keyring.from_file(keys)
    v1, v2 = ring.version("research-tokens", 1), ring.version("research-tokens", 2)
    log = events(led)
    assert [e.kind for e in log] == ["disclosure", "disclosure", "reveal", "reveal"]
    assert log[0].key_fingerprints["research-tokens"] == f"v1:{v1.fingerprint}"
    assert log[1].key_fingerprints["research-tokens"] == f"v2:{v2.fingerprint}"
    dates = ring.primary("research-dates")
    assert log[1].key_fingerprints["research-dates"] == f"v1:{dates.fingerprint}"
    assert log[2].key_fingerprints == {"research-tokens": f"v1:{v1.fingerprint}"}
    assert log[3].key_fingerprints == {"research-tokens": f"v2:{v2.fingerprint}"}


def test_random_code_reveal_refuses_what_the_version_did_not_issue(tmp_path: Path) -> None:
    keys, led, to = _health_keys(tmp_path), tmp_path / "l.db", "study-42"
    src, _ = patients(tmp_path, 4)
    old = [
        r["patient_id"] for r in research_extract(src, tmp_path / "a.jsonl", keys, led, to, None)
    ]
    ok(veil("keys", "rotate", "research-tokens", "-f", str(keys)))
    new = [
        r["patient_id"] for r in research_extract(src, tmp_path / "b.jsonl", keys, led, to, None)
    ]
    n = len(events(led))
    # one reveal uses one version
    res = reveal_codes([old[0], new[0]], keys, led, to, None)
    assert res.exit_code == 2 and "one reveal uses one version" in res.output
    # a version-1 code relabelled as version 2 is not in version 2's namespace
    res = reveal_codes(["pt_v2_" + old[0][3:]], keys, led, to, None)
    assert res.exit_code == 2 and "research-tokens@v2" in res.output
    # a version the keyset does not have
    res = reveal_codes(["pt_v9_" + old[0][3:]], keys, led, to, None)
    assert res.exit_code == 7 and "no version 9" in res.output
    # random codes carry their version: naming another one is refused
    res = reveal_codes(new[:1], keys, led, to, None, "--key-version", "1")
    assert res.exit_code == 2 and "made with version 2" in res.output
    assert len(events(led)) == n  # refusals reveal nothing and log no reveal


def test_fpe_codes_before_and_after_rotation_reveal_with_their_version(tmp_path: Path) -> None:
    keys, led = _finance_keys(tmp_path), tmp_path / "l.db"
    originals = {json.loads(x)["card_number"] for x in ACCOUNTS.read_text().splitlines()}
    old = _cards(vendor_extract(tmp_path / "a.jsonl", keys, led))
    assert all(c.isdigit() and len(c) in (15, 16) for c in old)  # FF1 keeps its format
    ok(veil("keys", "rotate", "card-fpe", "-f", str(keys)))
    new = _cards(vendor_extract(tmp_path / "b.jsonl", keys, led))
    assert all(c.isdigit() and len(c) in (15, 16) for c in new) and old != new
    # two versions, and FF1 codes do not say which: the version must be named
    res = reveal_cards(old[:3], keys, led)
    assert res.exit_code == 2 and "--key-version" in res.output and res.stdout == ""
    res = ok(reveal_cards(old[:3], keys, led, "--key-version", "1"))
    revealed = res.stdout.split()
    assert len(revealed) == 3 and set(revealed) <= originals and "version 1" in res.stderr
    res = ok(reveal_cards(new[:3], keys, led, "--key-version", "2"))
    assert res.stdout.split() == revealed and "version 2" in res.stderr  # the same rows

    ring = Keyring.from_file(keys)
    v1, v2 = ring.version("card-fpe", 1), ring.version("card-fpe", 2)
    log = events(led)
    assert [e.key_fingerprints["card-fpe"] for e in log] == [
        f"v1:{v1.fingerprint}",
        f"v2:{v2.fingerprint}",
        f"v1:{v1.fingerprint}",
        f"v2:{v2.fingerprint}",
    ]
    assert [e.kind for e in log] == ["disclosure", "disclosure", "reveal", "reveal"]


def test_fpe_reveal_with_a_wrong_key_is_refused(tmp_path: Path) -> None:
    keys, led = _finance_keys(tmp_path), tmp_path / "l.db"
    shared = _cards(vendor_extract(tmp_path / "a.jsonl", keys, led))
    wrong = tmp_path / "wrong.yaml"  # another key under the same name, as a flat file
    wrong.write_text("keys:\n  card-fpe: hex:" + "77" * 32 + "\n")
    res = reveal_cards(shared[:3], wrong, led)
    assert res.exit_code == 2, res.output
    assert "cannot have been made with it" in res.output and res.stdout == ""
    assert material_fingerprint(bytes.fromhex("77" * 32)) in res.output
    assert [e.kind for e in events(led)] == ["disclosure"]
    # a ledger without the disclosures: nothing shows the key made these codes
    res = reveal_cards(shared[:3], keys, tmp_path / "other.db")
    assert res.exit_code != 0 and res.stdout == ""


def test_luhn_check_refuses_a_wrong_version(tmp_path: Path) -> None:
    bundle = luhn_bundle(tmp_path)
    keys, led = _finance_keys(tmp_path), tmp_path / "l.db"
    ok(veil("keys", "rotate", "card-fpe", "-f", str(keys)))
    ok(veil("keys", "rotate", "card-fpe", "-f", str(keys)))
    ring = Keyring.from_file(keys)
    # v3 made these; v2 is another version of the same key, and it too made disclosures
    new = _cards(vendor_extract(tmp_path / "a.jsonl", keys, led, bundle))
    doc = tmp_path / "v2.yaml"
    doc.write_text(
        "keys:\n  card-fpe: hex:" + ring.version("card-fpe", 2).secret("test").hex() + "\n"
        "  analytics-tokens: hex:" + "11" * 32 + "\n  audit-hash: hex:" + "12" * 32 + "\n"
    )
    vendor_extract(tmp_path / "b.jsonl", doc, led, bundle)
    # 20 codes of v3 revealed as v2: one in ten passes the Luhn check by chance, all
    # twenty together never do
    res = reveal_cards(new[:20], keys, led, "--key-version", "2", bundle=bundle)
    assert res.exit_code == 2 and "cannot have been made" in res.output and res.stdout == ""
    res = ok(reveal_cards(new[:20], keys, led, "--key-version", "3", bundle=bundle))
    assert len(res.stdout.split()) == 20


def test_keyed_tokens_of_version_one_are_unchanged_and_later_ones_marked(tmp_path: Path) -> None:
    keys = tmp_path / "keys.yaml"
    ok(veil("keys", "new", "k", "-f", str(keys)))
    v1 = Keyring.from_file(keys).primary("k")
    flat = Keyring(keys={"k": v1.secret("test")}, use_env=False)  # a key before versions

    def op(name: str, ring: Keyring, **params: object) -> str:
        spec = transform(name)
        ctx = BindContext("d", "f", FieldType.STRING, "analyst", ring)
        out: str = spec.bind(spec.parse_params({"key": "k", **params}), ctx)("x@y.org", None)
        return out

    ring = Keyring.from_file(keys)
    assert op("tokenize", ring) == op("tokenize", flat)
    assert op("hash", ring, length=16) == op("hash", flat, length=16)
    ok(veil("keys", "rotate", "k", "-f", str(keys)))
    ring = Keyring.from_file(keys)
    token, digest = op("tokenize", ring), op("hash", ring, length=16, prefix="h_")
    assert token.startswith("tok_v2_") and len(token) == len("tok_v2_") + 16
    assert digest.startswith("h_v2_") and len(digest) == len("h_v2_") + 16
    assert token.removeprefix("tok_v2_") != op("tokenize", flat).removeprefix("tok_")
