"""Sanitize a Spark DataFrame with the same compiled plan, one ledger event per partition.

The driver compiles the plan (a refused request fails here and is logged), checks the
DataFrame's schema with the columnar engine, and ships the picklable plan to executors
through ``mapInArrow``. Each task sanitizes its partition's Arrow batches with the
columnar engine and, **before it yields any row**, appends the partition's event to the
ledger with an id derived from the job id and the partition id, idempotently (first
writer wins). So:

* a retried or speculative attempt of a task never logs twice: it finds the event its
  predecessor wrote and goes on;
* nothing leaves a task before its event is durable: output batches are held in a spool
  (memory, then a local Arrow IPC file past ``spool_bytes``) until the append returns;
* if the append fails, the task raises (fail closed): Spark retries it, then fails the
  job, and a failed task's rows are never returned or committed.

A partition that is computed again by a later action of the same DataFrame logs nothing
new (same job id, same partition): call :func:`sanitize` again for a new disclosure.
Executors need veil and pyarrow installed (``pip install 'veil[spark]'``), the keys (the
keyring is pickled into the task closure; use Spark's encrypted RPC, or a keyring that
reads ``VEIL_KEY_*`` variables set on the executors) and a ledger they can reach: a
PostgreSQL URL on a cluster, a SQLite file in local mode.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.compute as pc

from .bulk import append_event, build_event, part_event_id
from .core import Veil
from .engines.columnar import ColumnarEngine
from .errors import ConfigError
from .keys import Keyring
from .policy.plan import Plan
from .request import Request
from .transforms.base import FieldType

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

DEFAULT_SPOOL_BYTES = 64 << 20
BATCH_ROWS = 65_536


@dataclass(frozen=True)
class _Task:
    """What every task needs; pickled once into the mapInArrow closure."""

    plan: Plan
    keys: Keyring
    ledger_url: str
    ledger_key: bytes | None
    job_id: str
    drop_undeclared: bool
    output_schema: pa.Schema
    spool_bytes: int
    #: columns sent as "is not null" flags (see ColumnarEngine.unread), by declared type
    flags: dict[str, FieldType]


def sanitize(
    df: DataFrame,
    request: Request,
    *,
    policies: str | Path | Any,
    ledger: str,
    keys: Keyring | None = None,
    job_id: str | None = None,
    drop_undeclared: bool = False,
    spool_bytes: int = DEFAULT_SPOOL_BYTES,
) -> DataFrame:
    """``df`` sanitized for ``request``; lazy, like any DataFrame transformation.

    ``policies`` is a bundle directory (or a loaded Bundle); ``ledger`` a ledger URL every
    executor can reach. Pass a stable ``job_id`` (e.g. your scheduler's run id) to make
    re-running the same job idempotent in the ledger; by default a fresh one is drawn.
    Schema problems (undeclared, nested or mistyped columns) raise here, on the driver.
    """
    from pyspark.sql.pandas.types import from_arrow_schema, to_arrow_schema

    from .ledger import open_ledger
    from .policy.validate import load_bundle

    bundle = load_bundle(str(policies)) if isinstance(policies, str | Path) else policies
    keyring = keys if keys is not None else Keyring.from_environment()
    ledger_key = keyring.get("ledger") if keyring.has("ledger") else None
    driver_ledger = open_ledger(ledger, ledger_key)  # fails fast on a bad URL or key
    try:
        veil = Veil(bundle, driver_ledger, keyring)
        plan = veil.start(request).plan  # refusals logged
        engine = ColumnarEngine(
            plan, keyring, drop_undeclared=drop_undeclared, bound=veil.bound(plan)
        )
        out_schema = engine.prepare(to_arrow_schema(df.schema))
    finally:
        driver_ledger.close()
    # Columns nothing discloses or reads cross to Python as null flags, not values.
    unread = engine.unread()
    if unread:
        df = df.select(
            *[df[c] for c in df.columns if c not in unread],
            *[df[c].isNotNull().alias(c) for c in df.columns if c in unread],
        )
    task = _Task(
        plan,
        keyring,
        ledger,
        ledger_key,
        job_id or uuid.uuid4().hex,
        drop_undeclared,
        out_schema,
        spool_bytes,
        {c: plan.dataset.fields[c].type for c in unread},
    )
    return df.mapInArrow(_Partition(task), from_arrow_schema(out_schema))


class _Partition:
    """The function Spark runs per partition (a class, so it pickles without closures)."""

    def __init__(self, task: _Task) -> None:
        self.task = task

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        from pyspark import TaskContext

        ctx = TaskContext.get()
        part = ctx.partitionId() if ctx is not None else 0
        return run_partition(self.task, part, batches)


def run_partition(
    task: _Task, part: int, batches: Iterator[pa.RecordBatch]
) -> Iterator[pa.RecordBatch]:
    """Sanitize one partition; append its event; only then yield its rows.

    The ledger is opened first: random tokens (``tokenize(mode=random)``) are issued in
    its database while the partition runs, and made durable by the partition's event.
    """
    from .engines.record import Bound
    from .ledger import open_ledger
    from .ledger.vault import vault_for

    ledger = open_ledger(task.ledger_url, task.ledger_key)
    spool = _Spool(task.output_schema, task.spool_bytes)
    schema = task.output_schema
    try:
        bound = Bound(task.plan, task.keys, vault=vault_for(ledger))
        engine = ColumnarEngine(
            task.plan, task.keys, drop_undeclared=task.drop_undeclared, bound=bound
        )
        for batch in _coalesced(batches, BATCH_ROWS):
            out = engine.apply(_placeholders(batch, task.flags))
            spool.add(out if out.schema.equals(schema) else out.cast(schema))
        event = build_event(
            task.plan,
            engine.tally,
            engine.key_fingerprints,
            event_id=part_event_id(task.job_id, part),
        )
        append_event(ledger, event, idempotent=True)
        ledger.close()
        yield from spool.drain()
    finally:
        spool.discard()
        ledger.close()


def _coalesced(batches: Iterator[pa.RecordBatch], rows: int) -> Iterator[pa.RecordBatch]:
    """Spark sends small batches (maxRecordsPerBatch, 10k by default); the engine's cost
    per batch is per column, so it gets fewer, larger ones."""
    held: list[pa.RecordBatch] = []
    n = 0
    for b in batches:
        held.append(b)
        n += b.num_rows
        if n >= rows:
            yield _concat(held)
            held, n = [], 0
    if held:
        yield _concat(held)


def _concat(held: list[pa.RecordBatch]) -> pa.RecordBatch:
    if len(held) == 1:
        return held[0]
    return pa.Table.from_batches(held).combine_chunks().to_batches()[0]


_PLACEHOLDER: dict[FieldType, pa.Scalar] = {
    FieldType.STRING: pa.scalar("", pa.string()),
    FieldType.INTEGER: pa.scalar(0, pa.int64()),
    FieldType.NUMBER: pa.scalar(0.0, pa.float64()),
    FieldType.BOOLEAN: pa.scalar(False, pa.bool_()),
    FieldType.DATE: pa.scalar("1970-01-01", pa.string()),
    FieldType.DATETIME: pa.scalar("1970-01-01T00:00:00", pa.string()),
}


def _placeholders(batch: pa.RecordBatch, flags: dict[str, FieldType]) -> pa.RecordBatch:
    """Turn "is not null" flags back into columns of the declared type with the same nulls
    (the engine counts them; no decision discloses them, so no value is needed)."""
    for name, ftype in flags.items():
        i = batch.schema.get_field_index(name)
        if i < 0:
            continue
        value = _PLACEHOLDER[ftype]
        col = pc.if_else(batch.column(i), value, pa.scalar(None, value.type))
        batch = batch.set_column(i, name, col)
    return batch


class _Spool:
    """Output held back until the partition's event is durable: memory, then a file."""

    def __init__(self, schema: pa.Schema, limit: int) -> None:
        self.schema = schema
        self.limit = limit
        self.batches: list[pa.RecordBatch] = []
        self.bytes = 0
        self.path: str | None = None
        self._file: Any = None
        self._writer: Any = None

    def add(self, batch: pa.RecordBatch) -> None:
        if not batch.num_rows:
            return
        if self._writer is None and self.bytes + batch.nbytes > self.limit:
            # Named only for the instant between mkstemp and unlink: a killed executor
            # leaves no sanitized rows on its disk (the kernel frees the open file).
            fd, path = tempfile.mkstemp(prefix="veil-spark-spool-", suffix=".arrows")
            os.unlink(path)
            self._file = os.fdopen(fd, "w+b")
            self.path = f"/proc/self/fd/{fd}"
            self._writer = pa.ipc.new_stream(self._file, self.schema)
            for b in self.batches:
                self._writer.write_batch(b)
            self.batches = []
        if self._writer is not None:
            self._writer.write_batch(batch)
        else:
            self.batches.append(batch)
            self.bytes += batch.nbytes

    def drain(self) -> Iterator[pa.RecordBatch]:
        yield from self.batches
        self.batches = []
        if self._writer is not None:
            self._writer.close()
            self._writer = None
            assert self._file is not None
            self._file.flush()
            self._file.seek(0)
            yield from pa.ipc.open_stream(pa.PythonFile(self._file, mode="r"))

    def discard(self) -> None:
        self.batches = []
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        if self._file is not None:
            self._file.close()
            self._file = None


def event_ids(job_id: str, partitions: int) -> list[str]:
    """The ledger event ids a job's partitions are recorded under (for audits and tests)."""
    if partitions < 0:
        raise ConfigError("partitions must be >= 0")
    return [part_event_id(job_id, p) for p in range(partitions)]
