"""Which fields a rule is about, and partial evaluation of its conditions.

Everything a rule reads except record values is known once the request is known, so a
rule reduces, per field, to: never, always, or a residual condition over the record.
Residuals are what row-dependent plans evaluate per record (never per cell).
"""

from __future__ import annotations

import fnmatch
import itertools
from typing import Any

from .bundle import CompiledRule, DatasetInfo, FieldInfo
from .conditions import ALWAYS, Clause, Context, Dnf, evaluate

#: context attributes every request has, besides those a bundle declares
RESERVED_CONTEXT = ("purpose", "recipient", "reason")
RESOURCE_KEYS = ("dataset", "path", "tags", "type", "record")


def resource_element(ds: DatasetInfo, f: FieldInfo | None) -> dict[str, Any]:
    if f is None:  # row rules: the resource is the record of the dataset
        return {"dataset": ds.name}
    return {"dataset": ds.name, "path": f.path, "tags": sorted(f.tags), "type": f.type.value}


def target_matches(rule: CompiledRule, ds: DatasetInfo, f: FieldInfo | None) -> bool:
    t = rule.rule.target
    if t.datasets is not None and ds.name not in t.datasets:
        return False
    if f is None:
        return True
    # '[' is literal in field paths ("name[*].given"), not a character class.
    if t.fields is not None and not any(
        fnmatch.fnmatchcase(f.path, p.replace("[", "[[]")) for p in t.fields
    ):
        return False
    if t.tags is not None and not f.tags.intersection(t.tags):
        return False
    return t.types is None or f.type in t.types or f.value_type in t.types


def residual(dnf: Dnf, ctx: Context) -> Dnf:
    """Drop conjuncts whose static clauses fail; keep only their dynamic clauses.

    ``()`` means the element can never match; a conjunct ``()`` means it always does.
    """
    out: list[tuple[Clause, ...]] = []
    for conj in dnf:
        dynamic: list[Clause] = []
        for clause in conj:
            if clause.dynamic:
                dynamic.append(clause)
                continue
            ctx.focus(clause)
            if not evaluate(clause.condition, ctx):
                break
        else:
            if not dynamic:
                return ALWAYS
            out.append(tuple(dynamic))
    return tuple(out)


def conjoin(a: Dnf, b: Dnf) -> Dnf:
    """AND of two DNFs (cross product of their conjuncts)."""
    if not a or not b:
        return ()
    if a == ALWAYS:
        return b
    if b == ALWAYS:
        return a
    merged = list(dict.fromkeys(tuple(dict.fromkeys(x + y)) for x, y in itertools.product(a, b)))
    return ALWAYS if () in merged else tuple(merged)
