"""The console's pages: sign-in, preview as a requester, policy matrix and diff, ledger
browser, accounting of disclosures, break-glass review.

What a signed-in person may do is decided by the bundle, as for the API:

* the ledger (browser, event detail, verification, break-glass review) is open to whoever
  the bundle lets read the ledger-events dataset, for a purpose it allows; each page of
  events read is sanitized through that dataset's plan and logged, exactly as
  ``GET /v1/audit/events``;
* the accounting is open to whoever may read the accounting dataset; producing one is a
  164.528(d) record in the ledger;
* preview, matrix and diff (policy review) are for the same people, and for configured
  admins;
* in a preview the *original* column shows each field only as the viewer's own plan (for
  the purpose the viewer states) discloses it: a field the viewer may not see in clear is
  not shown in clear. A preview is recorded as a ``preview`` event; the viewer's own view
  of the records, as the disclosure it is.

Everyone else gets a 403 page. Pages never show a value of a withheld field: they are
rendered from sanitized records and from ledger metadata (outcomes, counts, rules),
never from event bodies' values (there are none) or raw inputs.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi import Request as HttpRequest
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool
from starlette.staticfiles import StaticFiles

from ..core import Veil
from ..errors import AccessDenied, RequestError, VeilError
from ..ledger.events import Event, Requester, current_request_id
from ..policy.proofs import prove
from ..policy.validate import load_bundle
from ..request import Request
from ..service.auth import Authenticator, AuthError, Principal, is_admin
from . import matrix as matrices
from .sessions import COOKIE, HEADERS, LOGIN_COOKIE, PATH, Session, Sessions

log = logging.getLogger("veil.console")
HERE = Path(__file__).parent
PAGE_SIZE = 50
#: events a requester filter reads before it shows what it found (and a link to go on)
REVIEW_SCAN = 20_000
#: break-glass events the review lists (newest first)
BREAK_GLASS_PAGE = 200
MAX_PASTED_RECORDS = 200
MAX_PASTED_BYTES = 512 * 1024


class Forbidden(Exception):
    """The bundle does not let this person use this page."""

    def __init__(self, what: str) -> None:
        super().__init__(what)
        self.what = what


class SignIn(Exception):
    """No live session: go to the sign-in page."""


@dataclass
class Console:
    """What the pages share: the service's policy state, ledgers and authenticator."""

    state: Any  # service.state.PolicyState
    raw_ledger: Any
    ledger: Any  # the timed ledger (appends are counted and note the request)
    auth: Authenticator
    admins: list[str]
    events_dataset: str
    accounting_dataset: str
    diff_root: Path
    sessions: Sessions
    templates: Jinja2Templates

    @property
    def veil(self) -> Veil:
        veil: Veil = self.state.current
        return veil

    # --------------------------------------------------------------- who may do what
    def purpose_for(self, session: Session, dataset: str) -> str | None:
        """The first purpose (in the vocabulary's order) for which the bundle lets this
        person read ``dataset``; None if there is none. Cached per bundle version."""
        veil = self.veil
        key = f"{veil.bundle.version}:{dataset}"
        if key in session.cache:
            cached: str | None = session.cache[key]
            return cached
        found = None
        if dataset in veil.bundle.datasets:
            for purpose in veil.bundle.vocabulary.purposes:
                try:
                    plan = veil.plan(self.request(session, dataset, purpose))
                except (AccessDenied, RequestError):
                    continue
                if not veil.explain(plan.request).refused:
                    found = purpose
                    break
        session.cache[key] = found
        return found

    def request(self, session: Session, dataset: str, purpose: str, **kw: Any) -> Request:
        p = session.principal
        return Request(
            subject_id=p.subject_id,
            subject=dict(p.attributes),
            dataset=dataset,
            purpose=purpose,
            allowed_recipients=p.recipients,
            **kw,
        )

    def can_audit(self, session: Session) -> bool:
        return self.purpose_for(session, self.events_dataset) is not None

    def can_account(self, session: Session) -> bool:
        return self.purpose_for(session, self.accounting_dataset) is not None

    def can_review(self, session: Session) -> bool:
        return self.can_audit(session) or is_admin(session.principal, self.admins)

    def require(self, session: Session, check: Callable[[Session], bool], what: str) -> None:
        if not check(session):
            raise Forbidden(what)

    # --------------------------------------------------------------- ledger reads
    def read_ledger(self, session: Session, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Rows of the ledger-events dataset, through policy; the read is logged."""
        purpose = self.purpose_for(session, self.events_dataset)
        if purpose is None:
            raise Forbidden("the ledger")
        req = self.request(session, self.events_dataset, purpose)
        if not rows:
            self.veil.plan(req)
            return []
        return self.veil.sanitize(req, rows).records


WITHHELD = object()


def value_at(record: Any, path: str) -> Any:
    """The value at a field path (``a.b``, ``a[*].b`` gives a list), WITHHELD if absent."""
    parts = path.replace("[*]", ".[*]").split(".")
    return _walk(record, [p for p in parts if p])


def _walk(node: Any, parts: list[str]) -> Any:
    if not parts:
        return node
    head, rest = parts[0], parts[1:]
    if head == "[*]":
        if not isinstance(node, list):
            return WITHHELD
        got = [_walk(item, rest) for item in node]
        got = [g for g in got if g is not WITHHELD]
        return got if got else WITHHELD
    if not isinstance(node, dict) or head not in node:
        return WITHHELD
    return _walk(node[head], rest)


def show_value(record: Any, path: str) -> str:
    """A field's value as a page shows it: JSON for structures, a dash when withheld."""
    value = value_at(record, path)
    if value is WITHHELD:
        return "— withheld"
    if value is None:
        return "null"
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, default=str)


def mount_console(
    app: FastAPI,
    *,
    state: Any,
    raw_ledger: Any,
    ledger: Any,
    auth: Authenticator,
    admins: list[str],
    events_dataset: str,
    accounting_dataset: str,
    policies: Path,
) -> None:
    """Serve the console under ``/console`` in ``app`` (see the module docstring)."""
    templates = Jinja2Templates(directory=str(HERE / "templates"))
    templates.env.globals.update(PATH=PATH, level=matrices.level_of, show=show_value)
    console = Console(
        state=state,
        raw_ledger=raw_ledger,
        ledger=ledger,
        auth=auth,
        admins=admins,
        events_dataset=events_dataset,
        accounting_dataset=accounting_dataset,
        diff_root=Path(policies).resolve().parent,
        sessions=Sessions(),
        templates=templates,
    )
    app.state.console = console
    app.mount(f"{PATH}/static", StaticFiles(directory=HERE / "static"), name="console-static")
    from . import routes

    routes.add(app, console)


# ------------------------------------------------------------------------ rendering
def render(
    console: Console,
    request: HttpRequest,
    name: str,
    session: Session | None,
    status: int = 200,
    **ctx: Any,
) -> HTMLResponse:
    """A page with the console's headers; ``session`` fills the navigation and CSRF."""
    nav = {}
    if session is not None:
        nav = {
            "review": console.can_review(session),
            "audit": console.can_audit(session),
            "account": console.can_account(session),
        }
    response = console.templates.TemplateResponse(
        request,
        name,
        {
            "session": session,
            "who": session.principal if session else None,
            "csrf": session.csrf if session else "",
            "nav": nav,
            "bundle": console.veil.bundle,
            **ctx,
        },
        status_code=status,
    )
    response.headers.update(HEADERS)
    return response


def set_session_cookie(response: Response, request: HttpRequest, token: str) -> None:
    response.set_cookie(
        COOKIE,
        token,
        path=PATH,
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def forget_cookies(response: Response) -> None:
    response.delete_cookie(COOKIE, path=PATH)
    response.delete_cookie(LOGIN_COOKIE, path=PATH)


def redirect(to: str) -> RedirectResponse:
    response = RedirectResponse(to, status_code=303)
    response.headers.update(HEADERS)
    return response


def authenticate(auth: Authenticator, api_key: str, token: str) -> Principal:
    """The principal an API key or a bearer token proves (AuthError if neither does)."""
    api_key, token = api_key.strip(), token.strip()
    if bool(api_key) == bool(token):
        raise AuthError("give an API key or a token, not both and not neither")
    headers = {"X-API-Key": api_key} if api_key else {"Authorization": f"Bearer {token}"}
    return auth.authenticate(headers)


def parse_records(text: str) -> list[dict[str, Any]]:
    """Records pasted as a JSON array or JSON lines (RequestError names the problem,
    never the value)."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_PASTED_BYTES:
        raise RequestError(f"paste at most {MAX_PASTED_BYTES // 1024} KiB of records")
    text = text.strip()
    if not text:
        return []
    try:
        if text.startswith("["):
            data = json.loads(text)
        else:
            data = [json.loads(line) for line in text.splitlines() if line.strip()]
    except json.JSONDecodeError as exc:
        raise RequestError(
            f"the pasted records are not JSON (line {exc.lineno}, column {exc.colno})",
            hint="paste a JSON array of objects, or one JSON object per line",
        ) from None
    if not isinstance(data, list) or not all(isinstance(r, dict) for r in data):
        raise RequestError("paste JSON objects (one record each)")
    if len(data) > MAX_PASTED_RECORDS:
        raise RequestError(f"paste at most {MAX_PASTED_RECORDS} records")
    return data


def preview_event(
    viewer: Principal, req: Request, veil: Veil, records: int, subjects: list[str], source: str
) -> Event:
    """The ledger's record that ``viewer`` previewed ``req`` on ``records`` records."""
    return Event(
        kind="preview",
        requester=Requester(id=viewer.subject_id, attributes=dict(viewer.attributes)),
        recipient=viewer.subject_id,
        purpose=req.purpose,
        action="preview",
        dataset=req.dataset,
        bundle=veil.bundle.name,
        bundle_version=veil.bundle.version,
        request_id=current_request_id(),
        details={
            "as": {
                "subject": req.subject,
                "recipient": req.recipient,
                "break_glass_reason_given": bool(req.reason),
            },
            "records": records,
            "source": source,
        },
        data_subjects=subjects,
    )


def acknowledgement_event(reviewer: Principal, acked: Any, note: str, veil: Veil) -> Event:
    """A reviewer's acknowledgement of break-glass event ``acked`` (a StoredEvent)."""
    e = acked.event
    return Event(
        kind="acknowledgement",
        requester=Requester(id=reviewer.subject_id, attributes=dict(reviewer.attributes)),
        recipient=reviewer.subject_id,
        purpose="BREAK_GLASS_REVIEW",
        action="acknowledge",
        dataset=e.dataset,
        bundle=veil.bundle.name,
        bundle_version=veil.bundle.version,
        request_id=current_request_id(),
        details={"acknowledges": e.event_id, "seq": acked.seq, "note": note[:2000]},
    )


def proof_summary(bundle: Any) -> dict[str, Any]:
    """Profile views and assertions of ``bundle`` with what its proof found."""
    report = prove(bundle)
    problems: dict[str, list[str]] = {}
    for cx in report.counterexamples or []:
        v = cx.violation
        problems.setdefault(v.name, []).append(f"{v.field}: {v.message}")
    items = []
    for name in (*report.views, *report.assertions):
        items.append(
            {
                "name": name,
                "kind": "view" if name in report.views else "assertion",
                "scoped": report.scoped.get(name, 0),
                "problems": problems.get(name, []),
            }
        )
    return {"requests": report.requests, "planned": report.planned, "items": items}


def load_candidate(root: Path, path: str) -> Any:
    """The candidate bundle at ``path``, which must lie under ``root`` (RequestError)."""
    if not path.strip():
        raise RequestError("name the candidate bundle's directory")
    candidate = Path(path.strip())
    if not candidate.is_absolute():
        candidate = root / candidate
    candidate = candidate.resolve()
    if candidate != root and root not in candidate.parents:
        raise RequestError(
            "the candidate bundle must be a directory under the policies' parent directory",
            hint=f"put it under {root}",
        )
    if not candidate.is_dir():
        raise RequestError("no such bundle directory", hint=f"directories under {root}")
    return load_bundle(str(candidate))


async def in_thread(fn: Callable[..., Any], *args: Any) -> Any:
    return await run_in_threadpool(fn, *args)


__all__ = ["Console", "Forbidden", "SignIn", "VeilError", "mount_console"]
