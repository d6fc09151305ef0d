"""``per_unique`` with a batch op (random tokens): whether a column's batches are given
deduplicated or as they are (nearly all distinct ones are, after the first), every row
gets what the op gives its value, nulls stay null, and a value given twice is answered
alike."""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from veil.engines import kernels


class _Upper:
    """A batch op whose answer for a value is known independently: its upper case."""

    def __init__(self) -> None:
        self.given: list[int] = []

    def batch(self, values: list[str]) -> list[str]:
        assert None not in values
        self.given.append(len(values))
        return [v.upper() for v in values]

    def __call__(self, value: Any, subject: str | None) -> str:
        return str(value).upper()


column = st.lists(st.one_of(st.none(), st.text("abcé", max_size=3)), max_size=50)


@settings(max_examples=30, deadline=None)
@given(
    batches=st.lists(
        st.one_of(
            column,  # few rows, repeats: deduplicated
            st.integers(1100, 1500).map(lambda n: [f"v{i}" for i in range(n)]),  # distinct
            st.integers(1100, 1500).map(lambda n: [f"r{i % 7}" for i in range(n)]),  # repeats
            st.integers(1100, 1500).map(lambda n: [None if i % 5 else f"n{i}" for i in range(n)]),
        ),
        max_size=12,
    )
)
def test_every_row_gets_its_values_answer(batches: list[list[str | None]]) -> None:
    op = _Upper()
    fn = kernels.per_unique(op, pa.string())  # type: ignore[arg-type]
    for values in batches:
        arr = pa.array(values, pa.string())
        out, withheld = fn(arr, pa.array(["s"] * len(values)))
        assert out.to_pylist() == [None if v is None else v.upper() for v in values]
        assert not withheld.any()


def test_distinct_batches_skip_the_dedupe_and_are_measured_again() -> None:
    """After a nearly-all-distinct batch, the next ones go as they are (the op sees every
    row); every 8th is deduplicated again, so a column that turns repetitive is seen."""
    op = _Upper()
    fn = kernels.per_unique(op, pa.string())  # type: ignore[arg-type]
    distinct = pa.array([f"v{i}" for i in range(2000)] + [None] * 10 + ["v1"] * 10)
    for _ in range(10):
        fn(distinct, distinct)
    # measured (2000 distinct), then 8 given as they are (2010 non-null), measured again
    assert op.given == [2000] + [2010] * 8 + [2000]


@given(
    codes=st.lists(st.integers(0, 300), max_size=200)
    | st.lists(st.integers(0, 2**40), max_size=50),
    values=st.lists(st.integers(0, 400), max_size=10),
)
def test_dense_unique_and_member_are_numpys(codes: list[int], values: list[int]) -> None:
    """The table forms for small codes (rule masks, dictionary codes) against numpy's
    sorting ones, and large codes going to those."""
    import numpy as np

    array = np.array(codes, dtype=np.int64)
    uniq, inverse = kernels.unique_inverse(array)
    want_uniq, want_inverse = np.unique(array, return_inverse=True)
    assert uniq.tolist() == want_uniq.tolist()
    assert inverse.tolist() == want_inverse.reshape(-1).tolist()
    assert kernels.member(array, values).tolist() == np.isin(array, values).tolist()


@settings(max_examples=15, deadline=None)
@given(
    batches=st.lists(
        st.tuples(st.lists(st.integers(0, 3000), min_size=1, max_size=300), st.integers(0, 5)),
        min_size=1,
        max_size=4,
    )
)
def test_random_tokens_over_arrow_buffers_are_the_ops_codes(
    batches: list[tuple[list[int], int]],
) -> None:
    """A column of random tokens given as Arrow holds it (sliced arrays, distinct and
    repeated values, so both the buffer path and the deduplicated path run): each row
    gets the code the op gives its value, read back by a new op from the vault."""
    import tempfile
    from pathlib import Path

    import pytest

    from veil.keys import Keyring
    from veil.ledger.vault import SQLiteVault
    from veil.transforms import get
    from veil.transforms.base import BindContext, FieldType
    from veil.transforms.crypto import RandomTokens

    spec = get("tokenize")
    params = spec.parse_params({"key": "research-tokens", "prefix": "pt_", "mode": "random"})
    with tempfile.TemporaryDirectory() as d, pytest.MonkeyPatch.context() as mp:
        mp.setattr(RandomTokens, "CACHED", 4)
        mp.setattr(kernels, "_DISTINCT_ROWS", 2)
        vault = SQLiteVault(Path(d) / "v.db")
        ctx = BindContext(
            "patients", "patient_id", FieldType.STRING, "s", Keyring.demo(), vault=vault
        )
        fn = kernels.per_unique(spec.bind(params, ctx), pa.string())
        rows: list[tuple[str, str]] = []
        for ids, start in batches:
            values = [f"MRN-{i}" for i in ids]
            arr = pa.array(["x"] * start + values).slice(start)
            out, withheld = fn(arr, arr)
            assert not withheld.any()
            rows.extend(zip(values, out.to_pylist(), strict=True))
        again = spec.bind(params, ctx).batch([v for v, _ in rows])
        assert again == [c for _, c in rows]
        assert len({c for _, c in rows}) == len({v for v, _ in rows})
