"""The token vault's packs: the codes one call issues, stored as one row, and the
in-memory index that finds them again.

Why packs: with one row per code, every new code cost a bound Python tuple and two
B-tree insertions at random places (its key and its token are both random), and a first
research extract spent ~1.2 s of 3.1 s per 200k rows there. A pack is one row per
``issue`` call (its keys, tokens and sealed values as blobs), written with one statement;
lookups go through a per-namespace index in memory, read incrementally from the packs
(pack ids only grow, and a namespace's packs are written one at a time under the
database's write lock, so "every pack after the last one read" is never missing one).

Without numpy (a core install, no `bulk` extra) the index is the dicts alone. With it, it
holds, per code, 8 + 8 bytes of key, the token and 16 bytes to find its token
again: ~52 bytes a code (5M codes ~260 MB), in sorted numpy runs of geometric sizes;
small additions (a service's few codes per request) wait in dicts until there are enough
of them for a run.
"""

from __future__ import annotations

import struct
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import Any, cast

try:  # numpy comes with the `bulk` extra; a core install keeps its codes in dicts
    import numpy as np
    import numpy.typing as npt

    HAVE_NUMPY = True
except ImportError:  # pragma: no cover - tested in a child process (tests/test_extras.py)
    HAVE_NUMPY = False

#: bytes of a row key (``vault._keys``)
KEY = 16
#: codes the dicts hold before they become a run of their own
_RECENT = 4096


def _sizes(items: Sequence[bytes] | Sequence[str]) -> bytes:
    return struct.pack(f">{len(items)}I", *map(len, items))


def encode(tokens: Sequence[str], sealed: Sequence[bytes]) -> tuple[bytes, bytes, bytes, bytes]:
    """A pack's token and sealed-value columns: each the items concatenated plus their
    sizes as big-endian uint32 (the byte order PostgreSQL's ``int4send`` writes, so a
    migration in SQL produces the same format)."""
    joined = "".join(tokens).encode()
    if len(joined) == sum(map(len, tokens)):  # all ASCII (codes are): characters are bytes
        token_sizes = _sizes(tokens)
    else:
        tb = [t.encode() for t in tokens]
        joined, token_sizes = b"".join(tb), _sizes(tb)
    return joined, token_sizes, b"".join(sealed), _sizes(sealed)


def split(blob: bytes, sizes: bytes) -> list[bytes]:
    """The items of one packed column."""
    ends = accumulate(struct.unpack(f">{len(sizes) // 4}I", sizes))
    out, start = [], 0
    for end in ends:
        out.append(blob[start:end])
        start = end
    return out


def token_array(blob: bytes, sizes: bytes) -> Any:
    """A pack's tokens: a numpy bytes array (zero-copy when all have one width, as the
    codes of one namespace do), or a list of bytes without numpy."""
    if not HAVE_NUMPY:
        return split(blob, sizes)
    sz = np.frombuffer(sizes, dtype=">u4")
    if len(sz) and (sz == sz[0]).all() and sz[0] > 0:
        return np.frombuffer(blob, dtype=f"S{int(sz[0])}")
    return np.array(split(blob, sizes), dtype=np.bytes_)


def _bytes_array(tokens: Sequence[str]) -> npt.NDArray[np.bytes_]:
    """``tokens`` as a numpy bytes array: the codes of a namespace (ASCII, one width)
    straight from their joined bytes, a third of the time of encoding each."""
    joined = "".join(tokens).encode()
    width = len(tokens[0]) if tokens else 0
    if width and len(joined) == width * len(tokens) and min(map(len, tokens)) == width:
        return np.frombuffer(joined, dtype=f"S{width}")
    return np.array([t.encode() for t in tokens], dtype=np.bytes_)


def token_texts(tokens: npt.NDArray[np.bytes_]) -> list[str]:
    """The tokens of a numpy bytes array as str, decoded in one pass: the tokens of a
    namespace have one width, so one decode of the whole buffer cut at that width gives
    them (half the time of a decode per token); otherwise token by token (numpy drops
    the NUL padding of shorter ones)."""
    width = tokens.dtype.itemsize
    if width:
        text = tokens.tobytes().decode("utf-8", "replace")
        if len(text) == width * len(tokens) and "\0" not in text:  # ASCII, none padded
            return [text[i : i + width] for i in range(0, len(text), width)]
    return [t.decode() for t in tokens.tolist()]


def _position_weights(width: int) -> npt.NDArray[np.uint64]:
    """Odd 64-bit multipliers, one per position (splitmix64 of the position)."""
    x = (np.arange(1, width + 1, dtype=np.uint64) * np.uint64(0x9E3779B97F4A7C15)).astype(np.uint64)
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x | np.uint64(1)


_MIX = np.uint64(0xBF58476D1CE4E5B9) if HAVE_NUMPY else 0
_S1, _S2 = (np.uint64(31), np.uint64(29)) if HAVE_NUMPY else (0, 0)


def token_hashes(tokens: npt.NDArray[np.bytes_]) -> npt.NDArray[np.uint64]:
    """A 64-bit hash of each token, vectorized: the token's bytes read as 8-byte words
    (zero-padded), each word times its position's odd multiplier, mixed, and summed. A
    zero word adds nothing, so a token hashes alike in arrays of any width (numpy pads
    shorter items with NULs). Two tokens with one hash are told apart by whoever reads
    the hit (find) or drawn again (issue): the hash only narrows the search. (A word at
    a time: a multiply per byte was 6x slower and a fifth of indexing a first extract.)"""
    n = len(tokens)
    if n == 0:
        return np.empty(0, dtype=np.uint64)
    width = tokens.dtype.itemsize
    nwords = -(-width // 8)
    raw = np.ascontiguousarray(tokens).view(np.uint8).reshape(n, width)
    if width % 8:
        padded = np.zeros((n, nwords * 8), dtype=np.uint8)
        padded[:, :width] = raw
        raw = padded
    words = raw.view("<u8")
    weights = _position_weights(nwords)
    out = np.zeros(n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(nwords):
            x = words[:, j] * weights[j]
            x ^= x >> _S1
            x *= _MIX
            x ^= x >> _S2
            out += x
    return out


def key_order(keys: bytes) -> npt.NDArray[np.intp]:
    """The order that sorts ``keys`` (16 bytes each, joined) by their first 8 bytes: a
    batch's lookup, duplicate check and run all need it, and one sort serves them."""
    return np.argsort(split_keys(keys)[0])


def split_keys(keys: bytes) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    both = np.frombuffer(keys, dtype=">u8").reshape(-1, 2)
    return both[:, 0].astype(np.uint64), both[:, 1].astype(np.uint64)


@dataclass
class _Run:
    """Codes sorted by key (``hi`` first, then any order) and, separately, by token hash."""

    hi: npt.NDArray[np.uint64]
    lo: npt.NDArray[np.uint64]
    tok: npt.NDArray[np.bytes_]
    th: npt.NDArray[np.uint64]
    tpack: npt.NDArray[np.int64]

    @classmethod
    def of(cls, keys: bytes, tokens: npt.NDArray[np.bytes_], packs: npt.NDArray[np.int64]) -> _Run:
        hi, lo = split_keys(keys)
        return cls._sorted(hi, lo, tokens, token_hashes(tokens), packs)

    @classmethod
    def of_pack(
        cls,
        keys: bytes,
        tokens: npt.NDArray[np.bytes_],
        pack: int,
        hashes: npt.NDArray[np.uint64],
        order: npt.NDArray[np.intp] | None = None,
    ) -> _Run:
        """A run of one pack whose tokens' hashes are known, sorted (:meth:`Index.fresh`
        computed them): they need no second hashing, nor an order for their pack ids;
        ``order`` sorts the keys' first halves, where the caller has it (:func:`key_order`)."""
        hi, lo = split_keys(keys)
        if order is None:
            order = np.argsort(hi)
        return cls(hi[order], lo[order], tokens[order], hashes, np.full(len(hi), pack, np.int64))

    @classmethod
    def _sorted(
        cls,
        hi: npt.NDArray[np.uint64],
        lo: npt.NDArray[np.uint64],
        tok: npt.NDArray[np.bytes_],
        th: npt.NDArray[np.uint64],
        tpack: npt.NDArray[np.int64],
    ) -> _Run:
        order = np.argsort(hi, kind="stable")
        torder = np.argsort(th, kind="stable")
        return cls(hi[order], lo[order], tok[order], th[torder], tpack[torder])

    def __len__(self) -> int:
        return len(self.hi)

    def merged(self, other: _Run) -> _Run:
        width = max(self.tok.dtype.itemsize, other.tok.dtype.itemsize)
        return _Run._sorted(
            np.concatenate([self.hi, other.hi]),
            np.concatenate([self.lo, other.lo]),
            np.concatenate([self.tok.astype(f"S{width}"), other.tok.astype(f"S{width}")]),
            np.concatenate([self.th, other.th]),
            np.concatenate([self.tpack, other.tpack]),
        )

    def lookup(
        self, qhi: npt.NDArray[np.uint64], qlo: npt.NDArray[np.uint64]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.bytes_]]:
        """The positions of the queries this run holds, and their tokens."""
        pos = np.searchsorted(self.hi, qhi)
        inside = pos < len(self.hi)
        cand = np.where(inside, pos, 0)
        same_hi = inside & (self.hi[cand] == qhi)
        hit = same_hi & (self.lo[cand] == qlo)
        where = np.flatnonzero(hit)
        tokens = self.tok[cand[hit]]
        # Two keys sharing their first 8 bytes (~never): look along the run of equal hi.
        more, found = [], []
        for i in np.flatnonzero(same_hi & ~hit).tolist():
            j = int(pos[i]) + 1
            while j < len(self.hi) and self.hi[j] == qhi[i]:
                if self.lo[j] == qlo[i]:
                    more.append(i)
                    found.append(j)
                    break
                j += 1
        if more:
            where = np.concatenate([where, np.array(more, dtype=np.int64)])
            tokens = np.concatenate([tokens, self.tok[np.array(found, dtype=np.int64)]])
        return where, tokens

    def has_hash(self, th: npt.NDArray[np.uint64]) -> npt.NDArray[np.bool_]:
        pos = np.searchsorted(self.th, th)
        inside = pos < len(self.th)
        found: npt.NDArray[np.bool_] = inside & (self.th[np.where(inside, pos, 0)] == th)
        return found

    def packs_with_hash(self, h: np.uint64) -> list[int]:
        j = int(np.searchsorted(self.th, h))
        out = []
        while j < len(self.th) and self.th[j] == h:
            out.append(int(self.tpack[j]))
            j += 1
        return out


#: additions of fewer codes than this go to the index's dicts (a service's few per
#: request); larger ones become a sorted run of their own
_SMALL = 256


class Index:
    """One namespace's codes in memory: key -> token, token -> pack. Not thread-safe by
    itself: callers hold :attr:`lock` around a refresh, the lookups and an addition.

    Runs of sorted arrays, each at least twice the size of the next (a run is merged
    into the one before it until that holds): at most log2(n) runs to search, and each
    code is re-sorted O(log n) times over the index's life, however the codes arrive
    (a Spark task's packs of ~10,000 merged into a linear array one by one had cost
    O(n) each)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        #: the highest pack id read into this index
        self.last = 0
        self._runs: list[_Run] = []
        self._recent: dict[bytes, str] = {}
        self._recent_tokens: dict[str, int] = {}

    def __len__(self) -> int:
        return sum(len(r) for r in self._runs) + len(self._recent)

    def clear(self) -> None:
        """Forget every code (to read the packs again from the first)."""
        self.last = 0
        self._runs = []
        self._recent = {}
        self._recent_tokens = {}

    def add(
        self, pack: int, keys: bytes, tokens: Any, hashes: Any = None, order: Any = None
    ) -> None:
        """Codes of pack ``pack``: ``keys`` (16 bytes each) and their tokens, in order
        (:func:`token_array`); ``hashes``: the tokens' hashes sorted, where known
        (:meth:`fresh_codes`), and ``order`` the keys' (:func:`key_order`)."""
        n = len(keys) // KEY
        if n != len(tokens):
            raise ValueError("a vault pack's keys and tokens differ in number")
        if n < _SMALL or not HAVE_NUMPY:
            listed = tokens if isinstance(tokens, list) else tokens.tolist()
            for i, t in enumerate(listed):
                tok = t.decode()
                self._recent[keys[KEY * i : KEY * i + KEY]] = tok
                self._recent_tokens[tok] = pack
            if len(self._recent) >= _RECENT and HAVE_NUMPY:
                self._flush()
        elif hashes is not None:
            self._push(_Run.of_pack(keys, tokens, pack, hashes, order))
        else:
            self._push(_Run.of(keys, tokens, np.full(n, pack, dtype=np.int64)))
        self.last = max(self.last, pack)

    def _push(self, run: _Run) -> None:
        runs = self._runs
        runs.append(run)
        while len(runs) > 1 and len(runs[-2]) < 2 * len(runs[-1]):
            last = runs.pop()
            runs[-1] = runs[-1].merged(last)

    def _flush(self) -> None:
        if not self._recent:
            return
        keys = b"".join(self._recent)
        toks = np.array([t.encode() for t in self._recent.values()], dtype=np.bytes_)
        packs = np.array([self._recent_tokens[t] for t in self._recent.values()], np.int64)
        self._recent = {}
        self._recent_tokens = {}
        self._push(_Run.of(keys, toks, packs))

    def lookup(self, keys: Sequence[bytes]) -> dict[bytes, str]:
        """The stored token of each of ``keys`` that has one."""
        found = self.find_many(b"".join(keys))
        return {k: t for k, t in zip(keys, found, strict=True) if t is not None}

    def find_many(self, keys: bytes) -> list[str | None]:
        """The stored token of each key of ``keys`` (16 bytes each, joined), in order,
        None where there is none: the runs searched with numpy for all keys at once
        (:meth:`find_codes`); without runs, the dicts alone."""
        n = len(keys) // KEY
        if not n or not self._runs:
            get = self._recent.get
            return [get(keys[i : i + KEY]) for i in range(0, n * KEY, KEY)]
        placed = self.find_codes(keys)
        texts = token_texts(placed)  # a code is never empty: b"" is "none"
        if bool((placed != b"").all()):
            return cast(list[str | None], texts)
        return [t or None for t in texts]

    def _search(
        self,
        qhi: npt.NDArray[np.uint64],
        qlo: npt.NDArray[np.uint64],
        where: npt.NDArray[np.int64],
        order: npt.NDArray[np.intp] | None = None,
    ) -> tuple[list[npt.NDArray[np.int64]], list[npt.NDArray[np.bytes_]]]:
        """The runs' hits for keys (``qhi``, ``qlo``) asked at positions ``where``: the
        positions found and their tokens, a pair of arrays per run that held any.
        ``order``: the queries' order by ``qhi``, where the caller has it."""
        # Queries in key order: the binary searches then walk each run's arrays in
        # order, not at random (5x less time on a run of a million codes).
        if order is None:
            order = np.argsort(qhi)
        qhi, qlo, where = qhi[order], qlo[order], where[order]
        rows, tokens = [], []
        for run in self._runs:
            if not len(qhi):
                break
            hits, toks = run.lookup(qhi, qlo)
            if not len(hits):
                continue
            rows.append(where[hits])
            tokens.append(toks)
            keep = np.ones(len(qhi), dtype=bool)
            keep[hits] = False
            qhi, qlo, where = qhi[keep], qlo[keep], where[keep]
        return rows, tokens

    def find_codes(
        self, keys: bytes, order: npt.NDArray[np.intp] | None = None
    ) -> npt.NDArray[np.bytes_]:
        """:meth:`find_many` as a numpy bytes array, ``b""`` where there is none: a bulk
        job's codes go on to Arrow without a Python str each (numpy only). ``order``:
        the keys' (:func:`key_order`), where the caller has it."""
        n = len(keys) // KEY
        qhi, qlo = split_keys(keys)
        where = np.arange(n)
        listed: list[str | None] = []
        if self._recent:
            get = self._recent.get
            listed = [get(keys[i : i + KEY]) for i in range(0, n * KEY, KEY)]
            rest = np.fromiter((t is None for t in listed), dtype=bool, count=n)
            qhi, qlo, where = qhi[rest], qlo[rest], where[rest]
            order = None  # (it was the order of all the keys)
        rows, tokens = self._search(qhi, qlo, where, order) if self._runs else ([], [])
        extra = [t.encode() for t in listed if t is not None]
        width = max([t.dtype.itemsize for t in tokens] + [len(t) for t in extra] + [1])
        placed = np.zeros(n, dtype=f"S{width}")
        if rows:
            placed[np.concatenate(rows)] = np.concatenate(
                [t.astype(f"S{width}", copy=False) for t in tokens]
            )
        if extra:
            at = [i for i, t in enumerate(listed) if t is not None]
            placed[np.array(at, dtype=np.int64)] = np.array(extra, dtype=f"S{width}")
        return placed

    def fresh(self, tokens: Sequence[str]) -> bool:
        """True if no token can be in use here and no two are the same (their hashes all
        differ); False means "look closer" (:meth:`taken`). One sort of the tokens'
        hashes answers both, where a set of a batch's codes was a tenth of drawing them."""
        if not tokens:
            return True
        if not (HAVE_NUMPY and self._runs):
            recent = self._recent_tokens
            return not any(t in recent for t in tokens) and len(set(tokens)) == len(tokens)
        th = np.sort(token_hashes(_bytes_array(tokens)))
        if len(th) > 1 and bool((th[1:] == th[:-1]).any()):
            return False
        if any(bool(run.has_hash(th).any()) for run in self._runs):
            return False
        recent = self._recent_tokens
        return not (recent and any(t in recent for t in tokens))

    def fresh_codes(self, tokens: npt.NDArray[np.bytes_]) -> npt.NDArray[np.uint64] | None:
        """:meth:`fresh` for a numpy bytes array of codes: their hashes, sorted, if no
        code can be in use here and no two are the same, else None ("look closer").
        The hashes are what a run of these codes sorts by (:meth:`add`)."""
        th = np.sort(token_hashes(tokens))
        if len(th) > 1 and bool((th[1:] == th[:-1]).any()):
            return None
        if any(bool(run.has_hash(th).any()) for run in self._runs):
            return None
        recent = self._recent_tokens
        if recent and any(t in recent for t in token_texts(tokens)):
            return None
        return th

    def taken(self, tokens: Sequence[str] | npt.NDArray[np.bytes_]) -> list[bool]:
        """Whether each token may already be in use here (a rare false yes only makes
        the caller draw again)."""
        if not len(tokens):
            return []
        recent = self._recent_tokens
        listed = token_texts(tokens) if isinstance(tokens, np.ndarray) else tokens
        if not self._runs:
            return [t in recent for t in listed] if recent else [False] * len(tokens)
        array = tokens if isinstance(tokens, np.ndarray) else _bytes_array(tokens)
        th = token_hashes(array)
        order = np.argsort(th)  # searched in order (see find_many)
        th = th[order]
        sorted_hit = np.zeros(len(tokens), dtype=bool)
        for run in self._runs:
            sorted_hit |= run.has_hash(th)
        hit = np.empty_like(sorted_hit)
        hit[order] = sorted_hit
        if recent:
            hit |= np.fromiter((t in recent for t in listed), dtype=bool, count=len(tokens))
        out: list[bool] = hit.tolist()
        return out

    def packs_of(self, token: str) -> list[int]:
        """The packs that may hold ``token`` (most often one or none)."""
        out = []
        if token in self._recent_tokens:
            out.append(self._recent_tokens[token])
        if self._runs:
            h = token_hashes(np.array([token.encode()], dtype=np.bytes_))[0]
            for run in self._runs:
                out.extend(run.packs_with_hash(h))
        return out
