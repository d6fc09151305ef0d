"""Read-ahead and write-behind threads (veil.formats.overlap): order, bounds, failures.

The bulk job's output must be every batch, in order, or nothing: these check that a
failure on either thread reaches the caller as it was raised, that the source is closed
whatever happens, and that neither side runs more than DEPTH batches ahead."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from veil.errors import InputError
from veil.formats.overlap import DEPTH, ReadAhead, WriteBehind


class Source:
    """A generator-backed source that records how far it was read and whether it closed."""

    def __init__(self, n: int, fail_at: int | None = None) -> None:
        self.n, self.fail_at = n, fail_at
        self.produced = 0
        self.closed = threading.Event()

    def __iter__(self) -> Iterator[int]:
        try:
            for i in range(self.n):
                if i == self.fail_at:
                    raise InputError(f"page {i} failed")
                self.produced += 1
                yield i
        finally:
            self.closed.set()


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 40), st.integers(1, 4))
def test_every_item_in_order(n: int, depth: int) -> None:
    src = Source(n)
    written: list[int] = []
    behind = WriteBehind(written.append, depth=depth)
    with ReadAhead(iter(src), depth=depth) as ahead:
        for item in ahead:
            behind.put(item * 2)
    behind.finish()
    assert written == [2 * i for i in range(n)]
    assert src.closed.wait(5)


def test_a_read_failure_is_raised_as_it_was_and_the_source_is_closed() -> None:
    src = Source(10, fail_at=3)
    got = []
    with pytest.raises(InputError, match="page 3 failed"), ReadAhead(iter(src)) as ahead:
        for item in ahead:
            got.append(item)
    assert got == [0, 1, 2]
    assert src.closed.wait(5)


def test_reading_stays_bounded_and_stops_when_the_caller_leaves() -> None:
    src = Source(10_000)
    with ReadAhead(iter(src), depth=2) as ahead:
        assert next(ahead) == 0
        time.sleep(0.2)  # give the thread every chance to run ahead
        # one handed out, two queued, one read and waiting for room
        assert src.produced <= 1 + 2 + 1
    assert src.closed.wait(5)
    assert src.produced <= 1 + 2 + 1


def test_a_write_failure_is_raised_to_the_caller() -> None:
    def write(item: int) -> None:
        if item == 2:
            raise OSError("disk full")

    behind = WriteBehind(write)
    with pytest.raises(OSError, match="disk full"):
        for i in range(100):
            behind.put(i)
        behind.finish()


def test_abandon_writes_nothing_more() -> None:
    gate = threading.Event()
    started = threading.Event()
    written: list[int] = []

    def write(item: int) -> None:
        started.set()
        gate.wait(5)
        written.append(item)

    behind = WriteBehind(write, depth=DEPTH)
    for i in range(DEPTH + 1):  # one being written, DEPTH queued
        behind.put(i)
    assert started.wait(5)
    threading.Timer(0.1, gate.set).start()
    behind.abandon()
    assert written == [0]  # the one under way finishes; the queued ones are not written


def _table(n: int) -> pa.Table:
    return pa.table({"a": list(range(n)), "b": [f"v{i}" for i in range(n)]})


def test_a_parquet_file_round_trips_through_both_threads(tmp_path: Path) -> None:
    """The real pair: pyarrow's batch reader on one thread, its writer on the other."""
    src, dst = tmp_path / "in.parquet", tmp_path / "out.parquet"
    pq.write_table(_table(10_000), src, row_group_size=1000)
    pf = pq.ParquetFile(src)
    with pq.ParquetWriter(dst, pf.schema_arrow) as w:
        behind = WriteBehind(w.write_batch)
        with ReadAhead(pf.iter_batches(batch_size=700)) as ahead:
            for b in ahead:
                behind.put(b)
        behind.finish()
    assert pq.read_table(dst).equals(_table(10_000))


# ------------------------------------------------------------ through sanitize_file


def _patients_file(path: Path, n: int, bad_row: int | None = None) -> None:
    from bulk_cases import bundle, schema_of

    from veil.samples.synth import patients

    recs = list(patients(n, seed=3))
    if bad_row is not None:
        recs[bad_row]["birth_date"] = "not-a-date"
    table = pa.Table.from_pylist(recs, schema=schema_of(bundle("health").datasets["patients"]))
    pq.write_table(table, path, row_group_size=50, compression="zstd")


def _sanitize(tmp_path: Path, src: Path, out: Path) -> None:
    from bulk_cases import ROOT

    from veil.bulk import sanitize_file
    from veil.core import Veil
    from veil.keys import Keyring
    from veil.ledger import open_ledger
    from veil.policy.validate import load_bundle
    from veil.request import Request

    veil = Veil(
        load_bundle(str(ROOT / "policies" / "health")),
        open_ledger(f"sqlite:///{tmp_path / 'l.db'}"),
        Keyring.demo(),
    )
    req = Request(
        subject_id="b-1",
        subject={"role": "billing_clerk", "org": "payer-co"},
        purpose="HPAYMT",
        dataset="patients",
    )
    sanitize_file(veil, req, str(src), "parquet", str(out), "parquet", batch_rows=50)


def _events(tmp_path: Path) -> int:
    import sqlite3

    with sqlite3.connect(tmp_path / "l.db") as db:
        return int(db.execute("select count(*) from events").fetchone()[0])


def test_a_bad_value_in_the_last_batch_publishes_nothing(tmp_path: Path) -> None:
    src, out = tmp_path / "in.parquet", tmp_path / "out.parquet"
    _patients_file(src, 400, bad_row=377)
    with pytest.raises(InputError, match="birth_date"):
        _sanitize(tmp_path, src, out)
    assert not out.exists()
    assert not list(tmp_path.glob(".veil-spool-*"))
    assert _events(tmp_path) == 0
    _patients_file(src, 400)  # the same file, fixed: the whole of it, in order
    _sanitize(tmp_path, src, out)
    assert pq.read_table(out).num_rows == 400
    assert _events(tmp_path) == 1


def test_a_page_that_fails_to_decode_mid_file_publishes_nothing(tmp_path: Path) -> None:
    src, out = tmp_path / "in.parquet", tmp_path / "out.parquet"
    _patients_file(src, 400)
    meta = pq.ParquetFile(src).metadata
    col = meta.row_group(5).column(meta.schema.names.index("last_name"))
    data = bytearray(src.read_bytes())
    start = col.data_page_offset + 40  # inside the compressed page, past its header
    data[start : start + 16] = b"\xff" * 16
    src.write_bytes(bytes(data))
    with pytest.raises(InputError, match="not a valid Parquet file"):
        _sanitize(tmp_path, src, out)
    assert not out.exists()
    assert not list(tmp_path.glob(".veil-spool-*"))
    assert _events(tmp_path) == 0
