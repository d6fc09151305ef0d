"""Finding 8 of issue 12: undeclared field names were stored verbatim in the ledger and
printed on stderr; names can carry data, and 50,000 of them made a 540 kB event. Now the
event records how many values in how many fields, and no name reaches the ledger or the
terminal."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from typer.testing import CliRunner

from veil.cli import app

ROOT = Path(__file__).resolve().parent.parent.parent
CANARY = "ssn_078051120"  # a name that looks like a field, carrying a value


def test_undeclared_names_never_reach_the_ledger_or_stderr(tmp_path: Path) -> None:
    rec = {"account_id": "ACC-1", "customer_id": "CUST-1", "organization_id": "bank-a"}
    rec.update({f"{CANARY}_{i}": 1 for i in range(50_000)})
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps(rec) + "\n", encoding="utf-8")
    led = tmp_path / "l.db"
    res = CliRunner().invoke(
        app,
        ["sanitize", str(src), "-o", str(tmp_path / "o.jsonl"), "-p",
         str(ROOT / "policies" / "finance"), "-d", "accounts", "--subject-id", "s1", "-a",
         "role=support_agent", "-a", "org=bank-a", "--purpose", "SUPPORT",
         "--ledger", f"sqlite:///{led}", "--create"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    assert CANARY not in res.output
    with sqlite3.connect(led) as db:
        (body,) = db.execute("SELECT body FROM events").fetchone()
    assert CANARY not in body and len(body) < 10_000
    assert json.loads(body)["undeclared"] == {"values": 50_000, "fields": 50_000}
    assert CANARY not in (tmp_path / "o.jsonl").read_text()
