"""Finding 15 of issue 12: no header or body read timeouts; 600 sockets trickling their
headers a byte at a time stayed open. Now a request's line and headers must arrive
within ``server.header_seconds`` (a silent connection too), its body may not pause longer
than ``server.body_idle_seconds`` nor take longer than ``server.body_seconds``, and
normal clients are served meanwhile. Against a real ``veil serve``."""

from __future__ import annotations

import select
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest

from .served import Served, veil_serve

SOCKETS = 300


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with veil_serve(
        tmp_path_factory.mktemp("slow"),
        server={"header_seconds": 1.0, "body_idle_seconds": 1.0, "body_seconds": 2.0},
    ) as s:
        yield s


def _connect(s: Served) -> socket.socket:
    port = int(s.url.rsplit(":", 1)[1])
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.setblocking(False)
    return sock


def _closed_within(socks: list[socket.socket], seconds: float, trickle: bytes = b"") -> float:
    """Send ``trickle`` a byte per socket every 0.1 s until the server has closed every
    socket; the time that took (or ``inf`` if some are still open after ``seconds``)."""
    start = time.monotonic()
    open_ = set(socks)
    i = 0
    while open_ and time.monotonic() - start < seconds:
        for sock in list(open_):
            try:
                if trickle:
                    sock.send(trickle[i % len(trickle) : i % len(trickle) + 1])
            except OSError:  # reset by the server
                open_.discard(sock)
        readable, _, _ = select.select(list(open_), [], [], 0.1)
        for sock in readable:
            try:
                while sock.recv(65536):  # a 408, then the close
                    pass
            except BlockingIOError:
                continue  # data, but no close yet
            except OSError:
                pass
            open_.discard(sock)
        i += 1
    for sock in socks:
        sock.close()
    return float("inf") if open_ else time.monotonic() - start


def test_trickling_headers_are_cut_and_others_are_served(served: Served) -> None:
    socks = [_connect(served) for _ in range(SOCKETS)]
    for sock in socks:
        sock.send(b"POST /v1/sanitize HTTP/1.1\r\nHost: veil\r\n")
    served_ok: list[float] = []

    def normal_client() -> None:
        time.sleep(0.3)
        for _ in range(5):
            start = time.monotonic()
            r = httpx.get(served.url + "/healthz", timeout=2)
            if r.status_code == 200:
                served_ok.append(time.monotonic() - start)
            time.sleep(0.1)

    t = threading.Thread(target=normal_client)
    t.start()
    took = _closed_within(socks, 6.0, trickle=b"X-Slow: " + b"a" * 64)
    t.join()
    assert took < 3.5, f"{SOCKETS} trickling sockets still open after 6 s"
    assert len(served_ok) == 5 and max(served_ok) < 0.5, served_ok


def test_a_silent_connection_is_cut(served: Served) -> None:
    assert _closed_within([_connect(served)], 6.0) < 3.0


def test_a_trickling_body_is_cut_with_408(served: Served) -> None:
    sock = _connect(served)
    sock.setblocking(True)
    sock.sendall(
        b"POST /v1/sanitize HTTP/1.1\r\nHost: veil\r\nContent-Type: application/json\r\n"
        + f"X-API-Key: {served.secrets['clinician']}\r\nContent-Length: 5000\r\n\r\n".encode()
        + b'{"dataset": "patients", '
    )
    start = time.monotonic()
    answer = b""
    sock.settimeout(0.25)
    while time.monotonic() - start < 6:
        try:
            sock.send(b" ")  # a byte every quarter second: never idle, never done
            data = sock.recv(65536)
        except TimeoutError:
            continue
        except OSError:
            break
        if not data:
            break
        answer += data
    sock.close()
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"body_seconds" in answer
    assert time.monotonic() - start < 4


def test_a_paused_body_is_cut_with_408(served: Served) -> None:
    sock = _connect(served)
    sock.setblocking(True)
    sock.sendall(
        b"POST /v1/sanitize HTTP/1.1\r\nHost: veil\r\nContent-Type: application/json\r\n"
        + f"X-API-Key: {served.secrets['clinician']}\r\nContent-Length: 5000\r\n\r\n".encode()
        + b'{"dataset": '
    )
    sock.settimeout(5)
    start = time.monotonic()
    answer = b""
    while data := sock.recv(65536):  # until the server closes
        answer += data
    sock.close()
    assert answer.startswith(b"HTTP/1.1 408") and b"body_idle_seconds" in answer
    assert time.monotonic() - start < 3


def test_keep_alive_clients_are_served(served: Served) -> None:
    with httpx.Client(base_url=served.url, timeout=5) as c:
        for _ in range(3):
            assert c.get("/healthz").status_code == 200
            time.sleep(0.3)  # well under the keep-alive timeout
