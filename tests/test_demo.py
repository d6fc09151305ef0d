"""`veil demo` runs end to end and the requesters receive visibly different data."""

from __future__ import annotations

import json
from pathlib import Path

from rich.console import Console

from veil.ledger import open_ledger
from veil.samples.demo import run_demo

ROOT = Path(__file__).resolve().parent.parent


def test_demo_end_to_end(tmp_path: Path) -> None:
    console = Console(file=open(tmp_path / "screen.txt", "w"), width=160)  # noqa: SIM115
    run_demo(ROOT, tmp_path / "demo", console)
    console.file.close()
    screen = (tmp_path / "screen.txt").read_text()
    assert "BREAK-GLASS" in screen and "Accounting of disclosures" in screen
    assert "proved view research-safe-harbor" in screen
    assert "proved view research-limited-data-set" in screen
    views = {}
    names = ("clinician", "researcher.safe-harbor", "researcher.limited-data-set", "billing_clerk")
    for name in names:
        rows = (tmp_path / "demo" / f"patients.{name}.jsonl").read_text().splitlines()
        views[name] = [json.loads(r) for r in rows]
    keysets = {name: frozenset(rows[0]) for name, rows in views.items()}
    assert len(set(keysets.values())) == 4  # four different sets of disclosed fields
    for name in ("researcher.safe-harbor", "researcher.limited-data-set"):
        assert all("ssn" not in r and "first_name" not in r for r in views[name])
    # Safe Harbor: years only; the limited data set: day-level (shifted) dates, 5-digit ZIPs
    assert all(isinstance(r["admission_date"], int) for r in views["researcher.safe-harbor"])
    assert all(len(r["admission_date"]) == 10 for r in views["researcher.limited-data-set"])
    assert all(len(r["zip"]) == 5 for r in views["researcher.limited-data-set"])
    ledger = open_ledger(f"sqlite:///{tmp_path / 'demo' / 'ledger.db'}", None)
    report = ledger.verify()
    # 6 health scenarios, 3 finance, 1 accounting provided
    assert report.ok and report.checked == 10
