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
