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

Concurrency: the first writer of a ``(namespace, lookup)`` wins (``ON CONFLICT DO
NOTHING``); every writer then reads the stored code back, so two processes issuing a
code for the same value at once agree on one.

The table lives in the ledger's SQLite file (created on first use; SQLite serializes
that) or its PostgreSQL schema (ledger migration 3).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import weakref
from collections.abc import Callable, Sequence
from contextlib import suppress
from pathlib import Path
from typing import Any

from ..errors import LedgerError
from ..transforms.base import TokenVault
from . import files

#: Items per statement (SQLite allows 32,766 parameters; four per item).
_CHUNK = 2000

_SQLITE_SCHEMA = """
CREATE TABLE IF NOT EXISTS token_vault (
    key BLOB PRIMARY KEY,
    ns BLOB NOT NULL,
    token TEXT NOT NULL,
    sealed BLOB NOT NULL
) WITHOUT ROWID;
CREATE UNIQUE INDEX IF NOT EXISTS token_vault_token ON token_vault (ns, token);
"""

#: PostgreSQL migration 3 of the ledger schema (``veil.ledger.postgres.MIGRATIONS``): made
#: with the ledger, under its advisory lock, so concurrent first uses do not race.
PG_VAULT_SCHEMA = """
CREATE TABLE IF NOT EXISTS token_vault (
    key bytea PRIMARY KEY,
    ns bytea NOT NULL,
    token text COLLATE "C" NOT NULL,
    sealed bytea NOT NULL
);
CREATE UNIQUE INDEX IF NOT EXISTS token_vault_token ON token_vault (ns, token);
"""


def _ns(namespace: str) -> bytes:
    """A namespace's short id in the table (8 bytes of SHA-256: rows stay small)."""
    return hashlib.sha256(namespace.encode()).digest()[:8]


def _keys(namespace: str, lookups: Sequence[str]) -> dict[str, bytes]:
    """Each value's row key: the first 16 bytes of SHA-256 of namespace, NUL, lookup (a
    collision would need 2**64 values in one table); the namespace's part hashed once and
    copied. Stored vaults depend on this formula: it must not change."""
    head = hashlib.sha256(namespace.encode() + b"\0")
    out = {}
    for lk in lookups:
        h = head.copy()
        h.update(lk.encode())
        out[lk] = h.digest()[:16]
    return out


#: Attempts at drawing a code that no other value of the namespace has (a collision of
#: random codes is astronomically rare at 16 base32 characters; this bounds the loop).
_DRAWS = 8
#: values a vault call looks up first, to tell a first extract (none known) from a repeat
_PROBE = 64


def _insert_all(
    insert: Callable[[tuple[bytes, bytes, str, bytes]], bool],
    stored: Callable[[bytes], bool],
    ns: bytes,
    missing: Sequence[tuple[bytes, bytes]],
    make: Callable[[], str],
) -> None:
    """Store a fresh code for each missing ``(key, sealed)``. ``insert`` returns whether
    the row went in; when it did not, either another writer stored this key first
    (``stored``: done, its code wins) or the drawn code was taken: draw again."""
    for key, sealed in missing:
        for _ in range(_DRAWS):
            if insert((key, ns, make(), sealed)) or stored(key):
                break
        else:
            raise LedgerError("could not draw a unique token", hint="retry")


class SQLiteVault:
    """The vault in a SQLite ledger file; one connection per thread."""

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
            # Codes are random, so their index pages are touched at random: a larger page
            # cache (64 MiB) keeps a first extract of a million patients off the disk.
            conn.execute("PRAGMA cache_size = -65536")
            self._local.conn, self._local.pid = conn, os.getpid()
        if not self._ready:
            with self._lock:
                if not self._ready:
                    conn.executescript(_SQLITE_SCHEMA)
                    self._ready = True
        return conn

    def _fail(self, what: str, exc: BaseException) -> LedgerError:
        return LedgerError(
            f"token vault in ledger {self.path}: could not {what} ({type(exc).__name__})",
            hint="nothing was disclosed; check the ledger file, then retry",
        )

    def issue(
        self, namespace: str, items: Sequence[tuple[str, bytes]], make: Callable[[], str]
    ) -> list[str]:
        if not items:
            return []
        ns = _ns(namespace)
        keys = _keys(namespace, [lk for lk, _ in items])
        try:
            conn = self._conn()
            wanted = list(keys.values())
            # A first extract brings values the vault has never seen: when a sample finds
            # none, skip reading the rest back and insert them all at once (a row that
            # was there after all is read back below, as after any conflict).
            probe = wanted if len(wanted) <= _PROBE else wanted[:: len(wanted) // _PROBE]
            found = self._select(conn, probe)
            if found or len(wanted) <= _PROBE:
                found = self._select(conn, wanted) if len(wanted) > _PROBE else found
            missing = [(keys[lk], s) for lk, s in dict(items).items() if keys[lk] not in found]
            if missing:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    sql = (
                        "INSERT INTO token_vault(key, ns, token, sealed) VALUES (?, ?, ?, ?)"
                        " ON CONFLICT DO NOTHING"
                    )
                    # One statement for all (a C loop). When every row went in, the codes
                    # are the ones drawn; otherwise the stored ones are read back and the
                    # rare rows that drew a taken code are settled one by one.
                    # In key order: the rows land on neighbouring pages of the key index
                    # instead of all over it (a third less time once the vault holds
                    # several extracts' codes).
                    rows = [(key, ns, make(), s) for key, s in sorted(missing)]
                    before = conn.total_changes
                    conn.executemany(sql, rows)
                    if conn.total_changes - before == len(rows):
                        found.update({r[0]: r[2] for r in rows})
                    else:
                        found.update(self._select(conn, [k for k, _ in missing]))
                        _insert_all(
                            lambda row: conn.execute(sql, row).rowcount == 1,
                            lambda k: bool(self._select(conn, [k])),
                            ns,
                            [(k, s) for k, s in missing if k not in found],
                            make,
                        )
                        found.update(self._select(conn, [k for k, _ in missing]))
                    conn.execute("COMMIT")
                except BaseException:
                    with suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                    raise
        except LedgerError:
            raise
        except sqlite3.Error as exc:
            raise self._fail("issue tokens", exc) from None
        return [found[keys[lk]] for lk, _ in items]

    @staticmethod
    def _select(conn: sqlite3.Connection, keys: list[bytes]) -> dict[bytes, str]:
        out: dict[bytes, str] = {}
        for i in range(0, len(keys), _CHUNK):
            part = keys[i : i + _CHUNK]
            marks = ",".join("?" * len(part))
            rows = conn.execute(
                f"SELECT key, token FROM token_vault WHERE key IN ({marks})",  # noqa: S608
                part,
            )
            out.update(rows.fetchall())
        return out

    def find(self, namespace: str, token: str) -> bytes | None:
        try:
            row = (
                self._conn()
                .execute(
                    "SELECT sealed FROM token_vault WHERE ns = ? AND token = ?",
                    (_ns(namespace), token),
                )
                .fetchone()
            )
        except sqlite3.Error as exc:
            raise self._fail("read a token", exc) from None
        return bytes(row[0]) if row else None


class PostgresVault:
    """The vault in a PostgreSQL ledger's schema; one connection behind a lock."""

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
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    def _fail(self, what: str, exc: BaseException) -> LedgerError:
        state = getattr(exc, "sqlstate", None)
        code = f", SQLSTATE {state}" if state else ""
        return LedgerError(
            f"token vault at {self.location} (schema {self.schema}): could not {what} "
            f"({type(exc).__name__}{code})",
            hint="nothing was disclosed; check that PostgreSQL is reachable, then retry",
        )

    def issue(
        self, namespace: str, items: Sequence[tuple[str, bytes]], make: Callable[[], str]
    ) -> list[str]:
        import psycopg

        if not items:
            return []
        ns = _ns(namespace)
        keys = _keys(namespace, [lk for lk, _ in items])
        with self._lock:
            try:
                conn = self._connect()
                found = self._select(conn, list(keys.values()))
                missing = [(keys[lk], s) for lk, s in dict(items).items() if keys[lk] not in found]
                if missing:
                    with conn.transaction():
                        sql = (
                            "INSERT INTO token_vault (key, ns, token, sealed)"
                            " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING"
                        )
                        with conn.cursor() as cur:  # pipelined: one round trip per batch
                            cur.executemany(sql, [(k, ns, make(), s) for k, s in missing])
                        found.update(self._select(conn, [k for k, _ in missing]))
                        _insert_all(
                            lambda row: conn.execute(sql, row).rowcount == 1,
                            lambda k: bool(self._select(conn, [k])),
                            ns,
                            [(k, s) for k, s in missing if k not in found],
                            make,
                        )
                        found.update(self._select(conn, [k for k, _ in missing if k not in found]))
            except psycopg.Error as exc:
                self._conn = None
                raise self._fail("issue tokens", exc) from None
        return [found[keys[lk]] for lk, _ in items]

    @staticmethod
    def _select(conn: Any, keys: list[bytes]) -> dict[bytes, str]:
        if not keys:
            return {}
        rows = conn.execute(
            "SELECT key, token FROM token_vault WHERE key = ANY(%s)", (keys,)
        ).fetchall()
        return {bytes(r[0]): str(r[1]) for r in rows}

    def find(self, namespace: str, token: str) -> bytes | None:
        import psycopg

        with self._lock:
            try:
                row = (
                    self._connect()
                    .execute(
                        "SELECT sealed FROM token_vault WHERE ns = %s AND token = %s",
                        (_ns(namespace), token),
                    )
                    .fetchone()
                )
            except psycopg.Error as exc:
                self._conn = None
                raise self._fail("read a token", exc) from None
        return bytes(row[0]) if row else None


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

    def find(self, namespace: str, token: str) -> bytes | None:
        with self._lock:
            return self._sealed.get((namespace, token))
