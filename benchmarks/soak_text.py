"""Soak: new notes through ``veil serve`` for a long time; does the server's memory level off?

    python benchmarks/soak_text.py [--notes 200000] [--batch 100] [--callers 4]
                                   [--sample 10000] [--text-workers 2] [--unbounded]

A real server: ``veil serve --config`` as a subprocess (uvicorn, one process; free text
analyzed by its pool of ``--text-workers`` processes), a temporary SQLite ledger, an API
key, the health bundle (``policies/health``). The callers are ``--callers`` threads,
each with its own httpx client, posting ``/v1/sanitize`` requests of ``--batch``
records as a researcher for the Safe Harbor view (recipient ``outcomes-registry``),
whose rule ``sh-notes-scrubbed`` runs ``scan_text`` with the ``ner`` engine on each
record's ``note``. Every note is new: twelve words never seen before (seeded random
letters) around a name, a phone number, an e-mail address and a date, so every note
adds about a dozen strings to a spaCy vocabulary.

Every ``--sample`` notes the resident memory (RSS) of the server and of every process
below it (the text pool's workers) is summed (psutil) and printed. The verdict: after
the warm-up (the first quarter of the notes), every sample must lie within 10% of the
median of the samples after warm-up; the script exits 1 otherwise (and 2 if a request
failed or a note came back with its identifiers in clear).

``--unbounded`` shows the problem the bound solves: the server runs from a factory that
sets ``veil.text.vocab.MAX_NEW_STRINGS`` beyond reach before the app is built, with the
text analyzed in the server process (``text.workers: 0``: spawned workers would not see
the setting); compare it with ``--unbounded``'s twin run ``--text-workers 0``.
"""

from __future__ import annotations

import argparse
import os
import random
import socket
import statistics
import string
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
import yaml

from veil.service.auth import veil_keygen_api_key

ROOT = Path(__file__).resolve().parent.parent
REQUESTER = ("r.soak", {"role": "researcher", "org": "university"})
BODY = {"dataset": "patients", "purpose": "HRESCH", "recipient": "outcomes-registry"}
UNBOUNDED_FACTORY = '''\
"""uvicorn factory for soak_text.py --unbounded (generated; safe to delete)."""
import os
from pathlib import Path

import veil.text.vocab


def app():
    from veil.service.app import create_app
    from veil.service.settings import load_settings

    veil.text.vocab.MAX_NEW_STRINGS = 10**12
    return create_app(load_settings(Path(os.environ["VEIL_SOAK_CONFIG"])))
'''


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def setup(tmp: Path, workers: int) -> str:
    """Config, API key and keys in ``tmp``; returns the caller's credential."""
    secret, entry = veil_keygen_api_key(*REQUESTER)
    (tmp / "api_keys.yaml").write_text(yaml.safe_dump({"api_keys": entry}))
    (tmp / "keys.yaml").write_text(
        "keys:\n"
        + "".join(
            f"  {k}: hex:{i:02x}{'ab' * 31}\n"
            for i, k in enumerate(["research-tokens", "research-dates", "audit-hash"])
        )
    )
    config = {
        "policies": str(ROOT / "policies" / "health"),
        "ledger": f"sqlite:///{tmp / 'ledger.db'}",
        "key_file": str(tmp / "keys.yaml"),
        "api_keys_file": str(tmp / "api_keys.yaml"),
        "text": {"workers": workers, "value_seconds": 10.0, "request_seconds": 120.0},
        "limits": {"max_records": 10_000},
    }
    for secret_file in ("keys.yaml", "api_keys.yaml"):  # veil serve refuses others-readable
        (tmp / secret_file).chmod(0o600)
    (tmp / "veil.yaml").write_text(yaml.safe_dump(config))
    (tmp / "soak_app.py").write_text(UNBOUNDED_FACTORY)
    return secret


def start(tmp: Path, port: int, unbounded: bool) -> subprocess.Popen[bytes]:
    veil = Path(sys.executable).parent / "veil"
    if unbounded:
        cmd = [sys.executable, "-m", "uvicorn", "soak_app:app", "--factory", "--app-dir",
               str(tmp), "--host", "127.0.0.1", "--port", str(port), "--no-access-log",
               "--log-level", "warning"]  # fmt: skip
    else:
        cmd = [str(veil), "serve", "--config", str(tmp / "veil.yaml"), "--port", str(port),
               "--host", "127.0.0.1"]  # fmt: skip
    env = dict(os.environ, VEIL_SOAK_CONFIG=str(tmp / "veil.yaml"))
    return subprocess.Popen(cmd, cwd=tmp, env=env)


def wait_ready(proc: subprocess.Popen[bytes], url: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the server exited with {proc.returncode}")
        try:
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.5)
    raise SystemExit("the server was not ready in time")


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and every process below it, in MiB."""
    p = psutil.Process(pid)
    total = 0
    for q in [p, *p.children(recursive=True)]:
        try:
            total += q.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total / 2**20


class Notes:
    """Seeded notes whose twelve filler words are new each time (random letters)."""

    FIRST = ("Ana", "Tomasz", "Priya", "Kwame", "Lena", "Mateo", "Yuki", "Omar")
    LAST = ("Lima", "Nowak", "Natarajan", "Mensah", "Berg", "Rossi", "Sato", "Haddad")

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.lock = threading.Lock()

    def _word(self) -> str:
        return "".join(
            self.rng.choice(string.ascii_lowercase) for _ in range(self.rng.randint(6, 11))
        )

    def batch(self, n: int, start: int) -> list[dict[str, Any]]:
        with self.lock:
            out = []
            for i in range(start, start + n):
                words = [self._word() for _ in range(12)]
                name = f"{self.rng.choice(self.FIRST)} {self.rng.choice(self.LAST)}"
                phone = f"212-555-{self.rng.randint(0, 9999):04d}"
                note = (
                    f"Dr. {name} reviewed {' '.join(words[:6])}. Call {phone} or write to "
                    f"{words[6]}@example.org before March {self.rng.randint(1, 28)}, 2024; "
                    f"{' '.join(words[7:])}."
                )
                rec = {"patient_id": f"MRN-{i:07d}", "note": note, "consent_research": True}
                out.append({**rec, "organization_id": "org-north"})
            return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--notes", type=int, default=200_000)
    ap.add_argument("--batch", type=int, default=100)
    ap.add_argument("--callers", type=int, default=4)
    ap.add_argument("--sample", type=int, default=10_000)
    ap.add_argument("--text-workers", type=int, default=2)
    ap.add_argument("--unbounded", action="store_true")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    workers = 0 if args.unbounded else args.text_workers

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        secret = setup(tmp, workers)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        proc = start(tmp, port, args.unbounded)
        try:
            wait_ready(proc, url)
            verdict = soak(args, url, secret, proc.pid, workers)
        finally:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
    raise SystemExit(verdict)


def soak(args: argparse.Namespace, url: str, secret: str, pid: int, workers: int) -> int:
    notes = Notes(args.seed)
    headers = {"X-API-Key": secret}
    sent = 0
    lock = threading.Lock()
    failures: list[str] = []
    samples: list[tuple[int, float, float]] = []  # notes done, seconds, RSS MiB
    next_sample = 0
    started = time.monotonic()

    def caller() -> None:
        nonlocal sent, next_sample
        with httpx.Client(base_url=url, headers=headers, timeout=300) as client:
            while True:
                with lock:
                    if sent >= args.notes or failures:
                        return
                    start, n = sent, min(args.batch, args.notes - sent)
                    sent += n
                records = notes.batch(n, start)
                r = client.post("/v1/sanitize", json={**BODY, "records": records})
                if r.status_code != 200:
                    failures.append(f"HTTP {r.status_code}")
                    return
                for rec in r.json()["records"]:
                    text = rec.get("note")
                    if text is None or "@example.org" in text or "212-555-" in text:
                        failures.append("a note came back withheld or with identifiers")
                        return
                with lock:
                    done = start + n
                    if done >= next_sample:
                        next_sample += args.sample
                        samples.append((done, time.monotonic() - started, rss_mb(pid)))

    print(
        f"soak: {args.notes} new notes, {args.callers} callers, {args.batch} per request, "
        f"text workers {workers}, vocabulary {'UNBOUNDED' if args.unbounded else 'bounded'}"
    )
    samples.append((0, 0.0, rss_mb(pid)))
    threads = [threading.Thread(target=caller) for _ in range(args.callers)]
    for t in threads:
        t.start()
    last = 0
    while any(t.is_alive() for t in threads):
        time.sleep(1)
        while last < len(samples):
            n, s, mb = samples[last]
            print(f"{n:>9} notes {s:>8.0f} s   RSS {mb:>8.1f} MiB", flush=True)
            last += 1
    for t in threads:
        t.join()
    for n, s, mb in samples[last:]:
        print(f"{n:>9} notes {s:>8.0f} s   RSS {mb:>8.1f} MiB")
    final = (args.notes, time.monotonic() - started, rss_mb(pid))
    print(f"{final[0]:>9} notes {final[1]:>8.0f} s   RSS {final[2]:>8.1f} MiB (end)")
    if failures:
        print(f"FAILED: {failures[0]}")
        return 2
    after = [mb for n, _, mb in [*samples, final] if n >= args.notes // 4]
    median = statistics.median(after)
    low, high = min(after) / median - 1, max(after) / median - 1
    flat = low >= -0.10 and high <= 0.10
    print(
        f"after warm-up ({len(after)} samples from note {args.notes // 4}): median "
        f"{median:.1f} MiB, lowest {low:+.1%}, highest {high:+.1%}: "
        f"{'FLAT (within 10%)' if flat else 'NOT FLAT'}; "
        f"{args.notes / final[1]:.0f} notes/s"
    )
    return 0 if flat else 1


if __name__ == "__main__":
    main()
