"""The token vault on both backends: codes are stable per lookup, unique per namespace,
agreed on by concurrent writers, and kept only as a keyed lookup and a sealed value."""

from __future__ import annotations

import secrets
import threading
from typing import Any

from veil.ledger.vault import vault_for


def _make() -> str:
    return "pt_" + secrets.token_hex(8)


def test_issue_is_stable_and_per_namespace(either_ledger: Any) -> None:
    vault = vault_for(either_ledger)
    assert vault is not None and vault_for(either_ledger) is vault
    first = vault.issue("ns-a", [("lk1", b"s1"), ("lk2", b"s2")], _make)
    assert len(set(first)) == 2
    assert vault.issue("ns-a", [("lk2", b"other"), ("lk1", b"other")], _make) == first[::-1]
    other = vault.issue("ns-b", [("lk1", b"s1")], _make)
    assert other[0] != first[0]
    assert vault.find("ns-a", first[0]) == b"s1"  # the first sealed value stays
    assert vault.find("ns-b", first[0]) is None


def test_issue_by_columns_is_issue_by_items(either_ledger: Any) -> None:
    """A bulk batch's items as two lists: the same codes as the same items as pairs
    (a lookup given twice gets one code, the first sealed value is kept), and lists of
    two lengths are refused before anything is stored."""
    import pytest

    from veil.ledger.vault import MemoryVault

    for vault in (vault_for(either_ledger), MemoryVault()):
        assert vault is not None
        codes = vault.issue_columns("ns", ["a", "b", "a"], [b"1", b"2", b"3"], _make)
        assert codes[0] == codes[2] != codes[1]
        assert vault.issue("ns", [("b", b"x"), ("a", b"y")], _make) == [codes[1], codes[0]]
        assert vault.find("ns", codes[0]) == b"1"
        with pytest.raises(ValueError):
            vault.issue_columns("ns", ["c", "d"], [b"1"], _make)
        assert vault.known("ns", ["c", "d"]) == [None, None]


def test_concurrent_writers_agree(either_ledger: Any) -> None:
    """Two vaults (two connections) issuing for the same lookups at once: one code each."""
    vaults = [vault_for(either_ledger), either_ledger.token_vault()]
    items = [(f"lk{i}", b"x") for i in range(200)]
    out: list[list[str]] = [[], []]

    def run(k: int) -> None:
        out[k] = vaults[k].issue("ns", items, _make)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out[0] == out[1] and len(set(out[0])) == 200


def test_a_token_collision_draws_again(either_ledger: Any) -> None:
    vault = vault_for(either_ledger)
    assert vault is not None
    draws = iter(["pt_same", "pt_same", "pt_other"])
    first = vault.issue("ns", [("lk1", b"1")], lambda: next(draws))
    second = vault.issue("ns", [("lk2", b"2")], lambda: next(draws))
    assert first == ["pt_same"] and second == ["pt_other"]


def test_known_values_the_probe_misses_keep_their_codes(either_ledger: Any) -> None:
    """A large call whose sample of lookups finds nothing is taken for a first extract
    and inserted at once; values already in the vault that the sample skipped must still
    get their stored codes (and their first sealed value), not the ones just drawn."""
    vault = vault_for(either_ledger)
    assert vault is not None
    old = [(f"old{i}", f"s{i}".encode()) for i in range(10)]
    before = dict(zip([lk for lk, _ in old], vault.issue("ns", old, _make), strict=True))
    new = [(f"new{i}", b"x") for i in range(990)]
    # the old ones sit where a stride of 1000 // 64 does not look
    items = [new[0], *[(lk, b"changed") for lk, _ in old], *new[1:]]
    codes = dict(zip([lk for lk, _ in items], vault.issue("ns", items, _make), strict=True))
    assert {lk: codes[lk] for lk in before} == before
    assert len(set(codes.values())) == len(items)
    assert vault.find("ns", before["old3"]) == b"s3"


def test_row_keys_keep_the_stored_formula() -> None:
    """Vaults written by earlier versions are found only if the row key is still
    SHA-256(namespace NUL lookup)[:16], computed here from hashlib directly."""
    import hashlib

    from veil.ledger.vault import _keys

    ns, lookups = "fp:study-42:pt_:16", ["ab" * 32, "cd" * 32, ""]
    expected = [hashlib.sha256(f"{ns}\0{lk}".encode()).digest()[:16] for lk in lookups]
    assert _keys(ns, lookups) == b"".join(expected)


class _Draws:
    """A ``make`` with the array form, drawing from a fixed list (then fresh codes)."""

    def __init__(self, codes: list[str]) -> None:
        self._codes = list(codes)

    def __call__(self) -> str:
        return self._codes.pop(0) if self._codes else _make()

    def array(self, n: int) -> Any:
        import numpy as np

        return np.array([self().encode() for _ in range(n)], dtype=np.bytes_)


def _joined(sealed: list[bytes]) -> tuple[bytes, bytes]:
    import struct

    return b"".join(sealed), struct.pack(f">{len(sealed)}I", *map(len, sealed))


def test_issue_codes_is_issue_columns(either_ledger: Any) -> None:
    """The bulk array form gives what the list form gives: a whole new batch drawn and
    indexed as arrays, and a batch with repeats or codes already stored through the list
    path; the first sealed value of a lookup is the one kept."""
    from veil.ledger.packs import token_texts

    vault = vault_for(either_ledger)
    assert vault is not None
    whole = [f"w{i}" for i in range(600)]
    codes = vault.issue_codes(
        "ns", whole, _joined([b"s" + lk.encode() for lk in whole]), _Draws([])
    )
    texts = token_texts(codes)
    assert len(set(texts)) == 600
    assert vault.issue_columns("ns", whole[::-1], [b"x"] * 600, _make) == texts[::-1]
    assert vault.find("ns", texts[7]) == b"sw7"
    mixed = ["w1", "new1", "new1", "w2", "new2"]
    got = token_texts(
        vault.issue_codes("ns", mixed, _joined([b"a", b"b", b"c", b"d", b"e"]), _Draws([]))
    )
    assert got[0] == texts[1] and got[3] == texts[2] and got[1] == got[2] != got[4]
    assert vault.find("ns", got[1]) == b"b"
    assert token_texts(vault.known_codes("ns", ["new2", "w0"])) == [got[4], texts[0]]
    assert vault.known_codes("ns", ["none"]).tolist() == [b""]
    import pytest

    with pytest.raises(ValueError):
        vault.issue_codes("ns", ["a", "b"], _joined([b"1"]), _Draws([]))


def test_issue_codes_draws_again_on_collision(either_ledger: Any) -> None:
    """Codes drawn as an array that repeat one another or one already stored are drawn
    again before anything is stored."""
    from veil.ledger.packs import token_texts

    vault = vault_for(either_ledger)
    assert vault is not None
    stored = vault.issue_columns("ns", [f"s{i}" for i in range(300)], [b"x"] * 300, _make)
    draws = [stored[5], "pt_twice", "pt_twice", *[f"pt_{i:04d}" for i in range(297)]]
    codes = token_texts(
        vault.issue_codes("ns", [f"n{i}" for i in range(300)], _joined([b"y"] * 300), _Draws(draws))
    )
    assert len(set(codes)) == 300 and not set(codes) & set(stored)
    assert vault.known("ns", ["n1", "s5"]) == [codes[1], stored[5]]


def test_a_longer_redraw_is_stored_whole(either_ledger: Any) -> None:
    """Codes drawn again after a collision that are longer than the first ones keep
    every character (numpy would cut them to the array's width)."""
    from veil.ledger.packs import token_texts

    vault = vault_for(either_ledger)
    assert vault is not None
    draws = ["pt_a", "pt_a", *[f"pt_{i}" for i in range(298)], "pt_a_much_longer_code"]
    codes = token_texts(
        vault.issue_codes("ns", [f"n{i}" for i in range(300)], _joined([b"y"] * 300), _Draws(draws))
    )
    assert "pt_a_much_longer_code" in codes and len(set(codes)) == 300
    assert vault.find("ns", "pt_a_much_longer_code") == b"y"


def test_a_new_batch_with_a_repeat_gets_one_code_for_it(either_ledger: Any) -> None:
    """A batch all new but with a lookup given twice is not drawn as a whole: the repeat
    gets the first one's code (and its sealed value), every other lookup its own."""
    from veil.ledger.packs import token_texts

    vault = vault_for(either_ledger)
    assert vault is not None
    lookups = [f"r{i}" for i in range(300)]
    lookups[250] = lookups[7]
    sealed = [f"s{i}".encode() for i in range(300)]
    codes = token_texts(vault.issue_codes("ns", lookups, _joined(sealed), _Draws([])))
    assert codes[250] == codes[7] and len(set(codes)) == 299
    assert vault.find("ns", codes[7]) == b"s7"
