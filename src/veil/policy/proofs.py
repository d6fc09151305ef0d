"""Proofs at validation time: every profile view and assertion holds for every request.

The request space is finite because a bundle declares its vocabulary: datasets,
purposes, actions, and the values of enumerated subject and context attributes. For an
attribute without declared values, every value a rule or scope compares it with is
tried, plus one value no condition names ("any other value"), plus the attribute being
absent; numbers also one below and above each compared number. Recipients: each declared
one, each named in a condition, the requester itself and one undeclared recipient.
Break-glass: with and without a reason. Every combination is planned
(:func:`~veil.policy.plan.build_plan`) and judged by :mod:`veil.policy.views` in every
decision table (every combination of record predicates).

This is complete for conditions that compare attributes with literals (Equals, IsIn,
AnyIn, Gt, ...); a condition such as RegexMatch on a free attribute may select values
the enumeration does not try, which is why the same judgement also runs on every
request at plan time (:func:`~veil.policy.plan.compile_plan` refuses a violation).

A failed proof prints one counterexample per (view or assertion, field, problem): the
request, the field, its outcome and the rules behind it.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import AccessDenied, Issue, RequestError
from ..request import Request
from .bundle import Bundle
from .conditions import Clause, Dnf
from .model import AttributeDecl
from .plan import build_plan, refusal_of
from .views import Violation, conformance, scope_holds, views_of

#: Refuse to prove beyond this many requests (the product of the attribute choices).
MAX_REQUESTS = 200_000
#: A value no condition names: stands for "any other value" of a free attribute.
OTHER = "\u2063other"
REASON = "proof: break-glass with a stated reason"
SUBJECT_ID = "\u2063requester"


@dataclass(frozen=True)
class Counterexample:
    request: Request
    violation: Violation

    def render(self) -> str:
        r = self.request
        subject = ", ".join(f"{k}={v!r}" for k, v in sorted(r.subject.items())) or "-"
        parts = [
            f"dataset={r.dataset}",
            f"purpose={r.purpose}",
            f"subject {{{subject}}}",
            f"recipient={_shown(r.effective_recipient)}",
        ]
        if r.context:
            parts.append(f"context={r.context}")
        if r.reason:
            parts.append("with a break-glass reason")
        if r.action != "read":
            parts.append(f"action={r.action}")
        return f"{self.violation.describe()}\n    counterexample: {'; '.join(parts)}"


@dataclass
class ProofReport:
    requests: int = 0
    planned: int = 0
    views: tuple[str, ...] = ()
    assertions: tuple[str, ...] = ()
    counterexamples: list[Counterexample] | None = None
    #: view or assertion name -> planned requests it governed
    scoped: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.counterexamples


def _shown(value: str) -> str:
    if value == SUBJECT_ID:
        return "(the requester)"
    if value.startswith(OTHER):
        return "(an undeclared recipient)"
    return value


def _clauses(bundle: Bundle) -> Iterator[Clause]:
    dnfs: list[Dnf] = [d for r in bundle.rules for d in r.when.values()]
    dnfs += [d for v in bundle.views for d in v.when.values()]
    dnfs += [d for a in bundle.assertions for d in a.when.values()]
    for dnf in dnfs:
        for conj in dnf:
            yield from conj


def _literals(cond: Any) -> list[Any]:
    """Values a py-abac condition compares with (recursing into logic conditions)."""
    out: list[Any] = []
    for attr in ("value", "values"):
        v = getattr(cond, attr, None)
        if v is None:
            continue
        items = v if isinstance(v, list | tuple) else [v]
        for item in items:
            if hasattr(item, "_is_satisfied") or type(item).__module__.startswith("py_abac"):
                out += _literals(item)
            else:
                out.append(item)
    return out


def _mentioned(bundle: Bundle, ace: str, key: str) -> list[Any]:
    vals: list[Any] = []
    for c in _clauses(bundle):
        if c.ace == ace and c.keys[:1] == (key,):
            vals += _literals(c.condition)
    return vals


def _choices(bundle: Bundle, ace: str, name: str, decl: AttributeDecl) -> list[Any]:
    """Values to try for one attribute; ``_ABSENT`` stands for "not given"."""
    if decl.values is not None:
        base = list(decl.values)
    else:
        base = []
        for v in _mentioned(bundle, ace, name):
            ok = {
                "string": isinstance(v, str),
                "integer": isinstance(v, int) and not isinstance(v, bool),
                "number": isinstance(v, int | float) and not isinstance(v, bool),
                "boolean": isinstance(v, bool),
                "list": isinstance(v, str),
            }[decl.type]
            if not ok:
                continue
            if decl.type in ("integer", "number"):
                base += [v - 1, v, v + 1]
            elif decl.type == "list":
                base.append([v])
            else:
                base.append(v)
        fresh: dict[str, Any] = {
            "string": OTHER,
            "integer": -(2**31),
            "number": -1e9,
            "boolean": False,
            "list": [],
        }
        base.append(fresh[decl.type])
        if decl.type == "boolean":
            base.append(True)
    unique: list[Any] = []
    for v in base:
        if v not in unique:
            unique.append(v)
    return [_ABSENT, *unique]


_ABSENT = object()


def _recipients(bundle: Bundle) -> list[str | None]:
    names: list[str | None] = [None]  # the requester itself
    names += list(bundle.recipients)
    names += [v for v in _mentioned(bundle, "context", "recipient") if isinstance(v, str)]
    names.append(OTHER + "recipient")
    return list(dict.fromkeys(names))


def _subject_ids(bundle: Bundle) -> list[str]:
    ids = [v for v in _mentioned(bundle, "subject", "id") if isinstance(v, str)]
    return list(dict.fromkeys([SUBJECT_ID, *ids]))


def _attr_space(bundle: Bundle, ace: str, decls: dict[str, AttributeDecl]) -> list[dict[str, Any]]:
    names = sorted(decls)
    choices = [_choices(bundle, ace, n, decls[n]) for n in names]
    out = []
    for combo in itertools.product(*choices):
        out.append({n: v for n, v in zip(names, combo, strict=True) if v is not _ABSENT})
    return out


def request_space(bundle: Bundle) -> tuple[int, Iterator[Request]]:
    """(how many requests, the requests) a proof of ``bundle`` plans."""
    subjects = _attr_space(bundle, "subject", bundle.subject_attributes)
    contexts = _attr_space(bundle, "context", bundle.context_attributes)
    datasets = sorted(bundle.datasets)
    purposes = sorted(bundle.vocabulary.purposes)
    actions = list(bundle.vocabulary.actions)
    recipients = _recipients(bundle)
    ids = _subject_ids(bundle)
    reasons = [None, REASON]
    dims = (ids, subjects, contexts, datasets, purposes, actions, recipients, reasons)
    total = 1
    for d in dims:
        total *= len(d)

    def gen() -> Iterator[Request]:
        for sid, subj, ctx, ds, purpose, action, rcpt, reason in itertools.product(*dims):
            yield Request(
                subject_id=sid,
                subject=subj,
                context=ctx,
                dataset=ds,
                purpose=purpose,
                action=action,
                recipient=rcpt,
                reason=reason,
            )

    return total, gen()


#: Reports by bundle version (a hash of every file's bytes): the same bundle loaded again
#: in one process (a service restarting its app, a reload with no change) is not proved
#: twice.
_PROVED: dict[str, ProofReport] = {}
_PROVED_LOCK = threading.Lock()


def prove(bundle: Bundle) -> ProofReport:
    """Judge every request of the bundle's request space; one counterexample per distinct
    (kind, name, field, problem). Memoized per bundle version."""
    with _PROVED_LOCK:
        hit = _PROVED.get(bundle.version)
    if hit is not None:
        return hit
    report = _prove(bundle)
    with _PROVED_LOCK:
        if len(_PROVED) > 64:
            _PROVED.clear()
        _PROVED[bundle.version] = report
    return report


def _prove(bundle: Bundle) -> ProofReport:
    report = ProofReport(
        views=tuple(v.name for v in bundle.views),
        assertions=tuple(a.id for a in bundle.assertions),
        counterexamples=[],
    )
    if not bundle.views and not bundle.assertions:
        return report
    total, requests = request_space(bundle)
    report.requests = total
    if total > MAX_REQUESTS:
        raise_too_many(bundle, total)
    found: dict[tuple[str, str, str, str], Counterexample] = {}
    for req in requests:
        try:
            plan = build_plan(bundle, req)
        except (RequestError, AccessDenied):
            continue  # the request cannot be made, or is refused before any record
        if refusal_of(plan) is not None:
            continue
        report.planned += 1
        for view in views_of(bundle, plan):
            report.scoped[view.name] = report.scoped.get(view.name, 0) + 1
        for a in bundle.assertions:
            datasets = frozenset(a.assertion.datasets) if a.assertion.datasets else None
            if scope_holds(a.when, datasets, plan):
                report.scoped[a.id] = report.scoped.get(a.id, 0) + 1
        for v in conformance(bundle, plan):
            key = (v.kind, v.name, v.field, v.message)
            if key not in found:
                found[key] = Counterexample(req, v)
    report.counterexamples = list(found.values())
    return report


def raise_too_many(bundle: Bundle, total: int) -> None:
    from ..errors import PolicyError

    raise PolicyError(
        [
            Issue(
                "proof",
                f"{total:,} requests to prove (more than {MAX_REQUESTS:,})",
                str(bundle.root),
                hint="declare 'values' for fewer attributes, or fewer values",
            )
        ]
    )


def issues_of(bundle: Bundle, report: ProofReport) -> list[Issue]:
    """Counterexamples as validation issues, located at the view or assertion."""
    out: list[Issue] = []
    views = {v.name: v for v in bundle.views}
    assertions = {a.id: a for a in bundle.assertions}
    for cx in report.counterexamples or []:
        v = cx.violation
        src = views[v.name].src if v.name in views else assertions[v.name].src
        code = "assertion" if v.kind == "assertion" else "profile"
        out.append(
            Issue(
                code,
                cx.render(),
                src.file,
                src.line(),
                src.where(),
                _hint(v),
            )
        )
    return out


def _hint(v: Violation) -> str:
    if v.kind == "agreement":
        return "declare the recipient with agreements: [data_use_agreement], or narrow the view"
    if v.kind == "purpose":
        return "declare the purpose's category, or narrow the view's scope"
    if v.rules:
        return f"change rule(s) {', '.join(v.rules)} for this field, or narrow the scope"
    return "add a rule that removes or treats this field"
