"""The token vault: random re-identification codes, stored beside the ledger.

``tokenize(mode=random)`` draws a code at random the first time a value is seen in a
namespace (a key, a recipient, a token format) and keeps ``(namespace, lookup, token,
sealed)``: ``lookup`` is a keyed HMAC of the value (so the same value finds its code
again) and ``sealed`` the value encrypted with AES-GCM (so ``veil reveal`` can give it
back). Both keys derive from the rule's transform key, which the vault never holds: the
database alone turns a code into nothing.

Durability without a sync per code: the vault writes in the ledger's own database with
cheap commits (SQLite ``synchronous=NORMAL`` in WAL mode, PostgreSQL
``synchronous_commit=off``). The disclosure's ledger event commits after the codes it
used, with a full sync, and a full sync makes every earlier commit of that database
durable too (SQLite: the same WAL file is synced; PostgreSQL: the WAL is flushed up to the
event's commit). So a code is never disclosed without being durable by the time its
disclosure is.

Storage: packs (``veil.ledger.packs``), one row per call that issued new codes, and a
per-namespace index in each process's memory, read incrementally from them. Concurrency:
a call with values it does not find takes the database's write lock (SQLite ``BEGIN
IMMEDIATE``; PostgreSQL a transaction-scoped advisory lock per schema and namespace),
reads the packs written since, and only then draws codes for what is still missing: the
first writer of a value wins and every later one reads its code.

The table lives in the ledger's SQLite file (created on first use; SQLite serializes
that) or its PostgreSQL schema (ledger migrations 3 and 5). Vaults written one row per
code by earlier versions are packed on first use (SQLite) or by migration 5 (PostgreSQL);
stop older veil processes before upgrading, since they would not see the packs.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import LedgerError
from ..transforms import cryptobatch
from ..transforms.base import TokenVault
from . import files, packs

# numpy comes with the `bulk` extra: the array forms (issue_codes, known_codes) need it,
# and a core install never calls them
with suppress(ImportError):
    import numpy as np

#: Codes per pack when older rows are packed (a pack is one row: keep rows moderate).
_PACK_ROWS = 65_536

_SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS token_vault_pack (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    ns BLOB NOT NULL,
    keys BLOB NOT NULL,
    tokens BLOB NOT NULL,
    token_sizes BLOB NOT NULL,
    sealed BLOB NOT NULL,
    sealed_sizes BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS token_vault_pack_ns ON token_vault_pack (ns, id);
CREATE TABLE IF NOT EXISTS token_vault_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO token_vault_meta VALUES ('id', lower(hex(randomblob(16))));
"""
_VAULT_ID = "SELECT value FROM token_vault_meta WHERE key = 'id'"

#: PostgreSQL migration 3 of the ledger schema (``veil.ledger.postgres.MIGRATIONS``): made
#: with the ledger, under its advisory lock, so concurrent first uses do not race. Rows
#: of this table are packed by migration 5 (:data:`PG_PACK_MIGRATION`); it stays, empty.
PG_VAULT_SCHEMA = """
CREATE TABLE IF NOT EXISTS token_vault (
    key bytea PRIMARY KEY,
    ns bytea NOT NULL,
    token text COLLATE "C" NOT NULL,
    sealed bytea NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS token_vault_token ON token_vault (ns, token);
"""

#: PostgreSQL migration 5: codes in packs (``veil.ledger.packs``), the rows of migration
#: 3 moved into packs of at most 65,536 codes in SQL (sizes as ``int4send``: big-endian).
PG_PACK_MIGRATION = """
CREATE TABLE token_vault_pack (
    id bigserial PRIMARY KEY,
    ns bytea NOT NULL,
    keys bytea NOT NULL,
    tokens bytea NOT NULL,
    token_sizes bytea NOT NULL,
    sealed bytea NOT NULL,
    sealed_sizes bytea NOT NULL
);
CREATE INDEX token_vault_pack_ns ON token_vault_pack (ns, id);
CREATE TABLE token_vault_meta (key text PRIMARY KEY, value text NOT NULL);
INSERT INTO token_vault_meta VALUES ('id', replace(gen_random_uuid()::text, '-', ''));
INSERT INTO token_vault_pack (ns, keys, tokens, token_sizes, sealed, sealed_sizes)
SELECT ns,
       string_agg(key, ''::bytea ORDER BY key),
       string_agg(convert_to(token, 'UTF8'), ''::bytea ORDER BY key),
       string_agg(int4send(octet_length(convert_to(token, 'UTF8'))), ''::bytea ORDER BY key),
       string_agg(sealed, ''::bytea ORDER BY key),
       string_agg(int4send(octet_length(sealed)), ''::bytea ORDER BY key)
FROM (SELECT *, (row_number() OVER (PARTITION BY ns ORDER BY key) - 1) / 65536 AS part
      FROM token_vault) AS rows
GROUP BY ns, part
ORDER BY ns, part;
DELETE FROM token_vault;
"""

_INSERT_PACK_SQLITE = (
    "INSERT INTO token_vault_pack (ns, keys, tokens, token_sizes, sealed, sealed_sizes)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)
_INSERT_PACK_PG = (
    "INSERT INTO token_vault_pack (ns, keys, tokens, token_sizes, sealed, sealed_sizes)"
    " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id"
)


def _ns(namespace: str) -> bytes:
    """A namespace's short id in the table (8 bytes of SHA-256: rows stay small)."""
    return hashlib.sha256(namespace.encode()).digest()[:8]


def _keys(namespace: str, lookups: Sequence[str]) -> bytes:
    """Each value's row key, in the order of ``lookups``, joined: the first 16 bytes of
    SHA-256 of namespace, NUL, lookup (a collision would need 2**64 values in one table),
    over the batch in one call (:func:`cryptobatch.prefix_digests`). Stored vaults depend
    on this formula: it must not change."""
    return cryptobatch.prefix_digests(namespace.encode() + b"\0", lookups, packs.KEY)


#: Attempts at drawing a code that no other value of the namespace has (a collision of
#: random codes is astronomically rare at 16 base32 characters; this bounds the loop).
_DRAWS = 8


def _draw(index: packs.Index, n: int, make: Callable[[], str]) -> list[str]:
    """``n`` new codes from ``make``, none in use in ``index``'s namespace nor twice
    (``make.many(n)``, where ``make`` has it, draws the first ``n`` in one call)."""
    many = getattr(make, "many", None)
    tokens: list[str] = many(n) if many is not None else [make() for _ in range(n)]
    for _ in range(_DRAWS):
        if "\0" in "".join(tokens) or not all(tokens):
            raise LedgerError("a drawn token is empty or holds a NUL character")
        if index.fresh(tokens):
            return tokens
        taken = index.taken(tokens)
        if not any(taken) and len(set(tokens)) == n:
            return tokens
        seen: set[str] = set()
        again = []
        for i, t in enumerate(tokens):
            if taken[i] or t in seen:
                again.append(i)
            else:
                seen.add(t)
        for i in again:
            tokens[i] = make()
    raise LedgerError("could not draw a unique token", hint="retry")


def _draw_codes(index: packs.Index, n: int, make: Any) -> tuple[Any, Any]:
    """:func:`_draw` as a numpy bytes array (``make.array``), and the codes' hashes
    sorted when one sort could tell they are fresh (the index's run of them needs no
    second one), else None."""
    tokens = make.array(n)
    for _ in range(_DRAWS):
        filled = tokens.view(np.uint8).reshape(n, tokens.dtype.itemsize) != 0
        # numpy pads shorter items with NULs at the end: a NUL before a byte is inside
        if not (filled.shape[1] and filled[:, 0].all()) or (filled[:, 1:] & ~filled[:, :-1]).any():
            raise LedgerError("a drawn token is empty or holds a NUL character")
        hashes = index.fresh_codes(tokens)
        if hashes is not None:
            return tokens, hashes
        again = np.array(index.taken(tokens), dtype=bool)
        _, first = np.unique(tokens, return_index=True)
        repeat = np.ones(n, dtype=bool)
        repeat[first] = False
        again |= repeat
        if not again.any():
            return tokens, None
        redrawn = make.array(int(again.sum()))
        if redrawn.dtype.itemsize > tokens.dtype.itemsize:  # never cut a longer code
            tokens = tokens.astype(redrawn.dtype)
        tokens[again] = redrawn
    raise LedgerError("could not draw a unique token", hint="retry")


def _distinct(keys: bytes, order: Any) -> bool:
    """Whether no row key comes twice in ``keys`` (16 bytes each, joined): their first
    halves in ``order`` (:func:`packs.key_order`) tell (the exact check runs only if two
    of those are equal)."""
    hi, lo = packs.split_keys(keys)
    first = hi[order]
    if not bool((first[1:] == first[:-1]).any()):
        return True
    order = np.lexsort((lo, hi))
    hi, lo = hi[order], lo[order]
    return not bool(((hi[1:] == hi[:-1]) & (lo[1:] == lo[:-1])).any())


#: a draft's pack column values and what adds them to the index once they committed
_Pending = tuple[tuple[bytes, ...], Callable[[packs.Index, int], Any]]


def _pack_rows(
    ns: bytes, rows: Sequence[tuple[bytes, str, bytes]]
) -> tuple[bytes, bytes, bytes, bytes, bytes, bytes]:
    """The column values of one pack of ``(key, token, sealed)``."""
    return (
        ns,
        b"".join(k for k, _, _ in rows),
        *packs.encode([t for _, t, _ in rows], [s for _, _, s in rows]),
    )


@dataclass(frozen=True)
class _Draft:
    """Codes drawn under the write lock for the items still missing: the pack's column
    values, added to the index (:meth:`settle`) only once the pack has committed.
    ``items`` are the positions of the items drawn for (the first of each lookup), or
    None for all of them."""

    items: list[int] | None
    tokens: list[str]
    values: tuple[bytes, bytes, bytes, bytes, bytes, bytes]

    def settle(
        self, index: packs.Index, pack: int, lookups: Sequence[str], found: list[str | None]
    ) -> None:
        """Add the pack to ``index`` and fill ``found`` (the codes by item) in place."""
        index.add(pack, self.values[1], packs.token_array(self.values[2], self.values[3]))
        if self.items is None:
            found[:] = self.tokens
            return
        drawn = {lookups[i]: t for i, t in zip(self.items, self.tokens, strict=True)}
        for i, code in enumerate(found):
            if code is None:
                found[i] = drawn[lookups[i]]


def _draft(
    ns: bytes,
    index: packs.Index,
    keys: bytes,
    lookups: Sequence[str],
    sealed: Sequence[bytes],
    found: list[str | None],
    make: Callable[[], str],
) -> _Draft | None:
    """Under the write lock, with ``found`` read after the last pack written: codes for
    the items still without one (a lookup given twice is drawn for once, with the first
    item's sealed value: both seal the same value), or None. A first extract's batch is
    all new and all distinct: its keys and sealed values are then taken whole."""
    todo = [i for i, code in enumerate(found) if code is None]
    if not todo:
        return None
    whole = len(todo) == len(found) and len(set(lookups)) == len(lookups)
    firsts: list[int] | None = None
    if whole:
        new_keys = keys
    else:
        first: dict[str, int] = {}
        for i in todo:
            first.setdefault(lookups[i], i)
        firsts = list(first.values())
        new_keys = b"".join(keys[packs.KEY * i : packs.KEY * (i + 1)] for i in firsts)
        sealed = [sealed[i] for i in firsts]
    tokens = _draw(index, len(sealed), make)
    return _Draft(firsts, tokens, (ns, new_keys, *packs.encode(tokens, sealed)))


def _sealed_in(row: Sequence[Any], token: str) -> bytes | None:
    """The sealed value of ``token`` in one pack's (tokens, token_sizes, sealed,
    sealed_sizes), or None if the pack does not hold it."""
    toks = packs.split(bytes(row[0]), bytes(row[1]))
    want = token.encode()
    if want not in toks:
        return None
    return packs.split(bytes(row[2]), bytes(row[3]))[toks.index(want)]


class _Indexes:
    """The process's :class:`packs.Index` per (vault, namespace), shared by every vault
    object on one database: a Spark executor opens a ledger (and a vault) per task, and
    each task would otherwise read every code of the namespace again. A vault is known
    by the random id stored with its packs (``token_vault_meta``), so a database made
    anew at the same path is a new vault; an index ahead of its database (restored from
    a backup) is read again from scratch (:func:`_refresh`)."""

    #: indexes kept, and codes held in all of them together (~52 bytes a code: ~520 MB);
    #: past either, the least recently used go first (read again if asked for again)
    KEEP = 64
    CODES = 10_000_000

    def __init__(self) -> None:
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        # In a child, a lock another thread held at fork time would never be released.
        self._by: OrderedDict[tuple[str, bytes], packs.Index] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, vault: str, ns: bytes) -> packs.Index:
        with self._lock:
            index = self._by.get((vault, ns))
            if index is None:
                index = self._by[(vault, ns)] = packs.Index()
            else:
                self._by.move_to_end((vault, ns))
            # Many recipients each with many codes (a namespace per recipient) must not
            # hold memory without bound: evict by count and by codes held.
            held = sum(len(i) for i in self._by.values()) if len(self._by) > 1 else 0
            while len(self._by) > 1 and (len(self._by) > self.KEEP or held > self.CODES):
                _, oldest = self._by.popitem(last=False)
                held -= len(oldest)
            return index

    def drop(self, vault: str | None) -> None:
        """Forget ``vault``'s indexes (after an error midway, read them again)."""
        with self._lock:
            for key in [k for k in self._by if k[0] == vault]:
                del self._by[key]


_INDEXES = _Indexes()


def _vault_id(row: Sequence[Any] | None) -> str:
    if row is None:
        raise LedgerError(
            "token vault: its id is missing (table token_vault_meta)",
            hint="the ledger's database was altered by hand; restore it from a backup",
        )
    return str(row[0])


class _PackedVault:
    """``issue``, ``known`` and ``find`` over packs; a backend gives the connection
    (:meth:`_session`), the write lock (:meth:`_writing`) and its SQL placeholder."""

    #: the DB-API placeholder of the backend's driver
    _MARK = "?"
    #: the vault's id (token_vault_meta), read when the backend connects
    _id = ""

    def _session(self, what: str) -> AbstractContextManager[Any]:
        """A connection; database errors leave it as a LedgerError saying ``what``
        failed (and the process's indexes of this vault are read again next time)."""
        raise NotImplementedError

    def _writing(self, conn: Any, ns: bytes) -> AbstractContextManager[None]:
        """A transaction that holds the namespace's write lock until it commits."""
        raise NotImplementedError

    def _insert(self, conn: Any, values: tuple[bytes, ...]) -> int:
        raise NotImplementedError

    def _refresh(self, conn: Any, ns: bytes, index: packs.Index) -> None:
        """Read the packs of ``ns`` written since ``index`` last read."""
        top = conn.execute("SELECT max(id) FROM token_vault_pack").fetchone()[0] or 0
        if top < index.last:  # the database went back (a restored backup): read anew
            index.clear()
        m = self._MARK
        rows = conn.execute(
            "SELECT id, keys, tokens, token_sizes FROM token_vault_pack"  # noqa: S608
            f" WHERE ns = {m} AND id > {m} ORDER BY id",
            (ns, index.last),
        ).fetchall()
        for pack, keys, tokens, sizes in rows:
            index.add(int(pack), bytes(keys), packs.token_array(bytes(tokens), bytes(sizes)))

    def issue(
        self, namespace: str, items: Sequence[tuple[str, bytes]], make: Callable[[], str]
    ) -> list[str]:
        lookups = [lk for lk, _ in items]
        return self.issue_columns(namespace, lookups, [s for _, s in items], make)

    def issue_columns(
        self,
        namespace: str,
        lookups: Sequence[str],
        sealed: Sequence[bytes],
        make: Callable[[], str],
    ) -> list[str]:
        if len(lookups) != len(sealed):
            raise ValueError("as many sealed values as lookups are needed")
        if not lookups:
            return []

        def find(index: packs.Index, keys: bytes) -> tuple[list[str | None], bool]:
            found = index.find_many(keys)
            return found, None not in found

        def draft(ns: bytes, index: packs.Index, keys: bytes, found: Any) -> _Pending | None:
            d = _draft(ns, index, keys, lookups, sealed, found, make)
            if d is None:
                return None

            def settle(index: packs.Index, pack: int) -> Any:
                d.settle(index, pack, lookups, found)
                return found

            return d.values, settle

        out: list[str] = self._issued(namespace, lookups, find, draft)
        return out

    def issue_codes(
        self,
        namespace: str,
        lookups: Sequence[str],
        sealed: tuple[bytes, bytes],
        make: Any,
    ) -> Any:
        """:meth:`issue_columns` for a bulk job (numpy): the codes as a numpy bytes array,
        the values sealed as one blob and their sizes (:func:`cryptobatch.seal_aes_gcm_joined`),
        ``make`` with an ``array(n)`` method (:class:`veil.transforms.crypto._Drawn`). A
        batch all new and all distinct (a first extract's) is drawn, stored and indexed
        as arrays, with no Python object per code; any other goes through
        :meth:`issue_columns`' path."""
        blob, sizes = sealed
        if len(sizes) != 4 * len(lookups):
            raise ValueError("as many sealed values as lookups are needed")
        if not lookups:
            return np.zeros(0, dtype="S1")

        sort: list[Any] = []  # the keys' order (packs.key_order), sorted once

        def order(keys: bytes) -> Any:
            if not sort:
                sort.append(packs.key_order(keys))
            return sort[0]

        def find(index: packs.Index, keys: bytes) -> tuple[Any, bool]:
            placed = index.find_codes(keys, order(keys))
            return placed, bool((placed != b"").all())

        def draft(ns: bytes, index: packs.Index, keys: bytes, placed: Any) -> _Pending | None:
            if not (placed == b"").all() or not _distinct(keys, order(keys)):
                found = [None if not t else t.decode() for t in placed.tolist()]
                d = _draft(ns, index, keys, lookups, packs.split(blob, sizes), found, make)
                if d is None:
                    return None

                def settle_listed(index: packs.Index, pack: int) -> Any:
                    d.settle(index, pack, lookups, found)
                    return np.array([t.encode() for t in found], dtype=np.bytes_)  # type: ignore[union-attr]

                return d.values, settle_listed
            tokens, hashes = _draw_codes(index, len(lookups), make)
            filled = tokens.view(np.uint8).reshape(len(tokens), tokens.dtype.itemsize) != 0
            joined = tokens.view(np.uint8).reshape(filled.shape)[filled].tobytes()
            token_sizes = filled.sum(axis=1).astype(">u4").tobytes()
            values = (ns, keys, joined, token_sizes, blob, sizes)

            def settle(index: packs.Index, pack: int) -> Any:
                index.add(pack, keys, tokens, hashes, order(keys))
                return tokens

            return values, settle

        return self._issued(namespace, lookups, find, draft)

    def _issued(
        self,
        namespace: str,
        lookups: Sequence[str],
        find: Callable[[packs.Index, bytes], tuple[Any, bool]],
        draft: Callable[[bytes, packs.Index, bytes, Any], _Pending | None],
    ) -> Any:
        """The codes of ``lookups``: those stored found (``find``: the codes and whether
        all were there), the rest drawn (``draft``: a pack's column values and what adds
        it to the index once committed) under the namespace's write lock, after reading
        whatever another writer stored."""
        ns = _ns(namespace)
        keys = _keys(namespace, lookups)
        with self._session("issue tokens") as conn:
            index = _INDEXES.get(self._id, ns)
            with index.lock:
                self._refresh(conn, ns, index)
                found, complete = find(index, keys)
                if not complete:
                    pending: _Pending | None = None
                    with self._writing(conn, ns):
                        # Under the write lock: whatever another writer stored is read now.
                        seen = index.last
                        self._refresh(conn, ns, index)
                        if index.last != seen:
                            found, complete = find(index, keys)
                        pending = None if complete else draft(ns, index, keys, found)
                        if pending is not None:
                            pack = self._insert(conn, pending[0])
                    if pending is not None:  # committed: now the index may hold them
                        found = pending[1](index, pack)
        return found

    def known_codes(self, namespace: str, lookups: Sequence[str]) -> Any:
        """:meth:`known` as a numpy bytes array, ``b""`` where there is none (numpy)."""
        return self._read(namespace, lookups, packs.Index.find_codes)

    def known(self, namespace: str, lookups: Sequence[str]) -> list[str | None]:
        found: list[str | None] = self._read(namespace, lookups, packs.Index.find_many)
        return found

    def _read(
        self, namespace: str, lookups: Sequence[str], find: Callable[[packs.Index, bytes], Any]
    ) -> Any:
        ns = _ns(namespace)
        keys = _keys(namespace, lookups)
        with self._session("read tokens") as conn:
            index = _INDEXES.get(self._id, ns)
            with index.lock:
                self._refresh(conn, ns, index)
                return find(index, keys)

    def find(self, namespace: str, token: str) -> bytes | None:
        ns = _ns(namespace)
        with self._session("read a token") as conn:
            index = _INDEXES.get(self._id, ns)
            with index.lock:
                self._refresh(conn, ns, index)
                candidates = index.packs_of(token)
            for pack in candidates:
                row = conn.execute(
                    "SELECT tokens, token_sizes, sealed, sealed_sizes FROM token_vault_pack"  # noqa: S608
                    f" WHERE id = {self._MARK}",
                    (pack,),
                ).fetchone()
                hit = _sealed_in(row, token) if row else None
                if hit is not None:
                    return hit
        return None


class SQLiteVault(_PackedVault):
    """The vault in a SQLite ledger file; one connection per thread.

    Codes live in packs (``veil.ledger.packs``): one row per call that issued new codes,
    found again through an index in this process's memory, read incrementally. A call
    with new codes re-reads, draws and writes under SQLite's write lock (``BEGIN
    IMMEDIATE``), so the first writer of a value wins and everyone else reads its code.
    Rows of the earlier one-row-per-code table are packed on first use."""

    def __init__(self, path: str | os.PathLike[str], *, busy_timeout: float = 10.0) -> None:
        self.path = Path(path)
        self._busy = busy_timeout
        self._local = threading.local()
        self._ready = False
        self._lock = threading.Lock()

    def _conn(self) -> sqlite3.Connection:
        if not files.database_writable(self.path):  # see veil.ledger.files: no SIGBUS
            held = getattr(self._local, "conn", None)
            if held is not None:
                files.never_close(held)  # closing it now would write the mapping
                self._local.conn = None
            raise LedgerError(
                f"token vault in ledger {self.path}: a ledger file does not take writes",
                hint="check the file's permissions and attributes (lsattr: i)",
            )
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != os.getpid():
            conn = sqlite3.connect(self.path, timeout=self._busy, isolation_level=None)
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy * 1000)}")
            conn.execute("PRAGMA journal_mode = WAL")
            # Durable with the ledger event that follows (same WAL, synced in full then).
            conn.execute("PRAGMA synchronous = NORMAL")
            self._local.conn, self._local.pid = conn, os.getpid()
        if not self._ready:
            with self._lock:
                if not self._ready:
                    conn.executescript(_SQLITE_SCHEMA)
                    self._id = _vault_id(conn.execute(_VAULT_ID).fetchone())
                    self._pack_old_rows(conn)
                    self._ready = True
        return conn

    @contextmanager
    def _session(self, what: str) -> Iterator[sqlite3.Connection]:
        try:
            yield self._conn()
        except sqlite3.Error as exc:
            _INDEXES.drop(self._id)
            raise LedgerError(
                f"token vault in ledger {self.path}: could not {what} ({type(exc).__name__})",
                hint="nothing was disclosed; check the ledger file, then retry",
            ) from None

    @contextmanager
    def _writing(self, conn: sqlite3.Connection, ns: bytes) -> Iterator[None]:
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            conn.execute("COMMIT")
        except BaseException:
            with suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise

    def _insert(self, conn: sqlite3.Connection, values: tuple[bytes, ...]) -> int:
        pack = conn.execute(_INSERT_PACK_SQLITE, values).lastrowid
        assert pack is not None
        return pack

    def _pack_old_rows(self, conn: sqlite3.Connection) -> None:
        """Move codes of the one-row-per-code table (veil before packs) into packs, in one
        transaction; a code whose value a pack already holds is dropped (the pack's code
        is the one this version gives out)."""
        old = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'token_vault'"
        if conn.execute(old).fetchone() is None:
            return
        if conn.execute("SELECT 1 FROM token_vault LIMIT 1").fetchone() is None:
            return
        with self._writing(conn, b""):
            spaces = conn.execute("SELECT DISTINCT ns FROM token_vault").fetchall()
            for (ns,) in spaces:
                index = packs.Index()  # this connection's view, not the shared one
                self._refresh(conn, bytes(ns), index)
                rows = conn.execute(
                    "SELECT key, token, sealed FROM token_vault WHERE ns = ? ORDER BY key", (ns,)
                ).fetchall()
                known = index.lookup([bytes(r[0]) for r in rows])
                rows = [(bytes(k), str(t), bytes(s)) for k, t, s in rows if bytes(k) not in known]
                for i in range(0, len(rows), _PACK_ROWS):
                    self._insert(conn, _pack_rows(bytes(ns), rows[i : i + _PACK_ROWS]))
            conn.execute("DELETE FROM token_vault")


class PostgresVault(_PackedVault):
    """The vault in a PostgreSQL ledger's schema; one connection behind a lock.

    Packs as in :class:`SQLiteVault`; the write lock is a transaction-scoped advisory
    lock per (schema, namespace), so a namespace's packs commit in the order of their ids
    and an incremental read never skips one."""

    _MARK = "%s"

    def __init__(self, params: dict[str, Any], schema: str, location: str) -> None:
        self._params = params
        self.schema = schema
        self.location = location
        self._lock = threading.Lock()
        self._conn: Any = None
        self._pid = os.getpid()

    def _connect(self) -> Any:
        import psycopg
        from psycopg import sql

        if self._conn is not None and (self._pid != os.getpid() or self._conn.broken):
            self._conn = None
        if self._conn is None:
            conn = psycopg.connect(**self._params, autocommit=True)
            conn.execute(
                "SELECT set_config('search_path', %s, false),"
                " set_config('synchronous_commit', 'off', false)",
                (sql.Identifier(self.schema).as_string(conn),),
            )
            self._id = _vault_id(conn.execute(_VAULT_ID).fetchone())
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    @contextmanager
    def _session(self, what: str) -> Iterator[Any]:
        import psycopg

        with self._lock:
            try:
                yield self._connect()
            except psycopg.Error as exc:
                self._conn = None
                _INDEXES.drop(self._id)
                state = getattr(exc, "sqlstate", None)
                code = f", SQLSTATE {state}" if state else ""
                raise LedgerError(
                    f"token vault at {self.location} (schema {self.schema}): could not {what} "
                    f"({type(exc).__name__}{code})",
                    hint="nothing was disclosed; check that PostgreSQL is reachable, then retry",
                ) from None

    @contextmanager
    def _writing(self, conn: Any, ns: bytes) -> Iterator[None]:
        digest = hashlib.sha256(self.schema.encode() + b"\0vault\0" + ns).digest()
        with conn.transaction():
            conn.execute(
                "SELECT pg_advisory_xact_lock(%s)",
                (int.from_bytes(digest[:8], "big", signed=True),),
            )
            yield

    def _insert(self, conn: Any, values: tuple[bytes, ...]) -> int:
        return int(conn.execute(_INSERT_PACK_PG, values).fetchone()[0])


#: One vault per ledger object, dropped with it (ids are reused after collection).
_VAULTS: weakref.WeakKeyDictionary[Any, TokenVault] = weakref.WeakKeyDictionary()
_VAULTS_LOCK = threading.Lock()


def vault_for(ledger: Any) -> TokenVault | None:
    """The vault that lives in ``ledger``'s database (one per ledger object), or None for
    a ledger without a database (an in-memory test ledger). Wrappers (timing, async
    appenders) are looked through via their ``inner``/``ledger`` attribute."""
    for _ in range(8):
        if ledger is None:
            return None
        with _VAULTS_LOCK:
            hit = _VAULTS.get(ledger)
        if hit is not None:
            return hit
        made = getattr(ledger, "token_vault", None)
        if callable(made):
            vault: TokenVault = made()
            with _VAULTS_LOCK:
                return _VAULTS.setdefault(ledger, vault)
        ledger = getattr(ledger, "inner", None) or getattr(ledger, "ledger", None)
    return None


class MemoryVault:
    """A vault in memory, for policy tests and dry runs: codes live as long as the process."""

    def __init__(self) -> None:
        self._by_lookup: dict[tuple[str, str], str] = {}
        self._sealed: dict[tuple[str, str], bytes] = {}
        self._lock = threading.Lock()

    def issue(
        self, namespace: str, items: Sequence[tuple[str, bytes]], make: Callable[[], str]
    ) -> list[str]:
        out = []
        with self._lock:
            for lookup, sealed in items:
                token = self._by_lookup.get((namespace, lookup))
                if token is None:
                    token = make()
                    while (namespace, token) in self._sealed:
                        token = make()
                    self._by_lookup[(namespace, lookup)] = token
                    self._sealed[(namespace, token)] = sealed
                out.append(token)
        return out

    def issue_columns(
        self,
        namespace: str,
        lookups: Sequence[str],
        sealed: Sequence[bytes],
        make: Callable[[], str],
    ) -> list[str]:
        # (zip's strict mode refuses lists of two lengths, before anything is stored)
        return self.issue(namespace, list(zip(lookups, sealed, strict=True)), make)

    def known(self, namespace: str, lookups: Sequence[str]) -> list[str | None]:
        with self._lock:
            return [self._by_lookup.get((namespace, lk)) for lk in lookups]

    def find(self, namespace: str, token: str) -> bytes | None:
        with self._lock:
            return self._sealed.get((namespace, token))
