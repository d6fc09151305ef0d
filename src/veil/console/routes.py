"""The console's routes (see :mod:`veil.console.pages` for who may see what)."""

from __future__ import annotations

import inspect
import secrets
from collections.abc import Awaitable, Callable
from functools import wraps
from typing import Any

from fastapi import FastAPI, Form
from fastapi import Request as HttpRequest
from fastapi.responses import Response

from ..errors import AccessDenied, LedgerError, RequestError, VeilError
from ..ledger import hipaa
from ..ledger.base import event_row
from ..service.auth import AuthError
from . import matrix as matrices
from .pages import (
    BREAK_GLASS_PAGE,
    PAGE_SIZE,
    REVIEW_SCAN,
    Console,
    Forbidden,
    SignIn,
    acknowledgement_event,
    authenticate,
    forget_cookies,
    in_thread,
    load_candidate,
    parse_records,
    preview_event,
    proof_summary,
    redirect,
    render,
    set_session_cookie,
)
from .pdf import accounting_pdf
from .sessions import COOKIE, HEADERS, LOGIN_COOKIE, PATH, Session, same

Handler = Callable[..., Awaitable[Response]]


def sample_records(dataset: str, n: int = 5) -> list[dict[str, Any]]:
    """Synthetic records (seeded) for the shipped datasets; others must be pasted."""
    from ..samples import synth

    makers: dict[str, Callable[[], Any]] = {
        "patients": lambda: synth.patients(n, seed=7),
        "fhir_patients": lambda: synth.fhir_patients(n, seed=11),
        "accounts": lambda: synth.accounts(n, seed=13),
        "transactions": lambda: synth.transactions(n, seed=17),
    }
    if dataset not in makers:
        raise RequestError(
            f"there are no sample records for dataset '{dataset}'",
            hint="paste records (a JSON array or JSON lines)",
        )
    return [dict(r) for r in makers[dataset]()]


def add(app: FastAPI, console: Console) -> None:
    def session_of(request: HttpRequest) -> Session:
        session = console.sessions.get(request.cookies.get(COOKIE))
        if session is None:
            raise SignIn()
        return session

    def page(fn: Handler) -> Handler:
        """Sign-in required; a VeilError or Forbidden becomes a page, never a traceback."""

        @wraps(fn)
        async def wrapped(request: HttpRequest, *args: Any, **kw: Any) -> Response:
            # (FastAPI reads the parameters from __signature__, set below: no session)
            try:
                session = session_of(request)
            except SignIn:
                return redirect(f"{PATH}/login")
            try:
                return await fn(request, session, *args, **kw)
            except Forbidden as exc:
                return render(
                    console, request, "forbidden.html", session, status=403, what=exc.what
                )
            except AccessDenied as exc:
                return render(
                    console, request, "forbidden.html", session, status=403, what=exc.message
                )
            except VeilError as exc:
                return render(
                    console,
                    request,
                    "error.html",
                    session,
                    status=exc.http_status,
                    message=exc.message,
                    hint=exc.hint,
                )

        sig = inspect.signature(fn)
        params = [p for name, p in sig.parameters.items() if name != "session"]
        wrapped.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
        return wrapped

    def check_csrf(session: Session, token: str) -> None:
        if not same(session.csrf, token):
            raise Forbidden("this form (its security token is missing or stale: reload it)")

    # ------------------------------------------------------------------ sign-in
    @app.get(f"{PATH}/login", include_in_schema=False)
    async def login_form(request: HttpRequest) -> Response:
        token = secrets.token_urlsafe(24)
        response = render(console, request, "login.html", None, login_csrf=token)
        response.set_cookie(
            LOGIN_COOKIE,
            token,
            path=PATH,
            httponly=True,
            samesite="strict",
            secure=request.url.scheme == "https",
            max_age=600,
        )
        return response

    @app.post(f"{PATH}/login", include_in_schema=False)
    async def login(
        request: HttpRequest,
        csrf: str = Form(""),
        api_key: str = Form(""),
        token: str = Form(""),
    ) -> Response:
        if not same(request.cookies.get(LOGIN_COOKIE), csrf):
            return render(
                console, request, "login.html", None, status=403,
                error="The sign-in form expired. Please try again.",
                login_csrf="",
            )  # fmt: skip
        try:
            principal = authenticate(console.auth, api_key, token)
        except AuthError:
            return render(
                console, request, "login.html", None, status=401,
                error="Those credentials were not accepted.", login_csrf=csrf,
            )  # fmt: skip
        cookie, _ = console.sessions.start(principal)
        response = redirect(f"{PATH}/")
        set_session_cookie(response, request, cookie)
        response.delete_cookie(LOGIN_COOKIE, path=PATH)
        return response

    @app.post(f"{PATH}/logout", include_in_schema=False)
    @page
    async def logout(request: HttpRequest, session: Session, csrf: str = Form("")) -> Response:
        check_csrf(session, csrf)
        console.sessions.end(request.cookies.get(COOKIE))
        response = redirect(f"{PATH}/login")
        forget_cookies(response)
        return response

    @app.get(f"{PATH}/", include_in_schema=False)
    @page
    async def home(request: HttpRequest, session: Session) -> Response:
        return render(console, request, "home.html", session)

    # ------------------------------------------------------------------ preview
    def vocabulary() -> dict[str, Any]:
        b = console.veil.bundle
        return {
            "datasets": sorted(d for d in b.datasets if not d.startswith("ledger_")),
            "purposes": list(b.vocabulary.purposes),
            "recipients": sorted(b.recipients),
            "attributes": {
                name: decl.values or [] for name, decl in sorted(b.subject_attributes.items())
            },
        }

    @app.get(f"{PATH}/preview", include_in_schema=False)
    @page
    async def preview_form(request: HttpRequest, session: Session) -> Response:
        console.require(session, console.can_review, "preview")
        own = console.purpose_for(session, console.events_dataset) or ""
        return render(
            console, request, "preview.html", session, vocab=vocabulary(),
            form={"own_purpose": own}, result=None,
        )  # fmt: skip

    @app.post(f"{PATH}/preview", include_in_schema=False)
    @page
    async def preview(request: HttpRequest, session: Session) -> Response:
        console.require(session, console.can_review, "preview")
        form = dict(await request.form())
        check_csrf(session, str(form.get("csrf", "")))
        result = await in_thread(run_preview, session, {k: str(v) for k, v in form.items()})
        return render(
            console, request, "preview.html", session, vocab=vocabulary(),
            form=form, result=result,
        )  # fmt: skip

    def run_preview(session: Session, form: dict[str, str]) -> dict[str, Any]:
        veil = console.veil
        vocab = vocabulary()
        dataset = form.get("dataset", "")
        if dataset not in vocab["datasets"]:
            raise RequestError("choose a dataset")
        subject = {
            name: form[f"attr_{name}"] for name in vocab["attributes"] if form.get(f"attr_{name}")
        }
        req_kw: dict[str, Any] = {}
        if form.get("recipient"):
            req_kw["recipient"] = form["recipient"]
        reason = form.get("reason", "").strip() or None
        from ..request import Request

        req = Request(
            subject_id=form.get("subject_id", "").strip() or "preview-requester",
            subject=subject,
            dataset=dataset,
            purpose=form.get("purpose", ""),
            reason=reason,
            **req_kw,
        )
        source = "pasted" if form.get("records", "").strip() else "sample"
        records = parse_records(form["records"]) if source == "pasted" else sample_records(dataset)
        explanation = veil.explain(req)
        needs_reason = False
        if not reason:
            with_reason = veil.explain(req.model_copy(update={"reason": "(preview)"}))
            needs_reason = [f.outcome for f in with_reason.fields] != [
                f.outcome for f in explanation.fields
            ]
        refused = explanation.refused
        received: list[dict[str, Any] | None] = []
        subjects: list[str] = []
        if not refused:
            try:
                job = veil.start(req, log_refusal=False)
            except AccessDenied as exc:
                refused = exc.message
            else:
                received = job.apply_batch([(r, i) for i, r in enumerate(records, 1)])
                subjects = sorted(job.subjects)
        # the viewer's own view: what the bundle lets the viewer see, logged as disclosed
        own_purpose = form.get("own_purpose", "")
        originals: list[dict[str, Any]] | None = None
        own_note = ""
        if own_purpose:
            try:
                mine = veil.sanitize(console.request(session, dataset, own_purpose), records)
                originals = mine.records
            except AccessDenied as exc:
                own_note = f"The policy does not show you these records: {exc.message}"
        else:
            own_note = "State your purpose to see the records as the policy lets you see them."
        console.ledger.append(
            preview_event(session.principal, req, veil, len(records), subjects, source)
        )
        fields = [f for f in explanation.fields if not f.container]
        rows = []
        for i, out in enumerate(received or [None] * len(records)):
            own = originals[i] if originals is not None and i < len(originals) else None
            rows.append({"received": out, "own": own})
        return {
            "refused": refused,
            "fields": fields,
            "rows": rows,
            "row_filters": explanation.row_filters,
            "needs_reason": needs_reason,
            "own_note": own_note,
            "source": source,
            "records": len(records),
        }

    # ------------------------------------------------------------------ matrix / diff
    @app.get(f"{PATH}/matrix", include_in_schema=False)
    @page
    async def matrix_page(request: HttpRequest, session: Session, dataset: str = "") -> Response:
        console.require(session, console.can_review, "the policy matrix")
        m = await in_thread(matrices.matrix_of, console.veil.bundle)
        ds = dataset if dataset in m.datasets else next(iter(m.datasets), "")
        return render(
            console, request, "matrix.html", session, m=m, dm=m.datasets.get(ds), ds=ds,
            levels=matrices.LEVEL_NAMES,
        )  # fmt: skip

    @app.get(f"{PATH}/matrix/cell", include_in_schema=False)
    @page
    async def matrix_cell(
        request: HttpRequest,
        session: Session,
        dataset: str = "",
        field: str = "",
        role: str = "",
        purpose: str = "",
    ) -> Response:
        console.require(session, console.can_review, "the policy matrix")
        m = await in_thread(matrices.matrix_of, console.veil.bundle)
        dm = m.datasets.get(dataset)
        if dm is None:
            raise RequestError("no such dataset")
        cell = dm.cell(field, role, purpose)
        partial = request.headers.get("HX-Request") == "true"
        return render(
            console, request, "cell.html", session, cell=cell, dataset=dataset, field=field,
            role=role, purpose=purpose, partial=partial,
        )  # fmt: skip

    @app.get(f"{PATH}/diff", include_in_schema=False)
    @page
    async def diff_form(request: HttpRequest, session: Session) -> Response:
        console.require(session, console.can_review, "the policy diff")
        return render(
            console, request, "diff.html", session, result=None, root=console.diff_root,
            candidate="",
        )  # fmt: skip

    @app.post(f"{PATH}/diff", include_in_schema=False)
    @page
    async def diff_page(
        request: HttpRequest, session: Session, csrf: str = Form(""), candidate: str = Form("")
    ) -> Response:
        console.require(session, console.can_review, "the policy diff")
        check_csrf(session, csrf)

        def compute() -> dict[str, Any]:
            current = console.veil.bundle
            new = load_candidate(console.diff_root, candidate)
            changes = matrices.diff(matrices.matrix_of(current), matrices.matrix_of(new))
            return {
                "changes": changes,
                "current": {"bundle": current, "proof": proof_summary(current)},
                "candidate": {"bundle": new, "proof": proof_summary(new)},
            }

        result = await in_thread(compute)
        return render(
            console, request, "diff.html", session, result=result, root=console.diff_root,
            candidate=candidate,
        )  # fmt: skip

    # ------------------------------------------------------------------ ledger
    FILTERS = ("subject", "requester", "recipient", "purpose", "dataset", "kind", "since", "until")

    @app.get(f"{PATH}/ledger", include_in_schema=False)
    @page
    async def ledger_page(request: HttpRequest, session: Session) -> Response:
        console.require(session, console.can_audit, "the ledger")
        q = {k: request.query_params.get(k, "").strip() for k in FILTERS}
        after = request.query_params.get("after", "")
        if after and not after.isdigit():
            raise RequestError("'after' must be an event's sequence number")

        def read() -> tuple[list[dict[str, Any]], int | None]:
            columns = {k: q[k] for k in ("recipient", "purpose", "dataset", "kind") if q[k]}
            rows: list[dict[str, Any]] = []
            last: int | None = None
            scanned = 0
            for s in console.raw_ledger.events(
                since=q["since"] or None,
                until=q["until"] or None,
                data_subject=q["subject"] or None,
                descending=True,
                columns=columns,
                after_seq=int(after) if after else None,
            ):
                scanned += 1
                last = s.seq
                if q["requester"] and s.event.requester.id != q["requester"]:
                    if scanned > REVIEW_SCAN:
                        break
                    continue
                rows.append(event_row(s))
                if len(rows) > PAGE_SIZE:
                    break
            more = len(rows) > PAGE_SIZE
            rows = rows[:PAGE_SIZE]
            nxt = rows[-1]["seq"] if more and rows else None
            if not more and scanned > REVIEW_SCAN and last is not None:
                nxt = last
            return console.read_ledger(session, rows), nxt

        rows, nxt = await in_thread(read)
        return render(
            console, request, "ledger.html", session, rows=rows, q=q, next_after=nxt,
            kinds=["disclosure", "refusal", "reveal", "accounting", "acknowledgement", "preview"],
        )  # fmt: skip

    @app.get(PATH + "/ledger/event/{event_id}", include_in_schema=False)
    @page
    async def event_page(request: HttpRequest, session: Session, event_id: str) -> Response:
        console.require(session, console.can_audit, "the ledger")

        def read() -> tuple[Any, list[dict[str, Any]], int]:
            stored = find_event(event_id)
            rows = console.read_ledger(session, [event_row(stored)])
            return stored, rows, len(console.raw_ledger.subjects_of(event_id))

        stored, rows, subjects = await in_thread(read)
        return render(
            console, request, "event.html", session, s=stored, e=stored.event,
            row=rows[0] if rows else {}, subjects=subjects,
        )  # fmt: skip

    def find_event(event_id: str) -> Any:
        if not (len(event_id) == 32 and all(c in "0123456789abcdef" for c in event_id)):
            raise RequestError("not an event id")
        getter = getattr(console.raw_ledger, "event", None)
        if getter is not None:
            stored = getter(event_id)
            if stored is not None:
                return stored
        for s in console.raw_ledger.events(descending=True):
            if s.event.event_id == event_id:
                return s
        raise RequestError("no such event")

    @app.post(f"{PATH}/ledger/verify", include_in_schema=False)
    @page
    async def verify(request: HttpRequest, session: Session, csrf: str = Form("")) -> Response:
        console.require(session, console.can_audit, "the ledger")
        check_csrf(session, csrf)
        console.read_ledger(session, [])  # authorize first
        report = await in_thread(console.raw_ledger.verify)
        return render(console, request, "verify.html", session, report=report)

    # ------------------------------------------------------------------ accounting
    @app.get(f"{PATH}/accounting", include_in_schema=False)
    @page
    async def accounting_form(request: HttpRequest, session: Session) -> Response:
        console.require(session, console.can_account, "the accounting of disclosures")
        return render(console, request, "accounting.html", session, report=None, form={})

    def produce(session: Session, form: dict[str, str], fmt: str) -> Any:
        subject = form.get("subject", "").strip()
        if not subject:
            raise RequestError("name the data subject (e.g. a medical record number)")
        purpose = console.purpose_for(session, console.accounting_dataset)
        if purpose is None:
            raise Forbidden("the accounting of disclosures")
        req = console.request(session, console.accounting_dataset, purpose)
        console.veil.plan(req)  # authorize before reading
        report = hipaa.account(
            console.raw_ledger,
            subject,
            since=form.get("since") or None,
            until=form.get("until") or None,
        )
        rows = hipaa.dataset_rows(report)
        if rows:
            console.veil.sanitize(req, rows)  # the read, through policy and logged
        console.ledger.append(hipaa.provided_event(report, session.principal.subject_id, fmt))
        return report

    @app.post(f"{PATH}/accounting", include_in_schema=False)
    @page
    async def accounting(request: HttpRequest, session: Session) -> Response:
        console.require(session, console.can_account, "the accounting of disclosures")
        form = {k: str(v) for k, v in (await request.form()).items()}
        check_csrf(session, form.get("csrf", ""))
        report = await in_thread(produce, session, form, "html")
        return render(console, request, "accounting.html", session, report=report, form=form)

    @app.post(f"{PATH}/accounting.pdf", include_in_schema=False)
    @page
    async def accounting_pdf_page(request: HttpRequest, session: Session) -> Response:
        console.require(session, console.can_account, "the accounting of disclosures")
        form = {k: str(v) for k, v in (await request.form()).items()}
        check_csrf(session, form.get("csrf", ""))
        report = await in_thread(produce, session, form, "pdf")
        pdf = await in_thread(accounting_pdf, report, console.veil.bundle.name)
        return Response(
            pdf,
            media_type="application/pdf",
            headers={
                **HEADERS,
                "Content-Disposition": 'attachment; filename="accounting-of-disclosures.pdf"',
            },
        )

    # ------------------------------------------------------------------ break-glass review
    def break_glass_events() -> tuple[list[Any], dict[str, Any]]:
        acks: dict[str, Any] = {}
        for s in console.raw_ledger.events(columns={"kind": "acknowledgement"}):
            target = s.event.details.get("acknowledges")
            if isinstance(target, str):
                acks.setdefault(target, s)
        found = [
            s
            for s in console.raw_ledger.events(
                columns={"kind": "disclosure"},
                break_glass=True,
                descending=True,
                limit=BREAK_GLASS_PAGE,
            )
            if s.event.break_glass.used
        ]
        return found, acks

    @app.get(f"{PATH}/breakglass", include_in_schema=False)
    @page
    async def break_glass(request: HttpRequest, session: Session) -> Response:
        console.require(session, console.can_audit, "the break-glass review")

        def read() -> tuple[list[Any], dict[str, Any], list[dict[str, Any]]]:
            found, acks = break_glass_events()
            rows = console.read_ledger(session, [event_row(s) for s in found])
            return found, acks, rows

        found, acks, rows = await in_thread(read)
        by_id = {r.get("event_id"): r for r in rows}
        items = [
            {"s": s, "row": by_id.get(s.event.event_id, {}), "ack": acks.get(s.event.event_id)}
            for s in found
        ]
        return render(
            console, request, "breakglass.html", session, items=items, scan=BREAK_GLASS_PAGE
        )

    @app.post(PATH + "/breakglass/{event_id}/ack", include_in_schema=False)
    @page
    async def acknowledge(
        request: HttpRequest,
        session: Session,
        event_id: str,
        csrf: str = Form(""),
        note: str = Form(""),
    ) -> Response:
        console.require(session, console.can_audit, "the break-glass review")
        check_csrf(session, csrf)

        def ack() -> None:
            stored = find_event(event_id)
            if not stored.event.break_glass.used:
                raise RequestError("that event did not use break-glass")
            console.read_ledger(session, [event_row(stored)])
            try:
                console.ledger.append(
                    acknowledgement_event(session.principal, stored, note, console.veil)
                )
            except LedgerError:
                raise

        await in_thread(ack)
        return redirect(f"{PATH}/breakglass")
