"""The token vault's packs: the codes one call issues, stored as one row, and the
in-memory index that finds them again.

Why packs: with one row per code, every new code cost a bound Python tuple and two
B-tree insertions at random places (its key and its token are both random), and a first
research extract spent ~1.2 s of 3.1 s per 200k rows there. A pack is one row per
``issue`` call (its keys, tokens and sealed values as blobs), written with one statement;
lookups go through a per-namespace index in memory, read incrementally from the packs
(pack ids only grow, and a namespace's packs are written one at a time under the
database's write lock, so "every pack after the last one read" is never missing one).

The index holds, per code, 8 + 8 bytes of key, the token and 16 bytes to find its token
again: ~52 bytes a code (5M codes ~260 MB). Large additions are merged into sorted numpy
arrays (one linear merge); small ones (a service's few codes per request) go to dicts
until there are enough of them to merge.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

#: bytes of a row key (``vault._keys``)
KEY = 16
#: small additions wait in dicts until this many, then are merged into the arrays
_RECENT = 65_536
_U64 = np.dtype(np.uint64)


def _sizes(items: Sequence[bytes]) -> bytes:
    return np.array(list(map(len, items)), dtype=">u4").tobytes()


def encode(tokens: Sequence[str], sealed: Sequence[bytes]) -> tuple[bytes, bytes, bytes, bytes]:
    """A pack's token and sealed-value columns: each the items concatenated plus their
    sizes as big-endian uint32 (the byte order PostgreSQL's ``int4send`` writes, so a
    migration in SQL produces the same format)."""
    tb = [t.encode() for t in tokens]
    return b"".join(tb), _sizes(tb), b"".join(sealed), _sizes(sealed)


def split(blob: bytes, sizes: bytes) -> list[bytes]:
    """The items of one packed column."""
    ends = np.cumsum(np.frombuffer(sizes, dtype=">u4"), dtype=np.int64).tolist()
    out, start = [], 0
    for end in ends:
        out.append(blob[start:end])
        start = end
    return out


def token_array(blob: bytes, sizes: bytes) -> npt.NDArray[np.bytes_]:
    """A pack's tokens as a numpy bytes array (zero-copy when all have one width, as the
    codes of one namespace do)."""
    sz = np.frombuffer(sizes, dtype=">u4")
    if len(sz) and (sz == sz[0]).all() and sz[0] > 0:
        return np.frombuffer(blob, dtype=f"S{int(sz[0])}")
    return np.array(split(blob, sizes), dtype=np.bytes_)


def _position_weights(width: int) -> npt.NDArray[np.uint64]:
    """Odd 64-bit multipliers, one per byte position (splitmix64 of the position)."""
    x = (np.arange(1, width + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)).astype(_U64)
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x | np.uint64(1)


def token_hashes(tokens: npt.NDArray[np.bytes_]) -> npt.NDArray[np.uint64]:
    """A 64-bit hash of each token, vectorized. Trailing NUL bytes add nothing, so a
    token hashes alike in arrays of any width (numpy pads shorter items with NULs). Two
    tokens with one hash are told apart by whoever reads the hit (find) or drawn again
    (issue): the hash only narrows the search."""
    n = len(tokens)
    if n == 0:
        return np.empty(0, dtype=_U64)
    width = tokens.dtype.itemsize
    cols = np.ascontiguousarray(tokens).view(np.uint8).reshape(n, width).astype(_U64)
    with np.errstate(over="ignore"):
        out: npt.NDArray[np.uint64] = (cols * _position_weights(width)).sum(axis=1, dtype=_U64)
    return out


def _split_keys(keys: bytes) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    both = np.frombuffer(keys, dtype=">u8").reshape(-1, 2)
    return both[:, 0].astype(_U64), both[:, 1].astype(_U64)


@dataclass
class _Arrays:
    """Codes sorted by key (``hi`` first, then any order) and, separately, by token hash."""

    hi: npt.NDArray[np.uint64]
    lo: npt.NDArray[np.uint64]
    tok: npt.NDArray[np.bytes_]
    th: npt.NDArray[np.uint64]
    tpack: npt.NDArray[np.int64]

    @classmethod
    def empty(cls) -> _Arrays:
        return cls(
            np.empty(0, _U64),
            np.empty(0, _U64),
            np.empty(0, dtype="S1"),
            np.empty(0, _U64),
            np.empty(0, np.int64),
        )

    def merged(
        self,
        keys: bytes,
        tokens: npt.NDArray[np.bytes_],
        packs: npt.NDArray[np.int64],
    ) -> _Arrays:
        """These arrays with more codes inserted (a linear merge, not a re-sort)."""
        hi, lo = _split_keys(keys)
        order = np.argsort(hi, kind="stable")
        hi, lo, tok = hi[order], lo[order], tokens[order]
        at = np.searchsorted(self.hi, hi)
        th = token_hashes(tokens)
        torder = np.argsort(th, kind="stable")
        th, tp = th[torder], packs[torder]
        tat = np.searchsorted(self.th, th)
        width = max(self.tok.dtype.itemsize, tok.dtype.itemsize)
        return _Arrays(
            np.insert(self.hi, at, hi),
            np.insert(self.lo, at, lo),
            np.insert(self.tok.astype(f"S{width}"), at, tok.astype(f"S{width}")),
            np.insert(self.th, tat, th),
            np.insert(self.tpack, tat, tp),
        )


class Index:
    """One namespace's codes in memory: key -> token, token -> pack. Not thread-safe by
    itself: callers hold :attr:`lock` around a refresh, the lookups and an addition."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        #: the highest pack id read into this index
        self.last = 0
        self._arrays = _Arrays.empty()
        self._recent: dict[bytes, str] = {}
        self._recent_tokens: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._arrays.hi) + len(self._recent)

    def add(self, pack: int, keys: bytes, tokens: npt.NDArray[np.bytes_]) -> None:
        """Codes of pack ``pack``: ``keys`` (16 bytes each) and their tokens, in order."""
        n = len(keys) // KEY
        if n != len(tokens):
            raise ValueError("a vault pack's keys and tokens differ in number")
        if n < 4096 and len(self._recent) + n < _RECENT:
            for i, t in enumerate(tokens.tolist()):
                tok = t.decode()
                self._recent[keys[KEY * i : KEY * i + KEY]] = tok
                self._recent_tokens[tok] = pack
        else:
            self._flush()
            self._arrays = self._arrays.merged(keys, tokens, np.full(n, pack, dtype=np.int64))
        self.last = max(self.last, pack)

    def _flush(self) -> None:
        if not self._recent:
            return
        keys = b"".join(self._recent)
        toks = np.array([t.encode() for t in self._recent.values()], dtype=np.bytes_)
        packs = np.array([self._recent_tokens[t] for t in self._recent.values()], np.int64)
        self._arrays = self._arrays.merged(keys, toks, packs)
        self._recent.clear()
        self._recent_tokens.clear()

    def lookup(self, keys: Sequence[bytes]) -> dict[bytes, str]:
        """The stored token of each of ``keys`` that has one."""
        out: dict[bytes, str] = {}
        rest: list[bytes] = []
        recent = self._recent
        for k in keys:
            t = recent.get(k)
            if t is not None:
                out[k] = t
            else:
                rest.append(k)
        a = self._arrays
        if not rest or not len(a.hi):
            return out
        qhi, qlo = _split_keys(b"".join(rest))
        pos = np.searchsorted(a.hi, qhi)
        inside = pos < len(a.hi)
        cand = np.where(inside, pos, 0)
        same_hi = inside & (a.hi[cand] == qhi)
        hit = same_hi & (a.lo[cand] == qlo)
        for i, t in zip(np.flatnonzero(hit).tolist(), a.tok[cand[hit]].tolist(), strict=True):
            out[rest[i]] = t.decode()
        # Two keys sharing their first 8 bytes (~never): look along the run of equal hi.
        for i in np.flatnonzero(same_hi & ~hit).tolist():
            j = int(pos[i]) + 1
            while j < len(a.hi) and a.hi[j] == qhi[i]:
                if a.lo[j] == qlo[i]:
                    out[rest[i]] = bytes(a.tok[j]).decode()
                    break
                j += 1
        return out

    def taken(self, tokens: Sequence[str]) -> list[bool]:
        """Whether each token may already be in use here (a rare false yes only makes
        the caller draw again)."""
        if not tokens:
            return []
        recent = self._recent_tokens
        out = [t in recent for t in tokens] if recent else [False] * len(tokens)
        a = self._arrays
        if len(a.th):
            th = token_hashes(np.array([t.encode() for t in tokens], dtype=np.bytes_))
            pos = np.searchsorted(a.th, th)
            inside = pos < len(a.th)
            hit = inside & (a.th[np.where(inside, pos, 0)] == th)
            out = [o or bool(h) for o, h in zip(out, hit.tolist(), strict=True)]
        return out

    def packs_of(self, token: str) -> list[int]:
        """The packs that may hold ``token`` (most often one or none)."""
        out = []
        if token in self._recent_tokens:
            out.append(self._recent_tokens[token])
        a = self._arrays
        if len(a.th):
            h = token_hashes(np.array([token.encode()], dtype=np.bytes_))[0]
            j = int(np.searchsorted(a.th, h))
            while j < len(a.th) and a.th[j] == h:
                out.append(int(a.tpack[j]))
                j += 1
        return out
