"""Requests covering every transform of the health and finance bundles, and helpers that
run one set of records through both engines and compare them value by value."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pyarrow as pa

from veil.core import Veil
from veil.engines.columnar import ColumnarEngine
from veil.errors import InputError
from veil.keys import Keyring
from veil.policy.bundle import Bundle, DatasetInfo
from veil.policy.testing import MemoryLedger
from veil.policy.validate import load_bundle
from veil.request import Request
from veil.transforms.base import FieldType

ROOT = Path(__file__).resolve().parents[2]
KEYS = Keyring.demo()


@dataclass(frozen=True)
class Case:
    bundle: str
    dataset: str
    subject: tuple[tuple[str, str], ...]
    purpose: str
    reason: str | None = None

    @property
    def id(self) -> str:
        role = dict(self.subject)["role"]
        return f"{self.bundle}-{self.dataset}-{role}-{self.purpose}"

    def request(self) -> Request:
        return Request(
            subject_id="tester",
            subject=dict(self.subject),
            purpose=self.purpose,
            dataset=self.dataset,
            reason=self.reason,
        )


def _c(bundle: str, dataset: str, purpose: str, reason: str | None = None, **subject: str) -> Case:
    return Case(bundle, dataset, tuple(sorted(subject.items())), purpose, reason)


CASES = [
    # health: mask with preserve, row filter on org; break-glass; research (tokenize,
    # generalize year/age/zip3, date_shift, predicate redaction, consent filter);
    # billing (masks); audit (hash)
    _c("health", "patients", "TREAT", role="clinician", org="org-north"),
    _c("health", "patients", "ETREAT", "patient unconscious in ER", role="nurse", org="org-south"),
    _c("health", "patients", "HRESCH", role="researcher", org="university"),
    _c("health", "patients", "HPAYMT", role="billing_clerk", org="payer-co"),
    _c("health", "patients", "HOPERAT", role="auditor", org="org-east"),
    # finance: BIN+last4, fpe, tokenize, generalize month/year/bucket (size and bounds), hash
    _c("finance", "accounts", "FRAUD", role="fraud_analyst", org="bank-a"),
    _c("finance", "accounts", "SUPPORT", role="support_agent", org="bank-b"),
    _c(
        "finance",
        "accounts",
        "ANALYTICS",
        role="analytics_vendor",
        org="vendor-insight",
        client="bank-a",
    ),
    _c("finance", "accounts", "AUDIT", role="auditor", org="northgate-audit", client="bank-b"),
    _c("finance", "transactions", "FRAUD", role="fraud_analyst", org="bank-a"),
    _c("finance", "transactions", "SUPPORT", role="support_agent", org="bank-a"),
    _c(
        "finance",
        "transactions",
        "ANALYTICS",
        role="analytics_vendor",
        org="vendor-insight",
        client="bank-a",
    ),
    _c("finance", "transactions", "AUDIT", role="auditor", org="northgate-audit", client="bank-a"),
]


@cache
def bundle(name: str) -> Bundle:
    return load_bundle(str(ROOT / "policies" / name))


def arrow_type(ftype: FieldType) -> pa.DataType:
    return {
        FieldType.INTEGER: pa.int64(),
        FieldType.NUMBER: pa.float64(),
        FieldType.BOOLEAN: pa.bool_(),
    }.get(ftype, pa.string())


def schema_of(ds: DatasetInfo) -> pa.Schema:
    return pa.schema([pa.field(p, arrow_type(f.type)) for p, f in ds.fields.items()])


@dataclass
class Both:
    record_out: list[dict[str, Any]] | None
    record_event: Any
    record_error: str | None
    columnar_out: list[dict[str, Any]] | None
    engine: ColumnarEngine | None
    columnar_error: str | None


def run_both(case: Case, records: list[dict[str, Any]], batch_rows: int = 7) -> Both:
    """The same records through the record engine and (as Arrow batches) the columnar one."""
    b = bundle(case.bundle)
    veil = Veil(b, MemoryLedger(), KEYS)
    req = case.request()
    rec_out = rec_event = rec_err = None
    try:
        res = veil.sanitize(req, records)
        rec_out, rec_event = res.records, res.event.event
    except InputError as exc:
        rec_err = exc.message
    plan = veil.plan(req)
    table = pa.Table.from_pylist(records, schema=schema_of(plan.dataset))
    col_out = engine = col_err = None
    try:
        engine = ColumnarEngine(plan, KEYS, bound=veil.bound(plan))  # shares the vault
        engine.prepare(table.schema)
        batches = [engine.apply(bt) for bt in table.to_batches(max_chunksize=batch_rows)]
        assert engine.output_schema is not None
        col_out = pa.Table.from_batches(batches, schema=engine.output_schema).to_pylist()
    except InputError as exc:
        col_err = exc.message
    return Both(rec_out, rec_event, rec_err, col_out, engine, col_err)


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return bool(a == b and type(a) is type(b))


def assert_equal(both: Both) -> None:
    """Same rows, same values, same per-field outcome counts; or both refuse the input."""
    assert (both.record_error is None) == (both.columnar_error is None), (
        both.record_error,
        both.columnar_error,
    )
    if both.record_error is not None:
        return
    rec, col, engine = both.record_out, both.columnar_out, both.engine
    assert rec is not None and col is not None and engine is not None
    assert len(rec) == len(col)
    for i, (r, c) in enumerate(zip(rec, col, strict=True)):
        # every value the record engine disclosed is in the columnar row, equal and of the
        # same type; every other columnar cell is null (the field was not disclosed there)
        for key, value in r.items():
            assert key in c, (i, key)
            assert same(value, c[key]), (i, key, value, c[key])
        for key, value in c.items():
            if key not in r:
                assert value is None, (i, key)
    assert engine.tally.outcome_counts() == {
        k: v.outcomes for k, v in both.record_event.fields.items()
    }
    ev = both.record_event
    assert (engine.tally.read, engine.tally.returned, engine.tally.filtered) == (
        ev.records.read,
        ev.records.returned,
        ev.records.filtered,
    )
    assert sorted(engine.tally.subjects) == ev.data_subjects
