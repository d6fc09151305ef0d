"""Who sees what, for a whole bundle: fields x (role, purpose) -> the most a field reveals.

A cell stands for every request with that role and purpose the bundle's vocabulary can
form (every other subject attribute, recipient, context value; with and without a
break-glass reason; action ``read``), planned exactly as a live request is
(:func:`veil.policy.plan.build_plan`). The cell shows the *most revealing* outcome among
them — a reviewer must see the worst case — and says when the outcome varies, with the
request that produced the worst one, so a click can explain it. Refused requests do not
count; a column where every request is refused is marked so.

The same function over two bundles is the diff: every cell whose outcome changes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from ..errors import AccessDenied, RequestError
from ..policy.bundle import Bundle
from ..policy.explain import explain
from ..policy.plan import build_plan
from ..policy.proofs import request_space
from ..request import Request

#: How much an outcome label reveals (higher: more). Unknown labels count as transformed.
LEVELS: dict[str, int] = {
    "clear": 4,
    "tokenize": 3,
    "hash": 3,
    "pseudonymize": 3,
    "fpe": 3,
    "date_shift": 3,
    "mask": 2,
    "generalize": 2,
    "scan_text": 2,
    "bucket": 2,
    "redacted": 0,
    "withheld": 0,
    "omit": 0,
}
LEVEL_NAMES = {4: "clear", 3: "pseudonymized", 2: "transformed", 0: "withheld", -1: "refused"}


def level_of(label: str) -> int:
    return LEVELS.get(label, 2)


@dataclass
class Cell:
    level: int = -1
    outcome: str = "refused"
    rules: tuple[str, ...] = ()
    outcomes: set[str] = field(default_factory=set)
    #: the request that gave the most revealing outcome
    request: Request | None = None

    @property
    def varies(self) -> bool:
        return len(self.outcomes) > 1

    @property
    def level_name(self) -> str:
        return LEVEL_NAMES.get(self.level, "transformed")


@dataclass
class DatasetMatrix:
    dataset: str
    fields: list[str]
    columns: list[tuple[str, str]]  # (role, purpose)
    cells: dict[tuple[str, str, str], Cell]  # (field, role, purpose)

    def cell(self, path: str, role: str, purpose: str) -> Cell:
        return self.cells.get((path, role, purpose)) or Cell()


@dataclass
class Matrix:
    bundle: str
    bundle_version: str
    role_attribute: str
    datasets: dict[str, DatasetMatrix]
    requests: int = 0


def _role_attribute(bundle: Bundle) -> str:
    if "role" in bundle.subject_attributes:
        return "role"
    return sorted(bundle.subject_attributes)[0] if bundle.subject_attributes else "role"


def build_matrix(bundle: Bundle) -> Matrix:
    """The matrix of ``bundle`` (read requests only; seconds for the shipped bundles)."""
    role_attr = _role_attribute(bundle)
    _, requests = request_space(bundle)
    out: dict[str, dict[tuple[str, str, str], Cell]] = {ds: {} for ds in bundle.datasets}
    columns: dict[str, set[tuple[str, str]]] = {ds: set() for ds in bundle.datasets}
    fields: dict[str, list[str]] = {}
    n = 0
    for req in requests:
        if req.action != "read":
            continue
        n += 1
        role = str(req.subject.get(role_attr, "(none)"))
        try:
            plan = build_plan(bundle, req)
        except (AccessDenied, RequestError):
            continue
        ex = explain(plan)
        if ex.refused:
            continue
        ds = req.dataset
        columns[ds].add((role, req.purpose))
        if ds not in fields:
            fields[ds] = [f.path for f in ex.fields if not f.container]
        for f in ex.fields:
            if f.container:
                continue
            key = (f.path, role, req.purpose)
            cell = out[ds].get(key)
            if cell is None:
                cell = out[ds][key] = Cell()
            cell.outcomes.add(f.outcome)
            lvl = level_of(f.label)
            if lvl > cell.level:
                cell.level, cell.outcome, cell.rules, cell.request = (
                    lvl,
                    f.outcome,
                    f.rules,
                    req,
                )
    datasets = {
        ds: DatasetMatrix(
            ds,
            fields.get(ds, sorted(bundle.datasets[ds].fields)),
            sorted(columns[ds]),
            out[ds],
        )
        for ds in sorted(bundle.datasets)
    }
    return Matrix(bundle.name, bundle.version, role_attr, datasets, n)


_CACHE: dict[str, Matrix] = {}
_LOCK = threading.Lock()


def matrix_of(bundle: Bundle) -> Matrix:
    """:func:`build_matrix`, memoized per bundle version."""
    with _LOCK:
        hit = _CACHE.get(bundle.version)
    if hit is not None:
        return hit
    m = build_matrix(bundle)
    with _LOCK:
        if len(_CACHE) > 16:
            _CACHE.clear()
        _CACHE[bundle.version] = m
    return m


@dataclass(frozen=True)
class Change:
    dataset: str
    field: str
    role: str
    purpose: str
    before: Cell
    after: Cell

    @property
    def direction(self) -> str:
        if self.after.level > self.before.level:
            return "reveals more"
        if self.after.level < self.before.level:
            return "reveals less"
        return "changes"


def diff(old: Matrix, new: Matrix) -> list[Change]:
    """Every (dataset, field, role, purpose) whose worst-case outcome differs."""
    out: list[Change] = []
    for ds in sorted(set(old.datasets) | set(new.datasets)):
        a = old.datasets.get(ds)
        b = new.datasets.get(ds)
        keys: Iterable[tuple[str, str, str]] = set(a.cells if a else {}) | set(b.cells if b else {})
        for path, role, purpose in sorted(keys):
            before = a.cell(path, role, purpose) if a else Cell()
            after = b.cell(path, role, purpose) if b else Cell()
            if (before.level, before.outcome) != (after.level, after.outcome):
                out.append(Change(ds, path, role, purpose, before, after))
    return out
