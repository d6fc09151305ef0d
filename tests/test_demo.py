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
    views = {}
    for role in ("clinician", "researcher", "billing_clerk"):
        rows = (tmp_path / "demo" / f"patients.{role}.jsonl").read_text().splitlines()
        views[role] = [json.loads(r) for r in rows]
    keysets = {role: frozenset(rows[0]) for role, rows in views.items()}
    assert len(set(keysets.values())) == 3  # three different sets of disclosed fields
    assert all("ssn" not in r for r in views["researcher"])
    ledger = open_ledger(f"sqlite:///{tmp_path / 'demo' / 'ledger.db'}", None)
    report = ledger.verify()
    assert report.ok and report.checked == 7
