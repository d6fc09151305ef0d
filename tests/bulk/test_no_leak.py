"""No value of a field that is redacted or denied for a row ever appears in the output."""

from __future__ import annotations

import json
from typing import Any

import pyarrow as pa
import pytest
from bulk_cases import CASES, KEYS, Case, bundle, schema_of

from veil.core import Veil
from veil.engines.columnar import ColumnarEngine
from veil.policy.testing import MemoryLedger
from veil.samples import synth
from veil.transforms.base import FieldType

SYNTH = {
    "patients": synth.patients,
    "accounts": synth.accounts,
    "transactions": synth.transactions,
}
#: fields rules read (row filters, predicates) or that identify the row keep real values
_KEEP = {"organization_id", "consent_research", "sensitive"}


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_redacted_values_never_appear(case: Case) -> None:
    b = bundle(case.bundle)
    ds = b.datasets[case.dataset]
    subject = ds.data_subject[0]
    records: list[dict[str, Any]] = []
    for i, rec in enumerate(SYNTH[case.dataset](30, seed=5)):
        for path, info in ds.fields.items():
            if info.type == FieldType.STRING and path not in _KEEP and path != subject:
                rec[path] = f"LEAK{i:03d}{path}X"
        records.append(rec)
    veil = Veil(b, MemoryLedger(), KEYS)
    job = veil.start(case.request())
    engine = ColumnarEngine(job.plan, KEYS, bound=veil.bound(job.plan))
    table = pa.Table.from_pylist(records, schema=schema_of(ds))
    engine.prepare(table.schema)
    out = pa.Table.from_batches(
        [engine.apply(bt) for bt in table.to_batches(max_chunksize=8)],
        schema=engine.output_schema,
    )
    text = json.dumps(out.to_pylist())
    checked = 0
    for rec in records:
        table_of_row = job.plan.decide(job.executor.mask_of(rec))
        for path, d in table_of_row.items():
            value = rec.get(path)
            if isinstance(value, str) and value.startswith("LEAK") and not d.outcome.discloses:
                assert value not in text, (path, d.outcome.label)
                checked += 1
    if any(not d.outcome.discloses for d in job.plan.decide(0).values()):
        assert checked > 0  # the test looked at something
