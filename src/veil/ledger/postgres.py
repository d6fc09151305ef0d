"""The PostgreSQL ledger: the SQLite ledger's contract on a server many hosts can share.

Appends run in one transaction that first takes a transaction-scoped advisory lock
(``pg_advisory_xact_lock``) derived from the schema name, so writers in any thread,
process or host are serialized and the chain stays linear. The head is read *after*
the lock is granted, in its own statement, so under READ COMMITTED it sees the previous
writer's commit. Sessions run with ``synchronous_commit = on``: ``append`` returns only
once the event is durable.

Each instance keeps one connection behind a lock (reads and appends take turns; a
thread-heavy caller can open one ledger per thread). A connection that breaks is
dropped; the next call opens a new one, so after an outage the ledger recovers by itself.
An operation that found its connection dead before it could have changed anything is
retried once on a fresh connection. An append whose connection breaks during COMMIT is
not retried (the server may have committed it): it raises, saying so, and the caller
discloses nothing; at worst the ledger then records a disclosure that did not happen.
``verify`` uses a connection of its own and one REPEATABLE READ snapshot, so it sees a
consistent chain while appends go on.

Errors are :class:`LedgerError` naming ``host:port/db`` and the failure, never the
password nor event contents (:mod:`veil.ledger.postgres_conn` words them); psycopg's own
messages can quote both, so they are neither repeated nor chained as ``__cause__``.

Schema (in ``schema``, default ``veil``), created and upgraded by the ordered
``MIGRATIONS`` under the same advisory lock and recorded in ``schema_migrations``:
``meta`` (keyed flag, key check, head as a tripwire), ``events`` (the hashed canonical
body stored verbatim as text, since ``jsonb`` would reorder its keys, plus copies of a
few of its fields for querying) and ``event_subjects`` (whose data each event disclosed,
keyed by subject and by the seq the event was written at). Subject rows therefore stay
at their seq: an event moved without its rows is reported both as moved and as having
the wrong subjects, and rows left behind by a deleted event are reported by seq. Large
subject lists go in by COPY (100,000 ids take well under a second on a local server).

The ledger logic is shared with SQLite in :mod:`veil.ledger.store`; this module adds the
connection handling, the advisory lock around each write, the inserts (COPY), the
migrations and how ``verify`` streams one snapshot.
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from datetime import datetime
from functools import partial
from typing import Any, TypeVar

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus
from psycopg.rows import TupleRow

from ..errors import ConfigError, LedgerError
from . import store
from .base import StoredEvent, VerifyReport
from .chain import ChainRow, verify_chain
from .postgres_conn import conn_params, ledger_error, location
from .vault import PG_PACK_MIGRATION, PostgresVault
from .vault import PG_VAULT_SCHEMA as VAULT_SCHEMA

Conn = psycopg.Connection[TupleRow]
T = TypeVar("T")

#: Rows per page when listing events, and per fetch of the verifier's cursors.
_PAGE = 500
_SUBJECT_FETCH = 10_000
#: From this many subjects an append sends them with COPY, below it in one INSERT.
_COPY_MIN = 64
#: First key of every veil advisory lock ("veil" in ASCII); the second is the schema's.
_LOCK_CLASS = 0x7665696C

#: Schema migrations, in order; migration ``i`` (from 1) is recorded as version ``i``.
#: Never edit one that has shipped: append a new one.
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE meta (key text PRIMARY KEY, value text NOT NULL);
    CREATE TABLE events (
        seq bigint PRIMARY KEY,
        event_id text COLLATE "C" UNIQUE NOT NULL,
        time timestamptz NOT NULL,
        kind text,
        recipient text,
        purpose text,
        dataset text,
        body text NOT NULL,
        subjects_digest text NOT NULL,
        prev_hash text NOT NULL,
        hash text NOT NULL
    );
    CREATE INDEX events_time ON events (time);
    CREATE TABLE event_subjects (
        data_subject_id text COLLATE "C" NOT NULL,
        event_seq bigint NOT NULL,
        PRIMARY KEY (data_subject_id, event_seq)
    );
    CREATE INDEX event_subjects_event ON event_subjects (event_seq);
    """,
    # 2: bulk events keep their subjects as one '\0id\0id\0' string (TOAST compresses it)
    """
    CREATE TABLE event_subject_sets (
        event_seq bigint PRIMARY KEY,
        count integer NOT NULL,
        data bytea NOT NULL
    );
    """,
    # 3: the token vault (random re-identification codes, veil.ledger.vault)
    VAULT_SCHEMA,
    # 4: the break-glass review reads these few events out of millions (partial index)
    """
    CREATE INDEX events_break_glass ON events (seq)
        WHERE (body::jsonb -> 'break_glass' ->> 'used') = 'true';
    """,
    # 5: the token vault's codes in packs (one row per call), its rows moved into them
    PG_PACK_MIGRATION,
)
#: Seqs of the events that disclosed a subject, whichever way they store it.
_SEQS_OF_SUBJECT = (
    "SELECT event_seq FROM event_subjects WHERE data_subject_id = %s"
    " UNION ALL SELECT event_seq FROM event_subject_sets WHERE position(%s::bytea in data) > 0"
)
SCHEMA_VERSION = len(MIGRATIONS)
#: What the verifier reads; ``time`` as UTC ISO text (NULL for +-infinity, which no body has),
#: so even a nonsense value is reported as a mismatch instead of failing to load.
_VERIFY_EVENTS = """
    SELECT seq, event_id, body, subjects_digest, prev_hash, hash,
           to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'),
           kind, recipient, purpose, dataset
    FROM events ORDER BY seq
"""
_COPY_SUBJECTS = "COPY event_subjects (data_subject_id, event_seq) FROM STDIN"
_INSERT_EVENT = store.INSERT_EVENTS + "(%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"


def _subjects_with(conn: Conn, seq: int) -> list[str]:
    """The sorted data-subject ids of the event at ``seq``: its rows and its set."""
    rows = conn.execute(
        "SELECT data_subject_id FROM event_subjects WHERE event_seq = %s", (seq,)
    ).fetchall()
    packed = conn.execute(
        "SELECT data FROM event_subject_sets WHERE event_seq = %s", (seq,)
    ).fetchone()
    subjects = [str(r[0]) for r in rows]
    if packed is not None:
        subjects += store.split_subjects(bytes(packed[0]))
    return sorted(subjects)


def _lock_key(schema: str) -> int:
    """The advisory-lock key of one ledger schema: ledgers in other schemas don't contend."""
    return int.from_bytes(hashlib.sha256(schema.encode()).digest()[:4], "big", signed=True)


@contextmanager
def _deadline(conn: Conn, seconds: float) -> Iterator[None]:
    """Cut ``conn``'s socket if the block takes longer than ``seconds``: the blocked call
    then fails with a connection error (and the connection is dropped) instead of waiting
    for a server that no longer answers. Shutting down a duplicate of the socket's
    descriptor shuts the socket itself, which libpq sees at its next read."""
    try:
        fd = conn.pgconn.socket
    except psycopg.Error:
        yield
        return

    def cut() -> None:
        with suppress(OSError), socket.fromfd(fd, socket.AF_INET, socket.SOCK_STREAM) as s:
            s.shutdown(socket.SHUT_RDWR)

    timer = threading.Timer(seconds, cut)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


class PostgresLedger(store.SQLLedger[Conn]):
    """A ledger in one schema of a PostgreSQL database. ``key`` makes the chain an HMAC chain.

    ``url`` is a libpq URL (``postgresql://user:password@host:port/db``; libpq's
    environment variables and ``~/.pgpass`` apply). The schema is created and migrated on
    first open. As with SQLite, the ledger remembers whether it is keyed: opening a keyed
    ledger without its key, with another key, or an unkeyed ledger with a key raises
    :class:`ConfigError`. ``lock_timeout`` (seconds) bounds the wait for another writer.
    A server that cannot be reached raises :class:`LedgerError`, on open as on any call.
    """

    _MARK = "%s"
    #: the partial index's expression, written the same way so the planner uses it
    _BREAK_GLASS = "(e.body::jsonb -> 'break_glass' ->> 'used') = 'true'"
    _NEW_CHAIN = "use a new schema for a keyed chain"

    def __init__(
        self,
        url: str,
        key: bytes | None = None,
        *,
        schema: str = "veil",
        connect_timeout: float = 5,
        lock_timeout: float = 5.0,
        operation_timeout: float = 10.0,
    ) -> None:
        if not schema or "\x00" in schema:
            raise ConfigError("the PostgreSQL ledger schema name is empty or invalid")
        self._params = conn_params(url, connect_timeout)
        self.location = location(self._params)
        self.schema = schema
        super().__init__(f"PostgreSQL ledger at {self.location} (schema {schema})", key)
        self._lock_timeout_ms = max(1, round(lock_timeout * 1000))
        # A server that stops answering (a network black hole) keeps TCP alive and a call
        # waiting for ever: the connection is cut after this long instead.
        self._op_timeout = max(operation_timeout, lock_timeout + 1.0)
        self._lock_args = (_LOCK_CLASS, _lock_key(schema))
        self._lock = threading.Lock()
        self._conn: Conn | None = None
        self._pid = os.getpid()
        self._inherited: list[Conn] = []
        try:
            self._init_schema()
        except BaseException:
            self.close()
            raise

    def __repr__(self) -> str:
        return f"PostgresLedger({self.location!r}, schema={self.schema!r}, keyed={self.keyed})"

    # -- connections -------------------------------------------------------------------

    def _error(self, what: str, exc: psycopg.Error, *, unknown: bool = False) -> LedgerError:
        return ledger_error(what, exc, self.location, self.schema, unknown=unknown)

    def _connect(self) -> Conn:
        """A new session in autocommit mode (transactions are explicit) with our settings."""
        conn = psycopg.connect(**self._params, autocommit=True)
        try:
            conn.execute(
                "SELECT set_config('search_path', %s, false),"
                " set_config('synchronous_commit', 'on', false),"
                " set_config('TimeZone', 'UTC', false),"
                " set_config('lock_timeout', %s, false)",
                (sql.Identifier(self.schema).as_string(conn), f"{self._lock_timeout_ms}ms"),
            )
        except BaseException:
            conn.close()
            raise
        return conn

    def _acquire(self, what: str) -> tuple[Conn, bool]:
        """This process's connection, opened if needed; ``True`` if it was just opened."""
        self._check_open()
        if self._pid != os.getpid():
            # A forked child must not use, nor close, its parent's session: keep a
            # reference so it is never finalized here (that would end the parent's session).
            if self._conn is not None:
                self._inherited.append(self._conn)
            self._conn, self._pid = None, os.getpid()
        if self._conn is not None and not self._discard_if_broken(self._conn):
            return self._conn, False
        try:
            self._conn = self._connect()
        except psycopg.Error as exc:
            self._conn = None
            raise self._error(what, exc) from None
        return self._conn, True

    def _discard_if_broken(self, conn: Conn) -> bool:
        """Drop ``conn`` unless it is healthy and idle; ``True`` if it was dropped."""
        with suppress(psycopg.Error):
            idle = conn.info.transaction_status == TransactionStatus.IDLE
            if idle and not conn.closed and not conn.broken:
                return False
        with suppress(psycopg.Error):
            conn.close()
        if self._conn is conn:
            self._conn = None
        return True

    def _run(
        self, what: str, fn: Callable[[Conn], T], *, retry_safe: Callable[[], bool] = lambda: True
    ) -> T:
        """Call ``fn`` with the connection; map psycopg errors to :class:`LedgerError`.

        If an existing connection turns out to be dead and ``retry_safe()`` says ``fn``
        cannot have changed anything yet, ``fn`` runs once more on a new connection.
        """
        with self._lock:
            for attempt in (1, 2):
                conn, fresh = self._acquire(what)
                try:
                    with _deadline(conn, self._op_timeout):
                        return fn(conn)
                except psycopg.Error as exc:
                    dropped = self._discard_if_broken(conn)
                    safe = retry_safe()
                    if attempt == 1 and dropped and not fresh and safe:
                        continue
                    raise self._error(what, exc, unknown=dropped and not safe) from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _query(self, what: str, query: str, params: Sequence[Any]) -> list[TupleRow]:
        return self._run(what, lambda c: c.execute(query, params).fetchall())

    # -- schema --------------------------------------------------------------------------

    def _state(self, conn: Conn) -> tuple[int | None, dict[str, str]]:
        """(applied schema version or ``None`` if there is no ledger yet, meta)."""
        tables = {
            r[0]
            for r in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = %s", (self.schema,)
            )
        }
        if "schema_migrations" not in tables:
            if tables:
                raise ConfigError(
                    f"schema {self.schema} at {self.location} holds tables but is not a "
                    "veil ledger",
                    hint="choose another schema for the ledger, or an existing veil ledger",
                )
            return None, {}
        row = conn.execute("SELECT coalesce(max(version), 0) FROM schema_migrations").fetchone()
        version = int(row[0]) if row else 0
        meta: dict[str, str] = {}
        if "meta" in tables:
            meta = {str(k): str(v) for k, v in conn.execute("SELECT key, value FROM meta")}
        return version, meta

    def _init_schema(self) -> None:
        def init(conn: Conn) -> dict[str, str]:
            version, meta = self._state(conn)
            if version == SCHEMA_VERSION and meta:
                return meta
            self._check_version(version)
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", self._lock_args)
                conn.execute(
                    sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema))
                )
                version, meta = self._state(conn)  # again: another process may have won
                self._check_version(version)
                if version is None:
                    conn.execute(
                        "CREATE TABLE schema_migrations ("
                        " version integer PRIMARY KEY, applied_at timestamptz NOT NULL)"
                    )
                    version = 0
                for number in range(version + 1, SCHEMA_VERSION + 1):
                    conn.execute(MIGRATIONS[number - 1])
                    conn.execute(
                        "INSERT INTO schema_migrations (version, applied_at) VALUES (%s, now())",
                        (number,),
                    )
                if not meta:
                    meta = store.new_meta(self._key)
                    with conn.cursor() as cur:
                        cur.executemany(
                            "INSERT INTO meta (key, value) VALUES (%s, %s)", list(meta.items())
                        )
            return meta

        self._check_meta(self._run("open the ledger", init))

    def _check_version(self, version: int | None) -> None:
        if version is not None and version > SCHEMA_VERSION:
            raise ConfigError(
                f"{self._name} has schema version {version}; this veil reads up to "
                f"version {SCHEMA_VERSION}",
                hint="use the veil release that wrote this ledger",
            )

    def token_vault(self) -> PostgresVault:
        """The token vault in this ledger's schema (random re-identification codes)."""
        return PostgresVault(self._params, self.schema, self.location)

    def close(self) -> None:
        """Close this process's connection. Later calls raise :class:`LedgerError`.

        A connection inherited across ``fork`` is left alone: closing it in the child
        would end the parent's session.
        """
        self._closed = True
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None and self._pid != os.getpid():
                self._inherited.append(conn)  # never finalized here: see _acquire
                conn = None
        if conn is not None:
            with suppress(psycopg.Error):
                conn.close()

    # -- writing -----------------------------------------------------------------------

    @staticmethod
    def _bind_time(text: str) -> datetime:
        return datetime.fromisoformat(text)

    def write_batch(self, batch: Sequence[store.Pending]) -> list[StoredEvent | BaseException]:
        """One transaction for ``batch``, under the advisory lock that orders all writers.

        Returns one stored event per item, or the exception that failed that item; if it
        raises, nothing of the batch was recorded (see :meth:`append` for the one case
        where a broken connection leaves that open).
        """
        committing = False

        def write(conn: Conn) -> list[StoredEvent | BaseException]:
            nonlocal committing
            committing = False
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", self._lock_args)
                out = self._chain(conn, batch, partial(self._insert, conn))
                committing = True
            return out

        return self._run("append the event", write, retry_safe=lambda: not committing)

    def _insert(self, conn: Conn, link: store.Link) -> None:
        conn.execute(_INSERT_EVENT, link.row())
        self._insert_subjects(conn, link.seq, link.pending.subjects)

    def _known_ids(self, conn: Conn, ids: list[str]) -> dict[str, int]:
        rows = conn.execute("SELECT event_id, seq FROM events WHERE event_id = ANY(%s)", (ids,))
        return {str(r[0]): int(r[1]) for r in rows}

    def _stored_subjects(self, conn: Conn, event_id: str, seq: int) -> list[str]:
        return _subjects_with(conn, seq)

    @staticmethod
    def _insert_subjects(conn: Conn, seq: int, subjects: list[str]) -> None:
        packed = store.join_subjects(subjects)
        if packed is not None:
            conn.execute(
                "INSERT INTO event_subject_sets (event_seq, count, data) VALUES (%s, %s, %s)",
                (seq, len(subjects), packed),
            )
        elif len(subjects) >= _COPY_MIN:
            with conn.cursor() as cur, cur.copy(_COPY_SUBJECTS) as cp:
                for s in subjects:
                    cp.write_row((s, seq))
        elif subjects:
            conn.execute(
                "INSERT INTO event_subjects (data_subject_id, event_seq)"
                " SELECT unnest(%s::text[]), %s",
                (subjects, seq),
            )

    # -- reading -----------------------------------------------------------------------

    def _page_size(self) -> int:
        return _PAGE

    def _of_subject(self, subject: str) -> tuple[str, list[Any]]:
        return f"e.seq IN ({_SEQS_OF_SUBJECT})", [subject, store.subject_needle(subject)]

    def subjects_of(self, event_id: str) -> Sequence[str]:
        """The data-subject ids of one event, sorted (by code point, as Python sorts)."""

        def read(c: Conn) -> list[str]:
            row = c.execute("SELECT seq FROM events WHERE event_id = %s", (event_id,)).fetchone()
            return [] if row is None else _subjects_with(c, int(row[0]))

        return self._run("read data subjects", read)

    def _page_subjects(self, seq: int, body: str) -> Sequence[str]:
        return self._run("read data subjects", lambda c: _subjects_with(c, seq))

    # -- verification ------------------------------------------------------------------

    def verify(self, *, anchor: tuple[int, str] | None = None) -> VerifyReport:
        """Recheck the whole chain, its subject rows and its columns; never raises on tamper.

        ``anchor`` is a ``(seq, hash)`` from :meth:`head` recorded elsewhere; without one
        the head stored in ``meta`` is used (a tripwire, not a proof). Reads one snapshot
        on a connection of its own, streaming events and subject rows through two
        server-side cursors in seq order, so memory is bounded by the largest event.
        """
        self._check_open()
        try:
            conn = self._connect()
        except psycopg.Error as exc:
            raise self._error("verify the ledger", exc) from None
        orphans: list[tuple[int, int]] = []
        try:
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            conn.read_only = True
            with conn.transaction():
                if anchor is None:
                    anchor = store.recorded_head(conn.execute(store.RECORDED_HEAD_SQL))
                rows = self._chain_rows(conn, orphans)
                report = verify_chain(rows, self._key, anchor=anchor)
                for _ in rows:  # verify_chain reads to the end; make sure orphans are counted
                    pass
        except psycopg.Error as exc:
            raise self._error("verify the ledger", exc) from None
        finally:
            with suppress(psycopg.Error):
                conn.close()
        report.keyed = self.keyed
        for seq, count in orphans:
            report.problems.append(store.orphan_problem(seq, "", count, f"seq {seq}"))
        return report

    def _chain_rows(self, conn: Conn, orphans: list[tuple[int, int]]) -> Iterator[ChainRow]:
        """Events in seq order with their subject rows, merged from two ordered cursors.

        Subject rows whose seq has no event are counted into ``orphans``.
        """
        ev = conn.cursor(name="veil_verify_events")
        ev.itersize = _PAGE
        ev.execute(_VERIFY_EVENTS)
        sub = conn.cursor(name="veil_verify_subjects")
        sub.itersize = _SUBJECT_FETCH
        sub.execute("SELECT event_seq, data_subject_id FROM event_subjects ORDER BY event_seq")
        subs = iter(sub)
        pending = next(subs, None)
        sets_cur = conn.cursor(name="veil_verify_sets")
        sets_cur.itersize = 4  # a set can hold millions of ids
        sets_cur.execute("SELECT event_seq, count, data FROM event_subject_sets ORDER BY event_seq")
        sets = iter(sets_cur)
        pending_set = next(sets, None)

        def skip_orphans(before: int | None) -> None:
            nonlocal pending, pending_set
            while pending is not None and (before is None or pending[0] < before):
                seq, count = int(pending[0]), 0
                while pending is not None and pending[0] == seq:
                    count += 1
                    pending = next(subs, None)
                orphans.append((seq, count))
            while pending_set is not None and (before is None or pending_set[0] < before):
                orphans.append((int(pending_set[0]), int(pending_set[1])))
                pending_set = next(sets, None)

        for row in ev:
            seq = row[0]
            skip_orphans(seq)
            subjects: list[str] = []
            while pending is not None and pending[0] == seq:
                subjects.append(pending[1])
                pending = next(subs, None)
            damaged = False
            if pending_set is not None and pending_set[0] == seq:
                try:
                    subjects += store.split_subjects(bytes(pending_set[2]))
                except UnicodeDecodeError:
                    damaged = True
                pending_set = next(sets, None)
            subjects.sort()
            yield store.chain_row(row, None if damaged else subjects)
        skip_orphans(None)
        ev.close()
        sub.close()
        sets_cur.close()
