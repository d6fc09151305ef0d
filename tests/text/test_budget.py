"""Free-text analysis within a time budget: a value whose analysis did not finish, for any
reason (its time, the request's time, a worker that died, a thread that may not
analyze), is withheld, and the ledger counts it as withheld."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from veil.core import Veil
from veil.keys import Keyring
from veil.policy.testing import MemoryLedger
from veil.policy.validate import load_bundle
from veil.request import Request
from veil.text import budget
from veil.text.budget import UNFINISHED, AnalysisIncomplete, Budget
from veil.text.engine import EngineConfig, Query, analyzer_for
from veil.text.pool import TextPool

ROOT = Path(__file__).resolve().parents[2]
SUPPORT = Request(
    subject_id="sa-1",
    subject={"role": "support_agent", "org": "bank-b"},
    purpose="SUPPORT",
    dataset="transactions",
)
MEMO = "Refund to card 4111 1111 1111 1111, call 555-631-0387 or mail jo@example.org"
#: the phone recognizer runs before the SSN one
QUERY = Query(("CREDIT_CARD", "EMAIL_ADDRESS", "PHONE_NUMBER", "US_SSN"), 0.4)
#: number-like runs: over half a second of the pattern recognizers on this machine (0.2 s
#: for 30,000 pairs since the phone matcher got faster: too close to the 0.2 s budgets
#: below); three of them stay under spaCy's 1,000,000-character limit
SLOW = "1 " * 150_000


@pytest.fixture(scope="module")
def finance() -> Veil:
    return Veil(load_bundle(str(ROOT / "policies" / "finance")), MemoryLedger(), Keyring.demo())


def _txn(memo: str) -> dict[str, Any]:
    return {"txn_id": "T1", "account_id": "ACC-00000001", "customer_id": "C1", "memo": memo}


def test_a_value_out_of_time_is_withheld_and_counted(finance: Veil) -> None:
    job = finance.start(SUPPORT)
    with budget.scope(Budget(value_seconds=1e-6)):
        out = job.apply_batch([(_txn(MEMO), 1)])
    assert out[0] is not None and "memo" not in out[0]
    assert job.event().fields["memo"].outcomes == {"withheld": 1}


def test_once_the_request_time_is_spent_the_rest_is_not_analyzed(finance: Veil) -> None:
    b = Budget(value_seconds=5, request_seconds=0.2)
    job = finance.start(SUPPORT)
    records = [(_txn(SLOW + str(i)), i) for i in range(3)] + [(_txn(MEMO), 9)]
    start = time.monotonic()
    with budget.scope(b):
        out = job.apply_batch(records)
    assert time.monotonic() - start < 4  # not three slow values, nor a fourth at all
    assert all(r is not None and "memo" not in r for r in out[1:])
    assert b.remaining() <= 0


def test_a_thread_that_may_not_analyze_withholds_what_it_was_not_given(finance: Veil) -> None:
    job = finance.start(SUPPORT)
    with budget.scope(Budget(local=False)):
        with pytest.raises(AnalysisIncomplete):
            analyzer_for(EngineConfig())
        out = job.apply_batch([(_txn(MEMO), 1)])
    assert out[0] is not None and "memo" not in out[0]


def test_batches_mark_unfinished_texts_only() -> None:
    a = analyzer_for(EngineConfig())
    with budget.scope(Budget(value_seconds=0.2)):
        found = a.analyze_batch([MEMO, SLOW, MEMO + " again"], QUERY)
    assert found[0] is not UNFINISHED and found[0]
    assert found[1] is UNFINISHED
    assert found[2] is not UNFINISHED and found[2]


def test_the_pool_returns_unfinished_at_the_deadline_and_when_a_worker_dies() -> None:
    pool = TextPool(1)
    try:
        config = EngineConfig()
        ok = asyncio.run(pool.analyze_async(config, QUERY, [MEMO]))
        assert ok[0] is not UNFINISHED and ok[0]

        async def within(seconds: float) -> tuple[list[Any], float]:
            with budget.scope(Budget(value_seconds=60, request_seconds=seconds, local=False)):
                start = time.monotonic()
                found = await pool.analyze_async(config, QUERY, [SLOW * 3, MEMO])
                return found, time.monotonic() - start

        found, took = asyncio.run(within(0.2))
        assert all(f is UNFINISHED for f in found) and took < 1.5

        async def killed() -> list[Any]:
            task = asyncio.ensure_future(pool.analyze_async(config, QUERY, [SLOW * 3, MEMO]))
            await asyncio.sleep(0.3)
            for pid in pool.pids():
                os.kill(pid, signal.SIGKILL)  # the worker this test's pool started
            return await asyncio.wait_for(task, 30)

        assert all(f is UNFINISHED for f in asyncio.run(killed()))
        after = asyncio.run(pool.analyze_async(config, QUERY, [MEMO + " later"]))
        assert after[0] is not UNFINISHED and after[0]  # a new worker took over
    finally:
        pool.close()
