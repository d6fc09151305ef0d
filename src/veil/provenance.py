"""How a disclosure was made, as a ledger event records it: each field's effective transform
parameters (defaults included) and reference-table versions, the veil release, the views
in force and the accounting basis. A rule that reads ``generalize(method='zip3')`` today
may mean another table tomorrow; the event says which one was used.

Computed once per outcome and cached: events of one plan share the entries.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from importlib import metadata
from typing import Any

from .policy.decision import Outcome
from .policy.plan import Plan
from .transforms import REGISTRY


@functools.cache
def veil_version() -> str:
    try:
        return metadata.version("veil")
    except metadata.PackageNotFoundError:  # running from a source tree without install
        return "0+unknown"


@functools.lru_cache(maxsize=4096)
def _treatment(outcome: Outcome) -> tuple[str, dict[str, Any], dict[str, str]]:
    if outcome.verdict != "transform" or outcome.params is None:
        return outcome.describe(), {}, {}
    spec = REGISTRY[outcome.transform or ""]
    return (
        outcome.describe(),
        outcome.params.model_dump(mode="json"),
        spec.tables(outcome.params),
    )


def treatment(outcome: Outcome) -> dict[str, Any]:
    """``{"treatment", "params", "tables"}`` of a field's outcome, for its event entry."""
    try:
        desc, params, tables = _treatment(outcome)
    except TypeError:  # params that cannot be hashed: compute without the cache
        desc, params, tables = _treatment.__wrapped__(outcome)
    return {"treatment": desc, "params": dict(params), "tables": dict(tables)}


def event_extras(plan: Plan) -> dict[str, Any]:
    """The event body entries every disclosure of ``plan`` carries."""
    return {
        "veil_version": veil_version(),
        "views": dict(plan.views),
        "accounting": dict(plan.accounting) if plan.accounting else None,
    }


def undeclared_summary(counts: Mapping[str, int]) -> dict[str, int]:
    """What a ledger event records of undeclared fields: how many values in how many
    distinct fields, never their names. Names can carry data (a key named after an SSN,
    a column named after a patient), and 50,000 of them made one event half a megabyte."""
    if not counts:
        return {}
    return {"values": sum(counts.values()), "fields": len(counts)}
