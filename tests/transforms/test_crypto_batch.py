"""The batch primitives of ``tokenize(mode=random)``, checked against the standard library
and the cryptography package: the batch HMAC must give the vault the same lookups as
``hmac.digest`` and the row keys the same bytes as ``hashlib`` (or existing vaults would
stop finding their codes), and a seal must open with ``AESGCM.decrypt``. Both the C
extension and its pure-Python twin are held to these references."""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from veil.transforms import cryptobatch
from veil.transforms.crypto import random_codes

# Both implementations where the extension is built; the Python one alone where not.
IMPLS: dict[str, Any] = {"python": None}
if cryptobatch.NATIVE:
    IMPLS["native"] = cryptobatch._native


def _impl(name: str, fn: str) -> Callable[..., Any]:
    native = IMPLS[name]
    return getattr(native, fn) if native is not None else getattr(cryptobatch, f"{fn}_py")


def _utf8(v: str | bytes) -> bytes:
    return v.encode() if isinstance(v, str) else v


#: str (any code point but a lone surrogate) or bytes: what the functions take
items = st.lists(
    st.text(st.characters(blacklist_categories=("Cs",)), max_size=80) | st.binary(max_size=200),
    max_size=20,
)


def test_the_extension_is_built_where_ci_asks_for_it() -> None:
    """CI builds veil with a compiler and OpenSSL's headers: the research benchmarks and
    these tests must run the extension there, not silently the Python twins."""
    if os.environ.get("VEIL_REQUIRE_NATIVE") == "1":
        assert cryptobatch.NATIVE, "veil.transforms._cryptobatch did not build or import"


@pytest.mark.parametrize("impl", IMPLS)
@given(key=st.binary(min_size=0, max_size=200), values=items)  # keys padded or hashed first
def test_hmac_equals_the_standard_library(impl: str, key: bytes, values: list[Any]) -> None:
    expected = [hmac.new(key, _utf8(v), "sha256").hexdigest() for v in values]
    assert _impl(impl, "hmac_sha256_hex")(key, values) == expected


@pytest.mark.parametrize("impl", IMPLS)
@given(head=st.binary(max_size=150), values=items, width=st.integers(1, 32))
def test_prefix_digests_equal_hashlib(
    impl: str, head: bytes, values: list[Any], width: int
) -> None:
    expected = b"".join(hashlib.sha256(head + _utf8(v)).digest()[:width] for v in values)
    assert _impl(impl, "prefix_digests")(head, values, width) == expected


@pytest.mark.parametrize("impl", IMPLS)
@given(key=st.binary(min_size=32, max_size=32), values=items, aad=st.binary(max_size=100))
def test_a_seal_opens_with_the_cryptography_package(
    impl: str, key: bytes, values: list[Any], aad: bytes
) -> None:
    nonces = os.urandom(12 * len(values))
    sealed = _impl(impl, "seal_aes_gcm")(key, nonces, values, aad)
    opener = AESGCM(key)
    assert len(sealed) == len(values)
    for i, (v, s) in enumerate(zip(values, sealed, strict=True)):
        assert s[:12] == nonces[12 * i : 12 * i + 12]
        assert s == s[:12] + opener.encrypt(s[:12], _utf8(v), aad)  # the same bytes
        assert opener.decrypt(s[:12], s[12:], aad) == _utf8(v)
    blob, sizes = _impl(impl, "seal_aes_gcm_joined")(key, nonces, values, aad)
    assert blob == b"".join(sealed)  # the same seals, joined, and their sizes big-endian
    assert sizes == b"".join(len(s).to_bytes(4, "big") for s in sealed)


@pytest.mark.parametrize("impl", IMPLS)
def test_bad_inputs_raise_without_the_value(impl: str) -> None:
    """Each refusal is an exception naming no value (a canary must not appear)."""
    canary = "CANARY-7731"
    for bad in ([canary, 7], [canary, None], [bytearray(b"x")]):
        with pytest.raises(TypeError) as info:
            _impl(impl, "hmac_sha256_hex")(b"k", bad)
        assert canary not in str(info.value)
        with pytest.raises(TypeError):
            _impl(impl, "prefix_digests")(b"h", bad, 16)
    with pytest.raises(UnicodeEncodeError):  # as str.encode() does
        _impl(impl, "hmac_sha256_hex")(b"k", ["\ud800"])
    with pytest.raises(ValueError):
        _impl(impl, "prefix_digests")(b"h", ["a"], 33)
    with pytest.raises(ValueError):
        _impl(impl, "seal_aes_gcm")(b"k" * 16, b"n" * 12, ["a"], b"")
    with pytest.raises(ValueError):
        _impl(impl, "seal_aes_gcm")(b"k" * 32, b"n" * 11, ["a"], b"")
    for seal in ("seal_aes_gcm", "seal_aes_gcm_joined"):
        with pytest.raises(TypeError) as info:
            _impl(impl, seal)(b"k" * 32, b"n" * 24, [canary, 7], b"")
        assert canary not in str(info.value)


@pytest.mark.skipif(not cryptobatch.NATIVE, reason="the C extension is not built")
@pytest.mark.parametrize("workers", [1, 2, 3, 8])
def test_a_batch_split_across_threads_gives_the_same_bytes(workers: int) -> None:
    """From 4,096 values on, the extension splits a batch across threads, each its own
    range: every range must land in its place (sizes not divisible by the thread count,
    str of one and several bytes a character, bytes)."""
    native: Any = cryptobatch._native
    values: list[Any] = [f"MRN-{i:07d}" if i % 3 else f"é{i}€" for i in range(9_001)]
    values[17] = b"raw bytes"
    key, nonces = os.urandom(32), os.urandom(12 * len(values))
    native.set_workers(workers)
    try:
        assert native.hmac_sha256_hex(key, values) == cryptobatch.hmac_sha256_hex_py(key, values)
        assert native.prefix_digests(b"ns\0", values, 16) == cryptobatch.prefix_digests_py(
            b"ns\0", values, 16
        )
        assert native.seal_aes_gcm(key, nonces, values, b"aad") == cryptobatch.seal_aes_gcm_py(
            key, nonces, values, b"aad"
        )
        assert native.seal_aes_gcm_joined(
            key, nonces, values, b"aad"
        ) == cryptobatch.seal_aes_gcm_joined_py(key, nonces, values, b"aad")
    finally:
        native.set_workers(cryptobatch.WORKERS)


@pytest.mark.skipif(not cryptobatch.NATIVE, reason="the C extension is not built")
def test_a_list_changed_by_another_thread_meanwhile_is_hashed_as_it_was() -> None:
    """The extension hashes without the GIL; it holds the items itself first, so items
    another thread replaces (and frees) meanwhile are never read freed."""
    values = [f"value-{i}-" * 3 for i in range(200_000)]
    expected = cryptobatch.hmac_sha256_hex_py(b"key", values[:50])
    done = threading.Event()

    def churn() -> None:  # replaces items in place: the old strs are freed
        i = 0
        while not done.is_set():
            values[i % len(values)] = f"other-{i}" * 3
            i += 1

    t = threading.Thread(target=churn)
    snapshot = list(values)
    t.start()
    try:
        for _ in range(3):
            got = cryptobatch._native.hmac_sha256_hex(b"key", values)  # type: ignore[union-attr]
            assert len(got) == len(snapshot)
    finally:
        done.set()
        t.join()
    assert cryptobatch._native.hmac_sha256_hex(b"key", snapshot[:50]) == expected  # type: ignore[union-attr]


def test_veil_native_0_runs_the_python_twins() -> None:
    code = "from veil.transforms import cryptobatch as c; print(c.NATIVE)"
    env = {**os.environ, "VEIL_NATIVE": "0"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True)
    assert out.stdout.strip() == "False", out.stderr


@given(
    count=st.integers(0, 300), length=st.integers(8, 52), prefix=st.sampled_from(["", "pt_", "é-"])
)
def test_random_codes_are_base32_of_the_asked_length(count: int, length: int, prefix: str) -> None:
    codes = random_codes(count, length, prefix)
    assert len(codes) == count
    assert all(re.fullmatch(f"{prefix}[a-z2-7]{{{length}}}", c) for c in codes)


def test_random_codes_use_the_whole_alphabet_and_do_not_repeat() -> None:
    # 20,000 codes of 16 characters: 320,000 characters, so a missing letter of the 32
    # (each drawn with p = 1/32) would have probability (31/32)**320000 ~ 0; a repeat of
    # an 80-bit code among 20,000 has probability ~ 2**-52.
    codes = random_codes(20_000, 16)
    assert len(set(codes)) == len(codes)
    assert set("".join(codes)) == set("abcdefghijklmnopqrstuvwxyz234567")


def _packed_forms(values: list[bytes], start: int) -> list[cryptobatch.Packed]:
    """``values`` as an Arrow string or large string array lays them out (sliced from
    ``start``, so the offsets do not begin at 0), and, where all are one width, as
    fixed-width items."""
    import pyarrow as pa

    forms = []
    for t, width in ((pa.binary(), "<i4"), (pa.large_binary(), "<i8")):
        arr = pa.array([b"pad"] * start + values, type=t).slice(start)
        _, offsets, data = arr.buffers()
        import numpy as np

        bounds = np.frombuffer(offsets, dtype=width)[arr.offset : arr.offset + len(arr) + 1]
        forms.append(cryptobatch.Packed(data if data is not None else b"", bounds))
    if values and len({len(v) for v in values}) == 1 and values[0]:
        forms.append(cryptobatch.Packed(b"".join(values), len(values[0])))
    return forms


@settings(deadline=None)  # the first example imports pyarrow
@given(values=st.lists(st.binary(max_size=40), max_size=30), start=st.integers(0, 3))
def test_packed_items_hash_and_seal_as_the_list_does(values: list[bytes], start: int) -> None:
    """A column given as its buffers (no object per item) gives the bytes the list of
    its items gives, in the extension and in the twins (``VEIL_NATIVE=0``'s path)."""
    key, nonces = os.urandom(32), os.urandom(12 * len(values))
    for packed in _packed_forms(values, start):
        assert len(packed) == len(values)
        assert packed.take(range(len(values))) == values
        want_hex = cryptobatch.hmac_sha256_hex_py(key, values)
        assert cryptobatch.hmac_sha256_hex(key, packed) == want_hex
        assert cryptobatch.hmac_sha256_hex_joined(key, packed).data == "".join(want_hex).encode()
        assert cryptobatch.prefix_digests(b"ns\0", packed, 16) == cryptobatch.prefix_digests_py(
            b"ns\0", values, 16
        )
        want = cryptobatch.seal_aes_gcm_joined_py(key, nonces, values, b"a")
        assert cryptobatch.seal_aes_gcm_joined(key, nonces, packed, b"a") == want
        assert cryptobatch.seal_aes_gcm(key, nonces, packed, b"a") == cryptobatch.seal_aes_gcm_py(
            key, nonces, values, b"a"
        )
        twin = cryptobatch.Packed(packed.data, packed.layout)
        assert cryptobatch.hmac_sha256_hex_py(key, cryptobatch._listed(twin)) == want_hex


@pytest.mark.parametrize("impl", IMPLS)
def test_bad_layouts_are_refused_before_any_item_is_read(impl: str) -> None:
    """Offsets that go back, start below 0 or end past the data, and data that is not
    whole items, raise ValueError (the extension never reads outside the buffer)."""
    import numpy as np

    data = b"CANARY-5510" * 3
    bad: list[Any] = [
        np.array([0, 5, 3], dtype=np.int32),
        np.array([-1, 2], dtype=np.int32),
        np.array([0, len(data) + 1], dtype=np.int64),
        np.array([0], dtype=np.int16),
        7,
        0,
    ]
    for layout in bad:
        with pytest.raises(ValueError) as info:
            if impl == "native":
                IMPLS["native"].hmac_sha256_hex(b"k", data, layout)
            else:
                cryptobatch.hmac_sha256_hex_py(
                    b"k", cryptobatch._listed(cryptobatch.Packed(data, layout))
                )
        assert "CANARY" not in str(info.value)


def test_random_bytes_differ_in_a_forked_child() -> None:
    """Nonces and codes come from OpenSSL's generator: a child forked from a process
    that drew from it (a Spark worker, a pre-forked server) must not draw the bytes
    the parent draws next."""
    cryptobatch.random_bytes(64)  # the parent's generator is in use
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write, cryptobatch.random_bytes(32))
        os._exit(0)
    os.close(write)
    child = os.read(read, 32)
    os.waitpid(pid, 0)
    os.close(read)
    parent = cryptobatch.random_bytes(32)
    assert len(child) == len(parent) == 32 and child != parent


def test_drawn_codes_as_an_array_are_the_codes_as_str() -> None:
    """The bulk form of drawn codes: prefix then base32, one width, every character of
    the alphabet used, none twice; past the batch (redraws) more are drawn."""
    from veil.ledger.packs import token_texts
    from veil.transforms.crypto import _Drawn

    drawn = _Drawn("pt_", 16, 20_000)
    codes = token_texts(drawn.array(20_000)) + token_texts(drawn.array(3))
    assert all(len(c) == 19 and c.startswith("pt_") for c in codes)
    assert len(set(codes)) == len(codes)
    assert set("".join(c[3:] for c in codes)) == set("abcdefghijklmnopqrstuvwxyz234567")
