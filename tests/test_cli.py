"""The CLI end to end: outputs, exit codes, and that failures leave no output and no event."""

from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from veil.cli import app
from veil.samples.synth import patients

HEALTH = str(Path(__file__).resolve().parent.parent / "policies" / "health")
RUNNER = CliRunner()
CANARY = "CANARY-7f3a9"


def _args(inp: Path, out: Path, ledger: Path, *extra: str) -> list[str]:
    return [
        "sanitize",
        str(inp),
        "-o",
        str(out),
        "--policies",
        HEALTH,
        "--dataset",
        "patients",
        "--subject-id",
        "dr.x",
        "--attr",
        "role=clinician",
        "--attr",
        "org=org-north",
        "--purpose",
        "TREAT",
        "--ledger",
        f"sqlite:///{ledger}",
        "--create",
        *extra,
    ]


def _write_jsonl(path: Path, records: list[Any]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in records))


def _events(ledger: Path) -> int:
    if not ledger.exists():
        return 0
    with sqlite3.connect(ledger) as db:
        return int(db.execute("select count(*) from events").fetchone()[0])


@pytest.fixture()
def recs() -> list[dict[str, Any]]:
    return [dict(r, organization_id="org-north") for r in patients(20, seed=5)]


def test_sanitize_writes_output_and_one_event(tmp_path: Path, recs: list[dict[str, Any]]) -> None:
    inp, out, led = tmp_path / "in.jsonl", tmp_path / "out.jsonl", tmp_path / "l.db"
    _write_jsonl(inp, recs)
    res = RUNNER.invoke(app, _args(inp, out, led))
    assert res.exit_code == 0, res.output
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    assert len(rows) == 20
    assert all(r["ssn"].startswith("***-**-") for r in rows)
    assert all("insurance_id" not in r for r in rows)
    assert _events(led) == 1
    verify = RUNNER.invoke(app, ["audit", "verify", "--ledger", f"sqlite:///{led}"])
    assert verify.exit_code == 0, verify.output
    acc = RUNNER.invoke(
        app,
        [
            "audit",
            "accounting",
            "--data-subject",
            rows[0]["patient_id"],
            "--format",
            "json",
            "--all",
            "--ledger",
            f"sqlite:///{led}",
        ],
    )
    assert acc.exit_code == 0 and "TREAT" in acc.output


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (
            lambda lines: lines.insert(2, '{"patient_id": "MRN-1", "ssn": ' + f'"{CANARY}"'),
            "line 3",
        ),
        (
            lambda lines: lines.__setitem__(4, json.dumps({**json.loads(lines[4]), "age": CANARY})),
            "line 5",
        ),
        (
            lambda lines: lines.__setitem__(
                1, json.dumps({**json.loads(lines[1]), "birth_date": CANARY})
            ),
            "line 2",
        ),
    ],
    ids=["malformed-json", "wrong-type", "bad-date"],
)
def test_bad_record_fails_cleanly(
    tmp_path: Path, recs: list[dict[str, Any]], mutate: Any, needle: str
) -> None:
    inp, out, led = tmp_path / "in.jsonl", tmp_path / "out.jsonl", tmp_path / "l.db"
    lines = [json.dumps(r) for r in recs]
    mutate(lines)
    inp.write_text("\n".join(lines) + "\n")
    res = RUNNER.invoke(app, _args(inp, out, led))
    assert res.exit_code == 4, res.output
    assert needle in res.output
    assert CANARY not in res.output and "Traceback" not in res.output
    assert not out.exists()
    assert not list(tmp_path.glob(".veil-spool-*"))
    assert _events(led) == 0


def test_unknown_dataset_and_purpose(tmp_path: Path, recs: list[dict[str, Any]]) -> None:
    inp, out, led = tmp_path / "in.jsonl", tmp_path / "out.jsonl", tmp_path / "l.db"
    _write_jsonl(inp, recs)
    args = _args(inp, out, led)
    args[args.index("patients")] = "patientz"
    res = RUNNER.invoke(app, args)
    assert res.exit_code == 2 and "unknown dataset 'patientz'" in res.output
    args = _args(inp, out, led)
    args[args.index("TREAT")] = "TRAET"
    res = RUNNER.invoke(app, args)
    assert res.exit_code == 2 and "unknown purpose" in res.output
    assert not out.exists() and _events(led) == 0


def test_policy_typo_exits_3(tmp_path: Path, recs: list[dict[str, Any]]) -> None:
    import shutil

    bundle = tmp_path / "health"
    shutil.copytree(HEALTH, bundle)
    rules = bundle / "rules.yaml"
    rules.write_text(rules.read_text().replace("condition: IsIn", "condition: IsInn", 1))
    res = RUNNER.invoke(app, ["policy", "validate", str(bundle)])
    assert res.exit_code == 3
    assert "rules.yaml:" in res.output and "IsInn" in res.output


def test_missing_key_fails_before_output(
    tmp_path: Path, recs: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VEIL_KEY_FILE", raising=False)
    for name in ("TOKENS", "DATES"):
        monkeypatch.delenv(f"VEIL_KEY_RESEARCH_{name}", raising=False)
    inp, out, led = tmp_path / "in.jsonl", tmp_path / "out.jsonl", tmp_path / "l.db"
    _write_jsonl(inp, recs)
    args = _args(inp, out, led)
    args[args.index("role=clinician")] = "role=researcher"
    args[args.index("org=org-north")] = "org=university"
    args[args.index("TREAT")] = "HRESCH"
    res = RUNNER.invoke(app, args)
    assert res.exit_code == 7, res.output
    assert "is not configured" in res.output and "VEIL_KEY_RESEARCH_" in res.output
    assert not out.exists() and _events(led) == 0


def test_ledger_failure_means_no_output(tmp_path: Path, recs: list[dict[str, Any]]) -> None:
    inp, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    _write_jsonl(inp, recs)
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    res = RUNNER.invoke(app, _args(inp, out, blocker / "sub" / "l.db"))
    assert res.exit_code in (6, 7), res.output
    assert not out.exists()


def test_tampered_ledger_is_named(tmp_path: Path, recs: list[dict[str, Any]]) -> None:
    inp, led = tmp_path / "in.jsonl", tmp_path / "l.db"
    _write_jsonl(inp, recs)
    for i in range(3):
        res = RUNNER.invoke(app, _args(inp, tmp_path / f"o{i}.jsonl", led))
        assert res.exit_code == 0, res.output
    with sqlite3.connect(led) as db:
        body = db.execute("select body from events where seq = 2").fetchone()[0]
        db.execute(
            "update events set body = ? where seq = 2", (body.replace('"TREAT"', '"HRESCH"'),)
        )
    res = RUNNER.invoke(app, ["audit", "verify", "--ledger", f"sqlite:///{led}"])
    assert res.exit_code == 8
    assert "#2" in res.output


def test_policy_test_command_runs_bundle_cases() -> None:
    res = RUNNER.invoke(app, ["policy", "test", HEALTH])
    assert "passed" in res.output


def test_reveal_inverts_fpe_and_is_logged(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parent.parent
    keys = tmp_path / "keys.yaml"
    keys.write_text(
        "keys:\n  card-fpe: hex:" + "11" * 32 + "\n  analytics-tokens: hex:" + "22" * 32 + "\n"
    )
    led, out = tmp_path / "l.db", tmp_path / "out.jsonl"
    src = root / "examples" / "data" / "accounts.jsonl"
    res = RUNNER.invoke(
        app,
        [
            "sanitize",
            str(src),
            "-o",
            str(out),
            "-p",
            str(root / "policies" / "finance"),
            "-d",
            "accounts",
            "--subject-id",
            "vendor",
            "-a",
            "role=analytics_vendor",
            "-a",
            "org=vendor-insight",
            "-a",
            "client=bank-a",
            "--purpose",
            "ANALYTICS",
            "--ledger",
            f"sqlite:///{led}",
            "--create",
            "--keys",
            str(keys),
        ],
    )
    assert res.exit_code == 0, res.output
    shared = [json.loads(x)["card_number"] for x in out.read_text().splitlines()]
    originals = {json.loads(x)["card_number"] for x in src.read_text().splitlines()}
    assert shared and not set(shared) & originals
    res = RUNNER.invoke(
        app,
        [
            "reveal",
            *shared[:3],
            "-p",
            str(root / "policies" / "finance"),
            "--rule",
            "pci-pan-analytics-fpe",
            "--subject-id",
            "fraud-lead",
            "-a",
            "role=fraud_analyst",
            "-a",
            "org=bank-a",
            "--purpose",
            "FRAUD",
            "--ledger",
            f"sqlite:///{led}",
            "--keys",
            str(keys),
        ],
    )
    assert res.exit_code == 0, res.output
    revealed = res.stdout.split()
    assert len(revealed) == 3 and set(revealed) <= originals
    assert "with key 'card-fpe' version 1" in res.stderr  # says which key version it used
    assert _events(led) == 2
    with sqlite3.connect(led) as db:
        kinds = [k for (k,) in db.execute("select kind from events order by seq")]
        blob = " ".join(b for (b,) in db.execute("select body from events"))
    assert kinds == ["disclosure", "reveal"]
    assert not any(r in blob for r in revealed)


def test_reveal_with_a_wrong_key_is_refused(tmp_path: Path) -> None:
    """Any AES key turns an FF1 code into a well-formed card number; a key that made no
    disclosure in the ledger is refused instead of yielding a believable wrong one."""
    root = Path(__file__).resolve().parent.parent
    finance = str(root / "policies" / "finance")
    keys, wrong = tmp_path / "keys.yaml", tmp_path / "wrong.yaml"
    keys.write_text(
        "keys:\n  card-fpe: hex:" + "11" * 32 + "\n  analytics-tokens: hex:" + "22" * 32
    )
    wrong.write_text("keys:\n  card-fpe: hex:" + "33" * 32 + "\n")
    led, out = tmp_path / "l.db", tmp_path / "out.jsonl"
    res = RUNNER.invoke(
        app,
        ["sanitize", str(root / "examples" / "data" / "accounts.jsonl"), "-o", str(out),
         "-p", finance, "-d", "accounts", "--subject-id", "vendor", "-a", "role=analytics_vendor",
         "-a", "org=vendor-insight", "-a", "client=bank-a", "--purpose", "ANALYTICS",
         "--ledger", f"sqlite:///{led}", "--create", "--keys", str(keys)],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    shared = [json.loads(x)["card_number"] for x in out.read_text().splitlines()][:2]
    res = RUNNER.invoke(
        app,
        ["reveal", *shared, "-p", finance, "--rule", "pci-pan-analytics-fpe",
         "--subject-id", "fraud-lead", "-a", "role=fraud_analyst", "-a", "org=bank-a",
         "--purpose", "FRAUD", "--ledger", f"sqlite:///{led}", "--keys", str(wrong)],
    )  # fmt: skip
    assert res.exit_code == 2 and res.stdout == ""
    assert "cannot have been made with it" in res.output and "card-fpe@v1" in res.output
    assert _events(led) == 1  # no reveal event: nothing was revealed


def test_append_failure_discloses_nothing(
    tmp_path: Path, recs: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Failure injection: the ledger accepts the connection but the append fails."""
    from veil.errors import LedgerError
    from veil.ledger.sqlite import SQLiteLedger

    def broken_append(self: Any, event: Any) -> Any:
        raise LedgerError("disk full (injected)")

    monkeypatch.setattr(SQLiteLedger, "append", broken_append)
    inp, out, led = tmp_path / "in.jsonl", tmp_path / "out.jsonl", tmp_path / "l.db"
    _write_jsonl(inp, recs)
    res = RUNNER.invoke(app, _args(inp, out, led))
    assert res.exit_code == 6, res.output
    assert not out.exists() and not list(tmp_path.glob(".veil-spool-*"))
    res = RUNNER.invoke(
        app, [*_args(inp, out, led)[:1], "-", *_args(inp, out, led)[4:]], input=inp.read_text()
    )
    assert res.exit_code == 6
    assert "MRN-" not in res.stdout


def test_stdin_to_stdout_csv(tmp_path: Path, recs: list[dict[str, Any]]) -> None:
    led = tmp_path / "l.db"
    root = Path(__file__).resolve().parent.parent
    csv_text = (root / "examples" / "data" / "patients.csv").read_text()
    args = [
        "sanitize",
        "-",
        "--format",
        "csv",
        "--policies",
        HEALTH,
        "--dataset",
        "patients",
        "--subject-id",
        "b1",
        "--attr",
        "role=billing_clerk",
        "--purpose",
        "HPAYMT",
        "--ledger",
        f"sqlite:///{led}",
        "--create",
    ]
    res = RUNNER.invoke(app, args, input=csv_text)
    assert res.exit_code == 0, res.output
    lines = res.stdout.strip().splitlines()
    header = lines[0].split(",")
    assert "diagnosis" not in header and "ssn" in header and len(lines) == 201
    assert _events(led) == 1


@pytest.mark.parametrize(
    ("row", "needle"),
    [("too,few,columns", "expected 24 columns"), (None, "column 'age': expected integer")],
    ids=["column-count", "bad-integer"],
)
def test_malformed_csv_line(tmp_path: Path, row: str | None, needle: str) -> None:
    root = Path(__file__).resolve().parent.parent
    lines = (root / "examples" / "data" / "patients.csv").read_text().splitlines()
    if row is None:
        header = lines[0].split(",")
        cells = next(csv.reader([lines[3]]))
        cells[header.index("age")] = CANARY
        buf = io.StringIO()
        csv.writer(buf).writerow(cells)
        lines[3] = buf.getvalue().strip()
    else:
        lines[3] = row
    inp, out, led = tmp_path / "in.csv", tmp_path / "out.csv", tmp_path / "l.db"
    inp.write_text("\n".join(lines) + "\n")
    res = RUNNER.invoke(app, _args(inp, out, led))
    assert res.exit_code == 4, res.output
    assert "line 4" in res.output and needle in res.output and CANARY not in res.output
    assert not out.exists() and _events(led) == 0


def test_a_missing_ledger_is_not_created_by_a_typo(
    tmp_path: Path, recs: list[dict[str, Any]]
) -> None:
    """Issue 13: `--ledger sqlite:///no/such/dir/l.db` silently started a new ledger."""
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in recs))
    typo = tmp_path / "no" / "such" / "dir" / "l.db"
    for args in (
        ["audit", "verify", "--ledger", f"sqlite:///{typo}"],
        [a for a in _args(src, tmp_path / "o.jsonl", typo) if a != "--create"],
    ):
        res = RUNNER.invoke(app, args)
        assert res.exit_code == 7 and "--create" in res.output, res.output
        assert not typo.parent.exists()
