"""``tokenize(mode=random)`` over batches larger than its cache, with values cached in
one batch and seen again in the next after the cache was cleared (that once raised a
KeyError): a value keeps its code, distinct values get distinct codes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from veil.core import Veil
from veil.keys import Keyring
from veil.ledger import open_ledger
from veil.policy.validate import load_bundle
from veil.request import Request
from veil.samples.synth import patients
from veil.transforms.crypto import RandomTokens

ROOT = Path(__file__).resolve().parents[2]


def _job(veil: Veil) -> Any:
    return veil.start(
        Request(
            subject_id="r.chen",
            subject={"role": "researcher", "org": "university"},
            purpose="HRESCH",
            dataset="patients",
            recipient="study-42",
        )
    )


def _codes(job: Any, records: list[dict[str, Any]]) -> dict[str, str]:
    """One batch of a job (a job keeps its op, and so its cache, across batches)."""
    out = job.apply_batch([(r, i) for i, r in enumerate(records, 1)])
    return {r["patient_id"]: c["patient_id"] for r, c in zip(records, out, strict=True)}


def test_codes_stay_stable_across_cache_clears(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(RandomTokens, "CACHE", 4)
    veil = Veil(
        load_bundle(str(ROOT / "policies" / "health")),
        open_ledger(f"sqlite:///{tmp_path / 'l.db'}"),
        Keyring.demo(),
    )
    pool = [dict(r, consent_research=True) for r in patients(12, seed=3)]
    job = _job(veil)
    first = _codes(job, pool[:3])  # cached
    second = _codes(job, pool[:10])  # 3 cached + 7 new: the cache overflows
    third = _codes(job, pool[2:12])  # cached ones again, after the cache was cleared
    job.commit()
    again = _codes(_job(veil), pool[:12])  # a new job: from the vault
    assert again == {**second, **third}
    for mapping in (first, second, third):
        assert len(set(mapping.values())) == len(mapping)  # distinct values, distinct codes
    for mrn, code in first.items():
        assert second[mrn] == code
    for mrn in set(second) & set(third):
        assert second[mrn] == third[mrn]
    assert all(c.startswith("pt_") and c not in first for c in third.values())


class _Counting:
    """A vault that counts what it is asked to store."""

    def __init__(self) -> None:
        from veil.ledger.vault import MemoryVault

        self.inner = MemoryVault()
        self.stored: list[str] = []

    def issue(self, namespace: str, items: Any, make: Any) -> list[str]:
        self.stored.extend(lk for lk, _ in items)
        return self.inner.issue(namespace, items, make)

    def issue_columns(self, namespace: str, lookups: Any, sealed: Any, make: Any) -> list[str]:
        return self.issue(namespace, list(zip(lookups, sealed, strict=True)), make)

    def known(self, namespace: str, lookups: Any) -> list[str | None]:
        return self.inner.known(namespace, lookups)

    def find(self, namespace: str, token: str) -> bytes | None:
        return self.inner.find(namespace, token)


def test_a_batch_run_again_is_looked_up_not_sealed_and_stored(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Past the probe size, a batch whose values the vault knows (found by a sample) is
    read from the vault: nothing new is sealed or stored, the codes are the first ones;
    values among them the vault does not know yet still get codes of their own."""
    from veil.transforms import get
    from veil.transforms.base import BindContext, FieldType

    monkeypatch.setattr(RandomTokens, "CACHE", 8)  # the cache cannot answer for them
    vault = _Counting()
    ctx = BindContext(
        "patients", "patient_id", FieldType.STRING, "study-42", Keyring.demo(), vault=vault
    )
    spec = get("tokenize")
    params = spec.parse_params({"key": "research-tokens", "prefix": "pt_", "mode": "random"})
    op = spec.bind(params, ctx)
    values = [f"MRN-{i}" for i in range(500)]
    first = op.batch(values)
    assert len(vault.stored) == 500
    again = spec.bind(params, ctx).batch([*values, "MRN-new"])
    assert again[:500] == first and again[500] not in first
    assert len(vault.stored) == 501  # only the new value was sealed and stored


def _bound(vault: Any) -> Any:
    from veil.transforms import get
    from veil.transforms.base import BindContext, FieldType

    ctx = BindContext(
        "patients", "patient_id", FieldType.STRING, "study-42", Keyring.demo(), vault=vault
    )
    spec = get("tokenize")
    return spec.bind(
        spec.parse_params({"key": "research-tokens", "prefix": "pt_", "mode": "random"}), ctx
    )


@settings(max_examples=40, deadline=None)
@given(
    batches=st.lists(
        st.lists(st.integers(0, 300), min_size=0, max_size=200), min_size=1, max_size=5
    ),
    cache=st.sampled_from([4, 64, 65_536]),
    cached=st.sampled_from([0, 50, 4096]),  # batches above this skip the cache
)
def test_any_sequence_of_batches_keeps_one_code_per_value(
    batches: list[list[int]], cache: int, cached: int
) -> None:
    """Batches below and above the probe size, with repeats, a cache that holds all, some
    or few of them, values cached, known to the vault or new in any mix: a value keeps
    one code, distinct values get distinct codes, and a new op (an empty cache) reads the
    same codes back from the vault."""
    vault = _Counting()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(RandomTokens, "CACHE", cache)
        mp.setattr(RandomTokens, "CACHED", cached)
        op = _bound(vault)
        seen: dict[str, str] = {}
        for batch in batches:
            values = [f"MRN-{i}" for i in batch]
            for value, code in zip(values, op.batch(values), strict=True):
                assert seen.setdefault(value, code) == code
        assert len(set(seen.values())) == len(seen)
        # (a small batch after the cache was cleared asks the vault to issue again; the
        # vault answers with the code it has: first writer wins)
        assert len(set(vault.stored)) == len(seen)
        if seen:
            values = list(seen)
            asked = len(vault.stored)
            assert _bound(vault).batch(values) == [seen[v] for v in values]
            if len(values) > RandomTokens.PROBE:  # looked up, not issued again
                assert len(vault.stored) == asked


@given(
    values=st.lists(
        st.text(max_size=4)
        | st.integers(-5, 5)
        | st.floats(allow_nan=False)
        | st.booleans()
        | st.builds(lambda s: type("Sub", (str,), {})(s), st.text(max_size=3))
        | st.none(),
        max_size=8,
    )
)
def test_the_bytes_of_a_batch_are_each_values(values: list[Any]) -> None:
    """A list of ``str`` is hashed as it is (the batch hashes a ``str`` as its UTF-8);
    anything else value by value, and a value that is no scalar (or a ``str`` subclass)
    fails the batch as it fails alone."""
    from veil.transforms.base import CannotApply
    from veil.transforms.crypto import _canonical, _value_bytes

    try:
        expected: Any = [_value_bytes(v) for v in values]
    except CannotApply:
        expected = CannotApply
    try:
        got: Any = _canonical(values)
        got = [v.encode() if type(v) is str else v for v in got]
    except CannotApply:
        got = CannotApply
    assert got == expected


def test_a_batch_skips_nulls_and_falls_back_when_it_cannot_apply() -> None:
    from veil.engines.kernels import _batched
    from veil.transforms.base import CannotApply

    class Upper:
        def batch(self, values: list[str]) -> list[str]:
            assert None not in values
            return [v.upper() for v in values]

    class Refuses:
        def batch(self, values: list[str]) -> list[str]:
            raise CannotApply("no")

    assert _batched(Upper(), ["a", None, "b", None]) == ["A", None, "B", None]
    assert _batched(Upper(), ["a", "b"]) == ["A", "B"]
    assert _batched(Upper(), []) == []
    assert _batched(Refuses(), ["a", None]) is None


def test_a_seal_openssl_refuses_withholds_and_names_no_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Where the batch seal fails (OpenSSL refuses), the batch cannot apply: nothing is
    stored, and the error names no value (canary)."""
    from veil.transforms import cryptobatch
    from veil.transforms.base import CannotApply

    def refuse(*_: Any) -> list[bytes]:
        raise RuntimeError("AES-GCM failed in OpenSSL")

    monkeypatch.setattr(cryptobatch, "seal_aes_gcm", refuse)
    vault = _Counting()
    with pytest.raises(CannotApply) as info:
        _bound(vault).batch(["CANARY-4412", "MRN-2"])
    assert "CANARY-4412" not in str(info.value)
    assert vault.stored == []


@settings(max_examples=30, deadline=None)
@given(
    batches=st.lists(
        st.tuples(st.lists(st.integers(0, 400), min_size=0, max_size=150), st.booleans()),
        min_size=1,
        max_size=5,
    )
)
def test_the_array_form_keeps_one_code_per_value(batches: list[tuple[list[int], bool]]) -> None:
    """A bulk job's array form (``codes``, on an SQLite vault) and the list form, batches
    with repeats, new, partly known or all known, in any order: a value keeps one code,
    distinct values get distinct codes, and a new op reads the same codes back."""
    import tempfile

    from veil.ledger.packs import token_texts
    from veil.ledger.vault import SQLiteVault

    with tempfile.TemporaryDirectory() as d, pytest.MonkeyPatch.context() as mp:
        mp.setattr(RandomTokens, "CACHED", 8)
        vault = SQLiteVault(Path(d) / "v.db")
        op = _bound(vault)
        seen: dict[str, str] = {}
        for batch, as_array in batches:
            values = [f"MRN-{i}" for i in batch]
            array = op.codes(values) if as_array else None
            assert array is None or len(values) > 8
            codes = op.batch(values) if array is None else token_texts(array)
            for value, code in zip(values, codes, strict=True):
                assert seen.setdefault(value, code) == code
        assert len(set(seen.values())) == len(seen)
        values = list(seen)
        assert _bound(vault).batch(values) == [seen[v] for v in values]


def test_a_joined_seal_openssl_refuses_withholds_and_names_no_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from veil.ledger.vault import SQLiteVault
    from veil.transforms import cryptobatch
    from veil.transforms.base import CannotApply

    def refuse(*_: Any) -> tuple[bytes, bytes]:
        raise RuntimeError("AES-GCM failed in OpenSSL")

    monkeypatch.setattr(cryptobatch, "seal_aes_gcm_joined", refuse)
    monkeypatch.setattr(RandomTokens, "CACHED", 1)
    vault = SQLiteVault(tmp_path / "v.db")
    with pytest.raises(CannotApply) as info:
        _bound(vault).codes(["CANARY-4412", "MRN-2"])
    assert "CANARY-4412" not in str(info.value)
    assert vault.known("ns", ["x"]) == [None]


@given(st.lists(st.text(min_size=0, max_size=6).filter(lambda t: "\0" not in t), max_size=30))
def test_codes_reach_arrow_as_they_are(texts: list[str]) -> None:
    """``strings_of`` gives the Arrow string array of the items, the zero-copy way when
    all fill the width, item by item otherwise (UTF-8 of any code point)."""
    import numpy as np

    from veil.engines.kernels import strings_of

    array = np.array([t.encode() for t in texts], dtype=np.bytes_) if texts else np.zeros(0, "S1")
    assert strings_of(array).to_pylist() == texts
