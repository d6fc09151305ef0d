"""CSV through the columnar engine and through the record engine: the same rows."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from bulk_cases import ROOT
from typer.testing import CliRunner

from veil.cli import app

RUNNER = CliRunner()
SAMPLE = ROOT / "examples" / "data" / "patients.csv"
REQUESTS = {
    "research": ["--attr", "role=researcher", "--attr", "org=university", "--purpose", "HRESCH"],
    "treat": ["--attr", "role=clinician", "--attr", "org=org-north", "--purpose", "TREAT"],
    "billing": ["--attr", "role=billing_clerk", "--attr", "org=payer-co", "--purpose", "HPAYMT"],
}


def _run(tmp_path: Path, engine: str, who: list[str]) -> list[dict[str, str]]:
    out = tmp_path / f"out-{engine}.csv"
    keys = tmp_path / "keys.yaml"
    names = ("research-tokens", "research-dates", "audit-hash")
    keys.write_text("keys:\n" + "".join(f"  {n}: hex:{'ab' * 32}\n" for n in names))
    args = ["sanitize", str(SAMPLE), "-o", str(out), "--policies", str(ROOT / "policies/health"),
            "--dataset", "patients", "--subject-id", "u-1", *who, "--engine", engine,
            "--keys", str(keys), "--ledger", f"sqlite:///{tmp_path / 'l.db'}",
            "--create"]  # fmt: skip
    res = RUNNER.invoke(app, args)
    assert res.exit_code == 0, res.output
    return list(csv.DictReader(io.StringIO(out.read_text())))


def _norm(row: dict[str, str]) -> dict[str, object]:
    # floats are formatted differently (104.0 vs 104): compare them as numbers
    return {k: float(v) if k == "weight_kg" and v else v for k, v in row.items() if v != ""}


@pytest.mark.parametrize("who", REQUESTS.values(), ids=REQUESTS.keys())
def test_csv_same_rows_both_engines(tmp_path: Path, who: list[str]) -> None:
    columnar = _run(tmp_path, "columnar", who)
    record = _run(tmp_path, "record", who)
    assert len(columnar) == len(record) > 0
    for c, r in zip(columnar, record, strict=True):
        assert _norm(c) == _norm(r)
