"""``open_ledger(url)`` honours ``?schema=NAME``: ledgers sharing a database stay apart.

The service and the CLI only take a URL, so the schema has to travel in it; libpq would
reject the unknown parameter, so it must be stripped before psycopg sees the URL.
"""

from __future__ import annotations

import psycopg
import pytest
from ledger_factory import make_event

from veil.errors import ConfigError
from veil.ledger import PostgresLedger, open_ledger
from veil.ledger import _split_schema as split_schema


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u@h/db", ("postgresql://u@h/db", None)),
        ("postgresql://u@h/db?schema=s1", ("postgresql://u@h/db", "s1")),
        (
            "postgresql://u@h/db?sslmode=disable&schema=s%2D2&application_name=a%20b",
            ("postgresql://u@h/db?sslmode=disable&application_name=a%20b", "s-2"),
        ),
        ("postgresql://u@h/db?connect_timeout=3", ("postgresql://u@h/db?connect_timeout=3", None)),
    ],
)
def test_split_schema(url: str, expected: tuple[str, str | None]) -> None:
    assert split_schema(url) == expected


def test_empty_schema_is_a_config_error() -> None:
    with pytest.raises(ConfigError):
        open_ledger("postgresql://postgres@127.0.0.1:1/db?schema=")


def test_open_ledger_uses_the_schema_parameter(pg_url: str, pg_schema: str) -> None:
    sep = "&" if "?" in pg_url else "?"
    led = open_ledger(f"{pg_url}{sep}application_name=veil-schema-test&schema={pg_schema}")
    try:
        assert isinstance(led, PostgresLedger) and led.schema == pg_schema
        led.append(make_event(data_subjects=["p-1"]))
        assert led.head()[0] == 1
    finally:
        led.close()
    with psycopg.connect(pg_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM pg_tables WHERE schemaname = %s AND tablename = 'events'",
            (pg_schema,),
        ).fetchone()
    assert row is not None and row[0] == 1
