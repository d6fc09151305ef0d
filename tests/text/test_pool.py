"""The shared worker pool's lifecycle: no keys in workers' environment, a dead worker
fails the batch (holding no text) and is replaced, and no worker outlives its pool or
its process. Pool output and what crosses to workers are tested in test_jobs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from veil.text import pool as text_pool
from veil.text.engine import EngineConfig, Query, analyzer_for
from veil.text.pool import PoolFailed, TextPool

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from notes_synth import notes

QUERY = Query(("CREDIT_CARD", "DATE_TIME", "EMAIL_ADDRESS", "PHONE_NUMBER", "US_SSN"), 0.4)
CANARY = "VEIL_KEY_POOL_CANARY"


def environment_keys() -> list[str]:
    """Runs in a worker: the key variables it can see."""
    return sorted(n for n in os.environ if n.startswith("VEIL_KEY_"))


@pytest.fixture(scope="module")
def pool() -> Iterator[TextPool]:
    os.environ[CANARY] = "hex:" + "11" * 32  # set before the workers start
    try:
        p = TextPool(1)
        p._executor().submit(int).result()
    finally:
        del os.environ[CANARY]
    yield p
    p.close()


def test_workers_see_no_keys(pool: TextPool) -> None:
    """What goes to workers is checked in test_jobs (texts only, no key bytes)."""
    assert pool._executor().submit(environment_keys).result() == []


def test_a_dead_worker_fails_the_batch_and_the_pool_recovers() -> None:
    p = TextPool(1)
    texts = [n.text for n in notes(40, seed=5)]
    try:
        p._executor().submit(int).result()
        running = p.start(EngineConfig(), QUERY, ["1 " * 150_000, *texts])
        time.sleep(0.2)
        (pid,) = p.pids()
        os.kill(pid, signal.SIGKILL)  # the worker this test's pool started, mid-batch
        with pytest.raises(PoolFailed) as err:
            running.result()
        assert all(t not in str(err.value) for t in texts)
        # the next call gets a new worker and the same spans as an in-process analysis
        again = p.analyze(EngineConfig(), QUERY, texts)
        assert again == analyzer_for(EngineConfig()).analyze_batch(texts, QUERY)
        assert p._executor().submit(os.getpid).result() not in (pid, os.getpid())
    finally:
        p.close()


def test_close_ends_every_worker() -> None:
    p = text_pool.shared_pool(1)
    p._executor().submit(int).result()
    pids = p.pids()
    assert pids
    text_pool.shutdown()
    assert p.pids() == []
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert text_pool.shared_pool(1) is not p  # a later use starts a new pool


def test_no_worker_outlives_the_process_that_started_it() -> None:
    code = (
        "from veil.text.pool import shared_pool\n"
        "if __name__ == '__main__':\n"
        "    p = shared_pool(1)\n"
        "    p._executor().submit(int).result()\n"
        "    print(*p.pids())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    pids = [int(x) for x in out.stdout.split()]
    assert pids
    for pid in pids:  # exited and reaped when the parent shut its pool down at exit
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_workers_end_when_their_parent_is_killed() -> None:
    code = (
        "import time\n"
        "from veil.text.pool import shared_pool\n"
        "if __name__ == '__main__':\n"
        "    p = shared_pool(1)\n"
        "    p._executor().submit(int).result()\n"
        "    print(*p.pids(), flush=True)\n"
        "    time.sleep(60)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    pids = [int(x) for x in parent.stdout.readline().split()]
    parent.kill()  # no exit handlers run
    parent.wait()
    deadline = time.monotonic() + 10
    while pids and time.monotonic() < deadline:
        pids = [p for p in pids if _alive(p)]
        time.sleep(0.1)
    assert pids == []


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
