"""``veil sanitize`` on Parquet, CSV and Arrow IPC: the columnar engine end to end."""

from __future__ import annotations

import io
import json
import sqlite3
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from bulk_cases import ROOT, bundle, schema_of
from rich.console import Console
from typer.testing import CliRunner

from veil.cli import app
from veil.cli import sanitize as cli_sanitize
from veil.samples.synth import patients

HEALTH = str(ROOT / "policies" / "health")
RUNNER = CliRunner()
CANARY = "CANARY-5c1e"


def _args(inp: Path, out: Path | str, ledger: Path, *extra: str, role: str = "billing_clerk",
          purpose: str = "HPAYMT") -> list[str]:  # fmt: skip
    return [
        "sanitize", str(inp), "-o", str(out), "--policies", HEALTH, "--dataset", "patients",
        "--subject-id", "b-1", "--attr", f"role={role}", "--attr", "org=payer-co",
        "--purpose", purpose, "--ledger", f"sqlite:///{ledger}", "--create", *extra,
    ]  # fmt: skip


def _events(ledger: Path) -> list[dict[str, Any]]:
    if not ledger.exists():
        return []
    with sqlite3.connect(ledger) as db:
        return [json.loads(r[0]) for r in db.execute("select body from events order by seq")]


def _records(n: int = 30) -> list[dict[str, Any]]:
    return list(patients(n, seed=9))


def _table(records: list[dict[str, Any]]) -> pa.Table:
    return pa.Table.from_pylist(records, schema=schema_of(bundle("health").datasets["patients"]))


def _no_leftovers(directory: Path, out: Path) -> None:
    assert not out.exists()
    assert not list(directory.glob(".veil-spool-*"))


def test_parquet_matches_record_engine_and_logs_one_event(tmp_path: Path) -> None:
    recs = _records()
    pq.write_table(_table(recs), tmp_path / "in.parquet")
    (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    led = tmp_path / "l.db"
    res = RUNNER.invoke(app, _args(tmp_path / "in.parquet", tmp_path / "o.parquet", led))
    assert res.exit_code == 0, res.output
    res = RUNNER.invoke(app, _args(tmp_path / "in.jsonl", tmp_path / "o.jsonl", led))
    assert res.exit_code == 0, res.output
    got = pq.read_table(tmp_path / "o.parquet").to_pylist()
    want = [json.loads(x) for x in (tmp_path / "o.jsonl").read_text().splitlines()]
    assert got == want
    assert all(r["ssn"].startswith("***-**-") for r in got) and "diagnosis" not in got[0]
    bulk, record = _events(led)
    assert bulk["fields"] == record["fields"] and bulk["records"] == record["records"]
    acc = RUNNER.invoke(
        app,
        ["audit", "accounting", "--data-subject", recs[3]["patient_id"], "--format", "json",
         "--all", "--each", "--ledger", f"sqlite:///{led}"],
    )  # fmt: skip
    assert acc.exit_code == 0, acc.output
    # the bulk job and the JSONL job (research: not accountable, so listed with --all)
    assert len(json.loads(acc.stdout)["entries"]) == 2
    assert RUNNER.invoke(app, ["audit", "verify", "--ledger", f"sqlite:///{led}"]).exit_code == 0


@pytest.mark.parametrize(
    ("src", "dst"), [("csv", "parquet"), ("arrow", "csv"), ("parquet", "arrow")]
)
def test_format_pairs(tmp_path: Path, src: str, dst: str) -> None:
    recs = _records(12)
    inp, out, led = tmp_path / f"in.{src}", tmp_path / f"out.{dst}", tmp_path / "l.db"
    table = _table(recs)
    if src == "csv":
        import pyarrow.csv as pcsv

        pcsv.write_csv(table, inp)
    elif src == "arrow":
        with pa.ipc.new_file(inp, table.schema) as w:
            w.write_table(table)
    else:
        pq.write_table(table, inp)
    res = RUNNER.invoke(app, _args(inp, out, led))
    assert res.exit_code == 0, res.output
    if dst == "csv":
        import pyarrow.csv as pcsv

        got = pcsv.read_csv(out, convert_options=pcsv.ConvertOptions(strings_can_be_null=True))
    elif dst == "arrow":
        got = pa.ipc.open_file(out).read_all()
    else:
        got = pq.read_table(out)
    assert got.num_rows == 12
    assert all(s.endswith(r["ssn"][-4:]) for s, r in zip(got["ssn"].to_pylist(), recs, strict=True))
    assert len(_events(led)) == 1


def _bad_input(tmp_path: Path, table: pa.Table, *extra: str) -> tuple[Any, Path, Path]:
    inp, out, led = tmp_path / "in.parquet", tmp_path / "out.parquet", tmp_path / "l.db"
    pq.write_table(table, inp)
    res = RUNNER.invoke(app, _args(inp, out, led, *extra))
    return res, out, led


def test_undeclared_column_is_refused_or_dropped(tmp_path: Path) -> None:
    table = _table(_records(5)).append_column("shoe_size", pa.array([CANARY] * 5))
    res, out, led = _bad_input(tmp_path, table)
    assert res.exit_code == 4, res.output
    assert "column 'shoe_size' is not a field of dataset 'patients'" in res.output
    assert "--drop-undeclared" in res.output and CANARY not in res.output
    assert "Traceback" not in res.output
    _no_leftovers(tmp_path, out)
    assert _events(led) == []
    res, out, led = _bad_input(tmp_path, table, "--drop-undeclared")
    assert res.exit_code == 0, res.output
    assert "shoe_size" not in pq.read_table(out).column_names
    assert _events(led)[0]["undeclared"] == {"values": 5, "fields": 1}  # never the names


@pytest.mark.parametrize(
    ("column", "array", "needle"),
    [
        ("age", pa.array(["7"] * 5), "column 'age' has Arrow type string, but dataset"),
        ("zip", pa.array([b"x"] * 5, pa.binary()), "column 'zip' has Arrow type binary"),
        ("city", pa.array([{"a": CANARY}] * 5), "column 'city' has the nested Arrow type"),
        ("street", pa.array([[CANARY]] * 5), "column 'street' has the nested Arrow type"),
        ("patient_id", pa.array([1.5] * 5), "column 'patient_id' has Arrow type double"),
    ],
    ids=["string-for-integer", "binary", "struct", "list", "float-subject"],
)
def test_unsupported_types_are_clear_errors(
    tmp_path: Path, column: str, array: pa.Array, needle: str
) -> None:
    table = _table(_records(5))
    table = table.set_column(table.column_names.index(column), column, array)
    res, out, led = _bad_input(tmp_path, table)
    assert res.exit_code == 4, res.output
    assert needle in res.output and "hint:" in res.output
    assert CANARY not in res.output and "Traceback" not in res.output
    _no_leftovers(tmp_path, out)
    assert _events(led) == []


def test_bad_value_names_row_and_column_never_the_value(tmp_path: Path) -> None:
    recs = _records(8)
    recs[5]["admission_date"] = CANARY
    res, out, led = _bad_input(tmp_path, _table(recs))
    assert res.exit_code == 4, res.output
    assert "row 6: column 'admission_date': expected date" in res.output
    assert CANARY not in res.output
    _no_leftovers(tmp_path, out)
    assert _events(led) == []


def test_missing_subject_id_is_refused(tmp_path: Path) -> None:
    recs = _records(4)
    recs[2]["patient_id"] = None
    res, out, led = _bad_input(tmp_path, _table(recs))
    assert _events(led) == []
    assert res.exit_code == 4 and "row 3: record has no data-subject id" in res.output
    _no_leftovers(tmp_path, out)


def test_ledger_failure_publishes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from veil.ledger.sqlite import SQLiteLedger

    def broken(self: Any, event: Any, **kw: Any) -> Any:
        raise OSError("disk full")

    monkeypatch.setattr(SQLiteLedger, "append", broken)
    res, out, _ = _bad_input(tmp_path, _table(_records(5)))
    assert res.exit_code == 6, res.output
    _no_leftovers(tmp_path, out)


def test_engine_choice_and_format_mismatch(tmp_path: Path) -> None:
    pq.write_table(_table(_records(3)), tmp_path / "in.parquet")
    led = tmp_path / "l.db"
    res = RUNNER.invoke(app, _args(tmp_path / "in.parquet", tmp_path / "o.jsonl", led))
    assert res.exit_code == 2 and "cannot sanitize parquet into jsonl" in res.output
    res = RUNNER.invoke(
        app, _args(tmp_path / "in.parquet", tmp_path / "o.parquet", led, "--engine", "record")
    )
    assert res.exit_code == 2 and "--engine columnar" in res.output
    assert _events(led) == []


def test_progress_bar_shows_rows_per_second(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    buf = io.StringIO()
    monkeypatch.setattr(cli_sanitize, "err", Console(file=buf, force_terminal=True, width=120))
    pq.write_table(_table(_records(50)), tmp_path / "in.parquet")
    res = RUNNER.invoke(
        app, _args(tmp_path / "in.parquet", tmp_path / "o.parquet", tmp_path / "l.db")
    )
    assert res.exit_code == 0, res.output
    assert "rows/s" in buf.getvalue() and "disclosed" in buf.getvalue()


def test_parquet_to_stdout(tmp_path: Path) -> None:
    pq.write_table(_table(_records(6)), tmp_path / "in.parquet")
    res = RUNNER.invoke(
        app, _args(tmp_path / "in.parquet", "-", tmp_path / "l.db", "--format", "parquet")
    )
    assert res.exit_code == 0, res.output
    assert pq.read_table(pa.BufferReader(res.stdout_bytes)).num_rows == 6
