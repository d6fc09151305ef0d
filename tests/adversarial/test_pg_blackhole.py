"""Finding 6 of issue 12: a PostgreSQL network black hole (the server's packets stop, the
connection stays open) hung requests and /readyz for 75 s with no 503. Now a ledger call
is cut after its deadline and fails with LedgerError (the service answers 503).

The black hole is a TCP proxy this test owns: it forwards, then stops forwarding while
keeping both connections open. The host's PostgreSQL is never touched."""

from __future__ import annotations

import os
import select
import socket
import threading
import time
from collections.abc import Iterator

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from veil.errors import LedgerError
from veil.ledger import PostgresLedger
from veil.ledger.events import Event, Requester

PG_URL = os.environ.get("VEIL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


class BlackHoleProxy:
    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.hole = threading.Event()
        self.stop = threading.Event()
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        self.listener.settimeout(0.2)
        while not self.stop.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:  # closed by close()
                return
            server = socket.create_connection(self.target)
            self.sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        while not self.stop.is_set():
            if self.hole.is_set():
                time.sleep(0.05)  # swallow nothing, forward nothing: packets vanish
                continue
            try:
                ready, _, _ = select.select([a, b], [], [], 0.1)
                for s in ready:
                    data = s.recv(65536)
                    if not data:
                        return
                    (b if s is a else a).sendall(data)
            except (OSError, ValueError):  # a side closed, or close() closed them
                return

    def close(self) -> None:
        self.stop.set()
        time.sleep(0.3)  # let the threads see stop before their sockets close
        self.listener.close()
        for s in self.sockets:
            s.close()


@pytest.fixture
def proxy() -> Iterator[BlackHoleProxy]:
    try:
        psycopg.connect(PG_URL, connect_timeout=3).close()
    except psycopg.Error:
        if os.environ.get("VEIL_REQUIRE_POSTGRES") == "1":
            pytest.fail("PostgreSQL not reachable")
        pytest.skip("PostgreSQL not reachable")
    params = conninfo_to_dict(PG_URL)
    p = BlackHoleProxy((str(params.get("host", "127.0.0.1")), int(params.get("port", 5432))))
    yield p
    p.close()


def _event() -> Event:
    return Event(requester=Requester(id="x"), recipient="r", purpose="P", action="read",
                 dataset="d", bundle="b", bundle_version="v")  # fmt: skip


def test_black_hole_fails_within_the_deadline(proxy: BlackHoleProxy) -> None:
    params = conninfo_to_dict(PG_URL)
    url = (
        f"postgresql://{params.get('user', 'postgres')}@127.0.0.1:{proxy.port}/"
        f"{params.get('dbname', 'test')}"
    )
    schema = f"veil_bh_{os.getpid()}_{int(time.time())}"
    led = PostgresLedger(url, schema=schema, lock_timeout=1, operation_timeout=2)
    try:
        led.append(_event())
        proxy.hole.set()
        start = time.monotonic()
        with pytest.raises(LedgerError):
            led.append(_event())
        # the cut call (2 s) and one reconnect attempt (connect_timeout, 5 s) at most
        assert time.monotonic() - start < 10
    finally:
        led.close()
        with psycopg.connect(PG_URL, autocommit=True) as c:
            c.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
