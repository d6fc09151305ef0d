"""The SQLite ledger: one file, WAL mode, every append durable before it returns.

Appends run in ``BEGIN IMMEDIATE``, which takes SQLite's write lock, so writers in any
thread or process are serialized and the chain stays linear. Each thread gets its own
connection (and a forked child opens fresh ones). Errors never quote event contents:
a message names the ledger file and what failed.

Schema: ``meta`` (schema version, whether the chain is keyed, a key check, and the head
as a tripwire against cutting events off the end), ``events`` (the hashed canonical
body plus copies of a few of its fields for querying) and ``event_subjects`` (whose
data each event disclosed, keyed by subject for accounting).

The ledger logic is shared with PostgreSQL in :mod:`veil.ledger.store`; this module adds
the connections, the write transaction, the inserts, the schema and its migrations, the
error hints and how ``verify`` reads the file.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from ..errors import ConfigError, LedgerError, TamperDetected
from . import files, store
from .base import StoredEvent, VerifyReport
from .chain import ChainRow, verify_chain
from .store import BULK_SUBJECTS  # re-exported: callers import it from here
from .vault import SQLiteVault

__all__ = ["BULK_SUBJECTS", "SCHEMA_VERSION", "SQLiteLedger"]

SCHEMA_VERSION = 3
#: Rows per page when listing events and when verifying.
_PAGE = 500

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE events (
    seq INTEGER PRIMARY KEY,
    event_id TEXT UNIQUE NOT NULL,
    time TEXT NOT NULL,
    kind TEXT,
    recipient TEXT,
    purpose TEXT,
    dataset TEXT,
    body TEXT NOT NULL,
    subjects_digest TEXT NOT NULL,
    prev_hash TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX events_time ON events(time);
CREATE TABLE event_subjects (
    event_id TEXT NOT NULL,
    data_subject_id TEXT NOT NULL,
    PRIMARY KEY (data_subject_id, event_id)
) WITHOUT ROWID;
CREATE INDEX event_subjects_event ON event_subjects(event_id);
CREATE TABLE event_subject_sets (
    event_id TEXT PRIMARY KEY,
    count INTEGER NOT NULL,
    data BLOB NOT NULL
);
CREATE INDEX events_break_glass ON events(seq) WHERE json_extract(body, '$.break_glass.used') = 1;
"""

#: Schema changes from each version to the next, applied when a ledger is opened.
_MIGRATIONS = {
    1: "CREATE TABLE event_subject_sets ("
    " event_id TEXT PRIMARY KEY, count INTEGER NOT NULL, data BLOB NOT NULL)",
    # the break-glass review reads these few events out of millions (partial index)
    2: "CREATE INDEX events_break_glass ON events(seq)"
    " WHERE json_extract(body, '$.break_glass.used') = 1",
}

#: ``event_id`` of the events that disclosed a subject, whichever way they store it.
_EVENTS_OF_SUBJECT = (
    "SELECT event_id FROM event_subjects WHERE data_subject_id = ?"
    " UNION ALL SELECT event_id FROM event_subject_sets WHERE veil_has_subject(data, ?)"
)

_EVENT_ROW = "(?,?,?,?,?,?,?,?,?,?,?)"
#: events per INSERT statement (11 parameters each; SQLite allows 32766 per statement)
_ROWS_PER_INSERT = 500


def _hint(exc: sqlite3.Error) -> str:
    text = str(exc).lower()
    if "locked" in text or "busy" in text:
        return "another process held the ledger's write lock too long; retry, or raise busy_timeout"
    if "unable to open" in text or "readonly" in text or "read-only" in text:
        return "check that the ledger's directory exists and is writable by this user"
    if "full" in text:
        return "free disk space on the ledger's volume"
    if "not a database" in text or "malformed" in text:
        return "the file is not an intact veil ledger; restore it from a backup"
    return "check the ledger file and its directory, then run `veil audit verify`"


def _parts(rows: list[tuple[Any, ...]], n: int) -> Iterator[list[tuple[Any, ...]]]:
    for i in range(0, len(rows), n):
        yield rows[i : i + n]


def _flat(rows: list[tuple[Any, ...]]) -> list[Any]:
    return [v for r in rows for v in r]


def _pack(sorted_unique: list[str]) -> bytes | None:
    """:func:`~veil.ledger.store.join_subjects`, compressed (SQLite stores it as is)."""
    raw = store.join_subjects(sorted_unique)
    return None if raw is None else zlib.compress(raw, 1)


def _unpack(blob: bytes) -> list[str]:
    return store.split_subjects(zlib.decompress(blob))


def _has_subject(blob: bytes | None, subject: str | None) -> bool:
    """SQL function ``veil_has_subject(data, id)``: a substring search, no split."""
    if blob is None or subject is None:
        return False
    return store.subject_needle(subject) in zlib.decompress(blob)


#: Seconds an append waits for another writer's lock before it fails (503, nothing
#: disclosed): well under an HTTP client's deadline, far above a normal commit.
BUSY_TIMEOUT = 5.0


def wal_mode(conn: sqlite3.Connection, seconds: float) -> None:
    """``PRAGMA journal_mode = WAL``, retried for up to ``seconds`` while the database is
    locked. Switching a new database to WAL takes an exclusive lock, and when two
    processes that each hold a shared lock ask for it at once, SQLite answers one of
    them "database is locked" at once instead of waiting (its deadlock rule: the busy
    timeout is not used). Retried from scratch the lock is free: four processes creating
    one ledger at the same moment failed one run in tens without it."""
    deadline = time.monotonic() + seconds
    pause = 0.005
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            if time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.1)


class SQLiteLedger(store.SQLLedger[sqlite3.Connection]):
    """A ledger in one SQLite file. ``key`` makes the chain an HMAC chain.

    The file remembers whether it is keyed: opening a keyed ledger without its key, with
    another key, or an unkeyed ledger with a key raises :class:`ConfigError`. The parent
    directory must exist (:func:`veil.ledger.open_ledger` creates it).
    """

    _MARK = "?"
    #: the partial index's expression, written the same way so the planner uses it
    _BREAK_GLASS = "json_extract(e.body, '$.break_glass.used') = 1"
    _NEW_CHAIN = "start a new ledger file to use a keyed chain"

    def __init__(
        self,
        path: str | os.PathLike[str],
        key: bytes | None = None,
        *,
        busy_timeout: float = BUSY_TIMEOUT,
    ) -> None:
        self.path = Path(path)
        super().__init__(f"ledger {self.path}", key)
        self._busy_timeout = busy_timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        self._conns: list[tuple[int, sqlite3.Connection]] = []
        self._json = False
        self._init_schema()

    # -- connections -------------------------------------------------------------------

    @contextmanager
    def _guard(self, what: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise LedgerError(f"{self._name}: could not {what}: {exc}", hint=_hint(exc)) from exc

    def _conn(self) -> sqlite3.Connection:
        self._check_open()
        # Every operation, reads too, writes SQLite's memory-mapped -shm index: check the
        # files first (a few system calls), so an immutable file fails the call, not the
        # process (SIGBUS).
        self._check_writable()
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None or self._local.pid != os.getpid():
            with self._guard("open the database"):
                conn = sqlite3.connect(
                    self.path,
                    timeout=self._busy_timeout,
                    isolation_level=None,
                    check_same_thread=False,
                )
                try:
                    conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")
                    wal_mode(conn, self._busy_timeout)
                    conn.execute("PRAGMA synchronous = FULL")
                    conn.create_function("veil_has_subject", 2, _has_subject, deterministic=True)
                except sqlite3.Error:
                    conn.close()
                    raise
            self._local.conn, self._local.pid = conn, os.getpid()
            with self._lock:
                self._conns.append((os.getpid(), conn))
        return conn

    def _query(self, what: str, query: str, params: Sequence[Any]) -> list[Any]:
        with self._guard(what):
            return self._conn().execute(query, params).fetchall()

    def _init_schema(self) -> None:
        try:
            conn = self._conn()
            with self._guard("read the ledger schema"):
                meta = self._read_meta(conn)
                if meta is None:
                    conn.execute("BEGIN IMMEDIATE")
                    try:
                        meta = self._read_meta(conn)
                        if meta is None:
                            meta = self._create(conn)
                        conn.execute("COMMIT")
                    except BaseException:
                        with suppress(sqlite3.Error):
                            conn.execute("ROLLBACK")
                        raise
                meta = self._migrate(conn, meta)
            self._check_meta(meta)
            try:
                conn.execute("SELECT count(*) FROM json_each('[]')")
                self._json = True
            except sqlite3.OperationalError:  # SQLite built without JSON support
                self._json = False
        except BaseException:
            self.close()
            raise

    def _migrate(self, conn: sqlite3.Connection, meta: dict[str, str]) -> dict[str, str]:
        """Bring an older ledger's schema up to date, one version at a time, atomically."""
        version = int(meta.get("schema_version", "0"))
        if version not in _MIGRATIONS:
            return meta
        conn.execute("BEGIN IMMEDIATE")
        try:
            meta = self._read_meta(conn) or meta  # another process may have migrated it
            version = int(meta.get("schema_version", "0"))
            while version in _MIGRATIONS:
                conn.execute(_MIGRATIONS[version])
                version += 1
            conn.execute("UPDATE meta SET value = ? WHERE key = 'schema_version'", (str(version),))
            conn.execute("COMMIT")
        except BaseException:
            with suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
            raise
        return {**meta, "schema_version": str(version)}

    def _read_meta(self, conn: sqlite3.Connection) -> dict[str, str] | None:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if "meta" not in tables:
            if tables:
                raise ConfigError(
                    f"{self.path} is an SQLite database but not a veil ledger",
                    hint="point the ledger setting at a new file or an existing veil ledger",
                )
            return None
        return {k: v for k, v in conn.execute("SELECT key, value FROM meta")}

    def _create(self, conn: sqlite3.Connection) -> dict[str, str]:
        for stmt in _SCHEMA.split(";"):
            if stmt.strip():
                conn.execute(stmt)
        meta = {"schema_version": str(SCHEMA_VERSION), **store.new_meta(self._key)}
        conn.executemany("INSERT INTO meta(key, value) VALUES (?, ?)", meta.items())
        return meta

    def _check_meta(self, meta: dict[str, str]) -> None:
        version = int(meta.get("schema_version", "0"))
        if version != SCHEMA_VERSION:
            raise ConfigError(
                f"{self._name} has schema version {version}; this veil reads "
                f"version {SCHEMA_VERSION}",
                hint="use the veil release that wrote this ledger",
            )
        super()._check_meta(meta)

    def _check_writable(self) -> None:
        """Refuse to write when a ledger file cannot take writes (immutable, append-only or
        read-only). SQLite maps the ``-shm`` index into memory: a write to it after it was
        made immutable killed the process with SIGBUS instead of failing the append."""
        for suffix in ("", "-wal", "-shm"):
            f = f"{self.path}{suffix}"
            if not files.writable(f):
                raise LedgerError(
                    f"{self._name}: could not append the event: a ledger file "
                    f"({Path(f).name}) does not take writes",
                    hint="check the file's permissions and attributes (lsattr: i)",
                )

    def token_vault(self) -> SQLiteVault:
        """The token vault in this ledger's file (random re-identification codes)."""
        return SQLiteVault(self.path, busy_timeout=self._busy_timeout)

    def close(self) -> None:
        """Close the connections this process opened. Later calls raise :class:`LedgerError`.

        Connections inherited across ``fork`` are left alone: closing them in the child
        could disturb the parent's locks.
        """
        self._closed = True
        with self._lock:
            conns, self._conns = self._conns, []
        closable = files.database_writable(self.path)
        for pid, conn in conns:
            if pid != os.getpid():
                continue
            if not closable:
                # Closing writes the -shm mapping: on an immutable file that is SIGBUS. Keep
                # the connection for the life of the process; the OS releases it at exit.
                files.never_close(conn)
                continue
            with suppress(sqlite3.Error):
                conn.close()

    # -- writing -----------------------------------------------------------------------

    @staticmethod
    def _bind_time(text: str) -> str:
        return text

    def write_batch(self, batch: Sequence[store.Pending]) -> list[StoredEvent | BaseException]:
        """One transaction for ``batch``: chain each event after the previous, then commit.

        Returns one stored event per item, or the exception that failed that item; if it
        raises, nothing of the batch was recorded.
        """
        conn = self._conn()
        links: list[store.Link] = []
        self._check_writable()
        with self._guard("append the event"):
            conn.execute("BEGIN IMMEDIATE")
            try:
                out = self._chain(conn, batch, links.append, lambda: self._insert(conn, links))
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    with suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                raise
        return out

    def _insert(self, conn: sqlite3.Connection, links: list[store.Link]) -> None:
        # A statement per table, not per event: each statement hands the GIL back and
        # forth with the event loop's thread, and under load a hand-back can wait a switch
        # interval (5 ms).
        rows = [link.row() for link in links]
        for part in _parts(rows, _ROWS_PER_INSERT):
            conn.execute(store.INSERT_EVENTS + ",".join([_EVENT_ROW] * len(part)), _flat(part))
        self._insert_subjects(
            conn, [(lk.pending.event.event_id, lk.pending.subjects) for lk in links]
        )

    def _known_ids(self, conn: sqlite3.Connection, ids: list[str]) -> dict[str, int]:
        marks = ",".join("?" * len(ids))
        rows = conn.execute(f"SELECT event_id, seq FROM events WHERE event_id IN ({marks})", ids)  # noqa: S608
        return {r[0]: r[1] for r in rows}

    def _stored_subjects(self, conn: sqlite3.Connection, event_id: str, seq: int) -> list[str]:
        rows = conn.execute(
            "SELECT data_subject_id FROM event_subjects WHERE event_id = ?"
            " ORDER BY data_subject_id",
            (event_id,),
        ).fetchall()
        return [r[0] for r in rows]

    def _insert_subjects(
        self, conn: sqlite3.Connection, events: list[tuple[str, list[str]]]
    ) -> None:
        """The data subjects of ``events`` (event id, sorted unique ids): bulk sets one by
        one, every other (event, subject) pair of the batch in one statement."""
        pairs: list[tuple[str, str]] = []
        for eid, subjects in events:
            packed = _pack(subjects)
            if packed is not None:
                conn.execute(
                    "INSERT INTO event_subject_sets(event_id, count, data) VALUES (?, ?, ?)",
                    (eid, len(subjects), packed),
                )
            else:
                pairs.extend((eid, s) for s in subjects)
        if not pairs:
            return
        if self._json and not any("\x00" in e or "\x00" in s for e, s in pairs):
            # (json_each would cut an id at a NUL; executemany binds it whole)
            # One statement decoding a JSON array in C: ~2x faster than executemany.
            conn.execute(
                "INSERT INTO event_subjects(event_id, data_subject_id)"
                " SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]')"
                " FROM json_each(?)",
                (json.dumps(pairs, ensure_ascii=False),),
            )
        else:
            conn.executemany(
                "INSERT INTO event_subjects(event_id, data_subject_id) VALUES (?, ?)", pairs
            )

    # -- reading -----------------------------------------------------------------------

    def _page_size(self) -> int:
        return _PAGE

    def _of_subject(self, subject: str) -> tuple[str, list[Any]]:
        return f"e.event_id IN ({_EVENTS_OF_SUBJECT})", [subject, subject]

    def subjects_of(self, event_id: str) -> Sequence[str]:
        """The data-subject ids of one event, sorted."""
        return self._subjects(self._conn(), event_id)

    def _subjects(self, conn: sqlite3.Connection, event_id: str) -> list[str]:
        with self._guard("read data subjects"):
            rows = conn.execute(
                "SELECT data_subject_id FROM event_subjects WHERE event_id = ?"
                " ORDER BY data_subject_id",
                (event_id,),
            ).fetchall()
            packed = conn.execute(
                "SELECT data FROM event_subject_sets WHERE event_id = ?", (event_id,)
            ).fetchone()
        subjects = [r[0] for r in rows]
        if packed is not None:
            try:
                unpacked = _unpack(packed[0])
            except (zlib.error, UnicodeDecodeError):
                raise TamperDetected(
                    f"{self._name}: the stored data-subject set of event {event_id} is damaged",
                    hint="run `veil audit verify` to see what was changed",
                ) from None
            subjects = sorted(subjects + unpacked) if subjects else unpacked
        return subjects

    def _page_subjects(self, seq: int, body: str) -> Sequence[str]:
        try:
            eid = json.loads(body)["event_id"]
        except (ValueError, KeyError, TypeError):
            return ()
        return self.subjects_of(str(eid))

    # -- verification ------------------------------------------------------------------

    def verify(self, *, anchor: tuple[int, str] | None = None) -> VerifyReport:
        """Recheck the whole chain, its subject rows and its columns; never raises on tamper.

        ``anchor`` is a ``(seq, hash)`` from :meth:`head` recorded elsewhere. Without one,
        the head stored in the file itself is used: a tripwire, not a proof, since whoever
        can cut events off the end can also rewrite it.
        """
        if anchor is None:
            anchor = store.recorded_head(
                self._query("read the recorded head", store.RECORDED_HEAD_SQL, ())
            )
        report = verify_chain(self._rows(), self._key, anchor=anchor)
        report.keyed = self.keyed
        orphans = self._query(
            "check data-subject rows",
            "SELECT event_id, count(*) FROM event_subjects WHERE event_id NOT IN"
            " (SELECT event_id FROM events) GROUP BY event_id"
            " UNION ALL SELECT event_id, count FROM event_subject_sets"
            " WHERE event_id NOT IN (SELECT event_id FROM events) ORDER BY 1",
            (),
        )
        for eid, count in orphans:
            report.problems.append(store.orphan_problem(0, str(eid), count, f"event {eid}"))
        return report

    def _rows(self) -> Iterator[ChainRow]:
        sql = (
            "SELECT seq, event_id, body, subjects_digest, prev_hash, hash,"
            " time, kind, recipient, purpose, dataset"
            " FROM events WHERE seq > ? ORDER BY seq LIMIT ?"
        )
        cursor = -(2**63)
        while True:
            rows = self._query("read events for verification", sql, (cursor, _PAGE))
            for row in rows:
                try:
                    subjects: list[str] | None = self._subjects(self._conn(), row[1])
                except TamperDetected:  # a damaged subject set: reported, not raised
                    subjects = None
                yield store.chain_row(row, subjects)
            if len(rows) < _PAGE:
                return
            cursor = rows[-1][0]
