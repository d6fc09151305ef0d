"""The record engine's straight-line functions (one per key order, generated) against its
walk of the record: for records with fields dropped, reordered, nulled, of the wrong type
or not declared, both give the same output, the same counters and the same errors."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from veil.engines.record import Executor, RecordError
from veil.keys import Keyring
from veil.policy.plan import build_plan
from veil.policy.validate import load_bundle
from veil.request import Request
from veil.samples.synth import patients

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = load_bundle(str(ROOT / "policies" / "health"))
REQUESTS = {
    "clinician": Request(
        subject_id="dr.alvarez",
        subject={"role": "clinician", "org": "org-north"},
        purpose="TREAT",
        dataset="patients",
    ),
    "billing": Request(
        subject_id="b.clerk",
        subject={"role": "billing_clerk", "org": "payer-co"},
        purpose="HPAYMT",
        dataset="patients",
    ),
}
POOL = [dict(r, organization_id="org-north") for r in patients(20, seed=5)]
ODD = [None, 0, -1, 2.5, math.inf, True, "", "x" * 3, "2024-02-30", "1999-12-31", [], {}]


@st.composite
def records(draw: st.DrawFn) -> dict[str, Any]:
    rec = dict(draw(st.sampled_from(POOL)))
    keys = list(rec)
    if draw(st.booleans()):  # most records come as the bench sends them
        for k in draw(st.lists(st.sampled_from(keys), max_size=3, unique=True)):
            rec[k] = draw(st.sampled_from(ODD))
        for k in draw(st.lists(st.sampled_from(keys), max_size=2, unique=True)):
            del rec[k]
        if draw(st.booleans()):
            rec[draw(st.sampled_from(["extra", "note2", "patient_id"]))] = "v"
        if draw(st.booleans()):
            items = list(rec.items())
            rec = dict(draw(st.permutations(items)))
    return rec


def _run(apply: Any) -> Any:
    try:
        return apply()
    except (RecordError, TypeError, ValueError) as exc:
        return (type(exc).__name__, str(exc))


@pytest.mark.parametrize("who", sorted(REQUESTS))
@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(batch=st.lists(records(), min_size=1, max_size=6))
def test_straight_lines_match_the_walk(who: str, batch: list[dict[str, Any]]) -> None:
    plan = build_plan(BUNDLE, REQUESTS[who])
    lined = Executor(plan, Keyring.demo())
    walked = Executor(plan, Keyring.demo(), lined.bound)
    for rec in batch:
        subject = lined.data_subject_of(rec)
        mask = lined.mask_of(rec)
        a = _run(lambda rec=rec, s=subject, m=mask: lined.apply(rec, s, m))  # type: ignore[misc]
        t = walked.table(mask)
        t.records += 1
        b = _run(lambda rec=rec, s=subject, t=t: walked._object(t, t.root, rec, s, ""))  # type: ignore[misc]
        assert a == b
    assert lined.tally() == walked.tally()
    assert lined.undeclared == walked.undeclared
    assert any(t.tree.lines for t in lined._tables.values())  # the lines were used
