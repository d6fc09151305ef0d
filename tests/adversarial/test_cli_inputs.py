"""Hostile input files end in a clear error and exit 4 (bad input) or 3 (bad policy), never
in exit 70 (internal error), never with output or a ledger event. Finding 10 of the attack
on veil (issue 12): deeply nested JSON, integers over 4,300 digits, duplicate CSV and
Parquet columns and deep policy YAML all ended in exit 70."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from veil.cli import app

ROOT = Path(__file__).resolve().parent.parent.parent
OK = {"account_id": "ACC-1", "customer_id": "CUST-1", "organization_id": "bank-a"}


def _sanitize(tmp_path: Path, src: Path, out_suffix: str) -> tuple[int, str, Path]:
    out = tmp_path / f"out{out_suffix}"
    ledger = tmp_path / "l.db"
    res = CliRunner().invoke(
        app,
        [
            "sanitize", str(src), "-o", str(out), "-p", str(ROOT / "policies" / "finance"),
            "-d", "accounts", "--subject-id", "s1", "-a", "role=support_agent", "-a",
            "org=bank-a", "--purpose", "SUPPORT", "--ledger", f"sqlite:///{ledger}", "--create",
        ],
    )  # fmt: skip
    return res.exit_code, res.output, out


def _events(tmp_path: Path) -> int:
    db = tmp_path / "l.db"
    if not db.exists():
        return 0
    with sqlite3.connect(db) as c:
        return int(c.execute("SELECT count(*) FROM events WHERE kind='disclosure'").fetchone()[0])


CASES = {
    "deep-json": lambda: json.dumps(OK)[:-1] + ', "x": ' + "[" * 5000 + "]" * 5000 + "}\n",
    "long-int": lambda: json.dumps(OK)[:-1] + ', "balance": ' + "9" * 5000 + "}\n",
    "nan": lambda: json.dumps(OK)[:-1] + ', "balance": NaN}\n',
    "lone-surrogate": lambda: json.dumps(OK)[:-1] + ', "holder_name": "\\ud800x"}\n',
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_hostile_json_is_bad_input(case: str, tmp_path: Path) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps(OK) + "\n" + CASES[case](), encoding="utf-8")
    code, output, out = _sanitize(tmp_path, src, ".jsonl")
    assert code == 4, output
    assert "line 2" in output and "internal error" not in output
    assert not out.exists() and _events(tmp_path) == 0


def test_duplicate_csv_column_is_bad_input(tmp_path: Path) -> None:
    src = tmp_path / "in.csv"
    src.write_text("account_id,customer_id,balance,balance\nA,C,1,2\n", encoding="utf-8")
    for suffix in (".csv", ".jsonl"):  # columnar and record engines
        code, output, out = _sanitize(tmp_path, src, suffix)
        assert code == 4 and "appears twice" in output, output
        assert not out.exists()


def test_duplicate_parquet_column_is_bad_input(tmp_path: Path) -> None:
    src = tmp_path / "in.parquet"
    arrays = [pa.array(["A"]), pa.array(["C"]), pa.array([1.0]), pa.array([2.0])]
    pq.write_table(
        pa.Table.from_arrays(arrays, names=["account_id", "customer_id", "balance", "balance"]),
        src,
    )
    code, output, out = _sanitize(tmp_path, src, ".parquet")
    assert code == 4 and "appears twice" in output, output
    assert not out.exists() and _events(tmp_path) == 0


@pytest.mark.parametrize(
    "text",
    [
        "bundle: {name: x}\nrules: " + "[" * 100_000 + "]" * 100_000 + "\n",
        "bundle: {name: x}\n"
        + "a: &a [x, x, x, x, x, x, x, x, x]\n"
        + "".join(
            f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n"
            for p, c in zip("abcdefgh", "bcdefghi", strict=True)
        ),
    ],
    ids=["deep", "billion-laughs"],
)
def test_hostile_policy_yaml_is_an_invalid_bundle(text: str, tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "bundle.yaml").write_text(text, encoding="utf-8")
    res = CliRunner().invoke(app, ["policy", "validate", str(tmp_path / "b")])
    assert res.exit_code == 3, res.output
    assert "yaml_limit" in res.output
