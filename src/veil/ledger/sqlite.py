"""The SQLite ledger: one file, WAL mode, every append durable before it returns.

Appends run in ``BEGIN IMMEDIATE``, which takes SQLite's write lock, so writers in any
thread or process are serialized and the chain stays linear. Each thread gets its own
connection (and a forked child opens fresh ones). Errors never quote event contents:
a message names the ledger file and what failed.

Schema: ``meta`` (schema version, whether the chain is keyed, a key check, and the head
as a tripwire against cutting events off the end), ``events`` (the hashed canonical
body plus copies of a few of its fields for querying) and ``event_subjects`` (whose
data each event disclosed, keyed by subject for accounting).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import sqlite3
import threading
import zlib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from pathlib import Path
from types import TracebackType
from typing import Any

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

SCHEMA_VERSION = 2
#: Events disclosing at least this many subjects (bulk extracts) keep them as one compressed
#: set instead of one indexed row each: appending 1M rows cost seconds and grew the index.
BULK_SUBJECTS = 1000
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
"""

#: Schema changes from each version to the next, applied when a ledger is opened.
_MIGRATIONS = {
    1: "CREATE TABLE event_subject_sets ("
    " event_id TEXT PRIMARY KEY, count INTEGER NOT NULL, data BLOB NOT NULL)",
}

#: ``event_id`` of the events that disclosed a subject, whichever way they store it.
_EVENTS_OF_SUBJECT = (
    "SELECT event_id FROM event_subjects WHERE data_subject_id = ?"
    " UNION ALL SELECT event_id FROM event_subject_sets WHERE veil_has_subject(data, ?)"
)

#: Copies of body fields kept as columns; ``verify`` checks each against the body.
_COLUMNS = ("time", "kind", "recipient", "purpose", "dataset")


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
    return "check the ledger file and its directory, then run `veil ledger verify`"


@dataclass(frozen=True)
class _Pending:
    """An event prepared for appending outside the write lock (serialized, digested)."""

    event: Event
    body_json: str
    subjects: list[str]
    digest: str
    time: str | datetime  # as the backend binds it
    idempotent: bool


def _prepare(event: Event, idempotent: bool, where: str, *, as_datetime: bool = False) -> _Pending:
    """Serialize and digest ``event`` before the write lock (both backends append these)."""
    subjects = _unique_sorted(event.data_subjects)
    try:
        text = normalize_time(event.time)
        time: str | datetime = datetime.fromisoformat(text) if as_datetime else text
    except ValueError:
        raise LedgerError(
            f"{where}: could not append: the event time is not ISO-8601",
            hint="leave Event.time at its default or give an ISO-8601 timestamp",
        ) from None
    body = event.body_json()
    return _Pending(event, body, subjects, _digest(subjects), time, idempotent)


_INSERT_EVENTS = (
    "INSERT INTO events(seq, event_id, time, kind, recipient, purpose, dataset, body,"
    " subjects_digest, prev_hash, hash) VALUES "
)
_EVENT_ROW = "(?,?,?,?,?,?,?,?,?,?,?)"
#: events per INSERT statement (11 parameters each; SQLite allows 32766 per statement)
_ROWS_PER_INSERT = 500


def _parts(rows: list[tuple[Any, ...]], n: int) -> Iterator[list[tuple[Any, ...]]]:
    for i in range(0, len(rows), n):
        yield rows[i : i + n]


def _flat(rows: list[tuple[Any, ...]]) -> list[Any]:
    return [v for r in rows for v in r]


def _joined(sorted_unique: list[str]) -> bytes | None:
    """A bulk event's subjects as one byte string ``\\0id\\0id\\0``, or None to store them
    as rows (few subjects, or an id holding NUL, which the set uses as separator)."""
    if len(sorted_unique) < BULK_SUBJECTS:
        return None
    joined = "\x00".join(sorted_unique)
    if joined.count("\x00") != len(sorted_unique) - 1:
        return None
    return ("\x00" + joined + "\x00").encode("utf-8")


def _pack(sorted_unique: list[str]) -> bytes | None:
    """:func:`_joined`, compressed (SQLite stores it as is)."""
    raw = _joined(sorted_unique)
    return None if raw is None else zlib.compress(raw, 1)


def _split(raw: bytes) -> list[str]:
    return raw.decode("utf-8").split("\x00")[1:-1]


def _unpack(blob: bytes) -> list[str]:
    return _split(zlib.decompress(blob))


def _has_subject(blob: bytes | None, subject: str | None) -> bool:
    """SQL function ``veil_has_subject(data, id)``: a substring search, no split."""
    if blob is None or subject is None:
        return False
    return ("\x00" + subject + "\x00").encode("utf-8") in zlib.decompress(blob)


def _unique_sorted(ids: list[str]) -> list[str]:
    """``sorted(set(ids))``, skipping the sort when a bulk job already sends them so."""
    if all(a < b for a, b in zip(ids, islice(ids, 1, None), strict=False)):
        return ids
    return sorted(set(ids))


def _digest(sorted_unique: Sequence[str]) -> str:
    """:func:`~veil.ledger.events.subjects_digest` of already sorted, unique ids, in one pass."""
    if not sorted_unique:
        return hashlib.sha256().hexdigest()
    return hashlib.sha256(("\x00".join(sorted_unique) + "\x00").encode()).hexdigest()


def _time_filter(since: str | None, until: str | None) -> tuple[list[str], list[str]]:
    """SQL conditions on ``e.time`` for inclusive bounds; a bare-date ``until`` covers its day."""
    conds, args = [], []
    try:
        if since is not None:
            conds.append("e.time >= ?")
            args.append(normalize_time(since))
        if until is not None:
            date_only = len(until.strip()) == 10
            conds.append("e.time < ?" if date_only else "e.time <= ?")
            args.append(normalize_time(until, end_of_day=True))
    except ValueError:
        raise ConfigError(
            "since/until must be ISO-8601 dates or timestamps",
            hint="use e.g. 2024-05-01 or 2024-05-01T12:00:00+00:00",
        ) from None
    return conds, args


class SQLiteLedger:
    """A ledger in one SQLite file. ``key`` makes the chain an HMAC chain.

    The file remembers whether it is keyed: opening a keyed ledger without its key, with
    another key, or an unkeyed ledger with a key raises :class:`ConfigError`. The parent
    directory must exist (:func:`veil.ledger.open_ledger` creates it).
    """

    def __init__(
        self, path: str | os.PathLike[str], key: bytes | None = None, *, busy_timeout: float = 30.0
    ) -> None:
        self.path = Path(path)
        self._key = key or None
        self._busy_timeout = busy_timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        # Threads of one process queue here instead of in SQLite's busy handler, whose
        # sleeping back-off turned a busy write lock into p99 latencies of ~1 s under load;
        # whoever waits is written in the next batch (one transaction, one fsync).
        self._group: GroupCommit[_Pending, StoredEvent] = GroupCommit(self.write_batch)
        self._conns: list[tuple[int, sqlite3.Connection]] = []
        self._closed = False
        self._json = False
        self._init_schema()

    # -- connections -------------------------------------------------------------------

    @contextmanager
    def _guard(self, what: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise LedgerError(
                f"ledger {self.path}: could not {what}: {exc}", hint=_hint(exc)
            ) from exc

    def _conn(self) -> sqlite3.Connection:
        if self._closed:
            raise LedgerError(f"ledger {self.path} is closed", hint="open the ledger again")
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
                    conn.execute("PRAGMA journal_mode = WAL")
                    conn.execute("PRAGMA synchronous = FULL")
                    conn.create_function("veil_has_subject", 2, _has_subject, deterministic=True)
                except sqlite3.Error:
                    conn.close()
                    raise
            self._local.conn, self._local.pid = conn, os.getpid()
            with self._lock:
                self._conns.append((os.getpid(), conn))
        return conn

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
        meta = {
            "schema_version": str(SCHEMA_VERSION),
            "keyed": "1" if self._key else "0",
            "key_check": key_check(self._key) if self._key else "",
            "head_seq": "0",
            "head_hash": GENESIS,
        }
        conn.executemany("INSERT INTO meta(key, value) VALUES (?, ?)", meta.items())
        return meta

    def _check_meta(self, meta: dict[str, str]) -> None:
        version = int(meta.get("schema_version", "0"))
        if version != SCHEMA_VERSION:
            raise ConfigError(
                f"ledger {self.path} has schema version {version}; this veil reads "
                f"version {SCHEMA_VERSION}",
                hint="use the veil release that wrote this ledger",
            )
        keyed = meta.get("keyed") == "1"
        if keyed and not self._key:
            raise ConfigError(
                f"ledger {self.path} is keyed (HMAC chain) but no ledger key was given",
                hint="provide the key the ledger was created with (e.g. VEIL_KEY_LEDGER)",
            )
        if not keyed and self._key:
            raise ConfigError(
                f"ledger {self.path} was created without a key, but a ledger key was given",
                hint="open it without a key, or start a new ledger file to use a keyed chain",
            )
        if self._key and not hmac.compare_digest(meta.get("key_check", ""), key_check(self._key)):
            raise ConfigError(
                f"the ledger key does not match ledger {self.path}",
                hint="provide the key the ledger was created with",
            )

    def close(self) -> None:
        """Close the connections this process opened. Later calls raise :class:`LedgerError`.

        Connections inherited across ``fork`` are left alone: closing them in the child
        could disturb the parent's locks.
        """
        self._closed = True
        with self._lock:
            conns, self._conns = self._conns, []
        for pid, conn in conns:
            if pid == os.getpid():
                with suppress(sqlite3.Error):
                    conn.close()

    def __enter__(self) -> SQLiteLedger:
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
        Concurrent appends of this process are group-committed (one transaction, one
        fsync); each still returns only once its event is durable. If this raises,
        nothing of this event was recorded and the caller must not disclose.
        """
        return self._group.submit(self.prepare(event, idempotent=idempotent))

    def prepare(self, event: Event, *, idempotent: bool = False) -> _Pending:
        """Serialize and digest ``event`` for :meth:`write_batch` (no lock, no I/O)."""
        return _prepare(event, idempotent, f"ledger {self.path}")

    def write_batch(self, batch: Sequence[_Pending]) -> list[StoredEvent | BaseException]:
        """One transaction for ``batch``: chain each event after the previous, then commit.

        Returns one stored event per item, or the exception that failed that item; if it
        raises, nothing of the batch was recorded.
        """
        conn = self._conn()
        out: list[StoredEvent | BaseException] = []
        with self._guard("append the event"):
            conn.execute("BEGIN IMMEDIATE")
            try:
                known = self._known_ids(conn, [p.event.event_id for p in batch])
                row = conn.execute(
                    "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1"
                ).fetchone()
                seq, prev = (row[0], row[1]) if row else (0, GENESIS)
                rows: list[tuple[Any, ...]] = []
                subjects: list[tuple[str, list[str]]] = []
                for p in batch:
                    eid = p.event.event_id
                    if eid in known:
                        out.append(self._existing(conn, eid, p.idempotent))
                        continue
                    seq += 1
                    h = link_hash_text(prev, seq, p.body_json, p.digest, self._key)
                    ev = p.event
                    rows.append(
                        (seq, eid, p.time, ev.kind, ev.recipient, ev.purpose, ev.dataset,
                         p.body_json, p.digest, prev, h)
                    )  # fmt: skip
                    subjects.append((eid, p.subjects))
                    out.append(StoredEvent(seq=seq, event=ev, prev_hash=prev, hash=h))
                    known[eid] = seq
                    prev = h
                # A statement per table, not per event: each statement hands the GIL back
                # and forth with the event loop's thread, and under load a hand-back can
                # wait a switch interval (5 ms).
                for part in _parts(rows, _ROWS_PER_INSERT):
                    conn.execute(_INSERT_EVENTS + ",".join([_EVENT_ROW] * len(part)), _flat(part))
                self._insert_subjects(conn, subjects)
                conn.execute(
                    "UPDATE meta SET value = CASE key WHEN 'head_seq' THEN ? ELSE ? END"
                    " WHERE key IN ('head_seq', 'head_hash')",
                    (str(seq), prev),
                )
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    with suppress(sqlite3.Error):
                        conn.execute("ROLLBACK")
                raise
        return out

    @staticmethod
    def _known_ids(conn: sqlite3.Connection, ids: list[str]) -> dict[str, int]:
        marks = ",".join("?" * len(ids))
        rows = conn.execute(f"SELECT event_id, seq FROM events WHERE event_id IN ({marks})", ids)  # noqa: S608
        return {r[0]: r[1] for r in rows}

    def _existing(
        self, conn: sqlite3.Connection, eid: str, idempotent: bool
    ) -> StoredEvent | BaseException:
        """The stored event with id ``eid`` (idempotent append), else an error for this item."""
        if not idempotent:
            return LedgerError(
                f"ledger {self.path}: could not append: an event with this event_id is "
                "already recorded",
                hint="give every event a new event_id, or append with idempotent=True",
            )
        row = conn.execute(
            "SELECT seq, body, prev_hash, hash FROM events WHERE event_id = ?", (eid,)
        ).fetchone()
        if row is None:  # appended earlier in this same batch
            return LedgerError(
                f"ledger {self.path}: the same event_id was appended twice at once",
                hint="retry the append",
            )
        subs = conn.execute(
            "SELECT data_subject_id FROM event_subjects WHERE event_id = ?"
            " ORDER BY data_subject_id",
            (eid,),
        ).fetchall()
        return StoredEvent(
            row[0], self._event(row[0], row[1], [r[0] for r in subs]), row[2], row[3]
        )

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

    def head(self) -> tuple[int, str]:
        """``(seq, hash)`` of the newest event, ``(0, GENESIS)`` if empty: record it elsewhere
        and pass it to ``verify(anchor=...)`` later to prove nothing was rewritten or cut off."""
        with self._guard("read the head"):
            row = (
                self._conn()
                .execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1")
                .fetchone()
            )
        return (int(row[0]), str(row[1])) if row else (0, GENESIS)

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
                    f"ledger {self.path}: the stored data-subject set of event {event_id} "
                    "is damaged",
                    hint="run `veil audit verify` to see what was changed",
                ) from None
            subjects = sorted(subjects + unpacked) if subjects else unpacked
        return subjects

    def _event(self, seq: int, body: str, subjects: Sequence[str] = ()) -> Event:
        try:
            return Event.model_validate({**json.loads(body), "data_subjects": list(subjects)})
        except (ValueError, TypeError):
            raise TamperDetected(
                f"ledger {self.path}: the stored body of seq {seq} is not a valid event",
                hint="run `veil ledger verify` to see what was changed",
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

        ``since``/``until`` bound the event time, both inclusive (a bare date ``until``
        covers that whole day). ``data_subject`` keeps the events that disclosed that
        subject. Subjects are not loaded unless ``with_subjects``: ``event.data_subjects``
        is then empty and :meth:`subjects_of` gives them. Reads page by page, so no
        read transaction stays open while the caller consumes the iterator.
        """
        where, args = _time_filter(since, until)
        sql = "SELECT e.seq, e.body, e.prev_hash, e.hash FROM events e"
        if data_subject is not None:
            where.append(f"e.event_id IN ({_EVENTS_OF_SUBJECT})")
            args[:0] = [data_subject, data_subject]
        where.append("e.seq < ?" if descending else "e.seq > ?")
        sql += " WHERE " + " AND ".join(where)
        sql += f" ORDER BY e.seq {'DESC' if descending else 'ASC'} LIMIT ?"
        start = 2**63 - 1 if descending else 0
        return self._pages(sql, args, start, limit, with_subjects)

    def _pages(
        self, sql: str, args: list[Any], cursor: int, limit: int | None, with_subjects: bool
    ) -> Iterator[StoredEvent]:
        remaining = -1 if limit is None else max(limit, 0)
        while remaining != 0:
            page = _PAGE if remaining < 0 else min(_PAGE, remaining)
            with self._guard("read events"):
                rows = self._conn().execute(sql, (*args, cursor, page)).fetchall()
            for seq, body, prev, h in rows:
                subjects = self._event_subjects(body) if with_subjects else ()
                yield StoredEvent(int(seq), self._event(seq, body, subjects), prev, h)
            if len(rows) < page:
                return
            cursor = rows[-1][0]
            if remaining > 0:
                remaining -= len(rows)

    def _event_subjects(self, body: str) -> Sequence[str]:
        try:
            eid = json.loads(body)["event_id"]
        except (ValueError, KeyError, TypeError):
            return ()
        return self.subjects_of(str(eid))

    def accounting(
        self, data_subject: str, *, since: str | None = None, until: str | None = None
    ) -> list[AccountingEntry]:
        """Every disclosure (and reveal) of ``data_subject``'s data, oldest first.

        Refusals disclosed nothing and are left out. Bounds as in :meth:`events`.
        """
        where, args = _time_filter(since, until)
        # Only constant SQL is joined here; the subject id and bounds are parameters.
        sql = "SELECT e.seq, e.body FROM events e WHERE e.event_id IN ("
        sql += _EVENTS_OF_SUBJECT + ") AND e.kind != 'refusal'"
        sql += "".join(f" AND {w}" for w in where)
        args[:0] = [data_subject, data_subject]
        sql += " ORDER BY e.time, e.seq"
        with self._guard("read the accounting of disclosures"):
            rows = self._conn().execute(sql, args).fetchall()
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

        ``anchor`` is a ``(seq, hash)`` from :meth:`head` recorded elsewhere. Without one,
        the head stored in the file itself is used: a tripwire, not a proof, since whoever
        can cut events off the end can also rewrite it.
        """
        if anchor is None:
            with self._guard("read the recorded head"):
                meta = dict(
                    self._conn()
                    .execute("SELECT key, value FROM meta WHERE key IN ('head_seq', 'head_hash')")
                    .fetchall()
                )
            anchor = (int(meta.get("head_seq", "0")), meta.get("head_hash", GENESIS))
        report = verify_chain(self._rows(), self._key, anchor=anchor)
        report.keyed = self.keyed
        with self._guard("check data-subject rows"):
            orphans = (
                self._conn()
                .execute(
                    "SELECT event_id, count(*) FROM event_subjects WHERE event_id NOT IN"
                    " (SELECT event_id FROM events) GROUP BY event_id"
                    " UNION ALL SELECT event_id, count FROM event_subject_sets"
                    " WHERE event_id NOT IN (SELECT event_id FROM events) ORDER BY 1"
                )
                .fetchall()
            )
        for eid, count in orphans:
            report.problems.append(
                Problem(
                    0,
                    str(eid),
                    SUBJECTS,
                    f"{count} data-subject row(s) refer to event {eid}, which is not in the "
                    "ledger: the event was deleted, or the rows were added",
                )
            )
        return report

    def _rows(self) -> Iterator[ChainRow]:
        sql = (
            "SELECT seq, event_id, body, subjects_digest, prev_hash, hash,"
            " time, kind, recipient, purpose, dataset"
            " FROM events WHERE seq > ? ORDER BY seq LIMIT ?"
        )
        cursor = -(2**63)
        while True:
            with self._guard("read events for verification"):
                rows = self._conn().execute(sql, (cursor, _PAGE)).fetchall()
            for seq, eid, body, digest, prev, h, *values in rows:
                try:
                    subjects: list[str] | None = self._subjects(self._conn(), eid)
                except TamperDetected:  # a damaged subject set: reported, not raised
                    subjects = None
                yield ChainRow(
                    seq=seq,
                    event_id=eid,
                    body=body,
                    subjects_digest="damaged" if subjects is None else _digest(subjects),
                    stored_subjects_digest=digest,
                    prev_hash=prev,
                    hash=h,
                    columns=dict(zip(_COLUMNS, values, strict=True)),
                    subject_count=None if subjects is None else len(subjects),
                )
            if len(rows) < _PAGE:
                return
            cursor = rows[-1][0]
