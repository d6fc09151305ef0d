"""Two `veil serve` processes on one PostgreSQL ledger, four client processes at once.

The ledger's advisory lock is what keeps one linear chain when several service processes
(or hosts) append together; in-process tests cannot show that. Here two real servers
share a fresh schema and 4 x 25 requests race through them. Afterwards every 200 must
name its own disclosure event, at the seq it reported, the seqs must be contiguous, there
must be nothing else in the ledger, and ``veil audit verify`` must pass.

(Two processes rather than ``veil serve --workers 2``: uvicorn only forks workers for an
app given as an import string, and ``serve`` passes an app object.)

Skips when PostgreSQL is unreachable, or fails when ``VEIL_REQUIRE_POSTGRES=1``.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

ROOT = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(ROOT / "benchmarks"))

import pg_outage  # noqa: E402  (the benchmark's helpers: one way to start `veil serve`)

PG_URL = os.environ.get("VEIL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
SERVERS = 2
CLIENTS = 4
EACH = 25
#: Bound on the clients' work; each request also has its own 30 s timeout.
CLIENT_TIMEOUT = 45


@pytest.fixture(scope="module")
def pg_url() -> str:
    try:
        psycopg.connect(PG_URL, connect_timeout=3).close()
    except psycopg.Error as exc:
        params = conninfo_to_dict(PG_URL)
        where = f"{params.get('host', 'localhost')}:{params.get('port', 5432)}"
        reason = f"PostgreSQL not reachable at {where}: {type(exc).__name__}"
        if os.environ.get("VEIL_REQUIRE_POSTGRES") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    return PG_URL


@pytest.fixture
def schema(pg_url: str) -> Iterator[str]:
    name = f"veil_conc_{uuid.uuid4().hex[:10]}"
    yield name
    pg_outage.drop_schema(pg_url, name)


def _client(urls: list[str], secret: str, worker: int, start: Any, out: Any) -> None:
    """Spawned client: wait for the others, send ``EACH`` requests alternating servers."""
    bodies = pg_outage.request_bodies(EACH * CLIENTS, seed=11)
    results: list[tuple[int, str, int, int]] = []
    start.wait(30)
    with httpx.Client(timeout=30, headers={"X-API-Key": secret}) as client:
        for i in range(EACH):
            server = (worker + i) % len(urls)
            try:
                r = client.post(urls[server] + "/v1/sanitize", json=bodies[worker * EACH + i])
            except httpx.HTTPError as exc:
                results.append((0, type(exc).__name__, 0, server))
                continue
            if r.status_code == 200:
                data = r.json()
                results.append((200, str(data["event_id"]), int(data["ledger_seq"]), server))
            else:
                results.append((r.status_code, r.text[:200], 0, server))
    out.put(results)


def _run_clients(urls: list[str], secret: str) -> list[tuple[int, str, int, int]]:
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(CLIENTS)
    out: Any = ctx.Queue()
    procs = [
        ctx.Process(target=_client, args=(urls, secret, w, start, out)) for w in range(CLIENTS)
    ]
    for p in procs:
        p.start()
    results: list[tuple[int, str, int, int]] = []
    try:
        for _ in procs:  # read before join: a full pipe would block the child's exit
            results.extend(out.get(timeout=CLIENT_TIMEOUT))
    except queue.Empty:
        pytest.fail(f"the clients did not finish within {CLIENT_TIMEOUT} s")
    finally:
        for p in procs:
            p.join(10)
            if p.is_alive():
                p.kill()
                p.join()
    assert all(p.exitcode == 0 for p in procs), [p.exitcode for p in procs]
    return results


def test_two_servers_one_ledger(pg_url: str, schema: str, tmp_path: Path) -> None:
    ledger_url = pg_outage.with_schema(pg_url, schema)
    keys = pg_outage.write_api_keys(tmp_path, {"clinician": pg_outage.CLINICIAN})
    secret = pg_outage.read_secrets(tmp_path)["clinician"]
    servers: list[pg_outage.Server] = []
    try:
        # Started together: both create/migrate the schema at once, under the lock.
        for i in range(SERVERS):
            servers.append(pg_outage.start_server(tmp_path, ledger_url, keys, name=f"server{i}"))
        for s in servers:
            pg_outage.wait_ready(s)
        head = pg_outage.ledger_head(pg_url, schema)
        results = _run_clients([s.url for s in servers], secret)

        total = CLIENTS * EACH
        assert len(results) == total
        bad = [r for r in results if r[0] != 200]
        assert not bad, f"{len(bad)} requests failed, e.g. {bad[:3]}"
        assert {r[3] for r in results} == set(range(SERVERS))  # both servers served

        events = pg_outage.ledger_seqs(pg_url, schema, head)
        assert len(events) == total, "exactly one new ledger event per 200"
        assert all(kind == "disclosure" for _, _, kind in events)
        seqs = [seq for seq, _, _ in events]
        assert seqs == list(range(head + 1, head + total + 1)), "seqs are contiguous"
        at = {eid: seq for seq, eid, _ in events}
        assert len({r[1] for r in results}) == total, "every 200 has its own event"
        assert all(at.get(eid) == seq for _, eid, seq, _ in results), "at the seq it reported"

        for s in servers:
            assert s.proc.poll() is None, f"{s.log.name} exited early"
        verified, output = pg_outage.audit_verify(ledger_url)
        assert verified, output
        assert f"{head + total} events verified" in " ".join(output.split()), output
    except BaseException:
        for s in servers:
            print(f"--- {s.log.name} ---\n{s.output()}")
        raise
    finally:
        for s in servers:
            s.stop()
