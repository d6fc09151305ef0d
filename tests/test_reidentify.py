"""Random re-identification codes (45 CFR 164.514(c)) can be turned back into MRNs only by
a requester a rule naming the reveal action allows, only for the recipient they were
issued to, and every reveal is a ledger event in the patient's history."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from typer.testing import CliRunner

from veil.cli import app
from veil.ledger import hipaa, open_ledger

ROOT = Path(__file__).resolve().parent.parent
HEALTH = str(ROOT / "policies" / "health")
RUNNER = CliRunner()
KEYS = {
    "VEIL_KEY_RESEARCH_TOKENS": "hex:" + "31" * 32,
    "VEIL_KEY_RESEARCH_DATES": "hex:" + "32" * 32,
    "VEIL_KEY_FILE": "",
}


def _extract(tmp_path: Path, recipient: str) -> tuple[Path, list[dict[str, object]]]:
    src = tmp_path / "in.jsonl"
    rows = [
        json.loads(line)
        for line in (ROOT / "examples" / "data" / "patients.jsonl").read_text().splitlines()[:40]
    ]
    src.write_text("".join(json.dumps(dict(r, consent_research=True)) + "\n" for r in rows))
    out = tmp_path / f"{recipient}.jsonl"
    led = tmp_path / "l.db"
    res = RUNNER.invoke(
        app,
        ["sanitize", str(src), "-o", str(out), "-p", HEALTH, "-d", "patients",
         "--subject-id", "r.chen", "-a", "role=researcher", "-a", "org=university",
         "--purpose", "HRESCH", "--recipient", recipient, "--ledger", f"sqlite:///{led}",
         "--create"],
        env=KEYS,
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    return led, rows


def _reveal(led: Path, codes: list[str], *extra: str, role: str = "privacy_officer") -> object:
    return RUNNER.invoke(
        app,
        ["reveal", *codes, "-p", HEALTH, "--rule", "research-random-id", "--subject-id",
         "po.singh", "-a", f"role={role}", "-a", "org=org-north", "--purpose", "HOPERAT",
         "--ledger", f"sqlite:///{led}", *extra],
        env=KEYS,
    )  # fmt: skip


def test_codes_are_random_stable_and_revealed_only_by_the_privacy_office(tmp_path: Path) -> None:
    led, rows = _extract(tmp_path, "outcomes-registry")
    got = [json.loads(x) for x in (tmp_path / "outcomes-registry.jsonl").read_text().splitlines()]
    codes = [r["patient_id"] for r in got]
    mrns = [r["patient_id"] for r in rows]
    assert all(c.startswith("pt_") and len(c) == 19 for c in codes)
    assert len(set(codes)) == len(set(mrns))
    # the same patient to the same recipient again: the same code (stable), from the vault
    _extract(tmp_path, "outcomes-registry")
    got2 = [json.loads(x) for x in (tmp_path / "outcomes-registry.jsonl").read_text().splitlines()]
    assert [r["patient_id"] for r in got2] == codes
    # a clinician cannot reveal (their treatment rule does not name the reveal action)
    res = _reveal(led, codes[:2], "--recipient", "outcomes-registry", role="clinician")
    assert res.exit_code == 5, res.output  # type: ignore[attr-defined]
    # the privacy office can, for the recipient the codes were issued to
    res = _reveal(led, codes[:3], "--recipient", "outcomes-registry")
    assert res.exit_code == 0, res.output  # type: ignore[attr-defined]
    assert res.stdout.split() == mrns[:3]  # type: ignore[attr-defined]
    # codes of another recipient do not open
    res = _reveal(led, codes[:1], "--recipient", "study-42")
    assert res.exit_code == 2 and "not issued" in res.output  # type: ignore[attr-defined]
    # the reveal is in the patient's history, never the code's value in clear elsewhere
    with open_ledger(f"sqlite:///{led}") as ledger:
        mine = [s.event for s in ledger.events(data_subject=mrns[0])]
        report = hipaa.account(ledger, mrns[0], include_exempt=True)
    assert [e.kind for e in mine].count("reveal") == 1
    assert any(e.description.startswith("reveal:") for e in report.entries)


def test_vault_holds_no_value_in_clear(tmp_path: Path) -> None:
    led, rows = _extract(tmp_path, "outcomes-registry")
    raw = (tmp_path / "l.db").read_bytes()
    with sqlite3.connect(led) as db:
        n = db.execute("select sum(length(keys)) / 16 from token_vault_pack").fetchone()[0]
    assert n == len({r["patient_id"] for r in rows})
    for r in rows:
        assert str(r["patient_id"]).encode() not in raw
