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
import itertools
import os
import struct
from collections.abc import Callable, Iterator, Sequence
from types import ModuleType
from typing import Any, overload

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


def _random_source() -> Callable[[int], bytes]:
    """OpenSSL's CSPRNG (``ssl.RAND_bytes``: a DRBG seeded from the OS, reseeded after a
    fork), or ``os.urandom`` where Python has no ssl module."""
    try:
        import ssl
    except ImportError:  # pragma: no cover - CPython builds have it
        return os.urandom
    return ssl.RAND_bytes


#: ``random_bytes(n)``: n cryptographically strong random bytes, for a batch's nonces and
#: codes. OpenSSL's generator gives them 11x faster than the ``getrandom`` system call
#: behind ``os.urandom`` (that call was 6% of a first research extract).
random_bytes = _random_source()


def _cores() -> int:
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else (os.cpu_count() or 1)


#: threads the extension splits a batch of 4,096 values or more across (it hashes and
#: seals without the GIL, each thread its own range): a research extract leaves most
#: of a second core idle otherwise
WORKERS = _native.set_workers(min(4, _cores())) if _native is not None else 1


class Packed(Sequence[str]):
    """``n`` items in one buffer, hashed and sealed with no Python object per item: a
    bulk job's column as Arrow holds it, or the joined digests of a batch. ``layout``
    is an int (every item that many bytes) or a buffer of n + 1 int32 or int64 offsets
    (an Arrow string array's: item i is ``data[offsets[i]:offsets[i + 1]]``). Items read
    one by one (a sample, a subset) come out as ``str`` (:meth:`__getitem__`) or as
    their bytes (:meth:`take`)."""

    def __init__(self, data: Any, layout: Any) -> None:
        self.data, self.layout = data, layout
        if isinstance(layout, int):
            self._n = memoryview(data).nbytes // layout if layout > 0 else 0
        else:
            offsets = memoryview(layout)
            self._n = max(offsets.nbytes // max(offsets.itemsize, 1) - 1, 0)
        self._checked: Sequence[int] | None = None

    @property
    def _bounds(self) -> Sequence[int]:
        # read (and checked) only where items are read one by one: the extension checks
        # the layout itself, so a bulk job's batch never lists its offsets in Python
        if self._checked is None:
            self._checked = _bounds(self.data, self.layout)
        return self._checked

    def __len__(self) -> int:
        return self._n

    @overload
    def __getitem__(self, i: int) -> str: ...

    @overload
    def __getitem__(self, i: slice) -> list[str]: ...

    def __getitem__(self, i: int | slice) -> str | list[str]:
        if isinstance(i, slice):
            return [self[j] for j in range(*i.indices(len(self)))]
        return self.take([i])[0].decode()

    def __iter__(self) -> Iterator[str]:
        return (self[i] for i in range(len(self)))

    def take(self, positions: Sequence[int]) -> list[bytes]:
        """The bytes of the items at ``positions``."""
        view, bounds, n = memoryview(self.data).cast("B"), self._bounds, len(self)
        out = []
        for i in positions:
            if not -n <= i < n:
                raise IndexError("item out of range")
            i %= n
            out.append(bytes(view[bounds[i] : bounds[i + 1]]))
        return out


def _bounds(data: Any, layout: Any) -> Sequence[int]:
    """Where each item of a :class:`Packed` starts (and the last ends), checked as the
    extension checks them: a whole number of items, or offsets increasing within the
    data."""
    size = memoryview(data).nbytes
    if isinstance(layout, int):
        if layout < 1 or size % layout:
            raise ValueError("the data is not a whole number of items of that width")
        return range(0, size + 1, layout)
    offsets = memoryview(layout)
    if offsets.itemsize not in (4, 8) or offsets.nbytes < offsets.itemsize:
        raise ValueError("offsets must be n + 1 int32 or int64 values")
    bounds = offsets.cast("B").cast("i" if offsets.itemsize == 4 else "q").tolist()
    if bounds[0] < 0 or any(b < a for a, b in itertools.pairwise(bounds)):
        raise ValueError("offsets must increase within the data")
    if bounds[-1] > size:
        raise ValueError("offsets must increase within the data")
    return bounds


Items = Sequence[str | bytes] | Packed


def _args(values: Items) -> tuple[Any, ...]:
    """The extension's arguments for ``values``: the list, or a packed buffer and its
    layout."""
    return (values.data, values.layout) if isinstance(values, Packed) else (values,)


def _listed(values: Items) -> Sequence[str | bytes]:
    return values.take(range(len(values))) if isinstance(values, Packed) else values


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


def hmac_sha256_hex(key: bytes, values: Items) -> list[str]:
    """:func:`hmac_sha256_hex_py`, in C where the extension is built."""
    if _native is not None:
        out: list[str] = _native.hmac_sha256_hex(key, *_args(values))
        return out
    return hmac_sha256_hex_py(key, _listed(values))


def hmac_sha256_hex_joined(key: bytes, values: Items) -> Packed:
    """:func:`hmac_sha256_hex`, the digests joined (64 bytes each): a bulk job's lookups,
    with no str per value."""
    if _native is not None:
        return Packed(_native.hmac_sha256_hex_joined(key, *_args(values)), 64)
    return Packed("".join(hmac_sha256_hex_py(key, _listed(values))).encode(), 64)


def prefix_digests(head: bytes, items: Items, width: int) -> bytes:
    """:func:`prefix_digests_py`, in C where the extension is built."""
    if _native is not None:
        digests: bytes = _native.prefix_digests(head, _args(items)[0], width, *_args(items)[1:])
        return digests
    return prefix_digests_py(head, _listed(items), width)


def seal_aes_gcm(key: bytes, nonces: bytes, values: Items, aad: bytes) -> list[bytes]:
    """:func:`seal_aes_gcm_py`, in C where the extension is built."""
    if _native is not None:
        args = _args(values)
        sealed: list[bytes] = _native.seal_aes_gcm(key, nonces, args[0], aad, *args[1:])
        return sealed
    return seal_aes_gcm_py(key, nonces, _listed(values), aad)


def seal_aes_gcm_joined(
    key: bytes, nonces: bytes, values: Items, aad: bytes
) -> tuple[bytes, bytes]:
    """:func:`seal_aes_gcm_joined_py`, in C where the extension is built: no bytes object
    per value (a bulk job's values go to the vault pack as one blob)."""
    if _native is not None:
        args = _args(values)
        joined: tuple[bytes, bytes] = _native.seal_aes_gcm_joined(
            key, nonces, args[0], aad, *args[1:]
        )
        return joined
    return seal_aes_gcm_joined_py(key, nonces, _listed(values), aad)
