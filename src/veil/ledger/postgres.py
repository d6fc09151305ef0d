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

Errors are :class:`LedgerError` naming ``host:port/db``, the psycopg error class, the
SQLSTATE and, for connection failures, a fixed phrase (``connection refused``): never
the password, never event contents. psycopg's own messages can quote both, so they are
neither repeated nor chained as ``__cause__``.

Schema (in ``schema``, default ``veil``), created and upgraded by the ordered
``MIGRATIONS`` under the same advisory lock and recorded in ``schema_migrations``:
``meta`` (keyed flag, key check, head as a tripwire), ``events`` (the hashed canonical
body stored verbatim as text, since ``jsonb`` would reorder its keys, plus copies of a
few of its fields for querying) and ``event_subjects`` (whose data each event disclosed,
keyed by subject and by the seq the event was written at). Subject rows therefore stay
at their seq: an event moved without its rows is reported both as moved and as having
the wrong subjects, and rows left behind by a deleted event are reported by seq. Large
subject lists go in by COPY (100,000 ids take well under a second on a local server).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import suppress
from datetime import datetime
from functools import partial
from types import TracebackType
from typing import Any, TypeVar

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from psycopg.pq import TransactionStatus
from psycopg.rows import TupleRow

from ..errors import ConfigError, LedgerError, TamperDetected
from .accounting import describe
from .base import AccountingEntry, Problem, StoredEvent, VerifyReport
from .chain import (
    GENESIS,
    SUBJECTS,
    ChainRow,
    key_check,
    link_hash_text,
    normalize_time,
    verify_chain,
)
from .events import Event
from .group import GroupCommit
from .sqlite import _digest, _joined, _Pending, _prepare, _split

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
)
#: Seqs of the events that disclosed a subject, whichever way they store it.
_SEQS_OF_SUBJECT = (
    "SELECT event_seq FROM event_subjects WHERE data_subject_id = %s"
    " UNION ALL SELECT event_seq FROM event_subject_sets WHERE position(%s::bytea in data) > 0"
)
SCHEMA_VERSION = len(MIGRATIONS)

#: Copies of body fields kept as columns; ``verify`` checks each against the body.
_COLUMNS = ("time", "kind", "recipient", "purpose", "dataset")
#: What the verifier reads; ``time`` as UTC ISO text (NULL for +-infinity, which no body has),
#: so even a nonsense value is reported as a mismatch instead of failing to load.
_VERIFY_EVENTS = """
    SELECT seq, event_id, body, subjects_digest, prev_hash, hash,
           to_char(time AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"+00:00"'),
           kind, recipient, purpose, dataset
    FROM events ORDER BY seq
"""
_HEAD_SQL = "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1"
_COPY_SUBJECTS = "COPY event_subjects (data_subject_id, event_seq) FROM STDIN"


def _needle(subject: str) -> bytes:
    """What ``position()`` looks for in a subject set: the id between separators."""
    return ("\x00" + subject + "\x00").encode("utf-8")


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
        subjects += _split(bytes(packed[0]))
    return sorted(subjects)


def _fetch(query: str, params: Sequence[Any], conn: Conn) -> list[TupleRow]:
    return conn.execute(query, params).fetchall()


def _lock_key(schema: str) -> int:
    """The advisory-lock key of one ledger schema: ledgers in other schemas don't contend."""
    return int.from_bytes(hashlib.sha256(schema.encode()).digest()[:4], "big", signed=True)


def _params(url: str, connect_timeout: float) -> dict[str, Any]:
    """libpq connection parameters for ``url``: ``connect_timeout`` as given, and our
    application name and TCP keepalives unless the URL sets them."""
    try:
        params: dict[str, Any] = conninfo_to_dict(url)
    except psycopg.Error:
        # libpq's message quotes the URL, password included: don't repeat it.
        raise ConfigError(
            "the PostgreSQL ledger URL is not a valid libpq URL",
            hint="use postgresql://user[:password]@host[:port]/database",
        ) from None
    params["connect_timeout"] = max(1, round(connect_timeout))
    params.setdefault("application_name", "veil-ledger")
    # Find a dead peer in about a minute instead of the OS's many minutes.
    params.setdefault("keepalives", 1)
    params.setdefault("keepalives_idle", 30)
    params.setdefault("keepalives_interval", 10)
    params.setdefault("keepalives_count", 3)
    return params


def _location(params: dict[str, Any]) -> str:
    """``host:port/db`` for messages; never includes the user or password."""
    host = params.get("host") or params.get("hostaddr") or os.environ.get("PGHOST") or "localhost"
    port = params.get("port") or os.environ.get("PGPORT") or "5432"
    db = params.get("dbname") or os.environ.get("PGDATABASE") or params.get("user") or "?"
    return f"{host}:{port}/{db}"


#: libpq reports connection failures as text only, without SQLSTATE, and its text names
#: hosts and users. Known failures are reduced to a fixed phrase (and SQLSTATE-like class
#: for the hint); the text itself is never repeated.
_CONNECT_REASONS = tuple(
    (re.compile(pattern), reason, state)
    for pattern, reason, state in (
        (r"connection refused", "connection refused", "08"),
        (r"timeout expired|timed out", "connection timed out", "08"),
        (r"could not translate host name|name or service not known", "host not found", "08"),
        (
            r"server closed the connection|terminating connection|connection not open"
            r"|connection is lost|ssl syscall error|eof detected",
            "connection lost",
            "08",
        ),
        (
            r"authentication failed|no password supplied|no pg_hba\.conf entry",
            "login refused",
            "28",
        ),
        (r"role \"[^\"]*\" does not exist", "role does not exist", "28"),
        (r"database \"[^\"]*\" does not exist", "database does not exist", "3D000"),
        (r"too many clients|connection slots", "too many connections", "53"),
        (r"starting up|shutting down|recovery mode", "server starting or stopping", "57P"),
    )
)


def _reason(exc: psycopg.Error) -> tuple[str, str]:
    """(a fixed description of a connection-level failure or "", SQLSTATE or its class)."""
    if exc.sqlstate:
        return "", exc.sqlstate
    text = str(exc).lower()
    for pattern, reason, state in _CONNECT_REASONS:
        if pattern.search(text):
            return reason, state
    return "", ""


def _hint(exc: psycopg.Error, state: str, location: str, schema: str) -> str:
    if state.startswith("28"):
        return (
            "the server refused the login: check the user and password (ledger URL, "
            "PGPASSWORD or ~/.pgpass) and pg_hba.conf"
        )
    if state == "3D000":
        return "the database does not exist: create it, or fix the database in the ledger URL"
    if state == "42501":
        return (
            f"the ledger's database user lacks privileges: grant it USAGE on schema {schema} "
            "and SELECT/INSERT/UPDATE on its tables (CREATE on the database to create it)"
        )
    if state == "55P03":
        return "another writer held the ledger's lock too long; retry, or raise lock_timeout"
    if state == "25006":
        return "the server is a read-only standby: point the ledger URL at the primary"
    if state == "23505":
        return "an event with this id is already in the ledger: build a new event per disclosure"
    if state.startswith("53"):
        return "the server is out of resources (disk, memory or connections): see its log"
    if not state or state.startswith(("08", "57P")) or isinstance(exc, psycopg.OperationalError):
        return (
            f"check that PostgreSQL is running and reachable at {location}; "
            "the ledger reconnects by itself on its next call"
        )
    return "see the PostgreSQL server log, then run `veil audit verify`"


def _time_filter(since: str | None, until: str | None) -> tuple[list[str], list[Any]]:
    """SQL conditions on ``e.time`` for inclusive bounds; a bare-date ``until`` covers its day."""
    conds: list[str] = []
    args: list[Any] = []
    try:
        if since is not None:
            conds.append("e.time >= %s")
            args.append(datetime.fromisoformat(normalize_time(since)))
        if until is not None:
            date_only = len(until.strip()) == 10
            conds.append("e.time < %s" if date_only else "e.time <= %s")
            args.append(datetime.fromisoformat(normalize_time(until, end_of_day=True)))
    except ValueError:
        raise ConfigError(
            "since/until must be ISO-8601 dates or timestamps",
            hint="use e.g. 2024-05-01 or 2024-05-01T12:00:00+00:00",
        ) from None
    return conds, args


class PostgresLedger:
    """A ledger in one schema of a PostgreSQL database. ``key`` makes the chain an HMAC chain.

    ``url`` is a libpq URL (``postgresql://user:password@host:port/db``; libpq's
    environment variables and ``~/.pgpass`` apply). The schema is created and migrated on
    first open. As with SQLite, the ledger remembers whether it is keyed: opening a keyed
    ledger without its key, with another key, or an unkeyed ledger with a key raises
    :class:`ConfigError`. ``lock_timeout`` (seconds) bounds the wait for another writer.
    A server that cannot be reached raises :class:`LedgerError`, on open as on any call.
    """

    def __init__(
        self,
        url: str,
        key: bytes | None = None,
        *,
        schema: str = "veil",
        connect_timeout: float = 5,
        lock_timeout: float = 30.0,
    ) -> None:
        if not schema or "\x00" in schema:
            raise ConfigError("the PostgreSQL ledger schema name is empty or invalid")
        self._params = _params(url, connect_timeout)
        self.location = _location(self._params)
        self.schema = schema
        self._name = f"PostgreSQL ledger at {self.location} (schema {schema})"
        self._key = key or None
        self._lock_timeout_ms = max(1, round(lock_timeout * 1000))
        self._lock_args = (_LOCK_CLASS, _lock_key(schema))
        self._lock = threading.Lock()
        self._group: GroupCommit[_Pending, StoredEvent] = GroupCommit(self.write_batch)
        self._conn: Conn | None = None
        self._pid = os.getpid()
        self._inherited: list[Conn] = []
        self._closed = False
        try:
            self._init_schema()
        except BaseException:
            self.close()
            raise

    def __repr__(self) -> str:
        return f"PostgresLedger({self.location!r}, schema={self.schema!r}, keyed={self.keyed})"

    # -- connections -------------------------------------------------------------------

    def _error(self, what: str, exc: psycopg.Error, *, unknown: bool = False) -> LedgerError:
        reason, state = _reason(exc)
        code = f", SQLSTATE {exc.sqlstate}" if exc.sqlstate else ""
        message = (
            f"PostgreSQL ledger at {self.location} unavailable: "
            f"{type(exc).__name__}{code} (could not {what}{': ' + reason if reason else ''})"
        )
        hint = _hint(exc, state, self.location, self.schema)
        if unknown:
            message += "; the connection broke during COMMIT, so the event may have been recorded"
            hint = "nothing was disclosed; run `veil audit verify`, then retry. " + hint
        return LedgerError(message, hint=hint)

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
        if self._closed:
            raise LedgerError(f"{self._name} is closed", hint="open the ledger again")
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
                    return fn(conn)
                except psycopg.Error as exc:
                    dropped = self._discard_if_broken(conn)
                    safe = retry_safe()
                    if attempt == 1 and dropped and not fresh and safe:
                        continue
                    raise self._error(what, exc, unknown=dropped and not safe) from None
        raise AssertionError("unreachable")  # pragma: no cover

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
                    meta = {
                        "keyed": "1" if self._key else "0",
                        "key_check": key_check(self._key) if self._key else "",
                        "head_seq": "0",
                        "head_hash": GENESIS,
                    }
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

    def _check_meta(self, meta: dict[str, str]) -> None:
        keyed = meta.get("keyed") == "1"
        if keyed and not self._key:
            raise ConfigError(
                f"{self._name} is keyed (HMAC chain) but no ledger key was given",
                hint="provide the key the ledger was created with (e.g. VEIL_KEY_LEDGER)",
            )
        if not keyed and self._key:
            raise ConfigError(
                f"{self._name} was created without a key, but a ledger key was given",
                hint="open it without a key, or use a new schema for a keyed chain",
            )
        if self._key and not hmac.compare_digest(meta.get("key_check", ""), key_check(self._key)):
            raise ConfigError(
                f"the ledger key does not match {self._name}",
                hint="provide the key the ledger was created with",
            )

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

    def __enter__(self) -> PostgresLedger:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    @property
    def keyed(self) -> bool:
        return self._key is not None

    # -- writing -----------------------------------------------------------------------

    def append(self, event: Event, *, idempotent: bool = False) -> StoredEvent:
        """Chain ``event`` after the current head and make it durable; return it as stored.

        With ``idempotent``, an event whose ``event_id`` is already in the ledger is not
        appended again: the stored one is returned (a retried Spark task logs once).
        Concurrent appends of this process are group-committed (one transaction).

        If this raises, the caller must not disclose. Nothing was recorded, except in one
        case the message states: the connection broke while committing, and the event may
        be in the ledger (which then records a disclosure that did not happen, the safe
        way round).
        """
        return self._group.submit(self.prepare(event, idempotent=idempotent))

    def prepare(self, event: Event, *, idempotent: bool = False) -> _Pending:
        """Serialize and digest ``event`` for :meth:`write_batch` (no lock, no I/O)."""
        return _prepare(event, idempotent, self._name, as_datetime=True)

    def write_batch(self, batch: Sequence[_Pending]) -> list[StoredEvent | BaseException]:
        """One transaction for ``batch``, under the advisory lock that orders all writers.

        Returns one stored event per item, or the exception that failed that item; if it
        raises, nothing of the batch was recorded (see :meth:`append` for the one case
        where a broken connection leaves that open).
        """
        committing = False

        def write(conn: Conn) -> list[StoredEvent | BaseException]:
            nonlocal committing
            committing = False
            out: list[StoredEvent | BaseException] = []
            with conn.transaction():
                conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", self._lock_args)
                ids = [p.event.event_id for p in batch]
                known = {
                    str(r[0]): int(r[1])
                    for r in conn.execute(
                        "SELECT event_id, seq FROM events WHERE event_id = ANY(%s)", (ids,)
                    )
                }
                row = conn.execute(_HEAD_SQL).fetchone()  # a new snapshot, after the lock
                seq, prev = (int(row[0]), str(row[1])) if row else (0, GENESIS)
                for p in batch:
                    ev = p.event
                    if ev.event_id in known:
                        out.append(self._existing(conn, known[ev.event_id], p.idempotent))
                        continue
                    seq += 1
                    h = link_hash_text(prev, seq, p.body_json, p.digest, self._key)
                    conn.execute(
                        "INSERT INTO events (seq, event_id, time, kind, recipient, purpose,"
                        " dataset, body, subjects_digest, prev_hash, hash)"
                        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                        (seq, ev.event_id, p.time, ev.kind, ev.recipient, ev.purpose,
                         ev.dataset, p.body_json, p.digest, prev, h),
                    )  # fmt: skip
                    self._insert_subjects(conn, seq, p.subjects)
                    out.append(StoredEvent(seq=seq, event=ev, prev_hash=prev, hash=h))
                    known[ev.event_id] = seq
                    prev = h
                conn.execute(
                    "UPDATE meta SET value = CASE key WHEN 'head_seq' THEN %s ELSE %s END"
                    " WHERE key IN ('head_seq', 'head_hash')",
                    (str(seq), prev),
                )
                committing = True
            return out

        return self._run("append the event", write, retry_safe=lambda: not committing)

    @staticmethod
    def _insert_subjects(conn: Conn, seq: int, subjects: list[str]) -> None:
        packed = _joined(subjects)
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

    def _existing(self, conn: Conn, seq: int, idempotent: bool) -> StoredEvent | BaseException:
        """The stored event at ``seq`` (idempotent append), else an error for this item."""
        if not idempotent:
            return LedgerError(
                f"{self._name}: could not append: an event with this event_id is already recorded",
                hint="give every event a new event_id, or append with idempotent=True",
            )
        had = conn.execute(
            "SELECT body, prev_hash, hash FROM events WHERE seq = %s", (seq,)
        ).fetchone()
        if had is None:  # pragma: no cover - the row was read under the same lock
            return LedgerError(f"{self._name}: the stored event vanished", hint="retry")
        stored = self._event(seq, str(had[0]), _subjects_with(conn, seq))
        return StoredEvent(seq, stored, str(had[1]), str(had[2]))

    # -- reading -----------------------------------------------------------------------

    def head(self) -> tuple[int, str]:
        """``(seq, hash)`` of the newest event, ``(0, GENESIS)`` if empty: record it elsewhere
        and pass it to ``verify(anchor=...)`` later to prove nothing was rewritten or cut off."""
        row = self._run("read the head", lambda c: c.execute(_HEAD_SQL).fetchone())
        return (int(row[0]), str(row[1])) if row else (0, GENESIS)

    def subjects_of(self, event_id: str) -> Sequence[str]:
        """The data-subject ids of one event, sorted (by code point, as Python sorts)."""

        def read(c: Conn) -> list[str]:
            row = c.execute("SELECT seq FROM events WHERE event_id = %s", (event_id,)).fetchone()
            return [] if row is None else _subjects_with(c, int(row[0]))

        return self._run("read data subjects", read)

    def _subjects_at(self, seq: int) -> Sequence[str]:
        return self._run("read data subjects", lambda c: _subjects_with(c, seq))

    def _event(self, seq: int, body: str, subjects: Sequence[str] = ()) -> Event:
        try:
            return Event.model_validate({**json.loads(body), "data_subjects": list(subjects)})
        except (ValueError, TypeError):
            raise TamperDetected(
                f"{self._name}: the stored body of seq {seq} is not a valid event",
                hint="run `veil audit verify` to see what was changed",
            ) from None

    def events(
        self,
        *,
        since: str | None = None,
        until: str | None = None,
        data_subject: str | None = None,
        limit: int | None = None,
        descending: bool = False,
        with_subjects: bool = False,
    ) -> Iterator[StoredEvent]:
        """Stored events in ``seq`` (append) order, newest first if ``descending``.

        Same contract as :meth:`SQLiteLedger.events`: inclusive time bounds (a bare-date
        ``until`` covers that day), ``data_subject`` keeps the events that disclosed that
        subject, subjects load only ``with_subjects``, and reading goes page by page so
        no transaction stays open while the caller consumes the iterator.
        """
        where, args = _time_filter(since, until)
        query = "SELECT e.seq, e.body, e.prev_hash, e.hash FROM events e"
        if data_subject is not None:
            where.append(f"e.seq IN ({_SEQS_OF_SUBJECT})")
            args[:0] = [data_subject, _needle(data_subject)]
        where.append("e.seq < %s" if descending else "e.seq > %s")
        query += " WHERE " + " AND ".join(where)
        query += f" ORDER BY e.seq {'DESC' if descending else 'ASC'} LIMIT %s"
        start = 2**63 - 1 if descending else 0
        return self._pages(query, args, start, limit, with_subjects)

    def _pages(
        self, query: str, args: list[Any], cursor: int, limit: int | None, with_subjects: bool
    ) -> Iterator[StoredEvent]:
        remaining = -1 if limit is None else max(limit, 0)
        while remaining != 0:
            page = _PAGE if remaining < 0 else min(_PAGE, remaining)
            rows = self._run("read events", partial(_fetch, query, (*args, cursor, page)))
            for seq, body, prev, h in rows:
                subjects = self._subjects_at(seq) if with_subjects else ()
                yield StoredEvent(int(seq), self._event(seq, body, subjects), prev, h)
            if len(rows) < page:
                return
            cursor = rows[-1][0]
            if remaining > 0:
                remaining -= len(rows)

    def accounting(
        self, data_subject: str, *, since: str | None = None, until: str | None = None
    ) -> list[AccountingEntry]:
        """Every disclosure (and reveal) of ``data_subject``'s data, oldest first.

        Refusals disclosed nothing and are left out. Bounds as in :meth:`events`.
        """
        where, args = _time_filter(since, until)
        # Only constant SQL is joined here; the subject id and bounds are parameters.
        query = "SELECT e.seq, e.body FROM events e WHERE e.seq IN ("
        query += _SEQS_OF_SUBJECT + ") AND e.kind <> 'refusal'"
        query += "".join(f" AND {w}" for w in where)
        query += " ORDER BY e.time, e.seq"
        params = (data_subject, _needle(data_subject), *args)
        rows = self._run(
            "read the accounting of disclosures",
            lambda c: c.execute(query, params).fetchall(),
        )
        entries = []
        for seq, body in rows:
            ev = self._event(seq, body)
            entries.append(
                AccountingEntry(
                    event_id=ev.event_id,
                    time=ev.time,
                    recipient=ev.recipient,
                    requester_id=ev.requester.id,
                    purpose=ev.purpose,
                    dataset=ev.dataset,
                    description=describe(ev),
                    break_glass=ev.break_glass.used,
                )
            )
        return entries

    # -- verification ------------------------------------------------------------------

    def verify(self, *, anchor: tuple[int, str] | None = None) -> VerifyReport:
        """Recheck the whole chain, its subject rows and its columns; never raises on tamper.

        ``anchor`` is a ``(seq, hash)`` from :meth:`head` recorded elsewhere; without one
        the head stored in ``meta`` is used (a tripwire, not a proof). Reads one snapshot
        on a connection of its own, streaming events and subject rows through two
        server-side cursors in seq order, so memory is bounded by the largest event.
        """
        if self._closed:
            raise LedgerError(f"{self._name} is closed", hint="open the ledger again")
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
                    meta = {
                        str(k): str(v)
                        for k, v in conn.execute(
                            "SELECT key, value FROM meta WHERE key IN ('head_seq', 'head_hash')"
                        )
                    }
                    anchor = (int(meta.get("head_seq", "0")), meta.get("head_hash", GENESIS))
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
            report.problems.append(
                Problem(
                    seq,
                    "",
                    SUBJECTS,
                    f"{count} data-subject row(s) refer to seq {seq}, which is not in the "
                    "ledger: the event was deleted, or the rows were added",
                )
            )
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

        for seq, eid, body, digest, prev, h, *values in ev:
            skip_orphans(seq)
            subjects: list[str] = []
            while pending is not None and pending[0] == seq:
                subjects.append(pending[1])
                pending = next(subs, None)
            damaged = False
            if pending_set is not None and pending_set[0] == seq:
                try:
                    subjects += _split(bytes(pending_set[2]))
                except UnicodeDecodeError:
                    damaged = True
                pending_set = next(sets, None)
            subjects.sort()
            yield ChainRow(
                seq=int(seq),
                event_id=eid,
                body=body,
                subjects_digest="damaged" if damaged else _digest(subjects),
                stored_subjects_digest=digest,
                prev_hash=prev,
                hash=h,
                columns=dict(zip(_COLUMNS, values, strict=True)),
                subject_count=None if damaged else len(subjects),
            )
        skip_orphans(None)
        ev.close()
        sub.close()
        sets_cur.close()
