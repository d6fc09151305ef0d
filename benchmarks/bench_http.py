"""HTTP throughput and latency of POST /v1/sanitize vs a bare FastAPI echo, over real sockets.

The question is what veil costs on top of the HTTP stack it cannot avoid. The baseline
is the cheapest FastAPI endpoint that does the same HTTP work: parse the same JSON body
and send JSON back (a sync handler, like veil's, so both pay the threadpool hop). veil
adds authentication, planning, the field engine and one SQLite ledger append per request,
committed before the answer.

Both apps run in their own uvicorn process with identical settings (1 worker, no access
log, uvicorn's default loop/HTTP implementation), started from one factory module written
to a temp dir, the way ``veil serve`` builds its app: ``create_app(load_settings(config))``
with the shipped health bundle and a SQLite ledger in that temp dir. A separate client
process (asyncio, a minimal raw HTTP/1.1 keep-alive client, one connection per in-flight
request) drives the scenarios in rounds, taking turns (veil, echo, veil, echo ...), a
warm-up first; bodies are serialized once up front so the client spends its CPU on HTTP,
not on JSON. The throughput ratio is the median of the per-round ratios: this machine's
speed drifts by tens of percent over minutes, and a pair measured back to back shares it.

    python benchmarks/bench_http.py [--rounds 3] [--duration 4] [--warmup 2]
                                    [--concurrency 16] [--batch 100] [--fields 0]

Target (from the issue), SQLite ledger: single-record veil >= 0.5x echo throughput and
veil p99 < 50 ms. PASS/MISS is printed per target and a miss still exits 0; only a run that
could not measure (a server that does not start, a crashed client) exits non-zero.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

import results
from veil.samples.synth import patients
from veil.service.auth import veil_keygen_api_key

ROOT = Path(__file__).resolve().parent.parent
REQUESTER = ("dr.alvarez", {"role": "clinician", "org": "org-north"})
PURPOSE = "TREAT"
TARGET_RATIO = 0.5
TARGET_P99_MS = 50.0

#: Written to the temp dir and imported by uvicorn (``--factory``) for both servers, so the
#: two differ only in the app. ``veil_app`` is what ``veil serve --config`` builds.
FACTORY = textwrap.dedent(
    '''
    """uvicorn factories for bench_http.py (generated; safe to delete)."""
    import os
    from pathlib import Path
    from typing import Annotated, Any

    from fastapi import Body, FastAPI


    def veil_app() -> FastAPI:
        from veil.service.app import create_app
        from veil.service.settings import load_settings

        return create_app(load_settings(Path(os.environ["VEIL_BENCH_CONFIG"])))


    def echo_app() -> FastAPI:
        app = FastAPI()

        @app.post("/echo")
        def echo(body: Annotated[dict[str, Any], Body()]) -> dict[str, Any]:
            return body

        return app
    '''
)


def free_port() -> int:
    """A port that was free a moment ago (the OS picks; the small race is acceptable here)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def setup(tmp: Path) -> tuple[str, Path]:
    """Config, API key, keys and factory module in ``tmp``; returns the client's secret."""
    secret, entry = veil_keygen_api_key(*REQUESTER)
    (tmp / "api_keys.yaml").write_text(yaml.safe_dump({"api_keys": entry}))
    (tmp / "keys.yaml").write_text(
        "keys:\n"
        + "".join(
            f"  {k}: hex:{i:02x}{'ab' * 31}\n"
            for i, k in enumerate(["research-tokens", "research-dates", "audit-hash"])
        )
    )
    db = tmp / "ledger.db"
    config = {
        "policies": str(ROOT / "policies" / "health"),
        "ledger": f"sqlite:///{db}",
        "key_file": str(tmp / "keys.yaml"),
        "api_keys_file": str(tmp / "api_keys.yaml"),
    }
    for secret_file in ("keys.yaml", "api_keys.yaml"):  # veil serve refuses others-readable
        (tmp / secret_file).chmod(0o600)
    (tmp / "veil.yaml").write_text(yaml.safe_dump(config))
    (tmp / "bench_apps.py").write_text(FACTORY)
    return secret, db


def start_server(tmp: Path, factory: str, port: int) -> subprocess.Popen[bytes]:
    """One uvicorn process; the same flags for veil and echo."""
    env = dict(os.environ, VEIL_BENCH_CONFIG=str(tmp / "veil.yaml"))
    cmd = [
        sys.executable,
        "-m",
        "uvicorn",
        f"bench_apps:{factory}",
        "--factory",
        "--app-dir",
        str(tmp),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    return subprocess.Popen(cmd, env=env, cwd=tmp)


def wait_ready(
    proc: subprocess.Popen[bytes], url: str, timeout: float = 120.0, *, ok: bool = False
) -> None:
    """Block until the server answers over HTTP (with ``ok``: answers 200), or fail if it
    died. veil is waited for on ``/readyz``, as a load balancer would: its text workers
    load Presidio for seconds after start-up, and on two cores that start-up took the
    CPU of the first round (veil at 0.38-0.54x the echo in it, 0.7x after)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise SystemExit(f"server for {url} exited with {proc.returncode}")
        try:
            r = httpx.get(url, timeout=1.0)
            if not ok or r.status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"server for {url} not ready after {timeout:.0f}s")


def bodies(batch: int, fields: int) -> dict[str, bytes]:
    """The exact request bytes per scenario; echo gets the same bytes as veil."""

    def record(r: dict[str, Any]) -> dict[str, Any]:
        if fields:  # the first fields in generator order, always with the organization
            r = {k: r[k] for k in [k for k in r if k != "organization_id"][: fields - 1]}
        return dict(r, organization_id="org-north")

    def body(n: int, seed: int) -> bytes:
        recs = [record(r) for r in patients(n, seed=seed)]
        return json.dumps({"dataset": "patients", "purpose": PURPOSE, "records": recs}).encode()

    return {"single": body(1, 11), "batch": body(batch, 12)}


# ----------------------------------------------------------------------------- client side


def cpu_seconds(pid: int) -> float:
    """User+system CPU time of a process (Linux /proc; NaN elsewhere)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return float("nan")
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class RawConnection:
    """A minimal HTTP/1.1 keep-alive client: pre-built request bytes, Content-Length replies.

    httpx spent ~1.3 ms of CPU per request here, so on a 2-core machine the client, not
    the server, set the pace (and inflated latencies by queueing replies it had no CPU to
    read). This one spends a few tens of microseconds, so the servers are what is measured.
    """

    def __init__(self, host: str, port: int, request: bytes) -> None:
        self.host, self.port, self.request = host, port, request
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def post(self) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(self.request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = -1
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            if name.strip().lower() == b"content-length":
                length = int(value)
        if length < 0:
            raise RuntimeError("reply without Content-Length")
        await self.reader.readexactly(length)
        return status

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()


def raw_request(url: str, body: bytes, headers: dict[str, str]) -> tuple[str, int, bytes]:
    parts = httpx.URL(url)
    host, port = parts.host, parts.port or 80
    lines = [f"POST {parts.raw_path.decode()} HTTP/1.1", f"Host: {host}:{port}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    lines += [f"Content-Length: {len(body)}", "", ""]
    return host, port, "\r\n".join(lines).encode() + body


async def drive(
    url: str,
    body: bytes,
    headers: dict[str, str],
    concurrency: int,
    warmup: float,
    duration: float,
    server_pid: int,
) -> dict[str, Any]:
    """Closed loop: ``concurrency`` connections post back to back; count what ends in the
    window. Each task owns one keep-alive connection (see :class:`RawConnection`)."""
    latencies: list[float] = []
    status: dict[int, int] = {}
    failures = 0
    answered = 0  # every 200, warm-up included: veil logs each one in the ledger
    cpu: dict[str, float] = {}
    async with httpx.AsyncClient(timeout=60.0) as probe:
        # One request first: a scenario that cannot succeed should say so, not time out.
        first = await probe.post(url, content=body, headers=headers)
        if first.status_code != 200:
            return {"error": f"HTTP {first.status_code}: {first.text[:300]}"}
        answered += 1
    host, port, request = raw_request(url, body, headers)
    t0 = time.perf_counter() + warmup
    t1 = t0 + duration

    async def sample() -> None:
        await asyncio.sleep(max(t0 - time.perf_counter(), 0))
        cpu["srv0"], cpu["cli0"] = cpu_seconds(server_pid), time.process_time()
        await asyncio.sleep(max(t1 - time.perf_counter(), 0))
        cpu["srv1"], cpu["cli1"] = cpu_seconds(server_pid), time.process_time()

    async def worker() -> None:
        nonlocal failures, answered
        conn = RawConnection(host, port, request)
        try:
            while True:
                begin = time.perf_counter()
                if begin >= t1:
                    return
                try:
                    code = await asyncio.wait_for(conn.post(), 60.0)
                except (TimeoutError, OSError, EOFError, RuntimeError, ValueError):
                    code = -1
                    conn.close()
                    conn = RawConnection(host, port, request)
                end = time.perf_counter()
                answered += code == 200
                if t0 <= begin and end <= t1:
                    status[code] = status.get(code, 0) + 1
                    if code == 200:
                        latencies.append(end - begin)
                    else:
                        failures += 1
        finally:
            conn.close()

    await asyncio.gather(sample(), *(worker() for _ in range(concurrency)))
    latencies.sort()

    def pct(p: float) -> float:
        if not latencies:
            return float("nan")
        return 1000 * latencies[min(len(latencies) - 1, int(p * len(latencies)))]

    return {
        "ok": len(latencies),
        "latencies_ms": [round(1000 * x, 3) for x in latencies],
        "answered": answered,
        "failed": failures,
        "status": status,
        "rps": len(latencies) / duration,
        "p50": pct(0.50),
        "p99": pct(0.99),
        "server_cpu": (cpu["srv1"] - cpu["srv0"]) / duration,
        "client_cpu": (cpu["cli1"] - cpu["cli0"]) / duration,
    }


def client_main(spec_file: Path) -> None:
    """Entry point of the client process: run every scenario, print JSON results."""
    spec = json.loads(spec_file.read_text())
    out: list[Any] = []
    for s in spec["scenarios"]:
        body = Path(s["body_file"]).read_bytes()
        out.append(
            asyncio.run(
                drive(
                    s["url"],
                    body,
                    s["headers"],
                    spec["concurrency"],
                    s.get("warmup", spec["warmup"]),
                    spec["duration"],
                    s["server_pid"],
                )
            )
        )
    print(json.dumps(out))


# ----------------------------------------------------------------------------- orchestration


def disclosures(db: Path) -> int:
    with sqlite3.connect(db) as c:
        return int(c.execute("select count(*) from events where kind='disclosure'").fetchone()[0])


def merge(windows: list[dict[str, Any]]) -> dict[str, Any]:
    """One scenario's rounds as one row: median req/s, percentiles over every request."""
    failed = [w for w in windows if "error" in w]
    if failed:
        return failed[0]
    lat = sorted(x for w in windows for x in w["latencies_ms"])

    def pct(p: float) -> float:
        return lat[min(len(lat) - 1, int(p * len(lat)))] if lat else float("nan")

    return {
        "rps": statistics.median(w["rps"] for w in windows),
        "rounds": [w["rps"] for w in windows],
        "p50": pct(0.50),
        "p99": pct(0.99),
        "failed": sum(w["failed"] for w in windows),
        "server_cpu": statistics.mean(w["server_cpu"] for w in windows),
        "client_cpu": statistics.mean(w["client_cpu"] for w in windows),
    }


def ratios(res: dict[str, list[dict[str, Any]]], kind: str) -> list[float]:
    """veil/echo throughput per round: the two ran back to back, so drift in the
    machine's speed over the run cancels out of each ratio."""
    pairs = zip(res[f"veil-{kind}"], res[f"echo-{kind}"], strict=True)
    return [v["rps"] / e["rps"] for v, e in pairs if "error" not in v and e.get("rps")]


def report(
    windows: dict[str, list[dict[str, Any]]], nrec: dict[str, int], json_file: str | None = None
) -> None:
    res = {name: merge(w) for name, w in windows.items()}
    print()
    head = (
        f"{'scenario':<16}{'req/s':>10}{'records/s':>12}{'p50 ms':>9}{'p99 ms':>9}"
        f"{'non-200':>9}{'srv CPU':>9}{'cli CPU':>9}  req/s per round"
    )
    print(head)
    print("-" * len(head))
    for kind in ("single", "batch"):
        for app in ("veil", "echo"):
            name = f"{app}-{kind}"
            r = res[name]
            if "error" in r:
                print(f"{name:<16}  FAILED: {r['error']}")
                continue
            print(
                f"{name:<16}{r['rps']:>10,.0f}{r['rps'] * nrec[kind]:>12,.0f}"
                f"{r['p50']:>9.1f}{r['p99']:>9.1f}{r['failed']:>9}"
                f"{r['server_cpu']:>9.0%}{r['client_cpu']:>9.0%}  "
                + " ".join(f"{x:,.0f}" for x in r["rounds"])
            )
        per_round = ratios(windows, kind)
        v, e = res[f"veil-{kind}"], res[f"echo-{kind}"]
        if per_round and "error" not in v and "error" not in e:
            results.record(
                json_file, "http",
                "HTTP, one record per request" if kind == "single"
                else f"HTTP, {nrec[kind]} records per request",
                veil=v["rps"] * nrec[kind], baseline=e["rps"] * nrec[kind], unit="records/s",
                rounds=per_round, target=0.59 if kind == "single" else 0.6,
                note=f"baseline: FastAPI echo; veil p99 {v['p99']:.1f} ms",
            )  # fmt: skip
        if per_round:
            print(
                f"{'  veil/echo':<16}{statistics.median(per_round):>9.2f}x  (throughput, median"
                f" of rounds: {' '.join(f'{x:.2f}' for x in per_round)})"
            )
    print("CPU columns: share of one core used in the window by the server / the client process")
    print()
    v, e = res["veil-single"], res["echo-single"]
    per_round = ratios(windows, "single")
    if "error" in v or "error" in e or not per_round:
        print("targets: cannot be judged, a single-record scenario failed")
        return
    ratio = statistics.median(per_round)
    ok_ratio = ratio >= TARGET_RATIO
    ok_p99 = v["p99"] < TARGET_P99_MS
    if e["client_cpu"] >= 0.9:
        print(
            "caveat: the client used ~a whole core during echo-single, so echo is client-bound"
            " here and the true veil/echo ratio is lower than shown."
        )
    print("targets (issue; SQLite ledger, single record per request):")
    print(
        f"  throughput veil >= {TARGET_RATIO}x echo: {ratio:.2f}x"
        f"  -> {'PASS' if ok_ratio else 'MISS'}"
    )
    print(
        f"  p99 veil < {TARGET_P99_MS:.0f} ms: {v['p99']:.1f} ms  -> {'PASS' if ok_p99 else 'MISS'}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument(
        "--duration", type=float, default=4.0, help="measured seconds per scenario and round"
    )
    ap.add_argument("--rounds", type=int, default=3, help="rounds, the scenarios taking turns")
    ap.add_argument("--json", help="append results for benchmarks/report.py to this file")
    ap.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds first")
    ap.add_argument("--concurrency", type=int, default=16, help="requests in flight")
    ap.add_argument("--batch", type=int, default=100, help="records per batch request")
    ap.add_argument(
        "--fields",
        type=int,
        default=0,
        help="trim each record to this many fields (0: the whole synthetic patient)",
    )
    ap.add_argument("--client", type=Path, help=argparse.SUPPRESS)  # internal: client process
    args = ap.parse_args()
    if args.client:
        client_main(args.client)
        return

    import uvicorn

    with tempfile.TemporaryDirectory(prefix="veil-bench-http-") as tmpdir:
        tmp = Path(tmpdir)
        secret, db = setup(tmp)
        payloads = bodies(args.batch, args.fields)
        nrec = {"single": 1, "batch": args.batch}
        nfields = len(json.loads(payloads["single"])["records"][0])
        for kind, data in payloads.items():
            (tmp / f"{kind}.json").write_bytes(data)
        ports = {"veil": free_port(), "echo": free_port()}
        procs = {
            "veil": start_server(tmp, "veil_app", ports["veil"]),
            "echo": start_server(tmp, "echo_app", ports["echo"]),
        }
        try:
            wait_ready(procs["veil"], f"http://127.0.0.1:{ports['veil']}/readyz", ok=True)
            wait_ready(procs["echo"], f"http://127.0.0.1:{ports['echo']}/echo")
            json_ct = {"Content-Type": "application/json"}
            scenarios = [
                {
                    "name": f"{app}-{kind}",
                    "round": r,
                    # warm-up once; later rounds only re-open their connections
                    "warmup": args.warmup if r == 0 else 0.5,
                    "url": f"http://127.0.0.1:{ports[app]}"
                    + ("/v1/sanitize" if app == "veil" else "/echo"),
                    "headers": json_ct | ({"X-API-Key": secret} if app == "veil" else {}),
                    "body_file": str(tmp / f"{kind}.json"),
                    "server_pid": procs[app].pid,
                }
                for r in range(args.rounds)
                for kind in ("single", "batch")
                for app in ("veil", "echo")
            ]
            spec = {
                "scenarios": scenarios,
                "concurrency": args.concurrency,
                "warmup": args.warmup,
                "duration": args.duration,
            }
            (tmp / "spec.json").write_text(json.dumps(spec))
            print(
                f"veil HTTP benchmark: 4 scenarios x {args.rounds} rounds taking turns"
                f" ({args.warmup:g} s warm-up, then {args.duration:g} s per window),"
                f" concurrency {args.concurrency}, HTTP/1.1 keep-alive"
            )
            print(
                f"  servers: uvicorn {uvicorn.__version__}, 1 worker each, no access log,"
                f" loop/http auto (uvloop {'yes' if _has('uvloop') else 'no'},"
                f" httptools {'yes' if _has('httptools') else 'no'})"
            )
            print(
                f"  single: 1 synthetic patient ({nfields} fields, org-north); batch:"
                f" {args.batch} records; requester {REQUESTER[0]} clinician/org-north/{PURPOSE}"
            )
            print("  ledger: SQLite in a temp dir, one disclosure event per veil request")
            cores = os.cpu_count() or 0
            print(
                f"  NOTE: {cores} CPU cores; the client process (httpx) competes with the server"
                " for them, so absolute numbers are a floor and ratios are the signal"
                f" (load average before the run: {os.getloadavg()[0]:.2f})."
            )
            out = subprocess.run(
                [sys.executable, __file__, "--client", str(tmp / "spec.json")],
                check=False,
                capture_output=True,
                text=True,
            )
            if out.returncode != 0:
                raise SystemExit(f"client process failed ({out.returncode}):\n{out.stderr}")
            windows: dict[str, list[dict[str, Any]]] = {}
            for sc, result in zip(scenarios, json.loads(out.stdout), strict=True):
                windows.setdefault(str(sc["name"]), []).append(result)
        finally:
            for p in procs.values():
                p.terminate()
            for p in procs.values():
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
        report(windows, nrec, args.json)
        answered = sum(
            w.get("answered", 0) for k, ws in windows.items() if k.startswith("veil-") for w in ws
        )
        print(
            f"\nledger: {disclosures(db)} disclosure events for {answered} veil 200 answers"
            " (warm-up included; they should be equal)"
        )


def _has(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    main()
