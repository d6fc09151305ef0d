"""Free text of a request, analyzed off the event loop and within a time budget.

The routes run the field engine on the event loop: it is cheap and bounded by the
request limits. Analyzing free text (``scan_text``) is neither: its cost depends on
what the text says, and it used to run on the loop, so one crafted note froze every
request and ``/healthz``. Here, a batch whose plan scans free text is handled so the
loop never analyzes:

    text.workers   texts are analyzed in            the event loop
    ------------   ------------------------------   -----------------------------------
    >= 1           the text worker pool (separate   awaits the workers (no thread),
                   processes), before the batch     then applies the batch with the
                   is applied                       analyses in hand; any text it would
                                                    still have to analyze is withheld
    0              a thread of this process, as     awaits the thread (which shares the
                   the batch is applied             interpreter lock with the loop)

Either way a request's texts get a :class:`~veil.text.budget.Budget` (``value_seconds``
each, ``request_seconds`` in all), and a value whose analysis did not finish is
withheld, never released. A batch without free text is applied on the loop as before:
no thread hop, no budget.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from starlette.concurrency import run_in_threadpool

from ..core import Job
from ..engines.record import strings_at
from ..policy.bundle import Bundle
from ..text import budget
from ..text.budget import Budget
from ..text.engine import EngineConfig
from ..transforms.text import ScanTextParams, engine_config
from .settings import TextSettings

Batch = Sequence[tuple[Any, int | None]]


def has_text(job: Job) -> bool:
    """True if applying ``job``'s plan analyzes free text."""
    return bool(job.executor.bound.text_ops)


def text_configs(bundle: Bundle) -> list[EngineConfig]:
    """The analyzer configurations the bundle's ``scan_text`` rules use."""
    out: dict[str, EngineConfig] = {}
    for rule in bundle.rules:
        o = rule.outcome
        if o is not None and o.transform == "scan_text" and isinstance(o.params, ScanTextParams):
            config = engine_config(o.params)
            out.setdefault(config.key, config)
    return list(out.values())


class TextWork:
    """Where a service's requests have their free text analyzed (see the module table)."""

    def __init__(self, settings: TextSettings) -> None:
        self.settings = settings
        #: the pool :meth:`start` started, for :meth:`starting`
        self._started: Any = None

    def _pool(self, configs: Sequence[EngineConfig] = ()) -> Any:
        from ..text.pool import shared_pool

        return shared_pool(self.settings.workers, configs)

    def start(self, bundle: Bundle) -> None:
        """Start the worker processes now if the bundle scans free text (they take
        seconds to import Presidio and build analyzers), without waiting for them."""
        if self.settings.workers > 0:
            configs = text_configs(bundle)
            if configs:
                pool = self._pool(configs)
                pool._executor()
                self._started = pool

    def starting(self) -> bool:
        """True while the workers :meth:`start` started are still loading: ``/readyz``
        says not ready, since a request with free text would wait seconds for them (and
        on a small machine their start-up takes the cores the requests need)."""
        return self._started is not None and bool(self._started.starting())

    def close(self) -> None:
        """Stop this process's text workers (the service is shutting down)."""
        if self.settings.workers > 0:
            from ..text.pool import shutdown

            shutdown()

    def budget(self) -> Budget:
        """A fresh budget for one request."""
        s = self.settings
        return Budget(s.value_seconds, s.request_seconds, local=s.workers == 0)

    async def apply(self, job: Job, batch: Batch, b: Budget) -> list[dict[str, Any] | None]:
        """``job.apply_batch(batch)`` with the batch's free text analyzed off the loop."""
        if not b.local:
            await self.prefetch(job, [r for r, _ in batch], b)
            with budget.scope(b):  # not local: a text not prefetched is withheld
                return job.apply_batch(batch)
        return await run_in_threadpool(apply_within, job, batch, b)

    async def prefetch(self, job: Job, records: list[Any], b: Budget) -> None:
        """Analyze, in the worker pool, every text of ``records`` that ``job``'s
        ``scan_text`` ops will read, and hand the spans to the job."""
        ex = job.executor
        done = ex.text.prefetched
        work: list[tuple[Any, list[str]]] = []
        for path, ops in ex.bound.text_ops.items():
            texts = list(dict.fromkeys(strings_at(records, path)))
            for op in {o.analysis_key: o for o in ops}.values():
                todo = [t for t in texts if (op.analysis_key, t) not in done]
                if todo:
                    work.append((op, todo))
        if not work:
            return
        pool = self._pool([op.config for op, _ in work])
        with budget.scope(b):
            found = await asyncio.gather(
                *(pool.analyze_async(op.config, op.query, todo) for op, todo in work)
            )
        for (op, todo), spans in zip(work, found, strict=True):
            for text, s in zip(todo, spans, strict=True):
                done[(op.analysis_key, text)] = s


def apply_within(job: Job, batch: Batch, b: Budget) -> list[dict[str, Any] | None]:
    """``job.apply_batch(batch)`` with ``b`` in force (run in a thread)."""
    with budget.scope(b):
        return job.apply_batch(batch)
