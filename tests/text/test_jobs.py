"""scan_text through Veil, the ledger and the CLI: per-job entity counts, no values in the
ledger, batch and worker-pool paths equal to the one-by-one path."""

from __future__ import annotations

import json
import pickle
import re
import sqlite3
import threading
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from conftest import needs_ner
from veil.cli import app
from veil.core import Veil
from veil.errors import InputError
from veil.keys import Keyring
from veil.policy.testing import MemoryLedger
from veil.policy.validate import load_bundle
from veil.request import Request
from veil.text.engine import TextAnalyzer
from veil.text.pool import PoolFailed

ROOT = Path(__file__).resolve().parents[2]
FINANCE = ROOT / "policies" / "finance"
HEALTH = ROOT / "policies" / "health"
SUPPORT = Request(
    subject_id="sa-1",
    subject={"role": "support_agent", "org": "bank-b"},
    purpose="SUPPORT",
    dataset="transactions",
)
FRAUD = Request(
    subject_id="fa-1",
    subject={"role": "fraud_analyst", "org": "bank-a"},
    purpose="FRAUD",
    dataset="transactions",
)
MEMO = (
    "Refund to card 4111 1111 1111 1111 from ACC-06687859, IBAN GB82 WEST 1234 5698 7654 32, "
    "call 555-631-0387 or mail jo@example.org"
)
SECRETS = ("4111 1111", "ACC-06687859", "GB82", "555-631", "jo@example.org")


def _txns() -> list[dict[str, Any]]:
    lines = (ROOT / "examples" / "data" / "transactions.jsonl").read_text().splitlines()
    return [json.loads(x) for x in lines]


@pytest.fixture(scope="module")
def finance() -> Veil:
    return Veil(load_bundle(str(FINANCE)), MemoryLedger(), Keyring.demo())


def test_support_gets_the_memo_treated_and_the_ledger_counts_without_values(
    finance: Veil,
) -> None:
    rec = dict(_txns()[0], memo=MEMO)
    result = finance.sanitize(SUPPORT, [rec, dict(rec, memo="Savings")])
    memo = result.records[0]["memo"]
    assert memo.startswith("Refund to card **** **** **** 1111 from acct_")
    assert "***-***-0387" in memo and "<EMAIL>" in memo
    assert all(s not in memo for s in SECRETS)
    assert result.records[1]["memo"] == "Savings"
    fd = result.event.event.fields["memo"]
    assert fd.outcomes == {"scan_text": 2}
    assert fd.entities == {
        "ACCOUNT_NUMBER": 1,
        "CREDIT_CARD": 1,
        "EMAIL_ADDRESS": 1,
        "IBAN_CODE": 1,
        "PHONE_NUMBER": 1,
    }
    stored = json.dumps(result.event.event.body())
    assert all(s not in stored for s in SECRETS)


def test_fraud_analyst_gets_the_memo_with_only_the_card_number_masked(finance: Veil) -> None:
    """Everything but the card number unchanged; the card as BIN + last four (PCI 3.4.1)."""
    rec = dict(_txns()[0], memo=MEMO)
    result = finance.sanitize(FRAUD, [rec])
    assert result.records[0]["memo"] == MEMO.replace("4111 1111 1111 1111", "4111 11** **** 1111")
    assert result.event.event.fields["memo"].entities == {"CREDIT_CARD": 1}


def test_counts_are_per_job_even_across_threads(finance: Veil) -> None:
    rec = dict(_txns()[0], memo=MEMO)
    results: list[Any] = []

    def run(n: int) -> None:
        results.append((n, finance.sanitize(SUPPORT, [rec] * n)))

    threads = [threading.Thread(target=run, args=(n,)) for n in (1, 2, 3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for n, r in results:
        assert r.event.event.fields["memo"].entities["CREDIT_CARD"] == n


def test_batch_path_equals_one_by_one(finance: Veil) -> None:
    txns = _txns()
    one = finance.start(SUPPORT)
    singles = [one.apply(r, line=i) for i, r in enumerate(txns, 1)]
    batch = finance.start(SUPPORT)
    batched = batch.apply_batch([(r, i) for i, r in enumerate(txns, 1)])
    assert batched == singles
    assert batch.event().fields["memo"] == one.event().fields["memo"]
    assert sum(one.event().fields["memo"].entities.values()) > 20  # the samples have some
    assert not batch.executor.text.prefetched  # dropped after the batch


def test_worker_pool_equals_one_by_one_and_gets_only_texts(
    finance: Veil, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[bytes] = []
    submit = ProcessPoolExecutor.submit

    def record(self: ProcessPoolExecutor, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        sent.append(pickle.dumps(args))
        return submit(self, fn, *args, **kwargs)

    monkeypatch.setattr(ProcessPoolExecutor, "submit", record)
    txns = _txns()[:150]
    pooled = finance.sanitize(SUPPORT, txns, workers=1)
    one = finance.start(SUPPORT)
    singles = [r for r in (one.apply(x) for x in txns) if r is not None]
    assert pooled.records == singles
    blob = b"".join(sent)
    assert b"Contactless" in blob  # the memos went to the worker
    keys = [finance.keys.get(name) for name in one.executor.key_fingerprints]
    assert keys and not any(k in blob for k in keys)
    # Nothing else of the records: the texts and the engine configuration only (the
    # bundle's recognizer descriptions quote an example account number).
    sent_on_purpose = " ".join(t["memo"] for t in txns if isinstance(t.get("memo"), str))
    sent_on_purpose += " ".join(
        op.config.key for ops in one.executor.bound.text_ops.values() for op in ops
    )
    other = {str(t[f]) for t in txns for f in ("txn_id", "account_id", "card_number")}
    assert not any(v.encode() in blob for v in other if v not in sent_on_purpose)


def test_pipelined_pool_batch_equals_one_by_one_and_survives_bad_input(finance: Veil) -> None:
    """apply_batch with workers hands the pool every part at once and applies each part
    as its texts come back: same output as one by one, texts repeated across parts
    included; a bad record stops the batch with its error and leaves the pool usable."""
    txns = [dict(t, memo=f"{MEMO} #{i % 250}") for i, t in enumerate(_txns()[:60] * 5)]
    job = finance.start(SUPPORT)
    job.workers = 1
    batched = job.apply_batch([(r, i) for i, r in enumerate(txns, 1)])
    one = finance.start(SUPPORT)
    assert batched == [one.apply(r, line=i) for i, r in enumerate(txns, 1)]
    assert job.event().fields["memo"] == one.event().fields["memo"]
    bad = [dict(t) for t in txns]
    bad[250]["amount"] = "lots"
    job = finance.start(SUPPORT)
    job.workers = 1
    with pytest.raises(InputError, match="line 251"):
        job.apply_batch([(r, i) for i, r in enumerate(bad, 1)])
    assert not job.executor.text.prefetched
    assert finance.sanitize(SUPPORT, txns, workers=1).records == [r for r in batched if r]


class _BrokenPool:
    """A pool that cannot take work (its start fails)."""

    def analyze(self, *args: object) -> object:
        raise PoolFailed("text analysis in a worker failed (BrokenProcessPool)")

    start = analyze


class _DyingPool:
    """A pool that takes work, then fails it (a worker died mid-chunk)."""

    def start(self, *args: object) -> object:
        return self

    def result(self) -> object:
        raise PoolFailed("text analysis in a worker failed (BrokenProcessPool)")

    def cancel(self) -> None:
        pass


@pytest.mark.parametrize("broken", [_BrokenPool, _DyingPool])
def test_pool_failure_falls_back_in_process_then_withholds(
    finance: Veil, monkeypatch: pytest.MonkeyPatch, broken: type
) -> None:
    txns = [dict(t, memo=f"{MEMO} #{i}") for i, t in enumerate(_txns()[:40])]
    one = finance.start(SUPPORT)
    singles = [one.apply(r) for r in txns]
    job = finance.start(SUPPORT)
    job.executor.prefetch(txns, broken())
    assert len(job.executor.text.prefetched) == len(txns)  # analyzed in-process instead
    assert [job.apply(r) for r in txns] == singles

    def boom(*a: object) -> None:
        raise RuntimeError("detector bug")

    monkeypatch.setattr(TextAnalyzer, "analyze", boom)
    monkeypatch.setattr(TextAnalyzer, "analyze_batch", boom)
    job = finance.start(SUPPORT)
    job.executor.prefetch(txns, broken())
    out = [job.apply(r) for r in txns]
    assert all(r is not None and "memo" not in r for r in out)  # withheld, never clear
    assert job.event().fields["memo"].outcomes == {"withheld": len(txns)}


def test_cli_sanitize_support_memo(tmp_path: Path) -> None:
    inp, out, led = tmp_path / "in.jsonl", tmp_path / "out.jsonl", tmp_path / "l.db"
    inp.write_text(json.dumps(dict(_txns()[0], memo=MEMO)) + "\n")
    args = ["sanitize", str(inp), "-o", str(out), "--policies", str(FINANCE)]
    args += ["--dataset", "transactions", "--subject-id", "sa-1", "--attr", "role=support_agent"]
    args += ["--attr", "org=bank-b", "--purpose", "SUPPORT", "--ledger", f"sqlite:///{led}"]
    args += ["--create"]
    args += _keyfile(tmp_path, "audit-hash")
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    memo = json.loads(out.read_text())["memo"]
    assert "<EMAIL>" in memo and all(s not in memo for s in SECRETS)
    with sqlite3.connect(led) as db:
        dump = "\n".join(str(row) for row in db.execute("select * from events"))
    assert '"PHONE_NUMBER":1' in dump.replace(" ", "")
    assert all(s not in _without_digests(dump) for s in SECRETS)


NOTE = (
    "Patient Robert Burgess (DOB 08/31/2018) seen on 03/14/2024. Call 555-631-0387 or "
    "robert.burgess@example.org. SSN 937-16-6771, copay by card 4111 1111 1111 1111."
)
NOTE_SECRETS = ("Robert", "Burgess", "08/31/2018", "03/14/2024", "555-631", "robert.burgess")
NOTE_SECRETS += ("937-16-6771", "4111")


def _without_digests(text: str) -> str:
    """``text`` without runs of 32 or more hex digits: event ids and hashes are random,
    and a short secret such as ``4111`` turns up in one now and then (the chain hash
    ``...3c13741115b2...`` did once), where a leaked value would stand in clear. (32, not
    fewer: a card number leaked without spaces is a run of 16 digits and must be seen.)"""
    return re.sub(r"[0-9a-f]{32,}", "", text)


def _keyfile(tmp_path: Path, *names: str) -> list[str]:
    path = tmp_path / "keys.yaml"
    path.write_text("keys:\n" + "".join(f"  {n}: hex:{'5a' * 32}\n" for n in names))
    return ["--keys", str(path)]


def _patient(note: str) -> dict[str, Any]:
    line = (ROOT / "examples" / "data" / "patients.jsonl").read_text().splitlines()[0]
    return dict(json.loads(line), consent_research=True, sensitive=False, note=note)


RESEARCHER = Request(
    subject_id="res-1",
    subject={"role": "researcher", "org": "university"},
    purpose="HRESCH",
    dataset="patients",
)
CLINICIAN = Request(
    subject_id="dr-1",
    subject={"role": "clinician", "org": "org-south"},
    purpose="TREAT",
    dataset="patients",
)


@needs_ner
def test_health_note_for_external_researcher_and_clinician() -> None:
    veil = Veil(load_bundle(str(HEALTH)), MemoryLedger(), Keyring.demo())
    rec = _patient(NOTE)
    res = veil.sanitize(RESEARCHER, [rec])
    note = res.records[0]["note"]
    assert "<PERSON>" in note and "<PHONE>" in note and "<EMAIL>" in note
    # Safe Harbor view: every identifier removed, cards and dates included
    assert "SSN ," in note and "<CARD>" in note and "<DATE>" in note
    assert all(s not in note for s in NOTE_SECRETS), note
    entities = res.event.event.fields["note"].entities
    assert entities["PERSON"] >= 1 and entities["DATE_TIME"] == 2
    assert {"PHONE_NUMBER", "EMAIL_ADDRESS", "US_SSN", "CREDIT_CARD"} <= set(entities)
    body = _without_digests(json.dumps(res.event.event.body()))
    assert all(s not in body for s in NOTE_SECRETS)
    clear = veil.sanitize(CLINICIAN, [rec])
    assert clear.records[0]["note"] == NOTE
    assert clear.event.event.fields["note"].entities == {}


def test_health_note_without_ner_model_is_withheld(monkeypatch: pytest.MonkeyPatch) -> None:
    import veil.text.engine as engine

    monkeypatch.setattr(engine, "_ANALYZERS", {})
    monkeypatch.setattr(engine, "_FAILED", {})
    monkeypatch.setattr(engine.spacy_util(), "is_package", lambda name: False)
    veil = Veil(load_bundle(str(HEALTH)), MemoryLedger(), Keyring.demo())
    res = veil.sanitize(RESEARCHER, [_patient(NOTE)])
    assert "note" not in res.records[0]
    assert res.event.event.fields["note"].outcomes == {"withheld": 1}


@needs_ner
def test_cli_sanitize_health_note_for_researcher(tmp_path: Path) -> None:
    inp, out, led = tmp_path / "in.jsonl", tmp_path / "out.jsonl", tmp_path / "l.db"
    inp.write_text(json.dumps(_patient(NOTE)) + "\n")
    args = ["sanitize", str(inp), "-o", str(out), "--policies", str(HEALTH)]
    args += ["--dataset", "patients", "--subject-id", "res-1", "--attr", "role=researcher"]
    args += ["--attr", "org=university", "--purpose", "HRESCH", "--ledger", f"sqlite:///{led}"]
    args += ["--create"]
    args += _keyfile(tmp_path, "research-dates", "research-tokens")
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    note = json.loads(out.read_text())["note"]
    assert all(s not in note for s in NOTE_SECRETS), note
    with sqlite3.connect(led) as db:
        dump = "\n".join(str(row) for row in db.execute("select * from events"))
    assert '"PERSON":' in dump and all(s not in _without_digests(dump) for s in NOTE_SECRETS)
