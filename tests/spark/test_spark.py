"""veil.spark in local[2,2]: the columnar engine's results, one ledger event per partition
even when a task fails once and is retried, and fail closed when the ledger is unreachable."""

from __future__ import annotations

import json
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

pytest.importorskip("pyspark")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bulk"))
from bulk_cases import KEYS, ROOT, schema_of

from veil import spark as vspark
from veil.engines.columnar import ColumnarEngine
from veil.policy.plan import compile_plan
from veil.policy.validate import load_bundle
from veil.request import Request
from veil.samples.synth import accounts

FINANCE = ROOT / "policies" / "finance"
# fpe, tokenize, generalize (year, month, bucket by size and bounds), a row filter by client
REQUEST = Request(
    subject_id="vendor-1",
    subject={"role": "analytics_vendor", "org": "vendor-insight", "client": "bank-a"},
    purpose="ANALYTICS",
    dataset="accounts",
)
PARTS = 3


def _table() -> pa.Table:
    bundle = load_bundle(str(FINANCE))
    records = list(accounts(150, seed=17))
    return pa.Table.from_pylist(records, schema=schema_of(bundle.datasets["accounts"]))


def _engine(table: pa.Table) -> tuple[list[str], ColumnarEngine]:
    plan = compile_plan(load_bundle(str(FINANCE)), REQUEST)
    engine = ColumnarEngine(plan, KEYS)
    engine.prepare(table.schema)
    out = [engine.apply(b) for b in table.to_batches(max_chunksize=40)]
    return sorted(json.dumps(r, sort_keys=True) for b in out for r in b.to_pylist()), engine


def _expected(table: pa.Table) -> list[str]:
    return _engine(table)[0]


def _events(ledger: Path) -> list[tuple[str, dict[str, Any]]]:
    with sqlite3.connect(ledger) as db:
        rows = db.execute("select event_id, body from events order by seq").fetchall()
    return [(eid, json.loads(body)) for eid, body in rows]


def _rows(df: Any) -> list[str]:
    return sorted(json.dumps(r.asDict(), sort_keys=True) for r in df.collect())


def test_same_results_as_columnar_engine_one_event_per_partition(
    spark: Any, tmp_path: Path
) -> None:
    table = _table()
    df = spark.createDataFrame(table).repartition(PARTS)
    ledger = tmp_path / "ledger.db"
    out = vspark.sanitize(
        df, REQUEST, policies=FINANCE, ledger=f"sqlite:///{ledger}", keys=KEYS, job_id="job-a"
    )
    got = _rows(out)
    want, engine = _engine(table)
    assert got == want
    events = _events(ledger)
    assert sorted(e for e, _ in events) == sorted(vspark.event_ids("job-a", PARTS))
    # per-field counts over the partitions add up to the columnar engine's, including
    # the columns that crossed to Python only as null flags
    summed: dict[str, dict[str, int]] = {}
    for _, body in events:
        for path, f in body["fields"].items():
            for label, n in f["outcomes"].items():
                summed.setdefault(path, {}).setdefault(label, 0)
                summed[path][label] += n
    assert summed == engine.tally.outcome_counts()
    assert "redacted" in summed["holder_name"]
    assert sum(b["records"]["returned"] for _, b in events) == len(got)
    assert sum(b["records"]["read"] for _, b in events) == table.num_rows
    # another action recomputes the partitions: same job, same events, nothing new
    assert out.count() == len(got)
    assert len(_events(ledger)) == PARTS


class FailOnce:
    """Passes batches through; the first attempt of partition 0 fails at its end, after
    veil has appended that partition's event."""

    def __init__(self, marker: str) -> None:
        self.marker = marker

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        import os

        from pyspark import TaskContext

        yield from batches
        ctx = TaskContext.get()
        if ctx is not None and ctx.partitionId() == 0 and not os.path.exists(self.marker):
            open(self.marker, "w").close()
            raise RuntimeError("injected failure (once)")


def test_retried_task_logs_once(spark: Any, tmp_path: Path) -> None:
    from pyspark import cloudpickle

    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    table = _table()
    df = spark.createDataFrame(table).repartition(PARTS)
    ledger = tmp_path / "ledger.db"
    marker = tmp_path / "failed-once"
    out = vspark.sanitize(
        df, REQUEST, policies=FINANCE, ledger=f"sqlite:///{ledger}", keys=KEYS, job_id="job-b"
    )
    flaky = out.mapInArrow(FailOnce(str(marker)), out.schema)
    got = _rows(flaky)
    assert marker.exists()  # the failure did happen, and the retry succeeded
    assert got == _expected(table)
    events = _events(ledger)
    assert sorted(e for e, _ in events) == sorted(vspark.event_ids("job-b", PARTS))
    assert len(events) == PARTS


def test_unreachable_ledger_fails_the_task(spark: Any, tmp_path: Path) -> None:
    table = _table()
    df = spark.createDataFrame(table).repartition(2)
    plan = compile_plan(load_bundle(str(FINANCE)), REQUEST)
    engine = ColumnarEngine(plan, KEYS)
    schema = engine.prepare(table.schema)
    # The driver checks the ledger first; here only the executors cannot reach it.
    task = vspark._Task(plan, KEYS, "sqlite:////dev/null/ledger.db", None, "job-c", False,
                        schema, 1 << 20, {})  # fmt: skip
    from pyspark.sql.pandas.types import from_arrow_schema

    out = df.mapInArrow(vspark._Partition(task), from_arrow_schema(schema))
    with pytest.raises(Exception, match="ledger") as info:
        out.collect()
    assert "MRN" not in str(info.value) and "ACC-" not in str(info.value)
