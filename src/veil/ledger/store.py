"""What the SQLite and PostgreSQL ledgers share: all of the ledger but the database talk.

Holds:

* preparing an event outside the write lock (:class:`Pending`, :func:`prepare_event`):
  serialized, its subjects sorted and digested, its time bound as the backend stores it;
* subject sets: a bulk event (:data:`BULK_SUBJECTS` subjects or more) keeps its subjects
  as one ``\\0id\\0id\\0`` string (:func:`join_subjects`, :func:`split_subjects`);
  :func:`sorted_digest` digests sorted ids in one pass;
* :func:`time_filter`, the inclusive ``since``/``until`` conditions on ``e.time``;
* :class:`SQLLedger`, the base of both backends: the key checks on open, the chaining of
  a write batch (seq, prev_hash and hash of each new event; ids already recorded are
  answered from the ledger), ``events`` with its paging, ``accounting``, ``head``,
  parsing stored bodies, and the pieces of ``verify`` (:func:`chain_row`,
  :func:`orphan_problem`, :func:`recorded_head`) that do not depend on how rows are read.

Each backend adds only what differs: connections and error mapping; the write lock and
transaction around :meth:`SQLLedger._chain` (SQLite's ``BEGIN IMMEDIATE``, PostgreSQL's
advisory lock); how event and subject rows are inserted (SQLite: multi-row INSERT,
``json_each``, zlib-compressed sets; PostgreSQL: COPY, TOAST-compressed sets); how
subjects are keyed and matched (by event id; by seq); schema creation and migrations;
how ``verify`` streams the chain.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from itertools import islice
from types import TracebackType
from typing import Any, Generic, Protocol, Self, TypeVar

from ..errors import ConfigError, LedgerError, TamperDetected
from .accounting import describe
from .base import AccountingEntry, Problem, StoredEvent
from .chain import GENESIS, SUBJECTS, ChainRow, key_check, link_hash_text, normalize_time
from .events import Event
from .group import GroupCommit

#: Events disclosing at least this many subjects (bulk extracts) keep them as one set
#: instead of one indexed row each: appending 1M rows cost seconds and grew the index.
BULK_SUBJECTS = 1000
#: Copies of body fields kept as columns; ``verify`` checks each against the body.
COLUMNS = ("time", "kind", "recipient", "purpose", "dataset")
#: The columns of ``events`` in the order :meth:`Link.row` gives their values.
INSERT_EVENTS = (
    "INSERT INTO events (seq, event_id, time, kind, recipient, purpose, dataset, body,"
    " subjects_digest, prev_hash, hash) VALUES "
)
HEAD_SQL = "SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1"
#: The head recorded in ``meta``: a tripwire against cutting events off the end.
RECORDED_HEAD_SQL = "SELECT key, value FROM meta WHERE key IN ('head_seq', 'head_hash')"


@dataclass(frozen=True)
class Pending:
    """An event prepared for appending outside the write lock (serialized, digested)."""

    event: Event
    body_json: str
    subjects: list[str]
    digest: str
    time: str | datetime  # as the backend binds it
    idempotent: bool


@dataclass(frozen=True)
class Link:
    """A new event chained in a write batch, for the backend to insert."""

    seq: int
    pending: Pending
    prev_hash: str
    hash: str

    def row(self) -> tuple[Any, ...]:
        """The values of :data:`INSERT_EVENTS`' columns."""
        p, ev = self.pending, self.pending.event
        return (self.seq, ev.event_id, p.time, ev.kind, ev.recipient, ev.purpose, ev.dataset,
                p.body_json, p.digest, self.prev_hash, self.hash)  # fmt: skip


def prepare_event(
    event: Event, idempotent: bool, where: str, bind_time: Callable[[str], str | datetime]
) -> Pending:
    """Serialize and digest ``event`` before the write lock; ``where`` names the ledger."""
    subjects = unique_sorted(event.data_subjects)
    try:
        time = bind_time(normalize_time(event.time))
    except ValueError:
        raise LedgerError(
            f"{where}: could not append: the event time is not ISO-8601",
            hint="leave Event.time at its default or give an ISO-8601 timestamp",
        ) from None
    body = event.body_json()
    return Pending(event, body, subjects, sorted_digest(subjects), time, idempotent)


def join_subjects(sorted_unique: list[str]) -> bytes | None:
    """A bulk event's subjects as one byte string ``\\0id\\0id\\0``, or None to store them
    as rows (few subjects, or an id holding NUL, which the set uses as separator)."""
    if len(sorted_unique) < BULK_SUBJECTS:
        return None
    joined = "\x00".join(sorted_unique)
    if joined.count("\x00") != len(sorted_unique) - 1:
        return None
    return ("\x00" + joined + "\x00").encode("utf-8")


def split_subjects(raw: bytes) -> list[str]:
    """The ids of a :func:`join_subjects` string."""
    return raw.decode("utf-8").split("\x00")[1:-1]


def subject_needle(subject: str) -> bytes:
    """What marks ``subject`` inside a subject set: the id between separators."""
    return ("\x00" + subject + "\x00").encode("utf-8")


def unique_sorted(ids: list[str]) -> list[str]:
    """``sorted(set(ids))``, skipping the sort when a bulk job already sends them so."""
    if all(a < b for a, b in zip(ids, islice(ids, 1, None), strict=False)):
        return ids
    return sorted(set(ids))


def sorted_digest(sorted_unique: Sequence[str]) -> str:
    """:func:`~veil.ledger.events.subjects_digest` of already sorted, unique ids, in one pass."""
    if not sorted_unique:
        return hashlib.sha256().hexdigest()
    return hashlib.sha256(("\x00".join(sorted_unique) + "\x00").encode()).hexdigest()


#: Event fields stored in their own columns, which :meth:`LedgerStore.events` filters by.
EVENT_COLUMNS = frozenset({"kind", "recipient", "purpose", "dataset"})


def time_filter(
    since: str | None, until: str | None, mark: str, bind_time: Callable[[str], Any]
) -> tuple[list[str], list[Any]]:
    """SQL conditions on ``e.time`` for inclusive bounds; a bare-date ``until`` covers its day.

    ``mark`` is the driver's placeholder, ``bind_time`` turns normalized ISO text into what
    the ``time`` column compares with.
    """
    conds: list[str] = []
    args: list[Any] = []
    try:
        if since is not None:
            conds.append(f"e.time >= {mark}")
            args.append(bind_time(normalize_time(since)))
        if until is not None:
            date_only = len(until.strip()) == 10
            conds.append(f"e.time {'<' if date_only else '<='} {mark}")
            args.append(bind_time(normalize_time(until, end_of_day=True)))
    except ValueError:
        raise ConfigError(
            "since/until must be ISO-8601 dates or timestamps",
            hint="use e.g. 2024-05-01 or 2024-05-01T12:00:00+00:00",
        ) from None
    return conds, args


def new_meta(key: bytes | None) -> dict[str, str]:
    """``meta`` of a new, empty ledger."""
    return {
        "keyed": "1" if key else "0",
        "key_check": key_check(key) if key else "",
        "head_seq": "0",
        "head_hash": GENESIS,
    }


def recorded_head(rows: Iterable[Sequence[Any]]) -> tuple[int, str]:
    """The ``(seq, hash)`` anchor from the rows of :data:`RECORDED_HEAD_SQL`."""
    meta = {str(k): str(v) for k, v in rows}
    return int(meta.get("head_seq", "0")), meta.get("head_hash", GENESIS)


def chain_row(row: Sequence[Any], subjects: list[str] | None) -> ChainRow:
    """A verifier row from ``seq, event_id, body, subjects_digest, prev_hash, hash`` and
    the :data:`COLUMNS` values; ``subjects`` are the stored ids, sorted, or ``None`` if
    they could not be read (a damaged set: reported, not raised)."""
    seq, eid, body, digest, prev, h, *values = row
    return ChainRow(
        seq=int(seq),
        event_id=eid,
        body=body,
        subjects_digest="damaged" if subjects is None else sorted_digest(subjects),
        stored_subjects_digest=digest,
        prev_hash=prev,
        hash=h,
        columns=dict(zip(COLUMNS, values, strict=True)),
        subject_count=None if subjects is None else len(subjects),
    )


def orphan_problem(seq: int, event_id: str, count: int, refers_to: str) -> Problem:
    """Subject rows of an event that is not in the ledger (``refers_to`` names it)."""
    return Problem(
        seq,
        event_id,
        SUBJECTS,
        f"{count} data-subject row(s) refer to {refers_to}, which is not in the "
        "ledger: the event was deleted, or the rows were added",
    )


class Cursor(Protocol):
    def fetchone(self) -> Any: ...

    def fetchall(self) -> Sequence[Any]: ...


class Connection(Protocol):
    """What the shared write path needs of a DB-API connection (sqlite3 and psycopg)."""

    def execute(self, sql: str, params: Any = ..., /) -> Cursor: ...


C = TypeVar("C", bound=Connection)


class SQLLedger(ABC, Generic[C]):
    """The ledger logic both backends share; ``C`` is the backend's connection type.

    A backend sets ``_MARK`` and ``_NEW_CHAIN``, implements the abstract methods, wraps
    :meth:`_chain` in its locked write transaction (``write_batch``), and adds
    ``subjects_of``, ``verify`` and ``close``.
    """

    #: The driver's parameter placeholder: ``?`` (sqlite3) or ``%s`` (psycopg).
    _MARK: str
    #: SQL condition on ``e`` true for events that used break-glass (an indexed one)
    _BREAK_GLASS: str
    #: How to start a keyed chain instead, for the hint when an unkeyed ledger gets a key.
    _NEW_CHAIN: str

    def __init__(self, name: str, key: bytes | None) -> None:
        #: How messages name this ledger; never holds a password.
        self._name = name
        self._key = key or None
        self._closed = False
        # Threads of one process queue here instead of in the database's lock wait (for
        # SQLite, its busy handler, whose sleeping back-off turned a busy write lock into
        # p99 latencies of ~1 s under load); whoever waits is written in the next batch
        # (one transaction, one fsync).
        self._group: GroupCommit[Pending, StoredEvent] = GroupCommit(self.write_batch)

    # -- what each backend provides ----------------------------------------------------

    @staticmethod
    @abstractmethod
    def _bind_time(text: str) -> str | datetime:
        """Normalized ISO text as the ``time`` column stores and compares it."""

    @abstractmethod
    def _query(self, what: str, query: str, params: Sequence[Any]) -> Sequence[Any]:
        """All rows of a read; a database error becomes a :class:`LedgerError` saying
        the ledger could not ``what``."""

    @abstractmethod
    def _page_size(self) -> int:
        """Rows per page of :meth:`events` (the backend module's ``_PAGE``)."""

    @abstractmethod
    def _of_subject(self, subject: str) -> tuple[str, list[Any]]:
        """A condition on ``events e`` keeping the events that disclosed ``subject``
        (rows or set), and its parameters."""

    @abstractmethod
    def _page_subjects(self, seq: int, body: str) -> Sequence[str]:
        """The subjects of a listed event (``events(with_subjects=True)``)."""

    @abstractmethod
    def _known_ids(self, conn: C, ids: list[str]) -> dict[str, int]:
        """``event_id -> seq`` of those of ``ids`` already in the ledger."""

    @abstractmethod
    def _stored_subjects(self, conn: C, event_id: str, seq: int) -> list[str]:
        """The subjects returned with an already stored event by an idempotent append."""

    @abstractmethod
    def write_batch(self, batch: Sequence[Pending]) -> list[StoredEvent | BaseException]:
        """One transaction for ``batch``; see :meth:`append`."""

    @abstractmethod
    def close(self) -> None: ...

    # -- opening and closing -------------------------------------------------------------

    @property
    def keyed(self) -> bool:
        return self._key is not None

    @property
    def key_fingerprint(self) -> str:
        """Which ledger key (never the key): an anchor records it, so a ledger re-keyed or
        stripped of its key no longer matches its anchors."""
        if self._key is None:
            return ""
        return hashlib.sha256(key_check(self._key).encode()).hexdigest()[:16]

    def _check_open(self) -> None:
        if self._closed:
            raise LedgerError(f"{self._name} is closed", hint="open the ledger again")

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def _check_meta(self, meta: dict[str, str]) -> None:
        """Refuse a keyed ledger without its key or with another, and a key for an unkeyed
        one: a chain is keyed or not for life, so a wrong key is caught on open."""
        keyed = meta.get("keyed") == "1"
        if keyed and not self._key:
            raise ConfigError(
                f"{self._name} is keyed (HMAC chain) but no ledger key was given",
                hint="provide the key the ledger was created with (e.g. VEIL_KEY_LEDGER)",
            )
        if not keyed and self._key:
            # A ledger created keyed and rewritten without the key (a downgrade) looks just
            # like this; with a ledger key configured, an unkeyed ledger is not trusted.
            raise TamperDetected(
                f"{self._name} is unkeyed, but a ledger key is configured: it was rewritten "
                "without the key (a downgrade), or it is not the ledger you meant",
                hint=f"check with `veil audit verify --anchor`; to start a keyed chain, "
                f"{self._NEW_CHAIN}",
            )
        if self._key and not hmac.compare_digest(meta.get("key_check", ""), key_check(self._key)):
            raise ConfigError(
                f"the ledger key does not match {self._name}",
                hint="provide the key the ledger was created with",
            )

    # -- writing -----------------------------------------------------------------------

    def append(self, event: Event, *, idempotent: bool = False) -> StoredEvent:
        """Chain ``event`` after the current head and make it durable; return it as stored.

        With ``idempotent``, an event whose ``event_id`` is already in the ledger is not
        appended again: the stored one is returned (a retried Spark task logs once).
        Concurrent appends of this process are group-committed (one transaction, one
        fsync); each still returns only once its event is durable.

        If this raises, the caller must not disclose. Nothing was recorded, except in one
        case the message states (PostgreSQL): the connection broke while committing, and
        the event may be in the ledger (which then records a disclosure that did not
        happen, the safe way round).
        """
        return self._group.submit(self.prepare(event, idempotent=idempotent))

    def prepare(self, event: Event, *, idempotent: bool = False) -> Pending:
        """Serialize and digest ``event`` for :meth:`write_batch` (no lock, no I/O)."""
        return prepare_event(event, idempotent, self._name, self._bind_time)

    def _chain(
        self,
        conn: C,
        batch: Sequence[Pending],
        add: Callable[[Link], None],
        flush: Callable[[], None] = lambda: None,
    ) -> list[StoredEvent | BaseException]:
        """Chain the new events of ``batch`` after the head and move the recorded head.

        Call it inside the backend's write transaction, once its write lock is granted:
        the head is read here, in its own statement, so it sees the previous writer's
        commit. Each new event goes to ``add`` (inserted at once, or collected and
        inserted by ``flush``). An id already in the ledger, or earlier in the batch, is
        answered by :meth:`_existing` instead. Returns one result per item of ``batch``.
        """
        known = self._known_ids(conn, [p.event.event_id for p in batch])
        row = conn.execute(HEAD_SQL).fetchone()  # a new snapshot, after the lock
        seq, prev = (int(row[0]), str(row[1])) if row else (0, GENESIS)
        out: list[StoredEvent | BaseException] = []
        for p in batch:
            eid = p.event.event_id
            if eid in known:
                out.append(self._existing(conn, eid, known[eid], p.idempotent))
                continue
            seq += 1
            h = link_hash_text(prev, seq, p.body_json, p.digest, self._key)
            add(Link(seq, p, prev, h))
            out.append(StoredEvent(seq=seq, event=p.event, prev_hash=prev, hash=h))
            known[eid] = seq
            prev = h
        flush()
        m = self._MARK
        conn.execute(
            "UPDATE meta SET value = CASE key WHEN 'head_seq' THEN "  # noqa: S608 (constant SQL)
            f"{m} ELSE {m} END WHERE key IN ('head_seq', 'head_hash')",
            (str(seq), prev),
        )
        return out

    def _existing(
        self, conn: C, event_id: str, seq: int, idempotent: bool
    ) -> StoredEvent | BaseException:
        """The stored event ``event_id`` at ``seq`` (idempotent append), else an error for
        this item."""
        if not idempotent:
            return LedgerError(
                f"{self._name}: could not append: an event with this event_id is already recorded",
                hint="give every event a new event_id, or append with idempotent=True",
            )
        row = conn.execute(
            f"SELECT body, prev_hash, hash FROM events WHERE seq = {self._MARK}",  # noqa: S608
            (seq,),
        ).fetchone()
        if row is None:  # appended earlier in this same batch, not inserted yet
            return LedgerError(
                f"{self._name}: the same event_id was appended twice at once",
                hint="retry the append",
            )
        stored = self._event(seq, str(row[0]), self._stored_subjects(conn, event_id, seq))
        return StoredEvent(seq, stored, str(row[1]), str(row[2]))

    # -- reading -----------------------------------------------------------------------

    def head(self) -> tuple[int, str]:
        """``(seq, hash)`` of the newest event, ``(0, GENESIS)`` if empty: record it elsewhere
        and pass it to ``verify(anchor=...)`` later to prove nothing was rewritten or cut off."""
        rows = self._query("read the head", HEAD_SQL, ())
        return (int(rows[0][0]), str(rows[0][1])) if rows else (0, GENESIS)

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
        columns: Mapping[str, str] | None = None,
        after_seq: int | None = None,
        break_glass: bool = False,
    ) -> Iterator[StoredEvent]:
        """Stored events in ``seq`` (append) order, newest first if ``descending``.

        ``since``/``until`` bound the event time, both inclusive (a bare date ``until``
        covers that whole day). ``data_subject`` keeps the events that disclosed that
        subject. ``columns`` keeps events whose ``kind``, ``recipient``, ``purpose`` or
        ``dataset`` equal the given values (the column copies of the body's fields).
        ``after_seq`` starts after that sequence number in the direction of reading (the
        cursor of a paginated browser: constant time per page however deep).
        ``break_glass`` keeps the events that used break-glass rules. Subjects are
        not loaded unless ``with_subjects``: ``event.data_subjects`` is then empty and
        :meth:`subjects_of` gives them. Reads page by page, so no read transaction stays
        open while the caller consumes the iterator.
        """
        m = self._MARK
        where, args = time_filter(since, until, m, self._bind_time)
        if data_subject is not None:
            cond, subject_args = self._of_subject(data_subject)
            where.insert(0, cond)
            args[:0] = subject_args
        for name, value in sorted((columns or {}).items()):
            if name not in EVENT_COLUMNS:
                raise ValueError(f"events cannot be filtered by '{name}'")
            where.append(f"e.{name} = {m}")
            args.append(value)
        if break_glass:
            where.append(self._BREAK_GLASS)
        where.append(f"e.seq < {m}" if descending else f"e.seq > {m}")
        query = "SELECT e.seq, e.body, e.prev_hash, e.hash FROM events e"
        query += " WHERE " + " AND ".join(where)
        query += f" ORDER BY e.seq {'DESC' if descending else 'ASC'} LIMIT {m}"
        start = 2**63 - 1 if descending else 0
        if after_seq is not None:
            start = after_seq
        return self._pages(query, args, start, limit, with_subjects)

    def _pages(
        self, query: str, args: list[Any], cursor: int, limit: int | None, with_subjects: bool
    ) -> Iterator[StoredEvent]:
        remaining = -1 if limit is None else max(limit, 0)
        size = self._page_size()
        while remaining != 0:
            page = size if remaining < 0 else min(size, remaining)
            rows = self._query("read events", query, (*args, cursor, page))
            for seq, body, prev, h in rows:
                subjects = self._page_subjects(seq, body) if with_subjects else ()
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
        cond, args = self._of_subject(data_subject)
        where, time_args = time_filter(since, until, self._MARK, self._bind_time)
        # Only constant SQL is joined here; the subject id and bounds are parameters.
        query = "SELECT e.seq, e.body FROM events e WHERE "
        query += " AND ".join([cond, "e.kind <> 'refusal'", *where])
        query += " ORDER BY e.time, e.seq"
        rows = self._query("read the accounting of disclosures", query, [*args, *time_args])
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
