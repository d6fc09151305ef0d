"""veil scan: drafts agree with the shipped schemas; bad input fails cleanly."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from veil.cli import app
from veil.policy.model import Dataset
from veil.policy.validate import load_bundle
from veil.text.scan import scan_file

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "examples" / "data"
CASES = [
    ("health", "patients", "patients.jsonl"),
    ("health", "patients", "patients.csv"),
    ("health", "fhir_patients", "fhir_patients.json"),
    ("finance", "accounts", "accounts.jsonl"),
    ("finance", "transactions", "transactions.jsonl"),
]


def test_suggested_tags_agree_with_shipped_schemas() -> None:
    agree = total = types_agree = 0
    misses = []
    for bundle_name, dataset, file in CASES:
        bundle = load_bundle(str(ROOT / "policies" / bundle_name))
        text, fields = scan_file(DATA / file, dataset, limit=200, vocabulary=bundle.vocabulary.tags)
        Dataset.model_validate(yaml.safe_load(text)["datasets"][dataset])  # loadable shape
        for path, info in bundle.datasets[dataset].fields.items():
            if not info.declared or path not in fields:
                continue
            total += 1
            if set(fields[path].tags) == set(info.tags):
                agree += 1
            else:
                misses.append((dataset, path))
            types_agree += fields[path].type == info.type.value
    assert total >= 90
    assert agree / total >= 0.9, misses
    assert types_agree / total >= 0.9


def test_cli_writes_a_draft_and_reports(tmp_path: Path) -> None:
    out = tmp_path / "draft.yaml"
    res = CliRunner().invoke(
        app,
        ["scan", str(DATA / "accounts.jsonl"), "-d", "accts", "-o", str(out),
         "--policies", str(ROOT / "policies" / "finance"), "--sample", "50"],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    draft = yaml.safe_load(out.read_text())["datasets"]["accts"]
    assert draft["record_id"] == "account_id" and draft["data_subject"] == "customer_id"
    assert draft["fields"]["iban"]["tags"] == ["direct_identifier", "financial"]
    assert "IBAN_CODE in 100% of sampled values" in out.read_text()


@pytest.mark.parametrize(
    ("content", "name", "message"),
    [
        (None, "missing.jsonl", "not a readable file"),
        ('{"a": 1}\n{"a": \n', "bad.jsonl", "line 2 is not valid JSON"),
        ("[1, 2]", "bad.json", "every record must be a JSON object"),
        ("", "empty.jsonl", "no records"),
        (b"\xff\xfe", "bin.jsonl", "not UTF-8"),
    ],
)
def test_bad_input_exits_nonzero_without_traceback(
    tmp_path: Path, content: str | bytes | None, name: str, message: str
) -> None:
    path = tmp_path / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content)
    res = CliRunner().invoke(app, ["scan", str(path), "-d", "x"])
    assert res.exit_code == 2
    assert message in res.output and "Traceback" not in res.output
    assert res.exception is None or isinstance(res.exception, SystemExit)
