"""``/readyz`` while the text workers start: not ready (503, ``starting``), since a request
with free text would wait for them, then ready once they are up.

The workers' start is held deterministically: their initializer is replaced by one that
waits for a file the test creates (pickled by reference, so the spawned worker runs it)."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

import veil.text.pool as text_pool
from health_service import health_settings
from veil.service.app import create_app

GATE = "VEIL_TEST_WORKER_GATE"


def held_init(config_keys: tuple[str, ...]) -> None:
    """A worker initializer that waits for the gate file, then does the real start (in
    the worker, ``text_pool._init_worker`` is the real one: only the parent patched it)."""
    gate = Path(os.environ[GATE])
    deadline = time.monotonic() + 120
    while not gate.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    text_pool._init_worker(config_keys)


def _until(check: Any, seconds: float = 120.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


@pytest.fixture()
def held(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    gate = tmp_path / "gate"
    monkeypatch.setenv(GATE, str(gate))
    monkeypatch.setattr(text_pool, "_init_worker", held_init)
    text_pool.shutdown()  # a pool another test left would already be up
    yield gate
    text_pool.shutdown()


def test_a_started_pool_is_starting_until_its_workers_are_up(held: Path) -> None:
    pool = text_pool.shared_pool(1)
    assert not pool.starting()  # not started: nothing to wait for
    pool._executor()
    time.sleep(0.5)
    assert pool.starting()
    held.touch()
    _until(lambda: not pool.starting())


def test_readyz_says_starting_until_the_text_workers_are_up(held: Path, tmp_path: Path) -> None:
    users = {"clinician": ("dr.alvarez", {"role": "clinician", "org": "org-north"})}
    settings, _ = health_settings(tmp_path, users, text={"workers": 1})
    with TestClient(create_app(settings)) as client:  # runs the lifespan: workers start
        r = client.get("/readyz")
        assert r.status_code == 503 and r.json()["error"]["code"] == "starting"
        assert r.headers["Retry-After"]
        assert client.get("/healthz").status_code == 200  # alive all along
        held.touch()
        _until(lambda: client.get("/readyz").status_code == 200)
        assert client.get("/readyz").json()["status"] == "ready"
