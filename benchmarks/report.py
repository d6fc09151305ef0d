"""``make bench-report``: every benchmark in a bounded quick mode, one report.

Runs each benchmark of this folder with small sizes (about ten minutes in all on a
2-core machine), collects the paths they measure — veil against a baseline measured in
the same run, as a ratio with each round's ratio — and writes:

* ``benchmarks/report.md``: the machine, the commit, a table of every path (ratio,
  spread over rounds, target) and each benchmark's own printed output;
* ``benchmarks/report/*.png``: a chart per benchmark group and one of everything: each
  path's median ratio to its baseline, the rounds' lowest and highest as a whisker, the
  target as a mark.

Quick mode means fewer rows and rounds than each benchmark's defaults: the ratios are
the signal, absolute numbers depend on the machine (and on what else runs on it).
``--only http,bulk`` runs a subset and keeps the other benchmarks' last results;
``--render`` re-renders the last results without running anything.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
OUT_MD = HERE / "report.md"
OUT_DIR = HERE / "report"


@dataclass(frozen=True)
class Bench:
    name: str
    title: str
    argv: list[str]
    json: bool = True


QUICK = [
    Bench("core", "Record engine (JSONL, ledger) vs a plain loop, billing clerk",
          ["bench_core.py", "--requester", "billing", "--records", "20000", "--repeat", "3"]),
    Bench("core-research", "Record engine vs a plain loop, researcher (notes through NER)",
          ["bench_core.py", "--requester", "researcher", "--records", "300", "--repeat", "2"]),
    Bench("bulk", "Columnar engine and Spark vs Parquet copies; vs Presidio and py-abac",
          ["bench_bulk.py", "--rows", "200000", "--record-rows", "20000", "--presidio-rows",
           "2000", "--presidio-detect-rows", "200", "--pyabac-rows", "200", "--repeat", "3",
           "--spark-repeat", "2"]),
    Bench("http", "HTTP service vs a FastAPI echo",
          ["bench_http.py", "--rounds", "3", "--duration", "3", "--warmup", "1.5"]),
    Bench("text", "Free text: veil's batch vs Presidio's per-text loop",
          ["bench_text.py", "--engines", "default", "--notes", "200", "--timing", "256",
           "--rounds", "5", "--workers", "2"]),
    Bench("evasions", "Adversarial notes: leak rate per identifier type",
          ["bench_evasions.py", "--notes", "2000"], json=False),
    Bench("console", "Console page render times (20,000-event ledger)",
          ["bench_console.py", "--events", "20000", "--rounds", "10"], json=False),
]  # fmt: skip


def machine() -> dict[str, str]:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{kb / 2**20:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"],
        capture_output=True, text=True, check=False,
    ).stdout.strip()  # fmt: skip
    dirty = subprocess.run(
        ["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no", "src"],
        capture_output=True, text=True, check=False,
    ).stdout.strip()  # fmt: skip
    versions = {}
    for dist in ("pyarrow", "fastapi", "uvicorn", "presidio-analyzer", "spacy", "pyspark"):
        try:
            from importlib.metadata import version

            versions[dist] = version(dist)
        except Exception:
            continue
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "commit": commit + (" (src modified)" if dirty else ""),
        "cpu": cpu or platform.processor(),
        "cores": str(os.cpu_count()),
        "memory": mem,
        "python": platform.python_version(),
        "os": platform.platform(),
        "load": ", ".join(f"{x:.2f}" for x in os.getloadavg()),
        "versions": ", ".join(f"{k} {v}" for k, v in versions.items()),
    }


def run(benches: list[Bench], jsonl: Path, out: Console) -> dict[str, str]:
    """Run ``benches``; their printed output by name (results go to ``jsonl``)."""
    printed: dict[str, str] = {}
    columns = (
        TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
    )  # fmt: skip
    with Progress(*columns, console=out) as progress:
        task = progress.add_task("benchmarks", total=len(benches))
        for b in benches:
            progress.update(task, description=f"{b.name}: {b.title}")
            argv = [sys.executable, str(HERE / b.argv[0]), *b.argv[1:]]
            if b.json:
                argv += ["--json", str(jsonl)]
            t0 = time.perf_counter()
            proc = subprocess.run(argv, capture_output=True, text=True, check=False, cwd=ROOT)
            took = time.perf_counter() - t0
            text = proc.stdout.strip()
            if proc.returncode != 0:
                text += f"\n\nFAILED (exit {proc.returncode}):\n{proc.stderr.strip()[-3000:]}"
                out.print(f"[red]{b.name} failed[/] (exit {proc.returncode})")
            printed[b.name] = f"{text}\n\n({took:.0f} s)"
            progress.advance(task)
    return printed


def load(jsonl: Path) -> list[dict[str, Any]]:
    if not jsonl.exists():
        return []
    return [json.loads(line) for line in jsonl.read_text().splitlines() if line.strip()]


def chart(rows: list[dict[str, Any]], title: str, path: Path) -> None:
    """Horizontal bars: median ratio, whiskers from the lowest to the highest round,
    the target as a black mark, 1.0 (as fast as the baseline) as a dashed line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [r["path"] for r in rows]
    med = [r["median"] for r in rows]
    lo = [m - min(r["rounds"]) for m, r in zip(med, rows, strict=True)]
    hi = [max(r["rounds"]) - m for m, r in zip(med, rows, strict=True)]
    colors = [
        "#2e7d32" if r["target"] is None or r["median"] >= r["target"] else "#c62828" for r in rows
    ]
    height = 0.6 + 0.45 * len(rows)
    fig, ax = plt.subplots(figsize=(9, height))
    y = list(range(len(rows)))[::-1]
    ax.barh(y, med, xerr=[lo, hi], color=colors, alpha=0.85, capsize=3)
    for yi, r in zip(y, rows, strict=True):
        if r["target"] is not None:
            ax.plot([r["target"]], [yi], marker="|", markersize=18, color="black")
        ax.text(r["median"], yi, f"  {r['median']:.2f}x", va="center", fontsize=8)
    ax.axvline(1.0, linestyle="--", color="grey", linewidth=1)
    ax.set_yticks(y)
    ax.set_yticklabels(labels, fontsize=8)
    ax.set_xlabel("ratio to the baseline (higher is better); | = target")
    if any(m > 20 for m in med):
        ax.set_xscale("log")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def render(rows: list[dict[str, Any]], printed: dict[str, str], facts: dict[str, str]) -> str:
    OUT_DIR.mkdir(exist_ok=True)
    lines = [
        "# veil benchmark report",
        "",
        "Generated by `make bench-report` (`benchmarks/report.py`): every benchmark in a quick",
        "mode, each path against a baseline measured in the same run. Ratios travel between",
        "machines; absolute numbers do not. Green bars meet their target, red ones do not.",
        "",
        "| | |",
        "|---|---|",
        *[f"| {k} | {v} |" for k, v in facts.items()],
        "",
        "## Every path",
        "",
        "| benchmark | path | veil | baseline | ratio (median) | rounds (low-high) | target | |",
        "|---|---|---:|---:|---:|---|---:|---|",
    ]
    for r in rows:
        target = "" if r["target"] is None else f"{r['target']:g}x"
        ok = "" if r["target"] is None else ("meets" if r["median"] >= r["target"] else "misses")
        spread = f"{min(r['rounds']):.2f}-{max(r['rounds']):.2f} ({len(r['rounds'])})"
        lines.append(
            f"| {r['bench']} | {r['path']} | {r['veil']:,.0f} {r['unit']} | "
            f"{r['baseline']:,.0f} | {r['median']:.2f}x | {spread} | {target} | {ok} |"
        )
    lines += ["", "Baselines and notes:", ""]
    lines += [f"* {r['bench']}, {r['path']}: {r['note']}" for r in rows if r.get("note")]
    if rows:
        chart(rows, "All paths: ratio to baseline", OUT_DIR / "all.png")
        lines += ["", "## Charts", "", "![all paths](report/all.png)", ""]
        for bench in dict.fromkeys(r["bench"] for r in rows):
            group = [r for r in rows if r["bench"] == bench]
            chart(group, f"{bench}: ratio to baseline", OUT_DIR / f"{bench}.png")
            lines += [f"![{bench}](report/{bench}.png)", ""]
    lines += ["## What each benchmark printed", ""]
    titles = {b.name: b.title for b in QUICK}
    for name, text in printed.items():
        lines += [
            f"<details><summary>{name}: {titles.get(name, '')}</summary>",
            "",
            "```",
            text,
            "```",
            "</details>",
            "",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--only", help="comma-separated benchmark names: " + ",".join(
        b.name for b in QUICK))  # fmt: skip
    ap.add_argument("--render", action="store_true", help="re-render the last results only")
    args = ap.parse_args()
    out = Console(stderr=True)
    facts = machine()
    OUT_DIR.mkdir(exist_ok=True)
    jsonl = OUT_DIR / "results.jsonl"
    printed_file = OUT_DIR / "printed.json"
    rows = load(jsonl)
    printed: dict[str, str] = json.loads(printed_file.read_text()) if printed_file.exists() else {}
    if not args.render:
        names = set(args.only.split(",")) if args.only else {b.name for b in QUICK}
        benches = [b for b in QUICK if b.name in names]
        fresh = OUT_DIR / "results-new.jsonl"
        fresh.unlink(missing_ok=True)
        printed.update(run(benches, fresh, out))
        new_rows = load(fresh)
        fresh.unlink(missing_ok=True)
        rerun = {(r["bench"], r["path"]) for r in new_rows}
        rows = [r for r in rows if (r["bench"], r["path"]) not in rerun] + new_rows
        jsonl.write_text("".join(json.dumps(r) + "\n" for r in rows))
        printed_file.write_text(json.dumps(printed, indent=1))
        order = {b.name: i for i, b in enumerate(QUICK)}
        printed = dict(sorted(printed.items(), key=lambda kv: order.get(kv[0], 99)))
    OUT_MD.write_text(render(rows, printed, facts), encoding="utf-8")
    met = [r for r in rows if r["target"] is not None and r["median"] >= r["target"]]
    targets = [r for r in rows if r["target"] is not None]
    out.print(
        f"wrote {OUT_MD.relative_to(ROOT)} and {OUT_DIR.relative_to(ROOT)}/*.png: "
        f"{len(rows)} paths, {len(met)} of {len(targets)} targets met; "
        f"median ratio {statistics.median([r['median'] for r in rows]) if rows else 0:.2f}x"
    )


if __name__ == "__main__":
    main()
