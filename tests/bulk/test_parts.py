"""A large bulk job is logged as one event per part: the parts add up to the whole."""

from __future__ import annotations

import pyarrow as pa
from bulk_cases import CASES, KEYS, bundle, schema_of

from veil.bulk import BulkJob, part_event_id
from veil.core import Veil
from veil.policy.testing import MemoryLedger
from veil.samples import synth


def test_parts_add_up_to_one_event() -> None:
    case = next(c for c in CASES if c.purpose == "HRESCH")  # filters, predicates, date_shift
    b = bundle(case.bundle)
    table = pa.Table.from_pylist(
        list(synth.patients(300, seed=4)), schema=schema_of(b.datasets["patients"])
    )
    ledger = MemoryLedger()
    # one vault for both, so random tokens agree
    whole = BulkJob(Veil(b, MemoryLedger(), KEYS, vault=ledger.vault), case.request())
    parts = BulkJob(Veil(b, ledger, KEYS), case.request(), part_rows=100)
    out_whole, out_parts = [], []
    for batch in table.to_batches(max_chunksize=50):
        out_whole.append(whole.apply(batch))
        out_parts.append(parts.apply(batch))
    assert pa.Table.from_batches(out_whole).equals(pa.Table.from_batches(out_parts))
    one = whole.event()
    parts.commit()
    events = [s.event for s in ledger.stored]
    assert [e.event_id for e in events] == [part_event_id(parts.job_id, k) for k in range(3)]
    assert [e.records.read for e in events] == [100, 100, 100]
    assert sum(e.records.returned for e in events) == one.records.returned
    assert sorted(s for e in events for s in e.data_subjects) == one.data_subjects
    for path, f in one.fields.items():
        for label, n in f.outcomes.items():
            assert (
                sum(e.fields[path].outcomes.get(label, 0) for e in events if path in e.fields) == n
            )
    # The totals of either job are the whole: the one tally of one, the parts merged.
    for job in (whole, parts):
        total = job.totals()
        assert (total.read, total.returned) == (300, one.records.returned)
        assert total.subjects.sorted() == one.data_subjects
        assert total.outcome_counts() == {p: dict(f.outcomes) for p, f in one.fields.items()}


def test_sanitize_file_merges_its_parts_only_when_asked(tmp_path, monkeypatch) -> None:
    """A job of several parts returns its tallies as they are: merging them (the
    subject ids of every part deduplicated as one) is done when ``tally`` is read, and
    ``veil sanitize`` never reads it (5M rows: 0.8 GiB of peak memory)."""
    import pyarrow.parquet as pq

    from veil.bulk import sanitize_file
    from veil.engines.columnar import Tally

    case = next(c for c in CASES if c.purpose == "HRESCH")
    b = bundle(case.bundle)
    table = pa.Table.from_pylist(
        list(synth.patients(300, seed=4)), schema=schema_of(b.datasets["patients"])
    )
    pq.write_table(table, tmp_path / "in.parquet")
    monkeypatch.setattr(BulkJob.__init__, "__kwdefaults__", {
        **BulkJob.__init__.__kwdefaults__, "part_rows": 100})  # fmt: skip
    merges: list[int] = []
    merge = Tally.merge
    monkeypatch.setattr(Tally, "merge", lambda self, other: merges.append(1) or merge(self, other))
    ledger = MemoryLedger()
    res = sanitize_file(
        Veil(b, ledger, KEYS), case.request(), str(tmp_path / "in.parquet"), "parquet",
        str(tmp_path / "out.parquet"), "parquet", batch_rows=50,
    )  # fmt: skip
    assert len(res.events) == 3 and len(res.tallies) == 3
    assert merges == []
    total = res.tally
    assert merges and total.read == 300
    events = [s.event for s in ledger.stored]
    assert total.subjects.sorted() == sorted({s for e in events for s in e.data_subjects})
