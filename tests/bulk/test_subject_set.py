"""The distinct data-subject ids of a job (the ledger's accounting of disclosures lists
each one): whatever the batches, repeats and compactions, the set is the Python set of
every id given, sorted as ``sorted()`` sorts str."""

from __future__ import annotations

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from veil.engines import columnar
from veil.engines.columnar import SubjectSet

ids = st.text(st.characters(blacklist_categories=("Cs",)), max_size=6)


@pytest.mark.parametrize("compact_every", [1, 5, 4_000_000])
@given(batches=st.lists(st.lists(ids, max_size=12), max_size=8), split=st.integers(0, 8))
def test_the_set_is_every_id_given_once_sorted(
    compact_every: int, batches: list[list[str]], split: int
) -> None:
    saved = columnar._COMPACT_EVERY
    columnar._COMPACT_EVERY = compact_every  # compact often, or once at the end
    try:
        one, other = SubjectSet(), SubjectSet()
        for i, batch in enumerate(batches):
            (one if i < split else other).update(pa.array(batch, pa.string()))
        one.merge(other)  # Spark partitions and parts are merged this way
        expected = sorted({s for b in batches for s in b})
        assert len(one) == len(expected)
        assert one.sorted() == expected
    finally:
        columnar._COMPACT_EVERY = saved
