"""``tokenize(mode=random)`` over batches larger than its cache, with values cached in
one batch and seen again in the next after the cache was cleared (that once raised a
KeyError): a value keeps its code, distinct values get distinct codes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

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
