"""The record engine's straight-line functions (one per key order, generated) against its
walk of the record: for records with fields dropped, reordered, nulled, of the wrong type
or not declared, both give the same output, the same counters and the same errors."""

from __future__ import annotations

import math
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import veil.engines.record as record_engine
from veil.engines.record import CHECKS, LEAF, Executor, Node, RecordError, straight_line
from veil.keys import Keyring
from veil.policy.plan import build_plan
from veil.policy.validate import load_bundle
from veil.request import Request
from veil.samples.synth import patients
from veil.transforms.base import FieldType

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


TEXTS = st.text(alphabet="0123456789-:T .+Zabc", max_size=32)
ANY_VALUE = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | TEXTS
    | st.dates().map(str)
    | st.datetimes().map(lambda d: d.isoformat())
    | st.just([])
)


@pytest.mark.parametrize("ftype", [FieldType.DATE, FieldType.DATETIME, FieldType.NUMBER])
@settings(max_examples=400, deadline=None)
@given(value=ANY_VALUE)
@example(value="20240101")  # ISO basic format: fromisoformat takes it, a date field not
@example(value="2024-W01-1")
@example(value="2024-01-01T00:00")
@example(value=math.nan)
def test_a_straight_line_takes_exactly_the_values_its_field_type_accepts(
    ftype: FieldType, value: Any
) -> None:
    """The generated lines write the date, date-time and number checks out instead of
    calling them; a value is taken exactly when the check of its type would accept it
    (a null or a refused value goes to the walk)."""
    node = Node("f", LEAF, True, CHECKS[ftype])
    node.counter = 0
    made = straight_line({"f": node}, ("f",), slot=1)
    assert made is not None and made[1] == (0,)
    line, hits = made[0], [0, 0]
    out = line({"f": value}, None, hits)
    assert (out is not None) is (value is not None and CHECKS[ftype](value))
    assert hits == [0, 0 if out is None else 1]
    if out is not None:
        assert out == {"f": value}


def _walked_tally(plan: Any, bound: Any, batch: list[dict[str, Any]]) -> Any:
    walked = Executor(plan, Keyring.demo(), bound)
    outs = []
    for rec in batch:
        mask = walked.mask_of(rec)
        t = walked.table(mask)
        t.records += 1
        outs.append(walked._object(t, t.root, rec, walked.data_subject_of(rec), ""))
    return outs, walked.tally()


def test_key_orders_beyond_the_bound_are_walked_and_not_remembered() -> None:
    """A client sending keys in ever new orders gets the walk's answers, and the tree
    keeps at most _KEY_ORDERS orders and _LINES functions."""
    plan = build_plan(BUNDLE, REQUESTS["clinician"])
    lined = Executor(plan, Keyring.demo())
    rec = POOL[0]
    keys = list(rec)
    batch = []
    for i in range(400):  # 400 distinct orders: rotate, then swap a pair
        order = keys[i % len(keys) :] + keys[: i % len(keys)]
        j = i // len(keys)
        order[0], order[j] = order[j], order[0]
        batch.append({k: rec[k] for k in order})
    assert len({tuple(r) for r in batch}) == 400
    outs = [lined.apply(r, lined.data_subject_of(r), lined.mask_of(r)) for r in batch]
    assert (outs, lined.tally()) == _walked_tally(plan, lined.bound, batch)
    tree = lined.table(0).tree
    assert len(tree.lines) <= record_engine._KEY_ORDERS
    assert len(tree.slots) == record_engine._LINES


def test_jobs_on_threads_share_a_trees_lines_and_count_their_own() -> None:
    """Jobs of one plan on several threads make the tree's lines concurrently (each
    slot numbered once) and each counts only its own records."""
    plan = build_plan(BUNDLE, REQUESTS["clinician"])
    bound = Executor(plan, Keyring.demo()).bound
    rec = POOL[1]
    keys = list(rec)

    def batch_of(n: int) -> list[dict[str, Any]]:
        order = keys[n:] + keys[:n]
        return [{k: r[k] for k in order} for r in POOL[: 5 + n]]

    results: dict[int, Any] = {}
    barrier = threading.Barrier(8)

    def run(n: int) -> None:
        ex = Executor(plan, Keyring.demo(), bound)
        batch = batch_of(n)
        barrier.wait()
        outs = [ex.apply(r, ex.data_subject_of(r), ex.mask_of(r)) for r in batch]
        results[n] = (outs, ex.tally())

    threads = [threading.Thread(target=run, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for n in range(8):
        assert results[n] == _walked_tally(plan, bound, batch_of(n))
    tree = bound.tree(0)
    assert sorted(map(len, tree.slots)) == [len(keys)] * 8
