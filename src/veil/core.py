"""The façade every interface uses: plan, explain, sanitize, with the ledger in the loop.

Contract of :class:`Job` (one sanitize call): records go in through :meth:`Job.apply`;
nothing is disclosed until :meth:`Job.commit` has made the ledger event durable. Callers
that stream must hold output back (spool it) until ``commit`` returns; if ``commit``
raises, the output must be discarded. :meth:`Veil.sanitize` does this for in-memory use.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any, Protocol

from .engines.record import Bound, Executor, RecordError
from .errors import AccessDenied, InputError, LedgerError, VeilError, ledger_failure
from .keys import Keyring
from .ledger.base import StoredEvent
from .ledger.events import (
    Event,
    FieldDisclosure,
    Requester,
    current_request_id,
    new_event_id,
    now_iso,
    stamp_parts,
)
from .ledger.vault import vault_for
from .policy.bundle import Bundle
from .policy.conditions import ConditionSyntaxError
from .policy.explain import Explanation, explain
from .policy.plan import Plan, PlanCache, build_plan
from .provenance import event_extras, treatment, undeclared_summary
from .request import Request
from .transforms.base import TokenVault

log = logging.getLogger("veil")

#: records per batch in :meth:`Veil.sanitize` (free text is analyzed a batch at a time)
BATCH = 1024
#: records per part of a pipelined :meth:`Job.apply_batch` (text analyzed in a pool)
PIPELINE = 128
#: distinct job tallies whose event field entries are kept per plan; cleared when full
TALLY_MEMO = 1024
#: ledger-event templates kept per bound plan (Job.event): each holds a whole event, and
#: only outcomes that repeat (one-record requests) pay back, so fewer than TALLY_MEMO
EVENT_TEMPLATES = 64


class Appender(Protocol):
    """What a disclosure needs of a ledger: a durable, chained append."""

    def append(self, event: Event) -> StoredEvent: ...


@dataclass(frozen=True)
class Result:
    records: list[dict[str, Any]]
    event: StoredEvent


class Job:
    """Applies one plan to a stream of records and records one ledger event at the end."""

    def __init__(self, veil: Veil, plan: Plan) -> None:
        self.veil = veil
        self.plan = plan
        self.executor = Executor(plan, veil.keys, veil.bound(plan))
        self.read = 0
        self.returned = 0
        self.filtered = 0
        self.subjects: set[str] = set()
        self.excluded_by: dict[str, int] = {}
        self.committed: StoredEvent | None = None
        #: worker processes that analyze free text in :meth:`apply_batch` (0: this
        #: process does)
        self.workers = veil.text_workers

    def apply(self, record: Any, line: int | None = None) -> dict[str, Any] | None:
        """Sanitize one record; None if a row rule filtered it out."""
        if self.committed is not None:
            raise VeilError("this job is already committed; start a new one")
        if type(record) is not dict:
            raise InputError(
                f"a record must be a JSON object, got {type(record).__name__}", line=line
            )
        ex = self.executor
        subject = ex.data_subject_of(record)
        if subject is None:
            path = ".".join(self.plan.dataset.data_subject)
            raise InputError(
                f"record has no data-subject id at '{path}'",
                line=line,
                hint="every record must say whose data it is (a string or integer)",
            )
        self.read += 1
        try:
            mask = ex.mask_of(record)
        except (TypeError, ValueError, ConditionSyntaxError):
            raise InputError(
                "a row-dependent rule could not evaluate this record",
                line=line,
                hint="check the types of the fields rules read",
            ) from None
        rule = ex.excluded_by(record, mask)
        if rule is not None:
            self.filtered += 1
            self.excluded_by[rule] = self.excluded_by.get(rule, 0) + 1
            return None
        try:
            out = ex.apply(record, subject, mask)
        except RecordError as exc:
            raise InputError(
                str(exc),
                line=line,
                hint=f"see the declared fields of dataset '{self.plan.dataset.name}'",
            ) from None
        self.returned += 1
        self.subjects.add(subject)
        return out

    def apply_batch(self, records: Sequence[tuple[Any, int | None]]) -> list[dict[str, Any] | None]:
        """:meth:`apply` for each (record, line), with free text analyzed as one batch.

        The fast path for bulk callers: same output as applying one by one, several
        times faster when the plan scans free text (each distinct text analyzed once,
        spaCy over the batch, and with :attr:`workers` > 0 the analysis spread over
        this process's pool of worker processes). A few hundred records per call is
        enough; small batches stay in-process.
        """
        ex = self.executor
        if self.workers <= 0 or not ex.bound.text_ops:
            ex.prefetch([r for r, _ in records])
            try:
                return [self.apply(r, line=line) for r, line in records]
            finally:
                ex.clear_prefetch()
        from .text.pool import shared_pool

        configs = [op.config for ops in ex.bound.text_ops.values() for op in ops]
        pool = shared_pool(self.workers, configs)
        # Pipelined: every part goes to the workers at once, and this process applies
        # each part as soon as its texts are back, while the workers go on with the
        # next (instead of waiting for all, then leaving the workers idle).
        parts = [records[i : i + PIPELINE] for i in range(0, len(records), PIPELINE)]
        queued: set[Any] = set()
        started = [ex.prefetch_start([r for r, _ in part], pool, queued) for part in parts]
        out: list[dict[str, Any] | None] = []
        try:
            for part, analyses in zip(parts, started, strict=True):
                ex.prefetch_finish(analyses)
                out.extend(self.apply(r, line=line) for r, line in part)
        finally:
            for analyses in started:  # after an error: drop what nobody will read
                for a in analyses:
                    if a.running is not None:
                        a.running.cancel()
            ex.clear_prefetch()
        return out

    def event(self) -> Event:
        """The job's ledger event. Jobs of one plan that end alike (the same counters,
        record counts, undeclared fields and keys used) share a template validated once,
        which each stamps with its own id, time, request id and data subjects: validating
        the whole event again was a fifth of the ledger's CPU on a one-record request.
        """
        ex = self.executor
        tally = ex.tally()
        fields, plain = self._field_entries(tally)
        undeclared = undeclared_summary(ex.undeclared)
        fingerprints = ex.key_fingerprints
        key = (
            None
            if tally is None
            else (
                tally,
                self.read,
                self.returned,
                self.filtered,
                tuple(undeclared.items()),
                tuple(fingerprints.items()),
            )
        )
        memo = ex.bound.event_templates
        hit = memo.get(key) if key is not None else None  # one lookup: others may clear it
        if hit is None:
            req = self.plan.request
            bg = sorted(ex.break_glass_rules)
            body = {
                "event_id": "",
                "time": "",
                "kind": "disclosure",
                "requester": {"id": req.subject_id, "attributes": req.subject},
                "recipient": req.effective_recipient,
                "purpose": req.purpose,
                "action": req.action,
                "dataset": self.plan.dataset.name,
                "bundle": self.plan.bundle,
                "bundle_version": self.plan.bundle_version,
                "context": req.context,
                "fields": plain,
                "undeclared": undeclared,
                "records": {
                    "read": self.read,
                    "returned": self.returned,
                    "filtered": self.filtered,
                },
                "break_glass": {
                    "used": bool(bg),
                    "reason": req.reason if bg else None,
                    "rules": bg,
                },
                "key_fingerprints": fingerprints,
                "reason": "",
                "details": {},
                "request_id": "",
                **event_extras(self.plan),
            }
            hit = (Event.from_body(body, fields, []), stamp_parts(body))
            if key is not None:
                if len(memo) >= EVENT_TEMPLATES:
                    memo.clear()
                memo[key] = hit
        template, parts = hit
        return template.stamped(
            parts,
            event_id=new_event_id(),
            time=now_iso(),
            request_id=current_request_id(),
            data_subjects=sorted(self.subjects),
        )

    def _field_entries(
        self, tally: tuple[Any, ...] | None
    ) -> tuple[dict[str, FieldDisclosure], dict[str, dict[str, Any]]]:
        """The event's ``fields``, as models and as their JSON body. Jobs of one plan that
        end with equal counters share them: a service answering single records builds
        the same few over and over, and building each took a tenth of a request's CPU.
        ``tally`` is the executor's :meth:`~Executor.tally`, which the caller has."""
        ex = self.executor
        memo = ex.bound.by_tally
        hit: tuple[dict[str, FieldDisclosure], dict[str, dict[str, Any]]] | None = (
            memo.get(tally) if tally is not None else None  # one lookup: others may clear it
        )
        if hit is not None:
            return hit
        base = self.plan.decide(0)
        used = ex.rules_used
        entities = ex.text.entities
        fields: dict[str, FieldDisclosure] = {}
        plain: dict[str, dict[str, Any]] = {}
        for path, c in ex.outcome_counts().items():
            if c:
                ents = entities.get(path)
                plain[path] = {
                    "outcomes": c,
                    "rules": sorted(used.get(path) or base[path].rules),
                    **treatment(base[path].outcome),
                    "entities": dict(sorted(ents.items())) if ents else {},
                }
                fields[path] = FieldDisclosure.model_validate(plain[path])
        if tally is not None:
            if len(memo) >= TALLY_MEMO:
                memo.clear()
            memo[tally] = (fields, plain)
        return fields, plain

    def commit(self) -> StoredEvent:
        """Make the disclosure event durable. If this raises, disclose nothing."""
        if self.committed is not None:
            return self.committed
        self.committed = self.veil.append(self.event())
        return self.committed


class Veil:
    """A loaded bundle, a ledger and a keyring: everything a disclosure needs."""

    def __init__(
        self,
        bundle: Bundle,
        ledger: Appender,
        keys: Keyring | None = None,
        *,
        plan_cache: int = 256,
        text_workers: int = 0,
        vault: TokenVault | None = None,
        as_of: date | None = None,
    ) -> None:
        """``text_workers`` > 0: :meth:`Job.apply_batch` analyzes free text in a pool of
        that many worker processes (one pool per process, started on first use, kept
        until exit); ``os.cpu_count()`` keeps every core busy. ``vault`` holds random
        tokens (``tokenize(mode=random)``); by default the ledger's own, if it has one.
        ``as_of`` fixes the disclosure date (tests, reproducible extracts); by default it
        is the UTC date each value is transformed on."""
        self.vault = vault if vault is not None else vault_for(ledger)
        self.as_of = as_of
        self.bundle = bundle
        self.text_workers = text_workers
        self.ledger = ledger
        self.keys = keys if keys is not None else Keyring.from_environment()
        self.plans = PlanCache(plan_cache)
        self._bound: OrderedDict[int, tuple[Plan, Bound]] = OrderedDict()
        self._bound_size = plan_cache
        self._bound_lock = threading.Lock()

    def bound(self, plan: Plan) -> Bound:
        """The plan bound to this Veil's keys, built once per plan (ops, trees)."""
        with self._bound_lock:
            hit = self._bound.get(id(plan))
            if hit is not None and hit[0] is plan:
                self._bound.move_to_end(id(plan))
                return hit[1]
        b = Bound(plan, self.keys, vault=self.vault, as_of=self.as_of)
        with self._bound_lock:
            self._bound[id(plan)] = (plan, b)
            while len(self._bound) > self._bound_size:
                self._bound.popitem(last=False)
        return b

    def plan(self, request: Request) -> Plan:
        return self.plans.get(self.bundle, request)

    def explain(self, request: Request) -> Explanation:
        return explain(build_plan(self.bundle, request))

    def start(self, request: Request, *, log_refusal: bool = True) -> Job:
        """Plan the request and bind it to keys. A refusal is raised, and logged first
        unless ``log_refusal`` is False (the caller appends :meth:`refusal` itself,
        e.g. without blocking an event loop)."""
        try:
            plan = self.plan(request)
        except AccessDenied as exc:
            if log_refusal:
                self._log_refusal(request, exc)
            raise
        return Job(self, plan)

    def sanitize(
        self, request: Request, records: Iterable[Any], *, workers: int | None = None
    ) -> Result:
        """Sanitize ``records`` and commit one ledger event.

        Records go through :meth:`Job.apply_batch` in batches of :data:`BATCH`, so free
        text is analyzed a batch at a time; by ``workers`` worker processes if > 0
        (default: the Veil's ``text_workers``).
        """
        job = self.start(request)
        if workers is not None:
            job.workers = workers
        out: list[dict[str, Any]] = []
        batch: list[tuple[Any, int | None]] = []
        for i, rec in enumerate(records, 1):
            batch.append((rec, i))
            if len(batch) >= BATCH:
                out.extend(r for r in job.apply_batch(batch) if r is not None)
                batch = []
        out.extend(r for r in job.apply_batch(batch) if r is not None)
        return Result(out, job.commit())

    def append(self, event: Event) -> StoredEvent:
        try:
            stored: StoredEvent = self.ledger.append(event)
            return stored
        except LedgerError:
            raise
        except Exception as exc:  # a backend bug must still fail closed
            raise ledger_failure(exc) from None

    def _log_refusal(self, request: Request, exc: AccessDenied) -> None:
        try:
            self.ledger.append(self.refusal(request, exc))
        except Exception:  # the refusal stands even if it cannot be logged
            log.warning("could not record a refusal in the ledger")

    def refusal(self, request: Request, exc: AccessDenied) -> Event:
        """The ledger event that records refusing ``request``."""
        return Event(
            kind="refusal",
            requester=Requester(id=request.subject_id, attributes=request.subject),
            recipient=request.effective_recipient,
            purpose=request.purpose,
            action=request.action,
            dataset=request.dataset,
            bundle=self.bundle.name,
            bundle_version=self.bundle.version,
            context=request.context,
            reason=exc.message,
            request_id=current_request_id(),
        )
