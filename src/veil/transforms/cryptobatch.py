"""The random-token path's per-value cryptography over a whole batch, in one call each.

A research extract tokenizes every patient id with ``tokenize(mode=random)``: per distinct
value one HMAC (the vault's lookup), one SHA-256 (the vault's row key) and, the first
time, one AES-256-GCM seal. In Python each is several calls into hashlib or cryptography
(~0.7, ~0.4 and ~1.6 µs a value); that per-value Python was most of the time of a
research extract. These functions take the batch at once.

Two implementations give the same bytes:

* ``veil.transforms._cryptobatch``, a C extension that loops in C over OpenSSL's
  libcrypto (the library hashlib and cryptography use): no Python call per value, and
  the GIL released while it hashes, a large batch split across :data:`WORKERS`
  threads. It is compiled when veil is installed where a C compiler and OpenSSL's
  headers are (``hatch_build.py``).
* the pure-Python twin of each function below, used without the extension (and in the
  tests, as the reference the extension is held to).

:data:`NATIVE` says which one runs. Inputs are lists of ``str`` (hashed as UTF-8) or
``bytes``; anything else raises TypeError.
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Sequence
from types import ModuleType

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

#: bytes of an AES-GCM nonce, written before the ciphertext
NONCE = 12


def _load() -> ModuleType | None:
    if os.environ.get("VEIL_NATIVE") == "0":
        return None
    try:
        from . import _cryptobatch
    except ImportError:
        return None
    return _cryptobatch


_native = _load()
#: whether the C extension runs (False: the pure-Python functions, same bytes, slower)
NATIVE = _native is not None


def _cores() -> int:
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else (os.cpu_count() or 1)


#: threads the extension splits a batch of 4,096 values or more across (it hashes and
#: seals without the GIL, each thread its own range): a research extract leaves most
#: of a second core idle otherwise
WORKERS = _native.set_workers(min(4, _cores())) if _native is not None else 1


def _utf8(item: str | bytes) -> bytes:
    if type(item) is str:
        return item.encode()
    if type(item) is bytes:
        return item
    raise TypeError("an item is neither str nor bytes")


def hmac_sha256_hex_py(key: bytes, values: Sequence[str | bytes]) -> list[str]:
    """HMAC-SHA256 (RFC 2104) of each value under ``key``, as lower-case hex: the padded
    key's two SHA-256 states are computed once and copied per value."""
    if len(key) > 64:  # RFC 2104: a key longer than the block is hashed first
        key = hashlib.sha256(key).digest()
    key = key.ljust(64, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
    out = []
    for v in values:
        i = inner.copy()
        i.update(_utf8(v))
        o = outer.copy()
        o.update(i.digest())
        out.append(o.hexdigest())
    return out


def prefix_digests_py(head: bytes, items: Sequence[str | bytes], width: int) -> bytes:
    """The first ``width`` bytes of SHA-256(``head`` + item) of each item, joined; the
    head is hashed once and its state copied."""
    if not 1 <= width <= 32:
        raise ValueError("width must be 1 to 32 bytes")
    base = hashlib.sha256(head)
    out = []
    for item in items:
        h = base.copy()
        h.update(_utf8(item))
        out.append(h.digest()[:width])
    return b"".join(out)


def seal_aes_gcm_py(
    key: bytes, nonces: bytes, values: Sequence[str | bytes], aad: bytes
) -> list[bytes]:
    """Each value sealed with AES-256-GCM under its own 12-byte nonce (``nonces`` holds
    them in order), as nonce + ciphertext + 16-byte tag."""
    if len(key) != 32:
        raise ValueError("the key must be 32 bytes (AES-256)")
    if len(nonces) != NONCE * len(values):
        raise ValueError("nonces must be 12 bytes per value")
    seal = AESGCM(key).encrypt
    out = []
    for i, v in enumerate(values):
        nonce = nonces[NONCE * i : NONCE * i + NONCE]
        out.append(nonce + seal(nonce, _utf8(v), aad))
    return out


def seal_aes_gcm_joined_py(
    key: bytes, nonces: bytes, values: Sequence[str | bytes], aad: bytes
) -> tuple[bytes, bytes]:
    """:func:`seal_aes_gcm_py`'s values joined, and their sizes as big-endian uint32:
    the vault pack's columns as stored (``veil.ledger.packs``)."""
    sealed = seal_aes_gcm_py(key, nonces, values, aad)
    return b"".join(sealed), struct.pack(f">{len(sealed)}I", *map(len, sealed))


def hmac_sha256_hex(key: bytes, values: Sequence[str | bytes]) -> list[str]:
    """:func:`hmac_sha256_hex_py`, in C where the extension is built."""
    if _native is not None:
        out: list[str] = _native.hmac_sha256_hex(key, values)
        return out
    return hmac_sha256_hex_py(key, values)


def prefix_digests(head: bytes, items: Sequence[str | bytes], width: int) -> bytes:
    """:func:`prefix_digests_py`, in C where the extension is built."""
    if _native is not None:
        digests: bytes = _native.prefix_digests(head, items, width)
        return digests
    return prefix_digests_py(head, items, width)


def seal_aes_gcm(
    key: bytes, nonces: bytes, values: Sequence[str | bytes], aad: bytes
) -> list[bytes]:
    """:func:`seal_aes_gcm_py`, in C where the extension is built."""
    if _native is not None:
        sealed: list[bytes] = _native.seal_aes_gcm(key, nonces, values, aad)
        return sealed
    return seal_aes_gcm_py(key, nonces, values, aad)


def seal_aes_gcm_joined(
    key: bytes, nonces: bytes, values: Sequence[str | bytes], aad: bytes
) -> tuple[bytes, bytes]:
    """:func:`seal_aes_gcm_joined_py`, in C where the extension is built: no bytes object
    per value (a bulk job's values go to the vault pack as one blob)."""
    if _native is not None:
        joined: tuple[bytes, bytes] = _native.seal_aes_gcm_joined(key, nonces, values, aad)
        return joined
    return seal_aes_gcm_joined_py(key, nonces, values, aad)
