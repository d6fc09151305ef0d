"""Columns a Parquet job never reads: those nothing discloses or reads are skipped, and
their cells counted from the footer (one decision table for every row) or, where rules
filter rows or pick outcomes per row, one per kept row when the footer says every value
is present. The event must be the record engine's, whichever way each column went."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from bulk_cases import CASES, KEYS, Case, bundle, schema_of

from veil.bulk import BulkJob, sanitize_file
from veil.core import Veil
from veil.policy.testing import MemoryLedger
from veil.samples import synth

SYNTH = {
    "patients": lambda n: synth.patients(n, seed=11),
    "accounts": lambda n: synth.accounts(n, seed=13),
    "transactions": lambda n: synth.transactions(n, seed=17),
}


def _records(case: Case, nulls: bool) -> list[dict[str, Any]]:
    records = [dict(r) for r in SYNTH[case.dataset](60)]
    if case.purpose == "HRESCH":
        for i, r in enumerate(records):
            r["consent_research"] = i % 4 != 0  # rows the consent rule leaves out
    if nulls:  # a null in every nullable column, in a kept row and in a left-out one
        fields = bundle(case.bundle).datasets[case.dataset].fields
        subject = bundle(case.bundle).datasets[case.dataset].data_subject[0]
        for name, info in fields.items():
            # (the consent column left as it is: missing consent leaves a row out)
            if info.nullable and name not in (subject, "consent_research") and name in records[0]:
                records[4][name] = None
                records[9][name] = None
    return records


@pytest.mark.parametrize("nulls", [False, True], ids=["all-present", "with-nulls"])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_columns_not_read_are_counted_as_the_record_engine_counts(
    case: Case, nulls: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    b = bundle(case.bundle)
    records = _records(case, nulls)
    expected = Veil(b, MemoryLedger(), KEYS).sanitize(case.request(), records).event.event
    table = pa.Table.from_pylist(records, schema=schema_of(b.datasets[case.dataset]))
    pq.write_table(
        table.drop_columns([c for c in ["note", "memo"] if c in table.column_names]),
        tmp_path / "in.parquet",
        row_group_size=25,
    )
    engines: list[Any] = []
    start = BulkJob.__init__

    def remember(self: BulkJob, *args: Any, **kwargs: Any) -> None:
        start(self, *args, **kwargs)
        engines.append(self.engine)

    monkeypatch.setattr(BulkJob, "__init__", remember)
    res = sanitize_file(
        Veil(b, MemoryLedger(), KEYS), case.request(), str(tmp_path / "in.parquet"),
        "parquet", str(tmp_path / "out.parquet"), "parquet", batch_rows=16,
    )  # fmt: skip
    got = res.event.event
    dropped = {c for c in ["note", "memo"] if c in records[0]}
    assert (got.records.read, got.records.returned, got.records.filtered) == (
        expected.records.read,
        expected.records.returned,
        expected.records.filtered,
    )
    assert got.data_subjects == expected.data_subjects
    want = {p: dict(f.outcomes) for p, f in expected.fields.items() if p not in dropped}
    assert {p: dict(f.outcomes) for p, f in got.fields.items() if p not in dropped} == want
    if case.purpose == "HRESCH" and not nulls:  # the path under test did run
        assert engines and engines[0]._counted
