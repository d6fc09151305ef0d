"""Finding 5 of issue 12: ``/v1/sanitize/stream`` was quadratic on a line without a
newline (16/32/64/128 MB: 0.3/1.2/6.9/30.4 s, on the event loop; the body cap is 1 GiB).
Now a line longer than ``max_line_bytes`` is refused (413 naming the limit) as soon as
it is known, and lines are buffered in time linear in their length."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from veil.samples.synth import patients
from veil.service.limits import LimitExceeded, LineSplitter

from .served import Served, veil_serve

PATH = "/v1/sanitize/stream?dataset=patients&purpose=TREAT"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    with veil_serve(tmp_path_factory.mktemp("stream")) as s:
        yield s


def _raw_post(s: Served, size: int, chunk: bytes) -> tuple[bytes, float]:
    """POST ``size`` bytes of ``chunk`` over a raw socket; the answer and its time."""
    port = int(s.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=15) as sock:
        sock.sendall(
            f"POST {PATH} HTTP/1.1\r\nHost: veil\r\nX-API-Key: {s.secrets['clinician']}\r\n"
            f"Content-Type: application/x-ndjson\r\nContent-Length: {size}\r\n\r\n".encode()
        )
        start = time.monotonic()
        sent = 0
        try:
            while sent < size:
                part = chunk[: size - sent]
                sock.sendall(part)
                sent += len(part)
        except OSError:  # the server answered and stopped reading: fine, read the answer
            pass
        answer = b""
        while b"\r\n\r\n" not in answer or len(answer) < answer.index(b"\r\n\r\n") + 60:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
        return answer, time.monotonic() - start


def test_a_64_mib_line_without_newline_is_refused_fast(served: Served) -> None:
    answer, seconds = _raw_post(served, 64 << 20, b"x" * 65536)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"max_line_bytes" in answer
    assert seconds < 5, seconds
    assert httpx.get(served.url + "/healthz", timeout=2).status_code == 200


def test_lines_split_anywhere_arrive_whole(served: Served) -> None:
    records = [dict(r, organization_id="org-north") for r in patients(50, seed=8)]
    body = "".join(json.dumps(r) + "\n" for r in records).encode()

    def trickle() -> Iterator[bytes]:
        for i in range(0, len(body), 777):  # chunks that cut lines anywhere
            yield body[i : i + 777]

    r = httpx.post(
        served.url + PATH,
        headers={**served.headers("clinician"), "Content-Type": "application/x-ndjson"},
        content=trickle(),
        timeout=30,
    )
    assert r.status_code == 200, r.text
    out = [json.loads(line) for line in r.text.splitlines()]
    assert [o["patient_id"] for o in out] == [r["patient_id"] for r in records]


def test_the_splitter_is_linear_on_a_long_line() -> None:
    splitter = LineSplitter(64 << 20)
    chunk = b"y" * 1024
    start = time.monotonic()
    for _ in range(48 * 1024):  # 48 MiB in 1 KiB pieces, no newline
        assert splitter.feed(chunk) == []
    assert [n for n, _ in splitter.feed(b"\n{}\n")] == [1, 2]
    assert time.monotonic() - start < 2
    with pytest.raises(LimitExceeded, match="max_line_bytes"):
        LineSplitter(1024).feed(b"z" * 1025)
