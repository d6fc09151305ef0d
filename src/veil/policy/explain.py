"""Why each field gets what it gets: the outcome, the rules behind it, what they overrode."""

from __future__ import annotations

from dataclasses import dataclass

from .plan import Plan, refusal_of


@dataclass(frozen=True)
class FieldExplanation:
    path: str
    type: str
    tags: tuple[str, ...]
    outcome: str  # describe(): e.g. "mask(keep_last=4)", "clear", "redacted"
    label: str
    rules: tuple[str, ...]
    overridden: tuple[str, ...]
    reason: str
    container: bool
    #: (rule id of the record condition, outcome when that condition holds)
    conditional: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Explanation:
    bundle: str
    bundle_version: str
    dataset: str
    fields: tuple[FieldExplanation, ...]
    row_filters: tuple[tuple[str, str], ...]
    notes: tuple[str, ...]
    refused: str | None

    def outcome_of(self, path: str) -> str:
        for f in self.fields:
            if f.path == path:
                return f.label
        raise KeyError(path)

    def as_dict(self) -> dict[str, object]:
        return {
            "bundle": self.bundle,
            "bundle_version": self.bundle_version,
            "dataset": self.dataset,
            "refused": self.refused,
            "row_filters": [{"rule": r, "when": w} for r, w in self.row_filters],
            "notes": list(self.notes),
            "fields": [
                {
                    "path": f.path,
                    "type": f.type,
                    "tags": list(f.tags),
                    "outcome": f.outcome,
                    "rules": list(f.rules),
                    "overridden": list(f.overridden),
                    "reason": f.reason,
                    "conditional": [{"rule": r, "outcome": o} for r, o in f.conditional],
                }
                for f in self.fields
            ],
        }


def explain(plan: Plan) -> Explanation:
    base = plan.decide(0)
    out = []
    for path, fr in plan.fields.items():
        d = base[path]
        info = fr.info
        conditional = []
        for idx in sorted({i for i, _ in fr.dynamic}):
            alt = plan.decide(1 << idx)[path]
            if alt.outcome != d.outcome:
                conditional.append((plan.predicate_rules[idx], alt.outcome.describe()))
        if info.is_container:
            cut = bool(d.rules) and not d.outcome.discloses
            inside = [
                base[p].outcome.discloses
                for p, f in plan.fields.items()
                if not f.info.is_container
                and (p.startswith(path + ".") or p.startswith(path + "[*]."))
            ]
            if cut:
                outcome, reason = "redacted", d.reason
            elif not any(inside):
                outcome, reason = "redacted", "nothing inside it is disclosed"
            else:
                outcome, reason = "traversed", "fields inside are decided one by one"
        else:
            outcome, reason = d.outcome.describe(), d.reason
        out.append(
            FieldExplanation(
                path,
                info.type.value,
                tuple(sorted(info.tags)),
                outcome,
                d.outcome.label if not info.is_container else outcome,
                d.rules,
                d.overridden,
                reason,
                info.is_container,
                tuple(conditional),
            )
        )
    rows = tuple(
        (rule, "always" if idx is None else "when the record matches the rule's conditions")
        for rule, idx in plan.row_filters
    )
    refusal = refusal_of(plan)
    return Explanation(
        plan.bundle,
        plan.bundle_version,
        plan.dataset.name,
        tuple(out),
        rows,
        plan.notes,
        refusal.message if refusal else None,
    )
