from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from ledger_factory import KEY, PG_URL, make_event
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from veil.ledger import Ledger, PostgresLedger, SQLiteLedger, StoredEvent


@pytest.fixture(params=[KEY, None], ids=["keyed", "unkeyed"])
def key(request: pytest.FixtureRequest) -> bytes | None:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "ledger.db"


@pytest.fixture
def ledger(db: Path, key: bytes | None) -> Iterator[SQLiteLedger]:
    led = SQLiteLedger(db, key)
    yield led
    led.close()


@pytest.fixture
def filled(ledger: SQLiteLedger) -> Callable[[int], list[StoredEvent]]:
    """Append ``n`` events with subjects p-<seq> and one shared subject, return them."""

    def fill(n: int) -> list[StoredEvent]:
        return [
            ledger.append(make_event(data_subjects=[f"p-{i}", "shared"], purpose=f"purpose-{i}"))
            for i in range(1, n + 1)
        ]

    return fill


@pytest.fixture(scope="session")
def pg_url() -> str:
    """The test server's URL; skips (or fails, with VEIL_REQUIRE_POSTGRES=1) if unreachable."""
    try:
        psycopg.connect(PG_URL, connect_timeout=3).close()
    except psycopg.Error as exc:
        params = conninfo_to_dict(PG_URL)
        where = f"{params.get('host', 'localhost')}:{params.get('port', 5432)}"
        reason = f"PostgreSQL not reachable at {where}: {type(exc).__name__}: {exc}"
        if os.environ.get("VEIL_REQUIRE_POSTGRES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return PG_URL


@pytest.fixture
def pg_schema(pg_url: str) -> Iterator[str]:
    """A fresh schema name for one test; the schema is dropped afterwards."""
    name = f"veil_test_{uuid.uuid4().hex[:12]}"
    yield name
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


@pytest.fixture(params=["sqlite", "postgres"])
def either_ledger(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Ledger]:
    """A keyed ledger of each backend (PostgreSQL in a schema of its own)."""
    if request.param == "sqlite":
        led: Ledger = SQLiteLedger(tmp_path / "l.db", KEY)
    else:
        url, schema = request.getfixturevalue("pg_url"), request.getfixturevalue("pg_schema")
        led = PostgresLedger(url, KEY, schema=schema)
    yield led
    led.close()
