"""``create_app(settings)``: the HTTP face of :mod:`veil.core`. Routes stay thin.

Who asks always comes from authentication (API key or JWT), never from the body: the
request models forbid unknown keys, so a body cannot even name a subject. Every
disclosure is logged before the response is sent; if the ledger cannot record it the
client gets 503 with Retry-After and nothing else. Error bodies carry a code, a message
and a hint, never a value from the request.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import math
import os
import signal
import sys
import tempfile
import threading
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query
from fastapi import Request as HttpRequest
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationInfo,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
)
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from ..console import mount_console
from ..core import Job, Veil
from ..errors import (
    AccessDenied,
    InputError,
    LedgerError,
    RequestError,
    ServiceStarting,
    VeilError,
)
from ..keys import Keyring
from ..ledger import hipaa, open_ledger
from ..ledger.base import StoredEvent, event_row
from ..request import Request
from ..text import budget as text_budget
from .apidocs import mount_docs
from .auth import Authenticator, AuthError, Principal, is_admin
from .jsonio import (
    BODY_BYTES,
    CLEAN_TEXT,
    FROM_JSON,
    RAW_BODY,
    FastJSONResponse,
    FastJSONRoute,
    direct,
    ndjson_line,
)
from .limits import (
    BodyLimit,
    BodyRefused,
    LimitExceeded,
    LineSplitter,
    check_records,
    check_shape,
    containers,
    is_text,
    non_text_path,
)
from .metrics import Metrics, TimedLedger
from .observe import Observe, tracer_for
from .settings import ServiceSettings
from .state import PolicyState
from .textwork import TextWork, has_text

log = logging.getLogger("veil.service")
STREAM_PATH = "/v1/sanitize/stream"
MAX_STREAM_BYTES = 1 << 30


class Problem(BaseModel):
    code: str
    message: str
    hint: str = ""


class ErrorBody(BaseModel):
    error: Problem


class Purpose(BaseModel):
    """What the caller asks for, and why. The requester comes from the credentials."""

    model_config = ConfigDict(extra="forbid")

    dataset: str = Field(min_length=1, max_length=200)
    purpose: str = Field(min_length=1, max_length=200)
    recipient: str | None = Field(default=None, max_length=500)
    action: str = Field(default="read", max_length=200)
    context: dict[str, Any] = Field(default_factory=dict)
    reason: str | None = Field(default=None, max_length=2000)

    @field_validator("dataset", "purpose", "recipient", "action", "reason")
    @classmethod
    def _unicode(cls, value: str | None) -> str | None:
        """A lone surrogate (JSON can spell ``"\\ud800"``) is not text: the ledger
        cannot store it and no response can carry it."""
        if value is not None and not is_text(value):
            raise ValueError("a lone surrogate (\\ud800-\\udfff) is not Unicode text")
        return value

    @field_validator("context")
    @classmethod
    def _finite_context(cls, context: dict[str, Any]) -> dict[str, Any]:
        """Python's JSON parser takes NaN and Infinity; policy conditions and the ledger's
        snapshot of the context must not see numbers JSON cannot spell."""
        where = non_finite_path(context)
        if where is not None:
            raise ValueError(
                f"context{where} is NaN or Infinity, which JSON cannot carry; "
                "send a finite number or a string"
            )
        where = non_text_path(context)
        if where is not None:
            raise ValueError(f"context{where}: a lone surrogate (\\ud800-\\udfff) is not text")
        return context


def non_finite_path(value: Any, path: str = "") -> str | None:
    """Where in ``value`` the first NaN or infinity is (``.a[2]``), or None."""
    if isinstance(value, float):
        return None if math.isfinite(value) else path
    items = (
        value.items()
        if isinstance(value, dict)
        else enumerate(value)
        if isinstance(value, list)
        else ()
    )
    for key, item in items:
        found = non_finite_path(item, f"{path}.{key}" if isinstance(key, str) else f"{path}[{key}]")
        if found is not None:
            return found
    return None


def _records_as_parsed(
    value: Any, handler: ValidatorFunctionWrapHandler, info: ValidationInfo
) -> list[dict[str, Any]]:
    """A batch's records as the JSON parser made them, when :func:`~.jsonio.direct_call`
    says they come from JSON (whose object keys are strings) and each is an object: the
    check ``list[dict[str, Any]]`` makes, without the copy of every record pydantic would
    make (0.14 ms of a 100-record request). Anything else is validated as declared."""
    if (
        type(value) is list
        and info.context
        and info.context.get(FROM_JSON)
        and all(type(r) is dict for r in value)
    ):
        return value
    records: list[dict[str, Any]] = handler(value)
    return records


class SanitizeBody(Purpose):
    records: Annotated[list[dict[str, Any]], WrapValidator(_records_as_parsed)]

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "dataset": "patients",
                    "purpose": "HRESCH",
                    "recipient": "study-42",
                    "records": [
                        {
                            "patient_id": "MRN-0000001",
                            "birth_date": "1970-05-02",
                            "zip": "03601",
                            "consent_research": True,
                        }
                    ],
                }
            ]
        },
    )


class SanitizeResult(BaseModel):
    records: list[dict[str, Any]]
    event_id: str
    ledger_seq: int
    bundle_version: str
    returned: int
    filtered: int
    break_glass: bool


class FieldExplanationOut(BaseModel):
    path: str
    type: str
    tags: list[str]
    outcome: str
    rules: list[str]
    overridden: list[str]
    reason: str
    conditional: list[dict[str, str]]


class ExplainResult(BaseModel):
    bundle: str
    bundle_version: str
    dataset: str
    refused: str | None
    row_filters: list[dict[str, str]]
    notes: list[str]
    fields: list[FieldExplanationOut]


class VerifyResult(BaseModel):
    ok: bool
    checked: int
    keyed: bool
    head_hash: str
    problems: list[dict[str, Any]]


class ReloadOut(BaseModel):
    ok: bool
    bundle_version: str
    problems: list[str]


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorBody} for code in (401, 403, 413, 422, 503)
}


def _iso(value: str | None, name: str) -> str | None:
    """Check a since/until query value before it reaches the ledger."""
    if value is None:
        return None
    try:
        datetime.fromisoformat(value)
    except ValueError:
        raise RequestError(
            f"'{name}' must be an ISO 8601 date or timestamp",
            hint="e.g. 2026-01-31 or 2026-01-31T12:00:00Z",
        ) from None
    return value


async def _principal(request: HttpRequest) -> Principal:
    """Who asks: from the credentials only (FastAPI dependency).

    Async on purpose: checking a credential is a few microseconds of CPU and no I/O, and a
    sync dependency would cost every request an extra hop through the thread pool.
    """
    authenticator: Authenticator = request.app.state.auth
    return authenticator.authenticate(request.headers)


Who = Annotated[Principal, Depends(_principal)]


def _error(exc: VeilError) -> JSONResponse:
    headers = {}
    if isinstance(exc, LedgerError | ServiceStarting):
        headers["Retry-After"] = "5"
    if isinstance(exc, AuthError):
        headers["WWW-Authenticate"] = 'Bearer, ApiKey realm="veil"'
    body = {"error": {"code": exc.code, "message": exc.message, "hint": exc.hint}}
    return JSONResponse(body, status_code=exc.http_status, headers=headers)


def _request(p: Principal, body: Purpose) -> Request:
    try:
        return Request(
            subject_id=p.subject_id,
            subject=dict(p.attributes),
            purpose=body.purpose,
            dataset=body.dataset,
            action=body.action,
            recipient=body.recipient,
            context=body.context,
            reason=body.reason,
            allowed_recipients=p.recipients,
        )
    except ValueError:
        raise RequestError("invalid request parameters") from None


#: Young-generation threshold while serving: a request allocates ~1k containers, so
#: CPython's default (700) ran a collection per request (~8% of CPU under load).
GC_THRESHOLDS = (50_000, 20, 100)


@contextlib.asynccontextmanager
async def _serving(app: FastAPI) -> AsyncIterator[None]:
    """At start-up, move everything loaded so far (bundle, models, modules) out of the
    collector's reach and make young collections rarer: with the defaults, full
    collections over ~100k start-up objects paused the server for up to ~100 ms and
    dominated p99 latency (measured with benchmarks/bench_http.py). The text workers
    start now if the bundle scans free text (they take seconds to load). At shutdown,
    stop them and write the queued ledger events before the process ends."""
    await run_in_threadpool(lambda: None)  # the thread pool's modules load before the freeze
    bundle = app.state.veil_state.current.bundle
    app.state.textwork.start(bundle)
    log.info("serving", extra={"bundle": bundle.name, "bundle_version": bundle.short_version})
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    interval = app.state.gil_switch_interval
    previous = sys.getswitchinterval()
    if interval is not None:
        sys.setswitchinterval(interval)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)
    await run_in_threadpool(app.state.textwork.close)
    await run_in_threadpool(app.state.ledger.close)


def create_app(
    settings: ServiceSettings,
    *,
    ledger: Any = None,
    authenticator: Authenticator | None = None,
    tracer: Any = None,
) -> FastAPI:
    """Build the service. ``ledger``, ``authenticator`` and an OpenTelemetry ``tracer``
    may be injected (tests, embedding); else they come from ``settings``."""
    metrics = Metrics()
    keys = Keyring.from_file(settings.key_file) if settings.key_file else Keyring.from_environment()
    if ledger is None:
        ledger = open_ledger(settings.ledger, keys.get("ledger") if keys.has("ledger") else None)
    raw_ledger = ledger
    timed = TimedLedger(ledger, metrics)
    state = PolicyState(settings.policies, timed, keys)
    auth = authenticator or Authenticator.from_files(
        settings.api_keys_file,
        settings.jwks_file,
        settings.jwt_issuer,
        settings.jwt_audience,
        settings.jwt_leeway,
        settings.claims_map,
    )
    limits = settings.limits

    app = FastAPI(
        title="veil",
        version="0.1.0",
        description="Field-level, purpose-aware disclosure with a tamper-evident ledger. "
        "Authenticate with `Authorization: Bearer <jwt>` or `X-API-Key: <id>.<secret>`.",
        lifespan=_serving,
        docs_url=None,  # mount_docs: the bundled Swagger UI, not the CDN's
        redoc_url=None,
    )
    app.router.route_class = FastJSONRoute  # orjson parses the JSON bodies
    mount_docs(app)
    server = settings.server
    app.add_middleware(
        BodyLimit,
        default=limits.max_body_bytes,
        per_path={STREAM_PATH: MAX_STREAM_BYTES},
        idle_seconds=server.body_idle_seconds,
        body_seconds=server.body_seconds,
        unbounded_paths=frozenset({STREAM_PATH}),
    )
    textwork = TextWork(settings.text)
    app.state.veil_state = state
    app.state.metrics = metrics
    app.state.ledger = timed
    app.state.textwork = textwork
    ms = settings.server.gil_switch_interval_ms
    app.state.gil_switch_interval = None if ms is None else ms / 1000

    async def start(veil: Veil, req: Request) -> Job:
        """``veil.start`` with the refusal's ledger append awaited, not run on the loop
        (a stream of refused requests used to stall every other one on fsyncs)."""
        try:
            return veil.start(req, log_refusal=False)
        except AccessDenied as exc:
            try:
                await timed.append_async(veil.refusal(req, exc))
            except LedgerError:  # the refusal stands even if it cannot be logged
                log.warning("could not record a refusal in the ledger")
            raise

    async def commit(job: Job) -> StoredEvent:
        """The job's event, durable: the one wait between the engine and the answer.
        Appends queue for the ledger's writer thread, which group-commits them."""
        if job.committed is None:
            job.committed = await timed.append_async(job.event())
        return job.committed

    @app.exception_handler(VeilError)
    async def veil_error(_: HttpRequest, exc: VeilError) -> JSONResponse:
        return _error(exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: HttpRequest, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's default body echoes the input; ours names only the location.
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        where = ".".join(str(p) for p in first.get("loc", ()))
        return _error(
            RequestError(
                f"invalid request at '{where}': {first.get('msg', '')}",
                hint="see the OpenAPI schema at /docs",
            )
        )

    @app.exception_handler(RecursionError)
    async def too_deep(_: HttpRequest, __: RecursionError) -> JSONResponse:
        return _error(LimitExceeded("max_depth", limits.max_depth, status=422))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: HttpRequest, exc: StarletteHTTPException) -> JSONResponse:
        if isinstance(exc, BodyRefused):  # too large or too slow: the rest is never read
            response = _error(exc.error)
            response.headers["Connection"] = "close"
            return response
        # e.g. a body that is not UTF-8: FastAPI raises 400 before our models see it.
        if exc.status_code == 400:
            return _error(RequestError("the request body is not valid UTF-8 JSON"))
        body = {
            "error": {"code": f"http_{exc.status_code}", "message": str(exc.detail), "hint": ""}
        }
        return JSONResponse(body, status_code=exc.status_code)

    app.add_middleware(Observe, metrics=metrics, tracer=tracer or tracer_for(settings.otel))
    app.state.auth = auth

    classes: dict[tuple[int, str], dict[str, str]] = {}

    def field_classes(veil: Veil, dataset: str) -> dict[str, str]:
        """Field path -> the tag its outcomes are counted under, once per bundle and dataset."""
        key = (id(veil.bundle), dataset)
        got = classes.get(key)
        if got is None:
            if len(classes) > 256:  # bundles come and go with reloads
                classes.clear()
            got = {
                path: min(info.tags) if info.tags else "untagged"
                for path, info in veil.bundle.datasets[dataset].fields.items()
            }
            classes[key] = got
        return got

    #: (bundle, dataset, fields) -> (the fields, their totals): the fields of jobs that
    #: end alike are one shared dict (Job.event), kept here so its id stays its own
    outcome_totals: dict[tuple[int, str, int], tuple[Any, dict[tuple[str, str], int]]] = {}

    def record_metrics(veil: Veil, event: Any) -> None:
        """Aggregate per request, then touch each labelled child once (labels() is slow).
        Field outcomes are summed once per shared ``fields`` dict, not per request."""
        metrics.returned.inc(event.records.returned)
        metrics.filtered.inc(event.records.filtered)
        if event.break_glass.used:
            metrics.break_glass.inc()
        key = (id(veil.bundle), event.dataset, id(event.fields))
        hit = outcome_totals.get(key)
        if hit is None or hit[0] is not event.fields:
            cls_of = field_classes(veil, event.dataset)
            totals: dict[tuple[str, str], int] = {}
            for path, fd in event.fields.items():
                cls = cls_of.get(path, "untagged")
                for label, n in fd.outcomes.items():
                    totals[cls, label] = totals.get((cls, label), 0) + n
            if len(outcome_totals) >= 1024:
                outcome_totals.clear()
            hit = outcome_totals[key] = (event.fields, totals)
        metrics.field_outcomes.add(hit[1])

    @app.post(
        "/v1/sanitize",
        response_model=SanitizeResult,
        responses=ERRORS,
        summary="Sanitize a batch of records for the authenticated requester",
    )
    @direct
    async def sanitize(body: SanitizeBody, who: Who, request: HttpRequest) -> JSONResponse:
        # The field engine runs on the event loop (a batch is bounded by the limits and is
        # CPU work that holds the GIL anyway); only the ledger append, which waits for an
        # fsync, goes to a thread, where concurrent appends are group-committed. Sending
        # CPU work to threads too cost a thread hop and GIL hand-offs that tripled p99.
        # Free text is the exception: its cost depends on the text, so it is analyzed
        # off the loop, within a time budget (see textwork).
        if len(body.records) > limits.max_records:
            raise LimitExceeded("max_records", limits.max_records)
        scope = request.scope
        check_records(
            body.records,
            limits.max_depth,
            limits.max_string,
            clean_text=scope.get(CLEAN_TEXT, False),
            body_bytes=scope.get(BODY_BYTES),
            raw=scope.get(RAW_BODY),
            # the body object, and its context if the body has one (extra fields are
            # refused, and the others are strings)
            outside=1 + (containers(body.context) if "context" in body.model_fields_set else 0),
        )
        veil = state.current
        job = await start(veil, _request(who, body))
        # One batch: free text in the records is analyzed together (None: filtered out).
        batch = [(rec, i) for i, rec in enumerate(body.records, 1)]
        if has_text(job):
            out = await textwork.apply(job, batch, textwork.budget())
        else:
            out = job.apply_batch(batch)
        records = [r for r in out if r is not None]
        stored = await commit(job)
        e = stored.event
        record_metrics(veil, e)
        # Returned as a Response: the records were already checked by the engine, so
        # FastAPI's response-model pass would only re-validate them (response_model stays
        # for the OpenAPI schema).
        return FastJSONResponse(
            {
                "records": records,
                "event_id": e.event_id,
                "ledger_seq": stored.seq,
                "bundle_version": e.bundle_version,
                "returned": e.records.returned,
                "filtered": e.records.filtered,
                "break_glass": e.break_glass.used,
            }
        )

    @app.post(
        STREAM_PATH,
        responses=ERRORS,
        summary="Sanitize NDJSON records (one JSON object per line) in and out",
        response_class=StreamingResponse,
    )
    async def sanitize_stream(
        request: HttpRequest,
        who: Who,
        dataset: Annotated[str, Query(min_length=1, max_length=200)],
        purpose: Annotated[str, Query(min_length=1, max_length=200)],
        recipient: Annotated[str | None, Query(max_length=500)] = None,
        action: Annotated[str, Query(max_length=200)] = "read",
        reason: Annotated[str | None, Query(max_length=2000)] = None,
    ) -> StreamingResponse:
        veil = state.current
        req = _request(
            who,
            Purpose(
                dataset=dataset, purpose=purpose, recipient=recipient, action=action, reason=reason
            ),
        )
        job = await start(veil, req)
        text = has_text(job)
        spool = tempfile.SpooledTemporaryFile(max_size=8 << 20, mode="w+b")  # noqa: SIM115
        try:
            lines = LineSplitter(limits.max_line_bytes)

            def parse(batch: list[tuple[int, bytes]]) -> list[tuple[Any, int | None]]:
                parsed: list[tuple[Any, int | None]] = []
                for n, raw in batch:
                    if not raw.strip():
                        continue
                    try:
                        rec = json.loads(raw)
                    except (json.JSONDecodeError, UnicodeDecodeError):
                        raise InputError("not valid JSON", line=n) from None
                    check_shape(rec, limits.max_depth, limits.max_string, where=f"line {n}")
                    parsed.append((rec, n))
                return parsed

            def apply(parsed: list[tuple[Any, int | None]], spent: text_budget.Budget) -> None:
                with text_budget.scope(spent):
                    for out in job.apply_batch(parsed):  # free text analyzed per chunk
                        if out is not None:
                            spool.write(ndjson_line(out))

            async def process(batch: list[tuple[int, bytes]]) -> None:
                # A stream is a bulk job (its size is capped, not its duration): the
                # request's time budget for free text applies to each batch of lines.
                spent = textwork.budget()
                if text and not spent.local:  # analyzed by the workers, then applied
                    parsed = await run_in_threadpool(parse, batch)
                    await textwork.prefetch(job, [r for r, _ in parsed], spent)
                    await run_in_threadpool(apply, parsed, spent)
                else:  # one hop, as ever
                    await run_in_threadpool(lambda: apply(parse(batch), spent))

            async for chunk in request.stream():
                batch = lines.feed(chunk)
                if batch:
                    await process(batch)
            batch = lines.close()
            if batch:
                await process(batch)
            stored = await commit(job)
        except BaseException:
            spool.close()
            raise
        record_metrics(veil, stored.event)
        spool.seek(0)

        def body() -> Iterator[bytes]:
            with spool:
                yield from iter(lambda: spool.read(1 << 16), b"")

        return StreamingResponse(
            body(),
            media_type="application/x-ndjson",
            headers={
                "X-Veil-Event-Id": stored.event.event_id,
                "X-Veil-Bundle-Version": stored.event.bundle_version,
                "X-Veil-Records-Returned": str(stored.event.records.returned),
            },
        )

    @app.post(
        "/v1/explain",
        response_model=ExplainResult,
        responses=ERRORS,
        summary="Per field: the outcome for this requester and the rules behind it",
    )
    def explain(body: Purpose, who: Who) -> dict[str, object]:
        return state.current.explain(_request(who, body)).as_dict()

    def audit_records(
        who: Who, dataset: str, purpose: str, records: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """Ledger data leaves through policy like any other dataset (and is logged)."""
        veil = state.current
        if dataset not in veil.bundle.datasets:
            raise AccessDenied(
                f"the bundle does not expose the ledger as dataset '{dataset}'",
                hint="declare it and the rules of who may read it",
            )
        req = Request(
            subject_id=who.subject_id,
            subject=dict(who.attributes),
            purpose=purpose,
            dataset=dataset,
            action="read",
        )
        if not records:
            veil.plan(req)  # still refuse requesters that may not read the ledger
            return []
        return veil.sanitize(req, records).records

    @app.get("/v1/audit/events", responses=ERRORS, summary="List ledger events (policy-governed)")
    def audit_events(
        who: Who,
        purpose: Annotated[str, Query(min_length=1, max_length=200)],
        since: str | None = None,
        until: str | None = None,
        data_subject: Annotated[str | None, Query(max_length=500)] = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> dict[str, object]:
        audit_records(who, settings.audit_events_dataset, purpose, [])  # authorize first
        rows = [
            event_row(s)
            for s in raw_ledger.events(
                since=_iso(since, "since"),
                until=_iso(until, "until"),
                data_subject=data_subject,
                limit=limit,
                descending=True,
            )
        ]
        return {"events": audit_records(who, settings.audit_events_dataset, purpose, rows)}

    @app.get(
        "/v1/audit/accounting/{data_subject_id}",
        responses=ERRORS,
        summary="HIPAA 164.528-style accounting of disclosures (policy-governed)",
    )
    def audit_accounting(
        data_subject_id: str,
        who: Who,
        purpose: Annotated[str, Query(min_length=1, max_length=200)],
        since: str | None = None,
        until: str | None = None,
        summarize: bool = True,
    ) -> dict[str, object]:
        # Authorize before reading the ledger: a refused requester learns nothing, not
        # even from how long the answer took.
        audit_records(who, settings.accounting_dataset, purpose, [])
        report = hipaa.account(
            raw_ledger,
            data_subject_id,
            since=_iso(since, "since"),
            until=_iso(until, "until"),
            summarize=summarize,
        )
        rows = hipaa.dataset_rows(report)
        disclosures = audit_records(who, settings.accounting_dataset, purpose, rows)
        timed.append(hipaa.provided_event(report, who.subject_id, "json"))
        return {
            "data_subject_id": data_subject_id,
            "period": {"since": report.since, "until": report.until},
            "disclosures": disclosures,
            "not_accountable": sum(report.exempt.values()),
        }

    @app.post(
        "/v1/audit/verify",
        response_model=VerifyResult,
        responses=ERRORS,
        summary="Verify the ledger's hash chain (policy-governed)",
    )
    def audit_verify(
        who: Who, purpose: Annotated[str, Query(min_length=1, max_length=200)]
    ) -> VerifyResult:
        audit_records(who, settings.audit_events_dataset, purpose, [])
        r = raw_ledger.verify()
        return VerifyResult(
            ok=r.ok,
            checked=r.checked,
            keyed=r.keyed,
            head_hash=r.head_hash,
            problems=[
                {"seq": p.seq, "event_id": p.event_id, "kind": p.kind, "message": p.message}
                for p in r.problems
            ],
        )

    @app.post(
        "/v1/admin/reload",
        response_model=ReloadOut,
        responses=ERRORS,
        summary="Reload the policy bundle; an invalid one is rejected",
    )
    def admin_reload(who: Who) -> ReloadOut:
        if not is_admin(who, settings.admins):
            # qualified names: a token whose sub reads like an admin's id is not one
            raise AccessDenied("only configured admins may reload policies")
        return _reload()

    def _reload() -> ReloadOut:
        r = state.reload()
        metrics.bundle_reloads.labels("ok" if r.ok else "rejected").inc()
        return ReloadOut(ok=r.ok, bundle_version=r.version, problems=list(r.problems))

    @app.get("/healthz", summary="Liveness")
    async def healthz() -> dict[str, str]:
        # Async: answered on the loop, never queued behind the thread pool.
        return {"status": "ok"}

    ready = settings.ready
    probe: dict[str, asyncio.Future[Any]] = {}

    @app.get(
        "/readyz",
        summary="Readiness: policies loaded, ledger answering, room on its volume",
        responses={503: {"model": ErrorBody}},
    )
    async def readyz() -> JSONResponse:
        if textwork.starting():
            metrics.up.set(0)
            return _error(
                ServiceStarting("the text workers are starting", hint="retry in a few seconds")
            )
        problem = low_disk(raw_ledger, ready.min_free_bytes)
        if problem is None:
            # One probe at a time: a ledger that hangs holds one thread, not one per probe.
            running = probe.get("head")
            if running is None or running.done():
                running = probe["head"] = asyncio.ensure_future(run_in_threadpool(raw_ledger.head))
                # read later or never: its error must not be reported as unretrieved
                running.add_done_callback(lambda f: f.cancelled() or f.exception())
            try:
                await asyncio.wait_for(asyncio.shield(running), ready.ledger_seconds)
            except TimeoutError:
                problem = f"the ledger did not answer within {ready.ledger_seconds:g} s"
            except Exception:
                problem = "ledger unreachable"
        if problem is not None:
            metrics.up.set(0)
            return _error(LedgerError(problem, hint="retry later"))
        metrics.up.set(1)
        return JSONResponse({"status": "ready", "bundle_version": state.current.bundle.version})

    @app.get("/metrics", summary="Prometheus metrics", response_class=PlainTextResponse)
    def prometheus() -> PlainTextResponse:
        return PlainTextResponse(
            generate_latest(metrics.registry).decode(), media_type=CONTENT_TYPE_LATEST
        )

    app.state.reload = _reload

    mount_console(
        app,
        state=state,
        raw_ledger=raw_ledger,
        ledger=timed,
        auth=auth,
        admins=list(settings.admins),
        events_dataset=settings.audit_events_dataset,
        accounting_dataset=settings.accounting_dataset,
        policies=settings.policies,
    )

    def reload_in_background() -> None:
        def run() -> None:
            r = state.reload()
            metrics.bundle_reloads.labels("ok" if r.ok else "rejected").inc()

        threading.Thread(target=run, name="veil-sighup-reload", daemon=True).start()

    app.state.reload_in_background = reload_in_background
    return app


def low_disk(ledger: Any, min_free: int) -> str | None:
    """Why a file ledger cannot take more events (its volume has less than ``min_free``
    bytes free for this process), or None. Ledgers without a file (PostgreSQL, memory)
    are not checked here."""
    path = getattr(ledger, "path", None)
    if not isinstance(path, Path):
        return None
    try:
        st = os.statvfs(path.parent)
    except OSError:
        return "the ledger's directory cannot be read"
    free = st.f_bavail * st.f_frsize
    if free < min_free:
        return f"the ledger's volume has less than {min_free} bytes free"
    return None


def install_sighup(app: FastAPI) -> None:
    """SIGHUP reloads policies (main thread only; ignored where signals are unavailable).

    The handler only starts a thread: a signal handler that loaded a bundle itself held the
    event loop (and SIGTERM) for as long as the bundle took to load."""

    def handler(signum: int, frame: object) -> None:
        app.state.reload_in_background()

    with contextlib.suppress(ValueError, AttributeError):
        signal.signal(signal.SIGHUP, handler)
