"""PostgresLedger against a real server: the SQLite contract, tampering, concurrency, outages.

Every test works in a scratch schema (``pg_schema``) that is dropped afterwards. Without a
reachable server the tests skip, or fail when ``VEIL_REQUIRE_POSTGRES=1``.
"""

from __future__ import annotations

import json
import multiprocessing
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import suppress
from typing import Any

import psycopg
import pytest
import test_ledger_sqlite as sqlite_tests
import test_ledger_tamper as tamper_tests
from ledger_factory import KEY, make_event, pg_writer
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

import veil.ledger.postgres as pg_mod
from veil.errors import ConfigError, LedgerError, TamperDetected
from veil.ledger import (
    BreakGlass,
    Event,
    PostgresLedger,
    StoredEvent,
    canonical_json,
    link_hash,
    open_ledger,
    subjects_digest,
)
from veil.ledger.base import Problem
from veil.ledger.postgres import SCHEMA_VERSION

Fill = Callable[[int], list[StoredEvent]]
Sql = Callable[..., list[tuple[Any, ...]]]

# The backend-agnostic tests of the SQLite ledger, collected here a second time so they
# run against PostgreSQL through the ``ledger`` fixture below (it overrides conftest's).
test_round_trip = sqlite_tests.test_round_trip
test_empty_head = sqlite_tests.test_empty_head
test_event_filters = sqlite_tests.test_event_filters
test_appending_while_iterating = sqlite_tests.test_appending_while_iterating
test_threads_share_one_ledger = sqlite_tests.test_threads_share_one_ledger
test_large_subject_list = sqlite_tests.test_large_subject_list
test_untouched_ledger_verifies = tamper_tests.test_untouched_ledger_verifies
test_empty_ledger_verifies = tamper_tests.test_empty_ledger_verifies


@pytest.fixture
def ledger(pg_url: str, pg_schema: str, key: bytes | None) -> Iterator[PostgresLedger]:
    led = PostgresLedger(pg_url, key, schema=pg_schema)
    yield led
    led.close()


@pytest.fixture
def db(pg_url: str, pg_schema: str) -> Sql:
    """Run SQL statements in the test schema in one transaction, as someone with DB access."""

    def run(*statements: str | tuple[str, tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = []
        with psycopg.connect(pg_url) as conn:
            conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(pg_schema)))
            for stmt in statements:
                query, args = (stmt, ()) if isinstance(stmt, str) else stmt
                cur = conn.execute(query, args)
                if cur.description is not None:
                    rows = cur.fetchall()
        return rows

    return run


def named(problems: list[Problem]) -> list[tuple[int, str, str]]:
    return [(p.seq, p.event_id, p.kind) for p in problems]


def eid(stored: StoredEvent) -> str:
    return stored.event.event_id


# -- storage -------------------------------------------------------------------------------


def test_body_is_stored_verbatim_and_durably(ledger: PostgresLedger, db: Sql) -> None:
    ev = make_event(context={"zeta": 1, "alpha": [3, 2]}, reason="é ✓")
    ledger.append(ev)
    [(body, seq)] = db("SELECT body, seq FROM events")
    assert (body, seq) == (canonical_json(ev.body()), 1)  # exactly the text that was hashed
    conn = ledger._conn
    assert conn is not None
    assert conn.execute("SHOW synchronous_commit").fetchone() == ("on",)


def test_paging(ledger: PostgresLedger, filled: Fill, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pg_mod, "_PAGE", 3)
    stored = filled(10)
    assert [s.seq for s in ledger.events()] == list(range(1, 11))
    assert [s.seq for s in ledger.events(descending=True, limit=7)] == list(range(10, 3, -1))
    assert [s.seq for s in ledger.events(data_subject="shared", limit=4)] == [1, 2, 3, 4]
    assert ledger.verify().ok and ledger.verify().checked == 10
    assert stored[-1].hash == ledger.head()[1]


def test_accounting(pg_url: str, pg_schema: str) -> None:
    def at(day: int, **kw: Any) -> Event:
        return make_event(time=f"2024-03-{day:02d}T09:00:00+00:00", **kw)

    with PostgresLedger(pg_url, schema=pg_schema) as led:
        # Appended out of time order on purpose: accounting sorts by time.
        e5 = led.append(at(5, data_subjects=["alice", "bob"], recipient="lab")).event
        e2 = led.append(at(2, data_subjects=["alice"], recipient="insurer")).event
        led.append(at(3, data_subjects=["bob"]))
        led.append(at(4, data_subjects=["alice"], kind="refusal"))
        e9 = led.append(at(9, data_subjects=["alice"], break_glass=BreakGlass(used=True))).event
        e1 = led.append(at(1, data_subjects=["alice"])).event

        entries = led.accounting("alice")
        assert [e.event_id for e in entries] == [x.event_id for x in (e1, e2, e5, e9)]
        assert [e.break_glass for e in entries] == [False, False, False, True]
        assert (entries[1].recipient, entries[1].time) == ("insurer", e2.time)
        assert "diagnosis (clear)" in entries[1].description
        window = led.accounting("alice", since="2024-03-02", until="2024-03-05")
        assert [e.event_id for e in window] == [e2.event_id, e5.event_id]
        assert led.accounting("alice", since="2024-03-06") == [entries[3]]
        assert led.accounting("carol") == []
        with pytest.raises(ConfigError, match="ISO-8601"):
            led.accounting("alice", until="soon")


def test_100k_subjects(pg_url: str, pg_schema: str) -> None:
    subjects = [f"patient-{i:06d}" for i in range(100_000)]
    with PostgresLedger(pg_url, KEY, schema=pg_schema) as led:
        led.append(make_event())
        start = time.perf_counter()
        stored = led.append(make_event(data_subjects=subjects))
        elapsed = time.perf_counter() - start
        assert elapsed < 10, f"100k-subject append took {elapsed:.2f}s"
        assert led.subjects_of(eid(stored)) == subjects
        assert [s.seq for s in led.events(data_subject="patient-054321")] == [2]
        report = led.verify()
        assert report.ok and report.checked == 2


# -- configuration -------------------------------------------------------------------------


def test_migrations_are_recorded_once(pg_url: str, pg_schema: str, db: Sql) -> None:
    PostgresLedger(pg_url, schema=pg_schema).close()
    PostgresLedger(pg_url, schema=pg_schema).close()
    versions = [r[0] for r in db("SELECT version FROM schema_migrations ORDER BY version")]
    assert versions == list(range(1, SCHEMA_VERSION + 1))
    assert dict(db("SELECT key, value FROM meta"))["keyed"] == "0"


def test_newer_schema_is_refused(pg_url: str, pg_schema: str, db: Sql) -> None:
    PostgresLedger(pg_url, schema=pg_schema).close()
    db("INSERT INTO schema_migrations VALUES (99, now())")
    with pytest.raises(ConfigError, match="schema version 99"):
        PostgresLedger(pg_url, schema=pg_schema)


def test_foreign_schema_is_refused(pg_url: str, pg_schema: str, db: Sql) -> None:
    ident = sql.Identifier(pg_schema).as_string()
    db(f"CREATE SCHEMA {ident}", f"CREATE TABLE {ident}.t (x int)")
    with pytest.raises(ConfigError, match="not a veil ledger"):
        PostgresLedger(pg_url, schema=pg_schema)


def test_keyed_ledger_needs_its_key(pg_url: str, pg_schema: str) -> None:
    PostgresLedger(pg_url, KEY, schema=pg_schema).close()
    with pytest.raises(ConfigError, match="keyed") as err:
        PostgresLedger(pg_url, schema=pg_schema)
    assert "key" in err.value.hint
    with pytest.raises(ConfigError, match="does not match"):
        PostgresLedger(pg_url, b"a different key of 32 bytes!!!!!", schema=pg_schema)
    PostgresLedger(pg_url, KEY, schema=pg_schema).close()


def test_unkeyed_ledger_refuses_a_key(pg_url: str, pg_schema: str) -> None:
    PostgresLedger(pg_url, schema=pg_schema).close()
    with pytest.raises(TamperDetected, match="unkeyed, but a ledger key is configured"):
        PostgresLedger(pg_url, KEY, schema=pg_schema)


def test_open_ledger_dispatches_postgres_urls(
    pg_url: str, pg_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[str] = []

    def in_test_schema(url: str, key: bytes | None) -> PostgresLedger:
        opened.append(url)
        return PostgresLedger(url, key, schema=pg_schema)

    monkeypatch.setattr(pg_mod, "PostgresLedger", in_test_schema)
    rest = pg_url.split("://", 1)[1]
    for scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        led = open_ledger(f"{scheme}://{rest}", KEY)
        assert isinstance(led, PostgresLedger)
        led.append(make_event())
        led.close()
    assert opened[2] == f"postgresql://{rest}"
    with PostgresLedger(pg_url, KEY, schema=pg_schema) as led:
        assert led.head()[0] == 3 and led.verify().ok


def test_bad_url_does_not_echo_the_password() -> None:
    with pytest.raises(ConfigError) as err:
        PostgresLedger("postgresql://u:s3cret-pw@[::1/db")
    assert "s3cret-pw" not in err.value.render()


def test_unreachable_server(pg_schema: str) -> None:
    start = time.perf_counter()
    with pytest.raises(LedgerError) as err:
        PostgresLedger("postgresql://veil:s3cret-pw@127.0.0.1:1/ledgerdb", schema=pg_schema)
    assert time.perf_counter() - start < 10
    text = err.value.render()
    assert "PostgreSQL ledger at 127.0.0.1:1/ledgerdb unavailable: OperationalError" in text
    assert "s3cret-pw" not in text and "veil@" not in text
    assert "reachable" in err.value.hint and err.value.http_status == 503


def test_missing_database(pg_url: str) -> None:
    params = conninfo_to_dict(pg_url)
    url = f"postgresql://{params.get('user', 'postgres')}@{params['host']}:{params['port']}/nope_db"
    with pytest.raises(LedgerError, match="database does not exist") as err:
        PostgresLedger(url)
    assert "database does not exist" in err.value.hint


def test_errors_never_quote_event_contents(ledger: PostgresLedger) -> None:
    canary = "CANARY-7f3a"
    ev = make_event(purpose=canary, recipient=canary, data_subjects=[canary], reason=canary)
    ledger.append(ev)
    with pytest.raises(LedgerError) as err:
        ledger.append(ev)  # same event id twice
    text = err.value.render()
    assert canary not in text and ev.event_id not in text
    assert "already recorded" in text and ledger.location in text
    assert err.value.__cause__ is None
    assert ledger.head()[0] == 1 and ledger.verify().ok  # the failed append left nothing


def test_closed_ledger(pg_url: str, pg_schema: str) -> None:
    led = PostgresLedger(pg_url, schema=pg_schema)
    led.close()
    with pytest.raises(LedgerError, match="closed"):
        led.append(make_event())
    with pytest.raises(LedgerError, match="closed"):
        led.verify()


# -- tampering -----------------------------------------------------------------------------


def test_body_changed(ledger: PostgresLedger, filled: Fill, db: Sql) -> None:
    ev = filled(5)[2]
    db("UPDATE events SET body = replace(body, '\"purpose-3\"', '\"marketing\"') WHERE seq = 3")
    report = ledger.verify()
    assert named(report.problems) == [(3, eid(ev), "modified")]
    assert "changed after it was written" in report.problems[0].message


def test_body_reserialized_by_jsonb(ledger: PostgresLedger, filled: Fill, db: Sql) -> None:
    """Same JSON value, other bytes: why bodies are stored as text and hashed as stored."""
    ev = filled(3)[1]
    db("UPDATE events SET body = body::jsonb::text WHERE seq = 2")
    [(body,)] = db("SELECT body FROM events WHERE seq = 2")
    assert json.loads(body) == ev.event.body()
    assert named(ledger.verify().problems) == [(2, eid(ev), "modified")]


def test_columns_changed(ledger: PostgresLedger, filled: Fill, db: Sql) -> None:
    stored = filled(4)
    db(
        "UPDATE events SET purpose = 'marketing' WHERE seq = 2",
        "UPDATE events SET time = '1999-01-01T00:00:00Z' WHERE seq = 3",
        "UPDATE events SET time = 'infinity' WHERE seq = 4",
    )
    report = ledger.verify()
    assert named(report.problems) == [
        (2, eid(stored[1]), "modified"),
        (3, eid(stored[2]), "modified"),
        (4, eid(stored[3]), "modified"),
    ]
    assert "column 'purpose'" in report.problems[0].message
    assert "column 'time'" in report.problems[1].message


@pytest.mark.parametrize("victim", [1, 3])
def test_deleted_event(ledger: PostgresLedger, filled: Fill, db: Sql, victim: int) -> None:
    stored = filled(5)
    db(("DELETE FROM events WHERE seq = %s", (victim,)))
    report = ledger.verify()
    assert named(report.problems) == [
        (victim + 1, eid(stored[victim]), "missing"),
        (victim, "", "subjects"),  # its subject rows were left behind
    ]
    assert f"seq {victim} missing" in report.problems[0].message
    assert "2 data-subject row(s)" in report.problems[1].message


def test_deleted_last_event_with_its_subjects(
    ledger: PostgresLedger, filled: Fill, db: Sql
) -> None:
    filled(4)
    db("DELETE FROM events WHERE seq = 4", "DELETE FROM event_subjects WHERE event_seq = 4")
    report = ledger.verify()  # caught by the head recorded in meta
    assert [(p.seq, p.kind) for p in report.problems] == [(4, "missing")]
    assert "chain ends at seq 3" in report.problems[0].message


def _swap(table: str, column: str, a: int, b: int) -> list[str]:
    return [
        f"UPDATE {table} SET {column} = -1 WHERE {column} = {a}",
        f"UPDATE {table} SET {column} = {a} WHERE {column} = {b}",
        f"UPDATE {table} SET {column} = {b} WHERE {column} = -1",
    ]


def test_swapped_events(ledger: PostgresLedger, filled: Fill, db: Sql) -> None:
    stored = filled(6)
    db(*_swap("events", "seq", 3, 4), *_swap("event_subjects", "event_seq", 3, 4))
    report = ledger.verify()
    assert named(report.problems) == [
        (3, eid(stored[3]), "reordered"),
        (4, eid(stored[2]), "reordered"),
    ]
    assert "was written at seq 4" in report.problems[0].message


def test_swapped_events_leaving_subject_rows(ledger: PostgresLedger, filled: Fill, db: Sql) -> None:
    """Subject rows belong to the seq they were written at: they now mismatch as well."""
    stored = filled(6)
    db(*_swap("events", "seq", 2, 5))
    report = ledger.verify()
    assert {p.seq for p in report.problems} == {2, 5}
    assert (2, eid(stored[4]), "reordered") in named(report.problems)
    assert (5, eid(stored[1]), "reordered") in named(report.problems)


def test_subject_rows_added(ledger: PostgresLedger, filled: Fill, db: Sql) -> None:
    ev = filled(4)[1]
    db("INSERT INTO event_subjects VALUES ('p-intruder', 2)")
    report = ledger.verify()
    assert named(report.problems) == [(2, eid(ev), "subjects")]
    assert "(now 3)" in report.problems[0].message


def test_event_appended_without_the_key(pg_url: str, pg_schema: str, db: Sql) -> None:
    with PostgresLedger(pg_url, KEY, schema=pg_schema) as led:
        for _ in range(3):
            led.append(make_event())
        ev = make_event(purpose="forged", data_subjects=["p-9"])
        [(seq, prev)] = db("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1")
        digest = subjects_digest(ev.data_subjects)
        h = link_hash(prev, seq + 1, ev.body(), digest, None)
        body = canonical_json(ev.body())
        row = (seq + 1, ev.event_id, ev.time, ev.kind, ev.recipient, ev.purpose, ev.dataset)
        db(
            (
                "INSERT INTO events VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)",
                (*row, body, digest, prev, h),
            ),
            ("INSERT INTO event_subjects VALUES ('p-9', %s)", (seq + 1,)),
            ("UPDATE meta SET value = %s WHERE key = 'head_seq'", (str(seq + 1),)),
            ("UPDATE meta SET value = %s WHERE key = 'head_hash'", (h,)),
        )
        led.append(make_event())  # the real writer carries on after the forgery
        report = led.verify()
    assert named(report.problems) == [(4, ev.event_id, "unkeyed")]
    assert "without the ledger key" in report.problems[0].message


def test_garbled_body_raises_tamper_on_read(ledger: PostgresLedger, filled: Fill, db: Sql) -> None:
    filled(2)
    db("UPDATE events SET body = '{\"oops\": 1}' WHERE seq = 2")
    with pytest.raises(TamperDetected, match="seq 2"):
        list(ledger.events())
    assert [(p.seq, p.kind) for p in ledger.verify().problems] == [(2, "modified")]


# -- concurrency ---------------------------------------------------------------------------

PROCESSES, EACH = 4, 50


def test_concurrent_creation_and_appends_from_processes(pg_url: str, pg_schema: str) -> None:
    """Four processes race to create the schema, then append 50 events each."""
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(PROCESSES)
    procs = [
        ctx.Process(target=pg_writer, args=(pg_url, pg_schema, EACH, w, start))
        for w in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert [p.exitcode for p in procs] == [0] * PROCESSES
    with PostgresLedger(pg_url, KEY, schema=pg_schema) as led:
        report = led.verify()
        assert report.ok, report.problems[:5]
        assert report.checked == PROCESSES * EACH
        events = list(led.events())
        assert [s.seq for s in events] == list(range(1, PROCESSES * EACH + 1))
        per_worker = [sum(s.event.reason == f"w{w}" for s in events) for w in range(PROCESSES)]
        assert per_worker == [EACH] * PROCESSES
        assert len(led.accounting("shared")) == PROCESSES * EACH


def _append_in_child(led: PostgresLedger, n: int) -> None:
    for _ in range(n):
        led.append(make_event())
    led.close()


def test_forked_child_opens_its_own_session(pg_url: str, pg_schema: str) -> None:
    """A child must neither use nor end the parent's session, even when it closes."""
    with PostgresLedger(pg_url, KEY, schema=pg_schema) as led:
        led.append(make_event())
        conn = led._conn
        assert conn is not None
        pid = conn.info.backend_pid
        child = multiprocessing.get_context("fork").Process(target=_append_in_child, args=(led, 5))
        child.start()
        child.join(60)
        assert child.exitcode == 0
        led.append(make_event())
        assert led._conn is conn and conn.info.backend_pid == pid  # no reconnect was needed
        report = led.verify()
        assert report.ok and report.checked == 7


# -- outages -------------------------------------------------------------------------------


def _terminate_session(pg_url: str, led: PostgresLedger) -> None:
    conn = led._conn
    assert conn is not None
    pid = conn.info.backend_pid
    with psycopg.connect(pg_url, autocommit=True) as admin:
        row = admin.execute("SELECT pg_terminate_backend(%s, 5000)", (pid,)).fetchone()
    assert row == (True,)


def test_recovers_after_its_session_is_terminated(pg_url: str, pg_schema: str) -> None:
    with PostgresLedger(pg_url, KEY, schema=pg_schema) as led:
        led.append(make_event())
        _terminate_session(pg_url, led)
        # The dead session had done nothing yet, so the append is retried on a new one.
        led.append(make_event())
        _terminate_session(pg_url, led)
        assert led.head()[0] == 2  # reads reconnect too
        led.append(make_event())
        report = led.verify()
        assert report.ok and report.checked == 3


def test_connection_lost_during_commit_is_reported_not_retried(
    pg_url: str, pg_schema: str, db: Sql
) -> None:
    """The server may or may not have committed: say so, and do not append a second copy."""
    with PostgresLedger(pg_url, schema=pg_schema) as led:
        led.append(make_event())
        db(
            "CREATE FUNCTION die() RETURNS trigger LANGUAGE plpgsql AS"
            " $$ BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NULL; END $$",
            "CREATE CONSTRAINT TRIGGER die AFTER UPDATE ON meta DEFERRABLE INITIALLY DEFERRED"
            " FOR EACH ROW EXECUTE FUNCTION die()",
        )
        with pytest.raises(LedgerError, match="may have been recorded") as err:
            led.append(make_event())
        assert "veil audit verify" in err.value.hint
        db("DROP TRIGGER die ON meta")
        led.append(make_event())
        report = led.verify()
        assert report.ok and report.checked == 2  # here the server had not committed it


def test_lock_timeout(pg_url: str, pg_schema: str) -> None:
    with PostgresLedger(pg_url, schema=pg_schema, lock_timeout=0.2) as led:
        led.append(make_event())
        with psycopg.connect(pg_url) as other:  # another writer, stuck inside its append
            other.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)",
                (pg_mod._LOCK_CLASS, pg_mod._lock_key(pg_schema)),
            )
            with pytest.raises(LedgerError, match="55P03") as err:
                led.append(make_event())
            assert "lock_timeout" in err.value.hint
        led.append(make_event())
        assert led.verify().checked == 2


class Proxy:
    """A TCP forwarder to the test server that can be cut and restored: an outage as the
    ledger sees it, without stopping the shared server."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self._listener: socket.socket | None = None
        self._socks: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        ls = socket.socket()
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind(("127.0.0.1", self.port))
        ls.listen(8)
        self.port, self._listener = ls.getsockname()[1], ls
        threading.Thread(target=self._accept, args=(ls,), daemon=True).start()

    def _accept(self, ls: socket.socket) -> None:
        while True:
            try:
                client, _ = ls.accept()
                upstream = socket.create_connection(self.target)
            except OSError:
                return
            with self._lock:
                self._socks += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        with suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        for s in (src, dst):
            with suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def stop(self) -> None:
        if self._listener is not None:
            with suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            socks, self._socks = self._socks, []
        for s in socks:
            with suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()


def test_outage_raises_ledger_error_then_recovers(pg_url: str, pg_schema: str) -> None:
    params = conninfo_to_dict(pg_url)
    proxy = Proxy(str(params.get("host", "127.0.0.1")), int(params.get("port", 5432)))
    proxy.start()
    try:
        url = f"postgresql://{params.get('user', 'postgres')}@127.0.0.1:{proxy.port}/"
        url += str(params.get("dbname", "postgres"))
        with PostgresLedger(url, KEY, schema=pg_schema, connect_timeout=2) as led:
            led.append(make_event())
            proxy.stop()
            canary = "CANARY-outage"
            with pytest.raises(LedgerError) as err:
                led.append(make_event(purpose=canary, data_subjects=[canary]))
            assert f"at 127.0.0.1:{proxy.port}/" in err.value.message
            assert "unavailable: OperationalError" in err.value.message
            assert canary not in err.value.render() and err.value.http_status == 503
            with pytest.raises(LedgerError, match="unavailable"):
                led.head()
            proxy.start()  # the server is back: the next call reconnects by itself
            led.append(make_event())
            report = led.verify()
            assert report.ok and report.checked == 2
    finally:
        proxy.stop()
