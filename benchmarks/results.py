"""What a benchmark reports to ``benchmarks/report.py``: one JSON line per measured path.

A path is veil against a baseline measured in the same run (the ratio is what travels
between machines), with each round's ratio so the report can show the spread. Written
only when the benchmark is given ``--json FILE``; the benchmarks print their own tables
as before.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any


def record(
    file: str | Path | None,
    bench: str,
    path: str,
    *,
    veil: float,
    baseline: float,
    unit: str,
    rounds: list[float] | None = None,
    target: float | None = None,
    higher_is_better: bool = True,
    note: str = "",
) -> None:
    """Append one path's result to ``file`` (no-op without a file).

    ``veil`` and ``baseline`` are rates (higher is better: rows/s, req/s) unless
    ``higher_is_better`` is false (then times, and the ratio is baseline / veil);
    ``rounds`` are the per-round ratios, ``target`` the ratio veil aims for."""
    if file is None:
        return
    ratio = veil / baseline if higher_is_better else baseline / veil
    row: dict[str, Any] = {
        "bench": bench,
        "path": path,
        "veil": veil,
        "baseline": baseline,
        "unit": unit,
        "ratio": ratio,
        "rounds": rounds or [ratio],
        "median": statistics.median(rounds) if rounds else ratio,
        "target": target,
        "note": note,
    }
    with Path(file).open("a", encoding="utf-8") as f:
        f.write(json.dumps(row) + "\n")
