"""Request -> plan: one decision per field, plus row filters, computed once.

Compilation evaluates every rule condition that does not read record values, per
request (subject, action, context) and per field (resource: dataset, path, tags, type).
What remains are *residual predicates* over the record. A plan is pure data (picklable,
no bound keys or closures): engines bind it to keys and apply it to records, evaluating
each distinct residual predicate at most once per record and never a rule per cell.

With k residual predicates a record selects one of 2**k decision tables (its "mask");
tables are combined on first use and memoized, so combining too happens per table,
not per record.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field, replace
from threading import Lock
from typing import Any

from ..errors import AccessDenied
from ..request import Request, check_request
from .bundle import Bundle, CompiledRule, DatasetInfo, FieldInfo
from .compliance import accounting_basis
from .conditions import ALWAYS, Context, Dnf
from .decision import Decision, Match, combine
from .matching import conjoin, residual, resource_element, target_matches
from .views import conformance, views_of

MAX_PREDICATES = 16
MIN_REASON_CHARS = 8


@dataclass(frozen=True)
class FieldRules:
    info: FieldInfo
    static: tuple[Match, ...]
    dynamic: tuple[tuple[int, Match], ...]  # (predicate index, match)


@dataclass(frozen=True)
class Plan:
    bundle: str
    bundle_version: str
    request: Request
    dataset: DatasetInfo
    fields: dict[str, FieldRules]
    predicates: tuple[Dnf, ...]
    predicate_rules: tuple[str, ...]  # rule id behind each predicate, for explanations
    row_filters: tuple[tuple[str, int | None], ...]  # (rule id, predicate index or None=always)
    notes: tuple[str, ...] = ()
    #: profile views that govern this request: view name -> profile (``name@version``)
    views: tuple[tuple[str, str], ...] = ()
    #: what the ledger event records for the accounting of disclosures (164.528)
    accounting: dict[str, Any] = field(default_factory=dict, compare=False)
    _memo: dict[int, dict[str, Decision]] = field(default_factory=dict, compare=False, repr=False)

    @property
    def elements(self) -> dict[str, dict[str, object]]:
        return self.request.elements()

    def decide(self, mask: int = 0) -> dict[str, Decision]:
        """Decisions for every field when exactly the predicates in ``mask`` hold."""
        table = self._memo.get(mask)
        if table is None:
            table = {
                path: combine([*fr.static, *(m for i, m in fr.dynamic if mask >> i & 1)])
                for path, fr in self.fields.items()
            }
            self._memo[mask] = table
        return table

    @property
    def row_dependent(self) -> bool:
        return bool(self.predicates)

    def __getstate__(self) -> dict[str, object]:
        state = dict(self.__dict__)
        state["_memo"] = {}
        return state


def _rule_residual(cr: CompiledRule, ctx: Context) -> Dnf:
    """AND of the rule's subject, action and context residuals (resource comes per field)."""
    out: Dnf = ALWAYS
    for ace in ("subject", "action", "context"):
        out = conjoin(out, residual(cr.when[ace], ctx))
        if out == ():
            return ()
    return out


def compile_plan(bundle: Bundle, req: Request) -> Plan:
    """Build the plan and refuse it if policy denies the request (raises AccessDenied),
    or if it would disclose something a profile view or assertion of the bundle does not
    accept: ``veil policy validate`` proves that over every declared request, and this
    catches the requests it could not foresee (fail closed)."""
    plan = build_plan(bundle, req)
    refusal = refusal_of(plan)
    if refusal is not None:
        raise refusal
    violations = conformance(bundle, plan)
    if violations:
        v = violations[0]
        raise AccessDenied(
            f"policy cannot prove this disclosure: {v.describe()}",
            rule_ids=v.rules,
            hint="run `veil policy validate` on the bundle and fix what it reports",
        )
    return plan


def build_plan(bundle: Bundle, req: Request) -> Plan:
    """The plan, even for a request policy refuses (``explain`` shows why)."""
    check_request(bundle, req)
    ds = bundle.datasets[req.dataset]
    elements = req.elements()
    ctx = Context(elements)
    notes: list[str] = []
    predicates: list[Dnf] = []
    predicate_rules: list[str] = []

    def predicate(dnf: Dnf, rule_id: str) -> int | None:
        if dnf == ALWAYS:
            return None
        for i, existing in enumerate(predicates):
            if existing == dnf:
                return i
        if len(predicates) >= MAX_PREDICATES:
            raise AccessDenied(
                f"more than {MAX_PREDICATES} row-dependent conditions apply to this request",
                hint="simplify the bundle's row-dependent rules for this dataset",
            )
        predicates.append(dnf)
        predicate_rules.append(rule_id)
        return len(predicates) - 1

    active: list[tuple[CompiledRule, Dnf]] = []
    for cr in bundle.rules:
        if not target_matches(cr, ds, None):
            continue
        r = _rule_residual(cr, ctx)
        if r == ():
            continue
        if cr.rule.break_glass and len((req.reason or "").strip()) < MIN_REASON_CHARS:
            notes.append(
                f"break-glass rule '{cr.id}' ignored: the request gives no reason "
                f"(at least {MIN_REASON_CHARS} characters)"
            )
            continue
        active.append((cr, r))

    row_filters: list[tuple[str, int | None]] = []
    fields: dict[str, FieldRules] = {}
    for cr, r in active:
        if cr.outcome is None:
            rctx = Context({**elements, "resource": resource_element(ds, None)})
            rr = conjoin(r, residual(cr.when["resource"], rctx))
            if rr != ():
                row_filters.append((cr.id, predicate(rr, cr.id)))
    for f in ds.fields.values():
        static: list[Match] = []
        dynamic: list[tuple[int, Match]] = []
        fctx = Context({**elements, "resource": resource_element(ds, f)})
        for cr, r in active:
            out = cr.outcome
            if out is None or not target_matches(cr, ds, f):
                continue
            if f.is_container and out.verdict == "transform":
                continue  # transforms apply to scalars; containers are traversed
            rr = conjoin(r, residual(cr.when["resource"], fctx))
            if rr == ():
                continue
            m = Match(
                cr.id, cr.order, out, cr.rule.exception, cr.rule.priority, cr.rule.break_glass
            )
            idx = predicate(rr, cr.id)
            if idx is None:
                static.append(m)
            else:
                dynamic.append((idx, m))
        fields[f.path] = FieldRules(f, tuple(static), tuple(dynamic))

    plan = Plan(
        bundle.name,
        bundle.version,
        req,
        ds,
        fields,
        tuple(predicates),
        tuple(predicate_rules),
        tuple(row_filters),
        tuple(notes),
    )
    views = tuple((v.name, v.profile.ref) for v in views_of(bundle, plan))
    basis = accounting_basis(
        bundle.purposes, bundle.recipients, req.purpose, req.effective_recipient, views
    )
    return replace(plan, views=views, accounting=basis, _memo={})


def refusal_of(plan: Plan) -> AccessDenied | None:
    """Why policy refuses the whole request, or None. Checked before any record is read."""
    ds, req = plan.dataset, plan.request
    base = plan.decide(0)
    denied = [(p, d) for p, d in base.items() if d.outcome.verdict == "deny"]
    if denied:
        path, d = denied[0]
        return AccessDenied(
            f"policy refuses this request: field '{path}' of dataset '{ds.name}' is denied "
            f"to this requester for purpose '{req.purpose}'",
            rule_ids=d.rules,
            hint=f"rule(s) {', '.join(d.rules)}; ask for a purpose or dataset you are allowed",
        )
    if not _can_disclose_anything(plan):
        return AccessDenied(
            f"no field of dataset '{ds.name}' may be disclosed to this requester for purpose "
            f"'{req.purpose}'",
            hint="no rule allows any field for this subject, purpose and context",
        )
    return None


def _can_disclose_anything(plan: Plan) -> bool:
    leaves = [p for p, fr in plan.fields.items() if not fr.info.is_container]
    if any(plan.decide(0)[p].outcome.discloses for p in leaves):
        return True
    return any(m.outcome.discloses for fr in plan.fields.values() for _, m in fr.dynamic)


class PlanCache:
    """LRU of plans keyed by bundle version and the canonical request."""

    def __init__(self, size: int = 256) -> None:
        self._size = size
        self._items: OrderedDict[tuple[str, str], Plan] = OrderedDict()
        self._lock = Lock()
        self.hits = 0
        self.misses = 0

    def get(self, bundle: Bundle, req: Request) -> Plan:
        key = (bundle.version, req.cache_key())
        with self._lock:
            plan = self._items.get(key)
            if plan is not None:
                self._items.move_to_end(key)
                self.hits += 1
                return plan
        plan = compile_plan(bundle, req)
        with self._lock:
            self.misses += 1
            self._items[key] = plan
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return plan
