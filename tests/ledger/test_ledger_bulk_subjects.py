"""Bulk events keep their data subjects as one compressed set: still accounted, verified,
listed, and tamper-evident; older ledgers are migrated on open."""

from __future__ import annotations

import sqlite3
import zlib
from pathlib import Path

import psycopg
import pytest
from ledger_factory import KEY, make_event
from psycopg import sql

from veil.ledger import PostgresLedger, SQLiteLedger
from veil.ledger.sqlite import BULK_SUBJECTS, SCHEMA_VERSION

N = BULK_SUBJECTS * 3


def _ids(n: int, prefix: str = "p") -> list[str]:
    return [f"{prefix}-{i:06d}" for i in range(n)]


@pytest.fixture
def bulk(tmp_path: Path) -> tuple[Path, str]:
    db = tmp_path / "l.db"
    with SQLiteLedger(db, KEY) as led:
        led.append(make_event(data_subjects=["p-000007", "solo"]))  # a small event, as rows
        eid = led.append(make_event(data_subjects=list(reversed(_ids(N))))).event.event_id
        led.append(make_event(data_subjects=_ids(N, "q")))  # another bulk event, sorted input
    return db, eid


def test_bulk_subjects_are_stored_as_one_set_and_read_back(bulk: tuple[Path, str]) -> None:
    db, eid = bulk
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT count(*) FROM event_subject_sets").fetchone()[0] == 2
        assert c.execute("SELECT count(*) FROM event_subjects").fetchone()[0] == 2
    with SQLiteLedger(db, KEY) as led:
        assert list(led.subjects_of(eid)) == _ids(N)
        assert led.verify().ok


def test_accounting_and_filters_find_subjects_in_sets(bulk: tuple[Path, str]) -> None:
    db, eid = bulk
    with SQLiteLedger(db, KEY) as led:
        assert [e.event_id for e in led.accounting("p-000007")][1] == eid
        assert len(led.accounting("p-000007")) == 2
        assert len(led.accounting(f"p-{N - 1:06d}")) == 1
        assert led.accounting("p-00000") == []  # a prefix of an id is not the id
        assert led.accounting(f"p-{N:06d}") == []
        assert [s.event.event_id for s in led.events(data_subject="p-000123")] == [eid]
        assert len(list(led.events(data_subject="q-000000"))) == 1


def test_a_changed_subject_set_is_detected(bulk: tuple[Path, str]) -> None:
    db, eid = bulk
    forged = zlib.compress(("\x00" + "\x00".join(_ids(N - 1)) + "\x00").encode())
    with sqlite3.connect(db) as c:
        c.execute("UPDATE event_subject_sets SET data = ? WHERE event_id = ?", (forged, eid))
    with SQLiteLedger(db, KEY) as led:
        report = led.verify()
        assert not report.ok
        assert any(p.event_id == eid for p in report.problems)


def test_a_damaged_subject_set_is_reported_not_raised(bulk: tuple[Path, str]) -> None:
    db, eid = bulk
    with sqlite3.connect(db) as c:
        c.execute("UPDATE event_subject_sets SET data = X'00010203' WHERE event_id = ?", (eid,))
    with SQLiteLedger(db, KEY) as led:
        report = led.verify()
        assert any(p.event_id == eid for p in report.problems)


def test_a_deleted_bulk_event_leaves_an_orphan_set_that_verify_reports(
    bulk: tuple[Path, str],
) -> None:
    db, eid = bulk
    with sqlite3.connect(db) as c:
        c.execute("DELETE FROM events WHERE event_id = ?", (eid,))
    with SQLiteLedger(db, KEY) as led:
        problems = led.verify().problems
        assert any(p.event_id == eid and p.kind == "subjects" for p in problems)


def test_ids_holding_nul_stay_rows(tmp_path: Path) -> None:
    ids = [*_ids(N), "odd\x00id"]
    with SQLiteLedger(tmp_path / "l.db", KEY) as led:
        eid = led.append(make_event(data_subjects=ids)).event.event_id
        assert list(led.subjects_of(eid)) == sorted(ids)
        assert len(led.accounting("odd\x00id")) == 1
        assert led.verify().ok


def test_a_version_1_ledger_is_migrated_on_open(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    with SQLiteLedger(db, KEY) as led:
        led.append(make_event(data_subjects=["a"]))
    with sqlite3.connect(db) as c:  # what veil 0.1 created
        c.execute("DROP TABLE event_subject_sets")
        c.execute("DROP INDEX events_break_glass")
        c.execute("UPDATE meta SET value = '1' WHERE key = 'schema_version'")
    with SQLiteLedger(db, KEY) as led:
        led.append(make_event(data_subjects=_ids(N)))
        assert led.verify().ok and len(led.accounting("a")) == 1
    with sqlite3.connect(db) as c:
        version = c.execute("SELECT value FROM meta WHERE key = 'schema_version'").fetchone()[0]
        indexes = {r[0] for r in c.execute("SELECT name FROM sqlite_master WHERE type='index'")}
    assert int(version) == SCHEMA_VERSION and "events_break_glass" in indexes


# -- PostgreSQL: the same contract ------------------------------------------------------


def _pg(pg_url: str, schema: str) -> PostgresLedger:
    return PostgresLedger(pg_url, KEY, schema=schema)


def _sql(pg_url: str, schema: str, query: str, *args: object) -> None:
    with psycopg.connect(pg_url, autocommit=True) as c:
        c.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        c.execute(query, args)


def _pg_fill(pg_url: str, schema: str) -> str:
    with _pg(pg_url, schema) as led:
        led.append(make_event(data_subjects=["p-000007", "solo"]))
        eid = led.append(make_event(data_subjects=list(reversed(_ids(N))))).event.event_id
        led.append(make_event(data_subjects=_ids(N, "q")))
    return eid


def test_pg_bulk_subjects_round_trip_and_lookups(pg_url: str, pg_schema: str) -> None:
    eid = _pg_fill(pg_url, pg_schema)
    with _pg(pg_url, pg_schema) as led:
        assert list(led.subjects_of(eid)) == _ids(N)
        assert len(led.accounting("p-000007")) == 2
        assert led.accounting("p-00000") == []
        assert [s.event.event_id for s in led.events(data_subject="p-000123")] == [eid]
        assert [s.event.event_id for s in led.events(data_subject="p-000123", with_subjects=True)]
        assert led.verify().ok


def test_pg_changed_damaged_or_orphaned_sets_are_reported(pg_url: str, pg_schema: str) -> None:
    eid = _pg_fill(pg_url, pg_schema)
    forged = ("\x00" + "\x00".join(_ids(N - 1)) + "\x00").encode()
    _sql(pg_url, pg_schema, "UPDATE event_subject_sets SET data = %s WHERE event_seq = 2", forged)
    with _pg(pg_url, pg_schema) as led:
        assert any(p.event_id == eid for p in led.verify().problems)
    _sql(
        pg_url,
        pg_schema,
        "UPDATE event_subject_sets SET data = '\\xff00'::bytea WHERE event_seq = 2",
    )
    with _pg(pg_url, pg_schema) as led:
        assert any(p.event_id == eid for p in led.verify().problems)
    _sql(pg_url, pg_schema, "DELETE FROM event_subject_sets WHERE event_seq = 3")
    _sql(pg_url, pg_schema, "INSERT INTO event_subject_sets VALUES (99, 5, '\\x00'::bytea)")
    with _pg(pg_url, pg_schema) as led:
        problems = led.verify().problems
        assert any(p.seq == 99 and p.kind == "subjects" for p in problems)
        assert any(p.seq == 3 for p in problems)


def test_pg_version_1_ledger_is_migrated(pg_url: str, pg_schema: str) -> None:
    with _pg(pg_url, pg_schema) as led:
        led.append(make_event(data_subjects=["a"]))
    # what a ledger written by schema version 1 has: no subject sets, no token vault
    _sql(pg_url, pg_schema, "DROP TABLE event_subject_sets")
    _sql(pg_url, pg_schema, "DROP TABLE token_vault")
    _sql(pg_url, pg_schema, "DROP TABLE token_vault_pack")
    _sql(pg_url, pg_schema, "DROP TABLE token_vault_meta")
    _sql(pg_url, pg_schema, "DROP INDEX events_break_glass")
    _sql(pg_url, pg_schema, "DELETE FROM schema_migrations WHERE version >= 2")
    with _pg(pg_url, pg_schema) as led:
        led.append(make_event(data_subjects=_ids(N)))
        assert led.verify().ok and len(led.accounting("a")) == 1
        assert len(led.accounting("p-000001")) == 1
