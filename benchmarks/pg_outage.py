"""Ledger-first under a PostgreSQL outage: `veil serve` must answer 503, disclose nothing.

veil appends one hash-chained ledger event per disclosure *before* it answers. This
script checks that promise end to end, against a real server and a real outage: it starts
``veil serve`` (a subprocess on a free port, PostgreSQL ledger, API keys in a temp dir),
loads it with single-record sanitize requests from a few client threads, takes the
database away for ``--down-seconds``, brings it back, and keeps loading until the
service has recovered by itself (bounded). Then it checks:

* no request that ran entirely inside the outage got a 200; each got 503 + Retry-After;
* every 503, at any time, carried Retry-After; no other status (500, client error) at all;
* the service recovered (a 200 after the database came back) without a restart, and
  stayed up (no 503 after the first recovered 200);
* every 200 names a distinct disclosure event that is in the ledger, and the number of
  200s equals the number of new disclosure events. The one exception veil documents is
  allowed and reported: when the connection breaks during COMMIT the service answers 503
  saying the event *may* have been recorded, so the ledger may hold up to that many more
  events than 200s (a logged disclosure that did not happen, the safe way round);
* ``veil audit verify`` passes on the ledger afterwards.

Two ways to cause the outage (``--mode``):

* ``stop``: ``pg_ctlcluster --skip-systemctl-redirect VER NAME stop -m fast`` and
  ``start`` on the local cluster listening on the URL's port (needs root);
* ``proxy``: the service reaches PostgreSQL through a small TCP proxy in this process,
  which is cut (open connections reset, new ones closed at once) and restored. For
  machines where the server cannot be stopped, or is shared.

The default is ``stop`` when running as root with ``pg_ctlcluster`` and a matching
cluster, else ``proxy``. A stopped server is ALWAYS started again (``finally``, SIGTERM
included) and waited for before the script exits.

The ledger lives in a fresh schema (``?schema=veil_outage_<random>``) that is dropped at
the end unless ``--keep-schema``; counts use ``seq > head before the load`` either way.

    python benchmarks/pg_outage.py [--ledger URL] [--down-seconds 5] [--mode stop|proxy]

Exit status: 0 if every check passed, 1 if one failed, 2 if the run could not be set up.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import yaml
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from veil.samples.synth import patients
from veil.service.auth import veil_keygen_api_key

ROOT = Path(__file__).resolve().parent.parent
HEALTH = ROOT / "policies" / "health"
DEFAULT_URL = os.environ.get("VEIL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
#: A requester the health bundle serves without keys: clinician of org-north, TREAT.
CLINICIAN = ("dr.alvarez", {"role": "clinician", "org": "org-north"})
#: What the service says when COMMIT broke and the event may be in the ledger anyway.
AMBIGUOUS = "the event may have been recorded"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1", ""}
PHASES = ("before", "edge", "during", "after")
#: How often the restore is polled: the resolution of "accepting at" and of the lag after it.
WATCH_POLL = 0.02


class SetupError(Exception):
    """The run could not be set up (exit 2): nothing was checked."""


# -- PostgreSQL helpers --------------------------------------------------------------------


def with_schema(url: str, schema: str) -> str:
    """``url`` with veil's ``?schema=`` parameter (see :func:`veil.ledger.open_ledger`)."""
    return f"{url}{'&' if '?' in url else '?'}schema={schema}"


def with_address(url: str, host: str, port: int) -> str:
    """``url`` pointing at ``host:port`` instead, user and everything else kept."""
    parts = urlsplit(url)
    user, at, _ = parts.netloc.rpartition("@")
    return urlunsplit(parts._replace(netloc=f"{user}{at}{host}:{port}"))


def pg_address(url: str) -> tuple[str, int]:
    params = conninfo_to_dict(url)
    return str(params.get("host") or "127.0.0.1"), int(params.get("port") or 5432)


def pg_accepting(url: str) -> bool:
    try:
        psycopg.connect(url, connect_timeout=2).close()
    except psycopg.Error:
        return False
    return True


def wait_pg(url: str, timeout: float, poll: float = 0.1) -> float:
    """Wait until PostgreSQL accepts connections; the time it did. SetupError if it never does."""
    deadline = time.monotonic() + timeout
    while True:
        if pg_accepting(url):
            return time.monotonic()
        if time.monotonic() > deadline:
            raise SetupError(f"PostgreSQL did not accept connections within {timeout:.0f} s")
        time.sleep(poll)


def ledger_seqs(url: str, schema: str, after: int) -> list[tuple[int, str, str]]:
    """``(seq, event_id, kind)`` of the events with ``seq > after``, in seq order."""
    with psycopg.connect(url, connect_timeout=5) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_tables WHERE schemaname = %s AND tablename = 'events'", (schema,)
        ).fetchone()
        if not exists:
            return []
        query = sql.SQL("SELECT seq, event_id, kind FROM {}.events WHERE seq > %s ORDER BY seq")
        rows = conn.execute(query.format(sql.Identifier(schema)), (after,)).fetchall()
    return [(int(s), str(e), str(k)) for s, e, k in rows]


def ledger_head(url: str, schema: str) -> int:
    rows = ledger_seqs(url, schema, -1)
    return rows[-1][0] if rows else 0


def drop_schema(url: str, schema: str) -> None:
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def veil_command() -> list[str]:
    """The ``veil`` entry point of this interpreter's environment."""
    script = Path(sys.executable).parent / "veil"
    if script.exists():
        return [str(script)]
    found = shutil.which("veil")
    if found is None:
        raise SetupError("the veil command is not installed (pip install -e .)")
    return [found]


def audit_verify(ledger_url: str) -> tuple[bool, str]:
    """Run ``veil audit verify``: (passed, its output)."""
    r = subprocess.run(
        [*veil_command(), "audit", "verify", "--ledger", ledger_url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return r.returncode == 0, (r.stdout + r.stderr).strip()


# -- the service ---------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def write_api_keys(directory: Path, users: dict[str, tuple[str, dict[str, Any]]]) -> Path:
    """Write an API keys file for ``users`` (name -> (subject, attrs)); return its path.

    The secrets are written next to it, one per line as ``name secret``, for the clients.
    """
    table: dict[str, Any] = {}
    lines = []
    for name, (subject, attrs) in users.items():
        secret, entry = veil_keygen_api_key(subject, attrs)
        table.update(entry)
        lines.append(f"{name} {secret}")
    path = directory / "api_keys.yaml"
    path.write_text(yaml.safe_dump({"api_keys": table}), encoding="utf-8")
    path.chmod(0o600)  # veil serve refuses an API-keys file others can read
    (directory / "secrets.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def read_secrets(directory: Path) -> dict[str, str]:
    pairs = (line.split(" ", 1) for line in (directory / "secrets.txt").read_text().splitlines())
    return {name: secret for name, secret in pairs}


@dataclass
class Server:
    """One ``veil serve`` subprocess; its stdout and stderr go to ``log``."""

    proc: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        try:
            return self.log.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def stop(self) -> None:
        """Terminate the server (this process only, by its id), killing it if it lingers."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def start_server(
    workdir: Path, ledger_url: str, api_keys: Path, *, name: str = "server", workers: int = 1
) -> Server:
    """Start ``veil serve`` on a free port; returns at once (see :func:`wait_ready`)."""
    port = free_port()
    log = workdir / f"{name}.log"
    env = dict(os.environ, VEIL_API_KEYS_FILE=str(api_keys), PYTHONUNBUFFERED="1")
    cmd = [
        *veil_command(),
        "serve",
        "--policies",
        str(HEALTH),
        "--ledger",
        ledger_url,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
    ]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=workdir)
    return Server(proc, port, log)


def wait_ready(server: Server, timeout: float = 30) -> None:
    """Wait for ``/readyz`` to answer 200; SetupError (with the server's log) otherwise."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2) as client:
        while time.monotonic() < deadline:
            if server.proc.poll() is not None:
                raise SetupError(
                    f"veil serve exited with {server.proc.returncode}:\n{server.output()}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if client.get(server.url + "/readyz").status_code == 200:
                    return
            time.sleep(0.1)
    raise SetupError(f"veil serve not ready within {timeout:.0f} s:\n{server.output()}")


def request_bodies(n: int = 200, seed: int = 7) -> list[dict[str, Any]]:
    """Single-record sanitize bodies the clinician is served (their own organization)."""
    return [
        {
            "dataset": "patients",
            "purpose": "TREAT",
            "records": [dict(r, organization_id="org-north")],
        }
        for r in patients(n, seed=seed)
    ]


# -- ways to cause the outage --------------------------------------------------------------


class Outage(Protocol):
    """Takes the database away from the service and gives it back."""

    name: str

    def cut(self) -> None: ...
    def restore(self) -> None: ...
    def close(self) -> None: ...


def find_cluster(port: int) -> tuple[str, str] | None:
    """``(version, name)`` of the local cluster listening on ``port``, if any."""
    if shutil.which("pg_lsclusters") is None:
        return None
    r = subprocess.run(
        ["pg_lsclusters", "--no-header"], capture_output=True, text=True, check=False
    )
    for line in r.stdout.splitlines():
        cols = line.split()
        if len(cols) >= 3 and cols[2] == str(port):
            return cols[0], cols[1]
    return None


class ClusterOutage:
    """Stops and starts the real server with ``pg_ctlcluster``.

    ``close`` starts it again if this object stopped it and waits until it accepts
    connections: the machine is never left without its database.
    """

    name = "stop"

    def __init__(self, url: str, version: str, cluster: str) -> None:
        self.url = url
        self.cluster = (version, cluster)
        self.stopped = False

    def _ctl(self, *args: str) -> subprocess.CompletedProcess[str]:
        version, cluster = self.cluster
        cmd = ["pg_ctlcluster", "--skip-systemctl-redirect", version, cluster, *args]
        return subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)

    def cut(self) -> None:
        self.stopped = True  # set first: even a stop that fails half-way gets a start
        r = self._ctl("stop", "-m", "fast")
        if r.returncode != 0:
            raise SetupError(f"pg_ctlcluster stop failed: {(r.stdout + r.stderr).strip()}")

    def restore(self) -> None:
        r = self._ctl("start")
        # 2 is "already running": fine, that is what we want.
        if r.returncode not in (0, 2):
            raise SetupError(f"pg_ctlcluster start failed: {(r.stdout + r.stderr).strip()}")
        self.stopped = False

    def close(self) -> None:
        if self.stopped or not pg_accepting(self.url):
            with contextlib.suppress(SetupError, subprocess.TimeoutExpired):
                self.restore()
        wait_pg(self.url, 90)


class ProxyOutage:
    """A TCP proxy between the service and PostgreSQL that can be cut and restored.

    Cutting shuts down every proxied connection (the service sees the server vanish) and
    closes new ones as soon as they are accepted, until restored. PostgreSQL itself keeps
    running, so this is safe on a shared server.
    """

    name = "proxy"

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._cut = threading.Event()
        self._closed = False
        self._lock = threading.Lock()
        self._open: set[socket.socket] = set()
        threading.Thread(target=self._accept, name="pg-proxy", daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self._cut.is_set():
                client.close()
                continue
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._open.update((client, upstream))
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(src, dst), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(1 << 16):
                dst.sendall(data)
        self._drop(src, dst)

    def _drop(self, *socks: socket.socket) -> None:
        for s in socks:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)  # wakes the pump blocked in recv
            s.close()
            with self._lock:
                self._open.discard(s)

    def cut(self) -> None:
        self._cut.set()
        with self._lock:
            socks = list(self._open)
        self._drop(*socks)

    def restore(self) -> None:
        self._cut.clear()

    def close(self) -> None:
        self._closed = True
        self.cut()
        self._listener.close()


# -- load ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    """One request: when it ran (monotonic seconds) and what came back."""

    start: float
    end: float
    status: int  # 0: no HTTP response (client-side error)
    retry_after: bool = False
    ambiguous: bool = False
    event_id: str = ""
    seq: int = 0
    error: str = ""


@dataclass
class Load:
    """Client threads sending sanitize requests until stopped or the request cap is hit."""

    base_url: str
    secret: str
    threads: int
    max_requests: int
    results: list[Result] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _workers: list[threading.Thread] = field(default_factory=list)

    def start(self) -> None:
        bodies = request_bodies()
        for i in range(self.threads):
            t = threading.Thread(target=self._run, args=(bodies, i), daemon=True)
            t.start()
            self._workers.append(t)

    def finish(self) -> None:
        self.stop.set()
        for t in self._workers:
            t.join(60)

    def _run(self, bodies: list[dict[str, Any]], offset: int) -> None:
        headers = {"X-API-Key": self.secret}
        with httpx.Client(base_url=self.base_url, timeout=30, headers=headers) as client:
            i = offset
            while not self.stop.is_set():
                with self._lock:
                    if len(self.results) >= self.max_requests:
                        self.stop.set()
                        return
                body = bodies[i % len(bodies)]
                i += self.threads
                start = time.monotonic()
                try:
                    r = client.post("/v1/sanitize", json=body)
                except httpx.HTTPError as exc:
                    res = Result(start, time.monotonic(), 0, error=type(exc).__name__)
                else:
                    res = _result(start, time.monotonic(), r)
                with self._lock:
                    self.results.append(res)
                if res.status != 200:
                    time.sleep(0.005)  # an outage answers fast: don't just spin

    def count(self) -> int:
        with self._lock:
            return len(self.results)

    def snapshot(self) -> list[Result]:
        with self._lock:
            return list(self.results)


def _result(start: float, end: float, r: httpx.Response) -> Result:
    if r.status_code == 200:
        data = r.json()
        return Result(start, end, 200, event_id=str(data["event_id"]), seq=int(data["ledger_seq"]))
    return Result(
        start,
        end,
        r.status_code,
        retry_after="retry-after" in r.headers,
        ambiguous=r.status_code == 503 and AMBIGUOUS in r.text,
        error=r.text[:300],
    )


# -- the run -------------------------------------------------------------------------------


@dataclass
class Timeline:
    """Monotonic times of the outage: cut issued/complete, restore issued/accepting."""

    cut0: float = 0.0
    cut1: float = 0.0
    restore0: float = 0.0
    restore1: float = 0.0

    def phase(self, r: Result) -> str:
        """``before`` the cut, ``during`` it (the whole request inside it), ``after`` the
        restore was issued, or ``edge`` (overlapping the cut being made)."""
        if r.end < self.cut0:
            return "before"
        if r.start >= self.restore0:
            return "after"
        if r.start >= self.cut1 and r.end <= self.restore0:
            return "during"
        return "edge"


def _bucket(status: int) -> str:
    return str(status) if status in (200, 503) else "other"


def choose_mode(requested: str, url: str) -> tuple[str, tuple[str, str] | None]:
    host, port = pg_address(url)
    cluster = find_cluster(port) if host in LOCAL_HOSTS else None
    can_stop = (
        hasattr(os, "geteuid")
        and os.geteuid() == 0
        and shutil.which("pg_ctlcluster") is not None
        and cluster is not None
    )
    if requested == "auto":
        return ("stop" if can_stop else "proxy"), cluster
    if requested == "stop" and not can_stop:
        raise SetupError(
            "--mode stop needs root, pg_ctlcluster and a local cluster on port "
            f"{port}; use --mode proxy"
        )
    return requested, cluster


def run(args: argparse.Namespace) -> int:
    url: str = args.ledger
    if not pg_accepting(url):
        raise SetupError(f"PostgreSQL not reachable at {':'.join(map(str, pg_address(url)))}")
    mode, cluster = choose_mode(args.mode, url)
    schema = args.schema or f"veil_outage_{uuid.uuid4().hex[:10]}"
    outage: Outage
    if mode == "stop":
        assert cluster is not None
        outage = ClusterOutage(url, *cluster)
        service_url = url
    else:
        proxy = ProxyOutage(pg_address(url))
        outage = proxy
        service_url = with_address(url, "127.0.0.1", proxy.port)
    ledger_url = with_schema(url, schema)
    print(f"mode: {mode}; ledger schema: {schema}; down for {args.down_seconds:g} s")
    server: Server | None = None
    workdir = Path(tempfile.mkdtemp(prefix="veil-outage-"))
    ok = False
    try:
        keys = write_api_keys(workdir, {"clinician": CLINICIAN})
        server = start_server(workdir, with_schema(service_url, schema), keys)
        wait_ready(server)
        secrets = read_secrets(workdir)
        ok = _exercise(args, url, service_url, schema, ledger_url, server, outage, secrets)
    finally:
        if server is not None:
            server.stop()
            if not ok:
                print(f"--- veil serve output ({server.log}) ---\n{server.output()}")
        outage.close()  # starts PostgreSQL again if it was stopped, and waits for it
        if not args.keep_schema and not args.schema:
            with contextlib.suppress(psycopg.Error):
                drop_schema(url, schema)
        shutil.rmtree(workdir, ignore_errors=True)
    return 0 if ok else 1


def _exercise(
    args: argparse.Namespace,
    url: str,
    service_url: str,
    schema: str,
    ledger_url: str,
    server: Server,
    outage: Outage,
    secrets: dict[str, str],
) -> bool:
    head = ledger_head(url, schema)
    load = Load(server.url, secrets["clinician"], args.threads, args.max_requests)
    t = Timeline()
    began = time.monotonic()
    deadline = began + args.max_seconds
    recovered_at: float | None = None
    load.start()
    try:
        # Warm up: some time, and at least one 200, before the outage.
        while time.monotonic() < deadline and (
            time.monotonic() - began < args.warmup
            or not any(r.status == 200 for r in load.snapshot())
        ):
            time.sleep(0.05)
        t.cut0 = time.monotonic()
        outage.cut()
        t.cut1 = time.monotonic()
        _sleep_until(min(t.cut1 + args.down_seconds, deadline), load)
        t.restore0 = time.monotonic()
        t.restore1 = _restore(outage, service_url)
        while time.monotonic() < deadline and not load.stop.is_set():
            recovered_at = _first_recovered(load.snapshot(), t.restore0)
            if recovered_at is not None:
                break
            time.sleep(0.05)
        if recovered_at is not None:
            _sleep_until(min(time.monotonic() + args.after_seconds, deadline), load)
    finally:
        load.finish()
        outage.restore()  # the ledger count below needs the database either way
        wait_pg(url, 90)
    return report(load.snapshot(), t, recovered_at, head, url, schema, ledger_url, began)


def _restore(outage: Outage, service_url: str) -> float:
    """Restore the database; the time the service's route to it accepted connections again.

    Polled from another thread while ``restore`` runs: ``pg_ctlcluster start`` returns
    a while after the server is up, so its return would overstate the recovery time.
    """
    accepting: list[float] = []

    def watch() -> None:
        with contextlib.suppress(SetupError):
            accepting.append(wait_pg(service_url, 90, poll=WATCH_POLL))

    watcher = threading.Thread(target=watch, name="pg-watch", daemon=True)
    watcher.start()
    outage.restore()
    watcher.join(95)
    if not accepting:
        raise SetupError("PostgreSQL did not accept connections within 90 s of the restore")
    return accepting[0]


def _sleep_until(when: float, load: Load) -> None:
    while time.monotonic() < when and not load.stop.is_set():
        time.sleep(0.05)


def _first_recovered(results: list[Result], restore0: float) -> float | None:
    ends = [r.end for r in results if r.status == 200 and r.start >= restore0]
    return min(ends) if ends else None


def report(
    results: list[Result],
    t: Timeline,
    recovered_at: float | None,
    head: int,
    url: str,
    schema: str,
    ledger_url: str,
    began: float,
) -> bool:
    """Print the counts and the checks; ``True`` if every check passed."""
    table: dict[str, Counter[str]] = {p: Counter() for p in PHASES}
    for r in results:
        table[t.phase(r)][_bucket(r.status)] += 1
    span = max((r.end for r in results), default=began) - began
    print(f"requests: {len(results)} in {span:.1f} s")
    print(
        f"outage: cut at +{t.cut0 - began:.2f} s (took {t.cut1 - t.cut0:.2f} s), "
        f"restore at +{t.restore0 - began:.2f} s, accepting at +{t.restore1 - began:.2f} s"
    )
    print(f"{'phase':<8}{'200':>8}{'503':>8}{'other':>8}")
    for p in PHASES:
        c = table[p]
        print(f"{p:<8}{c['200']:>8}{c['503']:>8}{c['other']:>8}")
    if recovered_at is not None:
        # The service may get there before the poll notices: clamp to the poll's resolution.
        lag = recovered_at - t.restore1
        lag_text = (
            f"{lag:.2f} s" if lag > WATCH_POLL else f"<= {WATCH_POLL:.2f} s (poll resolution)"
        )
        print(
            f"time to recovery: {recovered_at - t.restore0:.2f} s after the restore was issued; "
            f"{lag_text} after PostgreSQL accepted connections"
        )
    else:
        print("time to recovery: not recovered")

    events = ledger_seqs(url, schema, head)
    disclosures = {eid: seq for seq, eid, kind in events if kind == "disclosure"}
    ok200 = [r for r in results if r.status == 200]
    ids = [r.event_id for r in ok200]
    ambiguous = sum(r.ambiguous for r in results)
    during = [r for r in results if t.phase(r) == "during"]
    after_recovery = [r for r in results if recovered_at is not None and r.start > recovered_at]
    others = [r for r in results if _bucket(r.status) == "other"]
    n200, n_ev = len(ok200), len(disclosures)
    if n200 == n_ev:
        count_ok, count_note = True, ""
    else:
        count_ok = ambiguous > 0 and n200 <= n_ev <= n200 + ambiguous
        count_note = f" (allowed: {ambiguous} 503s said the event may have been recorded)"
    verified, verify_out = audit_verify(ledger_url)
    checks = [
        (f"200 responses before the outage: {table['before']['200']}", table["before"]["200"] > 0),
        (
            f"no 200 during the outage: {sum(r.status == 200 for r in during)} of {len(during)}",
            bool(during) and not any(r.status == 200 for r in during),
        ),
        (
            "all responses during the outage are 503 with Retry-After",
            bool(during) and all(r.status == 503 and r.retry_after for r in during),
        ),
        (
            "every 503 carries Retry-After",
            all(r.retry_after for r in results if r.status == 503),
        ),
        (
            f"no other status: {len(others)}"
            + (f" (first: {others[0].status} {others[0].error[:120]!r})" if others else ""),
            not others,
        ),
        ("recovered by itself after the restore", recovered_at is not None),
        (
            f"no 503 after recovery: {sum(r.status != 200 for r in after_recovery)} "
            f"of {len(after_recovery)}",
            all(r.status == 200 for r in after_recovery),
        ),
        (
            f"200 responses == new disclosure events: {n200} == {n_ev}{count_note}",
            count_ok,
        ),
        (
            "every 200 names a distinct disclosure event in the ledger at its seq",
            len(set(ids)) == len(ids) and all(disclosures.get(r.event_id) == r.seq for r in ok200),
        ),
        (
            f"no other new events: {len(events) - n_ev}",
            len(events) == n_ev,
        ),
        (f"veil audit verify: {' '.join(verify_out.split())}", verified),
    ]
    print("checks:")
    for text, passed in checks:
        print(f"  [{'PASS' if passed else 'FAIL'}] {text}")
    all_ok = all(passed for _, passed in checks)
    print("RESULT: PASS" if all_ok else "RESULT: FAIL")
    return all_ok


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0] if __doc__ else None)
    p.add_argument("--ledger", default=DEFAULT_URL, help="PostgreSQL URL (without ?schema=)")
    p.add_argument("--mode", choices=("auto", "stop", "proxy"), default="auto")
    p.add_argument("--down-seconds", type=float, default=5.0)
    p.add_argument("--warmup", type=float, default=2.0, help="seconds of load before the cut")
    p.add_argument(
        "--after-seconds", type=float, default=2.0, help="seconds of load after recovery"
    )
    p.add_argument(
        "--max-seconds", type=float, default=120.0, help="cap on the whole load, in seconds"
    )
    p.add_argument("--max-requests", type=int, default=100_000, help="cap on requests sent")
    p.add_argument("--threads", type=int, default=4, help="client threads")
    p.add_argument("--schema", default=None, help="ledger schema (default: a fresh one)")
    p.add_argument("--keep-schema", action="store_true", help="don't drop the fresh schema")
    return p.parse_args(argv)


@contextlib.contextmanager
def sigterm_exits() -> Iterator[None]:
    """Turn SIGTERM into SystemExit so ``finally`` blocks (restart PostgreSQL) still run."""

    def handler(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with sigterm_exits():
        try:
            return run(args)
        except SetupError as exc:
            print(f"setup failed: {exc}", file=sys.stderr)
            return 2


if __name__ == "__main__":
    sys.exit(main())
