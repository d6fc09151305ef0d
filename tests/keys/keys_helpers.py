"""Shared by the key tests: the CLI runner, the extracts and reveals they make, ledger reads.

Imported as a top-level module (tests/keys has no __init__).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from typer.testing import CliRunner, Result

from veil.cli import app
from veil.ledger import open_ledger
from veil.ledger.events import Event

ROOT = Path(__file__).resolve().parents[2]
HEALTH = ROOT / "policies" / "health"
FINANCE = ROOT / "policies" / "finance"
PATIENTS = ROOT / "examples" / "data" / "patients.jsonl"
ACCOUNTS = ROOT / "examples" / "data" / "accounts.jsonl"
RUNNER = CliRunner()
#: no key from the developer's environment leaks into a test
CLEAN_ENV = {"VEIL_KEY_FILE": "", "VEIL_MASTER_KEY": "", "VEIL_PKCS11": ""}


def veil(*args: str, env: dict[str, str] | None = None) -> Result:
    return RUNNER.invoke(app, list(args), env={**CLEAN_ENV, **(env or {})})


def ok(res: Result) -> Result:
    assert res.exit_code == 0, res.output
    return res


def patients(tmp: Path, n: int = 12) -> tuple[Path, list[dict[str, Any]]]:
    """The first ``n`` example patients, consenting to research."""
    rows = [json.loads(x) for x in PATIENTS.read_text().splitlines()[:n]]
    src = tmp / "patients.jsonl"
    src.write_text("".join(json.dumps(dict(r, consent_research=True)) + "\n" for r in rows))
    return src, rows


def research_extract(
    src: Path, out: Path, keys: Path, ledger: Path, recipient: str, env: dict[str, str] | None
) -> list[dict[str, Any]]:
    """A researcher's extract (random re-identification codes, shifted dates)."""
    ok(
        veil(
            "sanitize", str(src), "-o", str(out), "-p", str(HEALTH), "-d", "patients",
            "--subject-id", "r.chen", "-a", "role=researcher", "-a", "org=university",
            "--purpose", "HRESCH", "--recipient", recipient, "--ledger", f"sqlite:///{ledger}",
            "--create", "--keys", str(keys),
            env=env,
        )
    )  # fmt: skip
    return [json.loads(x) for x in out.read_text().splitlines()]


def reveal_codes(
    codes: list[str],
    keys: Path,
    ledger: Path,
    recipient: str,
    env: dict[str, str] | None,
    *extra: str,
) -> Result:
    return veil(
        "reveal", *codes, "-p", str(HEALTH), "--rule", "research-random-id",
        "--subject-id", "po.singh", "-a", "role=privacy_officer", "-a", "org=org-north",
        "--purpose", "HOPERAT", "--recipient", recipient, "--ledger", f"sqlite:///{ledger}",
        "--keys", str(keys), *extra,
        env=env,
    )  # fmt: skip


def vendor_extract(
    out: Path, keys: Path, ledger: Path, bundle: Path = FINANCE, env: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    """The analytics vendor's accounts extract (FF1 card numbers, keyed tokens)."""
    ok(
        veil(
            "sanitize", str(ACCOUNTS), "-o", str(out), "-p", str(bundle), "-d", "accounts",
            "--subject-id", "vendor", "-a", "role=analytics_vendor", "-a", "org=vendor-insight",
            "-a", "client=bank-a", "--purpose", "ANALYTICS", "--ledger", f"sqlite:///{ledger}",
            "--create", "--keys", str(keys),
            env=env,
        )
    )  # fmt: skip
    return [json.loads(x) for x in out.read_text().splitlines()]


def reveal_cards(
    cards: list[str],
    keys: Path,
    ledger: Path,
    *extra: str,
    bundle: Path = FINANCE,
    env: dict[str, str] | None = None,
) -> Result:
    return veil(
        "reveal", *cards, "-p", str(bundle), "--rule", "pci-pan-analytics-fpe",
        "--subject-id", "fraud-lead", "-a", "role=fraud_analyst", "-a", "org=bank-a",
        "--purpose", "FRAUD", "--ledger", f"sqlite:///{ledger}", "--keys", str(keys), *extra,
        env=env,
    )  # fmt: skip


def events(ledger: Path) -> list[Event]:
    with open_ledger(f"sqlite:///{ledger}") as led:
        return [s.event for s in led.events()]


def luhn_bundle(tmp: Path) -> Path:
    """The finance bundle with ``check: luhn`` on its FF1 card rule."""
    dst = tmp / "finance-luhn"
    shutil.copytree(FINANCE, dst)
    rules = dst / "rules.yaml"
    text = rules.read_text()
    old = "params: {key: card-fpe, alphabet: digits}"
    assert old in text
    rules.write_text(text.replace(old, "params: {key: card-fpe, alphabet: digits, check: luhn}"))
    return dst
