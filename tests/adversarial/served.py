"""A real ``veil serve`` in a subprocess, for tests that need real sockets and a real
event loop: the shipped health bundle in a temp dir, API keys for a few roles, a SQLite
ledger. Nothing is mocked; the process is ended by its pid."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

from veil.service.auth import veil_keygen_api_key

ROOT = Path(__file__).resolve().parents[2]
USERS = {
    "clinician": ("dr.alvarez", {"role": "clinician", "org": "org-north"}),
    "researcher": ("r.chen", {"role": "researcher", "org": "university"}),
}


@dataclass
class Served:
    url: str
    secrets: dict[str, str]
    proc: subprocess.Popen[bytes]
    ledger: Path
    log: Path

    def headers(self, who: str) -> dict[str, str]:
        return {"X-API-Key": self.secrets[who]}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def veil_serve(tmp: Path, **settings: Any) -> Iterator[Served]:
    """``veil serve`` on a free port with ``settings`` merged into its config."""
    shutil.copytree(ROOT / "policies" / "health", tmp / "health")
    secrets, table = {}, {}
    for name, (sid, attrs) in USERS.items():
        secrets[name], entry = veil_keygen_api_key(sid, attrs)
        table.update(entry)
    (tmp / "api_keys.yaml").write_text(yaml.safe_dump({"api_keys": table}))
    (tmp / "keys.yaml").write_text(
        "keys:\n"
        + "".join(
            f"  {k}: hex:{i:02x}{'ab' * 31}\n"
            for i, k in enumerate(["research-tokens", "research-dates", "audit-hash"])
        )
    )
    port = free_port()
    config = {
        "policies": str(tmp / "health"),
        "ledger": f"sqlite:///{tmp / 'ledger.db'}",
        "key_file": str(tmp / "keys.yaml"),
        "api_keys_file": str(tmp / "api_keys.yaml"),
        "host": "127.0.0.1",
        "port": port,
        **settings,
    }
    for secret_file in ("keys.yaml", "api_keys.yaml"):  # veil serve refuses others-readable
        (tmp / secret_file).chmod(0o600)
    (tmp / "service.yaml").write_text(yaml.safe_dump(config))
    log = tmp / "serve.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("VEIL_")}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "veil.cli", "serve", "--config", str(tmp / "service.yaml")],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
        )
    served = Served(f"http://127.0.0.1:{port}", secrets, proc, tmp / "ledger.db", log)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"veil serve exited: {log.read_text()[-2000:]}")
            try:
                if httpx.get(served.url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("veil serve did not start within 60 s")
            time.sleep(0.1)
        yield served
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)


def wait_started(served: Served, seconds: float = 120.0) -> None:
    """Wait until ``/readyz`` no longer says the text workers are starting (whatever else
    it may say): tests of readiness start from a service whose workers are up."""
    deadline = time.monotonic() + seconds
    while True:
        r = httpx.get(served.url + "/readyz", timeout=10)
        if r.status_code == 200 or r.json()["error"]["code"] != "starting":
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the text workers did not start within {seconds:g} s")
        time.sleep(0.2)
