"""A plan judged against the bundle's profile views and assertions.

Used twice: by :mod:`veil.policy.proofs`, over every request a bundle can receive, when a
bundle is validated; and by :func:`veil.policy.plan.compile_plan` for each request, so a
request the proof did not foresee (an attribute value outside the declared vocabulary,
say) is still refused rather than disclosed. A violation names the view or assertion,
the field, its outcome and the rules behind it, never a value.

A plan with record-dependent rules has one decision table per combination of its record
predicates; every combination is judged (conservatively: some may be impossible).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .conditions import ALWAYS, Context, Dnf
from .decision import Decision
from .matching import residual
from .profiles import IdClass, disclosure_of, judge

if TYPE_CHECKING:
    from .bundle import Bundle, CompiledAssertion, DatasetInfo, FieldInfo, View
    from .plan import Plan

#: Beyond this many record predicates, tables are not enumerated: the request is refused
#: as unprovable instead (2**10 tables per plan is already far beyond real bundles).
MAX_MASK_BITS = 10


@dataclass(frozen=True)
class Violation:
    """One field outcome a view or assertion does not accept."""

    kind: str  # "profile" | "assertion" | "agreement" | "purpose"
    name: str  # view name or assertion id
    field: str
    outcome: str
    rules: tuple[str, ...]
    cite: str
    message: str
    #: rule ids whose record conditions hold in the table that shows the violation
    when_record: tuple[str, ...] = ()

    def describe(self) -> str:
        where = f"field '{self.field}' is disclosed as {self.outcome}" if self.field else ""
        by = f" by rule(s) {', '.join(self.rules)}" if self.rules else " (no rule allows it)"
        rec = f" when the record matches {', '.join(self.when_record)}" if self.when_record else ""
        what = f"{where}{by}{rec}: " if where else ""
        label = "assertion" if self.kind == "assertion" else "view"
        return f"{label} '{self.name}' ({self.cite}): {what}{self.message}"


def scope_holds(when: dict[str, Dnf], datasets: frozenset[str] | None, plan: Plan) -> bool:
    """Does a view's or assertion's scope select this plan's request?"""
    if datasets is not None and plan.dataset.name not in datasets:
        return False
    ctx = Context(plan.elements)
    return all(residual(when.get(ace, ALWAYS), ctx) == ALWAYS for ace in when)


def views_of(bundle: Bundle, plan: Plan) -> list[View]:
    return [v for v in bundle.views if scope_holds(v.when, v.datasets, plan)]


def classes_of(view: View, ds: DatasetInfo, f: FieldInfo) -> list[IdClass]:
    """The profile classes a field holds: by its tags, and the key class for record keys."""
    out = [view.profile.cls(cid) for cid, tags in view.class_tags.items() if f.tags & tags]
    key = view.profile.key_class
    if key is not None and f.path in (".".join(ds.record_id), ".".join(ds.data_subject)):
        cls = view.profile.cls(key)
        if cls not in out:
            out.append(cls)
    return out


def _tables(plan: Plan) -> Iterator[tuple[dict[str, Decision], tuple[str, ...]]]:
    """Every decision table of the plan, with the rules whose record predicates hold."""
    k = len(plan.predicates)
    for mask in range(1 << k):
        held = tuple(plan.predicate_rules[i] for i in range(k) if mask >> i & 1)
        yield plan.decide(mask), held


def _leaves(plan: Plan) -> list[str]:
    return [p for p, fr in plan.fields.items() if not fr.info.is_container]


def check_views(bundle: Bundle, plan: Plan) -> list[Violation]:
    """Violations of every view whose scope selects this plan's request."""
    views = views_of(bundle, plan)
    if not views:
        return []
    out = _agreements(bundle, plan, views)
    if len(plan.predicates) > MAX_MASK_BITS:
        return [
            *out,
            *(
                Violation(
                    "profile",
                    v.name,
                    "",
                    "",
                    (),
                    v.profile.ref,
                    f"{len(plan.predicates)} record-dependent conditions apply; veil proves "
                    f"at most {MAX_MASK_BITS}",
                )
                for v in views
            ),
        ]
    ds = plan.dataset
    leaves = _leaves(plan)
    seen: set[tuple[str, str, str]] = set()
    for table, held in _tables(plan):
        for view in views:
            for path in leaves:
                d = table[path]
                if not d.outcome.discloses:
                    continue
                for cls in classes_of(view, ds, plan.fields[path].info):
                    key = (view.name, path, d.outcome.describe() + cls.id)
                    if key in seen:
                        continue
                    seen.add(key)
                    problem = judge(cls, d.outcome, plan.fields[path].info.value_type, view.options)
                    if problem:
                        out.append(
                            Violation(
                                "profile",
                                view.name,
                                path,
                                d.outcome.describe(),
                                d.rules,
                                f"{view.profile.ref}, class {cls.id}, {cls.cite}",
                                problem,
                                held,
                            )
                        )
    return out


def _agreements(bundle: Bundle, plan: Plan, views: list[View]) -> list[Violation]:
    out: list[Violation] = []
    req = plan.request
    recipient = req.effective_recipient
    purpose = bundle.purposes.get(req.purpose)
    for view in views:
        p = view.profile
        if p.agreement is not None:
            decl = bundle.recipients.get(recipient)
            if decl is None or p.agreement not in decl.agreements:
                out.append(
                    Violation(
                        "agreement",
                        view.name,
                        "",
                        "",
                        (),
                        f"{p.ref}, 45 CFR 164.514(e)(4)",
                        f"recipient '{recipient}' is not declared with a {p.agreement} "
                        "(recipients: {id: {agreements: [...]}})",
                    )
                )
        if p.purposes is not None and (purpose is None or purpose.category not in p.purposes):
            category = purpose.category if purpose else "undeclared"
            out.append(
                Violation(
                    "purpose",
                    view.name,
                    "",
                    "",
                    (),
                    f"{p.ref}, 45 CFR 164.514(e)(3)(i)",
                    f"purpose '{req.purpose}' ({category}) is not one of "
                    f"{', '.join(sorted(p.purposes))}",
                )
            )
    return out


def selects(a: CompiledAssertion, f: FieldInfo) -> bool:
    sel = a.assertion.fields
    if sel.fields is not None and any(
        fnmatch.fnmatchcase(f.path, pat.replace("[", "[[]")) for pat in sel.fields
    ):
        return True
    if sel.tags is not None and f.tags.intersection(sel.tags):
        return True
    return sel.types is not None and (f.type in sel.types or f.value_type in sel.types)


def check_assertions(bundle: Bundle, plan: Plan) -> list[Violation]:
    """Violations of every assertion whose scope selects this plan's request."""
    scoped = [
        a
        for a in bundle.assertions
        if scope_holds(
            a.when,
            frozenset(a.assertion.datasets) if a.assertion.datasets is not None else None,
            plan,
        )
    ]
    if not scoped:
        return []
    out: list[Violation] = []
    seen: set[tuple[str, str, str]] = set()
    for table, held in _tables(plan) if len(plan.predicates) <= MAX_MASK_BITS else ():
        for a in scoped:
            for path in _leaves(plan):
                info = plan.fields[path].info
                d = table[path]
                if not selects(a, info):
                    continue
                kind = disclosure_of(d.outcome)
                allowed = a.assertion.allow
                bad = (
                    kind not in allowed
                    if allowed is not None
                    else kind in (a.assertion.never or [])
                )
                key = (a.id, path, kind)
                if bad and key not in seen:
                    seen.add(key)
                    rule = (
                        f"allows only {', '.join(allowed)}"
                        if allowed is not None
                        else f"never {', '.join(a.assertion.never or [])}"
                    )
                    out.append(
                        Violation(
                            "assertion",
                            a.id,
                            path,
                            d.outcome.describe(),
                            d.rules,
                            f"{a.src.file}:{a.src.line() or '?'}",
                            f"the assertion {rule}; this outcome discloses '{kind}'",
                            held,
                        )
                    )
    return out


def conformance(bundle: Bundle, plan: Plan) -> list[Violation]:
    """Everything this plan would disclose that a view or assertion does not accept."""
    if not bundle.views and not bundle.assertions:
        return []
    return [*check_views(bundle, plan), *check_assertions(bundle, plan)]


def as_jsonable(v: Violation) -> dict[str, Any]:
    return {
        "kind": v.kind,
        "name": v.name,
        "field": v.field,
        "outcome": v.outcome,
        "rules": list(v.rules),
        "cite": v.cite,
        "message": v.message,
        "when_record": list(v.when_record),
    }
