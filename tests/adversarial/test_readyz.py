"""Finding 14 of issue 12 (readiness part): ``/readyz`` said 200 on a full disk. Now it is
503 when the SQLite ledger's volume has less free space than ``ready.min_free_bytes``
(tested with a threshold no disk meets: a tmpfs cannot be mounted here), or when the
ledger does not answer within ``ready.ledger_seconds`` (1 s; tested with PostgreSQL, whose
events table another session locks, in a scratch schema). Against a real ``veil serve``."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator

import httpx
import psycopg
import pytest

from .served import Served, veil_serve, wait_started

PG_URL = os.environ.get("VEIL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


@pytest.fixture(scope="module")
def full_disk(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with veil_serve(tmp_path_factory.mktemp("full"), ready={"min_free_bytes": 1 << 62}) as s:
        wait_started(s)
        yield s


@pytest.fixture(scope="module")
def roomy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with veil_serve(tmp_path_factory.mktemp("roomy")) as s:
        wait_started(s)
        yield s


def test_readyz_fails_when_the_ledger_volume_is_short_of_space(full_disk: Served) -> None:
    r = httpx.get(full_disk.url + "/readyz", timeout=5)
    assert r.status_code == 503, r.text
    assert "free" in r.json()["error"]["message"]
    assert r.headers["Retry-After"]
    assert httpx.get(full_disk.url + "/healthz", timeout=5).status_code == 200  # alive


def test_readyz_is_ready_with_room_and_an_answering_ledger(roomy: Served) -> None:
    r = httpx.get(roomy.url + "/readyz", timeout=5)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "ready"


@pytest.fixture(scope="module")
def on_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, str]]:
    try:
        psycopg.connect(PG_URL, connect_timeout=3).close()
    except psycopg.Error:
        if os.environ.get("VEIL_REQUIRE_POSTGRES") == "1":
            pytest.fail("PostgreSQL not reachable")
        pytest.skip("PostgreSQL not reachable")
    schema = f"veil_readyz_{os.getpid()}_{int(time.time())}"
    try:
        with veil_serve(tmp_path_factory.mktemp("pg"), ledger=f"{PG_URL}?schema={schema}") as s:
            wait_started(s)
            yield s, schema
    finally:
        with psycopg.connect(PG_URL, autocommit=True) as c:
            c.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def test_readyz_fails_within_a_second_when_the_ledger_does_not_answer(
    on_postgres: tuple[Served, str],
) -> None:
    served, schema = on_postgres
    assert httpx.get(served.url + "/readyz", timeout=10).status_code == 200
    # Another session holds the events table: the ledger's read of its head waits.
    with psycopg.connect(PG_URL) as lock:
        lock.execute(f'LOCK TABLE "{schema}".events IN ACCESS EXCLUSIVE MODE')
        start = time.monotonic()
        r = httpx.get(served.url + "/readyz", timeout=10)
        took = time.monotonic() - start
        assert r.status_code == 503, r.text
        assert took < 2.0, took
        assert httpx.get(served.url + "/healthz", timeout=5).status_code == 200
        lock.rollback()
    deadline = time.monotonic() + 30  # ready again once the lock is gone
    while httpx.get(served.url + "/readyz", timeout=10).status_code != 200:
        assert time.monotonic() < deadline, "readyz did not recover"
        time.sleep(0.2)
