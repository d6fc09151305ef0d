"""The record engine: applies a plan to JSON-like dicts (flat or nested).

An :class:`Executor` binds a plan to keys once (every transform op is built before the
first record is read, so a missing key fails before any output) and turns each
decision table into a tree of nodes. Per record it evaluates the plan's residual
predicates (once each), picks the table, then walks the record: one dict lookup and
one branch per value. Values leave only through a node whose decision discloses them.

Output keeps the input's key order. Undeclared keys are dropped and counted. A value of
the wrong type is an error (:class:`RecordError`); a value a transform cannot handle is
withheld and counted (the obligation could not be met, so nothing is disclosed).

Why one module of ~600 lines: the bound plan (:class:`Bound`), the per-record executor and
the free-text prefetch that feeds it are one hot path, shared by the columnar engine; the
columnar engine reuses :class:`Bound` so both produce the same bytes.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from .. import transforms
from ..keys import Keyring
from ..paths import get_dotted
from ..policy.bundle import FieldInfo
from ..policy.conditions import compile_dnf
from ..policy.decision import Decision
from ..policy.plan import Plan
from ..text.collect import JobText, job_scope
from ..transforms.base import BindContext, CannotApply, FieldType, Op, TokenVault
from ..transforms.text import ScanText

if TYPE_CHECKING:
    from ..text.pool import Analysis, TextPool
    from ..text.spans import Span

LEAF, OBJECT, LIST_OF_OBJECTS, LIST_OF_SCALARS = 0, 1, 2, 3
CLEAR, REDACT, APPLY, NULL = 0, 1, 2, 3
log = logging.getLogger("veil")
_SAFE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_\-]{0,63}$")


class RecordError(ValueError):
    """A record does not match its dataset's declared types. Never holds a value."""

    def __init__(self, path: str, problem: str) -> None:
        super().__init__(f"field '{path}': {problem}")
        self.path = path


def _is_date(v: Any) -> bool:
    if type(v) is not str or len(v) != 10:
        return False
    try:
        date.fromisoformat(v)
    except ValueError:
        return False
    return True


def _is_datetime(v: Any) -> bool:
    if type(v) is not str:
        return False
    try:
        datetime.fromisoformat(v)
    except ValueError:
        return False
    return True


CHECKS: dict[FieldType, Callable[[Any], bool]] = {
    FieldType.STRING: lambda v: type(v) is str,
    FieldType.INTEGER: lambda v: type(v) is int,
    # NaN and Infinity: Python's json reads them, but they are not JSON and no output
    # format veil writes can carry them (a JSON answer would be invalid).
    FieldType.NUMBER: lambda v: type(v) is int or (type(v) is float and math.isfinite(v)),
    FieldType.BOOLEAN: lambda v: type(v) is bool,
    FieldType.DATE: _is_date,
    FieldType.DATETIME: _is_datetime,
    FieldType.OBJECT: lambda v: type(v) is dict,
    FieldType.LIST: lambda v: type(v) is list,
}


_EXACT: dict[FieldType, type] = {
    FieldType.STRING: str,
    FieldType.INTEGER: int,
    FieldType.BOOLEAN: bool,
}


class Node:
    __slots__ = (
        "action",
        "check",
        "children",
        "counter",
        "item",
        "kind",
        "nullable",
        "op",
        "path",
        "ptype",
    )

    def __init__(self, path: str, kind: int, nullable: bool, check: Callable[[Any], bool]) -> None:
        self.path = path
        self.kind = kind
        self.nullable = nullable
        self.check = check
        self.action = CLEAR
        self.op: Op | None = None
        self.counter = -1
        self.children: dict[str, Node] = {}
        self.item: Callable[[Any], bool] | None = None
        #: the exact Python type a value of this leaf has on the fast path (None: always check)
        self.ptype: type | None = None


@dataclass(frozen=True)
class Tree:
    """One decision table as an immutable node tree (shared by every job of a plan)."""

    root: dict[str, Node]
    labels: list[tuple[str, str]]  # counter index -> (field path, outcome label)
    rules_used: dict[str, frozenset[str]]
    break_glass: frozenset[str]
    #: per key order seen, the straight-line function for flat records (None: there is
    #: none, the walk does them); see :func:`straight_line`
    lines: dict[tuple[Any, ...], Callable[..., Any] | None] = field(
        default_factory=dict, compare=False
    )
    #: per straight-line function (its slot), the counters each record it takes adds 1 to
    slots: list[tuple[int, ...]] = field(default_factory=list, compare=False)

    def line_for(self, keys: tuple[Any, ...]) -> Callable[..., Any] | None:
        """The straight-line function for records with keys in the order ``keys``, made
        on first sight (None: the walk does them). Up to ``_LINES`` functions per tree;
        key orders beyond ``_KEY_ORDERS`` are not remembered (a client sending keys in
        ever new orders must not grow the dict without bound)."""
        if keys in self.lines:
            return self.lines[keys]
        with _LINES_LOCK:  # slots are numbered in order, once each
            if keys in self.lines:
                return self.lines[keys]
            slot = len(self.slots)
            made = straight_line(self.root, keys, slot) if slot < _LINES else None
            line: Callable[..., Any] | None = None
            if made is not None:
                line, counters = made
                self.slots.append(counters)
            if line is not None or len(self.lines) < _KEY_ORDERS:
                self.lines[keys] = line
            return line


@dataclass(frozen=True)
class Prefetch:
    """Texts one analysis was started on (:meth:`Executor.prefetch_start`)."""

    op: ScanText
    texts: list[str]
    running: Analysis | None  # in a pool's workers; None: analyzed when finished


class Table:
    """A tree plus this job's counters."""

    __slots__ = ("_cells", "hits", "labels", "records", "root", "tree", "withheld")

    def __init__(self, tree: Tree) -> None:
        self.tree = tree
        self.root = tree.root
        self.labels = tree.labels
        self._cells = [0] * len(tree.labels)
        self.withheld = [0] * len(tree.labels)
        self.records = 0
        #: records each straight-line function took, by slot: one increment per record
        #: instead of one per field (a fifth of a line's time); :attr:`cells` adds them
        self.hits = [0] * _LINES

    @property
    def cells(self) -> list[int]:
        """Values counted per counter, the straight lines' records included."""
        hits = self.hits
        if any(hits):
            cells = self._cells
            for slot, counters in enumerate(self.tree.slots):
                n = hits[slot]
                if n:
                    for c in counters:
                        cells[c] += n
                    hits[slot] = 0
        return self._cells


def _kind(f: FieldInfo) -> int:
    if f.type == FieldType.OBJECT:
        return OBJECT
    if f.type == FieldType.LIST:
        return LIST_OF_OBJECTS if f.value_type == FieldType.OBJECT else LIST_OF_SCALARS
    return LEAF


def _key(path: str) -> str:
    last = path.rsplit(".", 1)[-1]
    return last[:-3] if last.endswith("[*]") else last


class Bound:
    """A plan bound to keys: every op built once, trees built on first use. Thread-safe.

    Binding happens before any record is read, so a missing key fails first; one Bound
    serves every job of its plan, so per-request cost is only the counters.
    """

    def __init__(
        self,
        plan: Plan,
        keys: Keyring,
        *,
        vault: TokenVault | None = None,
        as_of: date | None = None,
    ) -> None:
        self.plan = plan
        self.keys = keys
        self.vault = vault
        self.as_of = as_of
        self._ops: dict[tuple[str, str], Op] = {}
        self._trees: dict[int, Tree] = {}
        self._lock = threading.Lock()
        self.key_fingerprints: dict[str, str] = {}
        #: bound scan_text ops by field path (for batch prefetch)
        self.text_ops: dict[str, list[ScanText]] = {}
        #: what callers derive from a job's :meth:`Executor.tally` (the ledger event's
        #: field entries), kept per plan: jobs of one plan mostly end with equal tallies
        self.by_tally: dict[tuple[Any, ...], Any] = {}
        #: validated ledger-event templates, by tally and the job's other counts (Job.event)
        self.event_templates: dict[tuple[Any, ...], Any] = {}
        #: the plan's row predicates, each compiled once into a function of the record
        self.row_predicates = [
            compile_dnf(dnf, dict(plan.elements), plan.dataset.name) for dnf in plan.predicates
        ]
        self._bind_all()
        self.tree(0)

    def _bind_all(self) -> None:
        """Bind every op any table could need, so missing keys fail before any record."""
        outcomes = {
            (path, m.outcome)
            for path, fr in self.plan.fields.items()
            for m in [*fr.static, *(m for _, m in fr.dynamic)]
            if m.outcome.verdict == "transform" and not fr.info.is_container
        }
        for path, outcome in sorted(outcomes, key=lambda po: (po[0], po[1].describe())):
            self._op(path, outcome.describe(), outcome)

    def _op(self, path: str, desc: str, outcome: Any) -> Op:
        op = self._ops.get((path, desc))
        if op is None:
            spec = transforms.get(outcome.transform)
            info = self.plan.fields[path].info
            ctx = BindContext(
                self.plan.dataset.name,
                path,
                info.value_type,
                self.plan.request.effective_recipient,
                self.keys,
                as_of=self.as_of,
                vault=self.vault,
            )
            for name in spec.keys_of(outcome.params):
                # "v2:<fingerprint>": the version ops produce with, and which material
                self.key_fingerprints[name] = self.keys.label(name)
            op = spec.bind(outcome.params, ctx)
            self._ops[(path, desc)] = op
            if isinstance(op, ScanText):
                self.text_ops.setdefault(path, []).append(op)
        return op

    def tree(self, mask: int) -> Tree:
        t = self._trees.get(mask)
        if t is None:
            with self._lock:
                t = self._trees.get(mask)
                if t is None:
                    t = self._build(self.plan.decide(mask))
                    self._trees[mask] = t
        return t

    def _build(self, decisions: dict[str, Decision]) -> Tree:
        labels: list[tuple[str, str]] = []
        nodes: dict[str, Node] = {}
        rules_used: dict[str, frozenset[str]] = {}
        break_glass: set[str] = set()
        for path, fr in self.plan.fields.items():
            info = fr.info
            d = decisions[path]
            kind = _kind(info)
            node = Node(path, kind, info.nullable, CHECKS[info.type])
            node.ptype = _EXACT.get(info.type)
            if kind == LIST_OF_SCALARS:
                node.item = CHECKS[info.value_type]
            if info.is_container:
                node.action = REDACT if (d.rules and not d.outcome.discloses) else CLEAR
            else:
                v = d.outcome.verdict
                node.action = {"allow": CLEAR, "redact": REDACT, "deny": REDACT}.get(v, APPLY)
                if node.action == APPLY:
                    node.op = self._op(path, d.outcome.describe(), d.outcome)
                node.counter = len(labels)
                labels.append((path, d.outcome.label))
                if d.outcome.discloses:
                    rules_used[path] = frozenset(d.rules)
                break_glass.update(d.break_glass)
            nodes[path] = node
        root: dict[str, Node] = {}
        for path, node in nodes.items():
            par = _parent(path)
            (root if par is None else nodes[par].children)[_key(path)] = node
        # A container nobody may see anything inside of is omitted as a whole.
        for path in sorted(nodes, key=lambda p: -p.count(".")):
            node = nodes[path]
            if (
                node.kind in (OBJECT, LIST_OF_OBJECTS)
                and node.action == CLEAR
                and not any(c.action != REDACT for c in node.children.values())
            ):
                node.action = REDACT
        return Tree(root, labels, rules_used, frozenset(break_glass))


def _parent(path: str) -> str | None:
    if "." not in path:
        return None
    head = path.rsplit(".", 1)[0]
    return head[:-3] if head.endswith("[*]") else head


class Executor:
    """One job's view of a bound plan: the shared trees plus this job's counters."""

    def __init__(self, plan: Plan, keys: Keyring, bound: Bound | None = None) -> None:
        self.plan = plan
        self.bound = bound if bound is not None else Bound(plan, keys)
        self._tables: dict[int, Table] = {}
        self.undeclared: Counter[str] = Counter()
        #: this job's scan_text state: entity counts per field, prefetched analyses
        self.text = JobText()
        self._has_text = bool(self.bound.text_ops)
        self.table(0)

    @property
    def key_fingerprints(self) -> dict[str, str]:
        return dict(self.bound.key_fingerprints)

    @property
    def rules_used(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {}
        for t in self._tables.values():
            if t.records:
                for path, rules in t.tree.rules_used.items():
                    out.setdefault(path, set()).update(rules)
        return out

    @property
    def break_glass_rules(self) -> set[str]:
        return {r for t in self._tables.values() if t.records for r in t.tree.break_glass}

    def table(self, mask: int) -> Table:
        t = self._tables.get(mask)
        if t is None:
            t = Table(self.bound.tree(mask))
            self._tables[mask] = t
        return t

    # -- per record ---------------------------------------------------------------
    def excluded_by(self, record: dict[str, Any], mask: int) -> str | None:
        for rule_id, idx in self.plan.row_filters:
            if idx is None or mask >> idx & 1:
                return rule_id
        return None

    def mask_of(self, record: dict[str, Any]) -> int:
        mask = 0
        for i, holds in enumerate(self.bound.row_predicates):
            if holds(record):
                mask |= 1 << i
        return mask

    def apply(self, record: dict[str, Any], subject: str | None, mask: int) -> dict[str, Any]:
        t = self.table(mask)
        t.records += 1
        if self._has_text:
            with job_scope(self.text):
                return self._object(t, t.root, record, subject, "")
        keys = tuple(record)
        line = t.tree.lines.get(keys, _UNSEEN)
        if line is _UNSEEN:
            line = t.tree.line_for(keys)
        if line is not None:
            out: dict[str, Any] | None = line(record, subject, t.hits)
            if out is not None:
                return out
        return self._object(t, t.root, record, subject, "")

    # -- batches of free text -------------------------------------------------------
    def prefetch(self, records: list[Any], pool: TextPool | None = None) -> None:
        """Analyze the free text of ``records`` in batches before they are applied.

        Results equal those of analyzing each value when it is applied (the same
        analyzer, spaCy run as ``nlp.pipe``, in ``pool``'s worker processes when there
        are enough texts); they are looked up by (analysis, text) and dropped by
        :meth:`clear_prefetch`. Each distinct text is analyzed once per analysis.
        Values whose records turn out filtered or redacted are analyzed for nothing
        but never disclosed.
        """
        self.prefetch_finish(self.prefetch_start(records, pool))

    def prefetch_start(
        self, records: list[Any], pool: TextPool | None, queued: set[Any] | None = None
    ) -> list[Prefetch]:
        """The first half of :meth:`prefetch`: hand ``pool`` its share and return; the
        rest is analyzed by :meth:`prefetch_finish`. Texts in ``queued`` (keys of an
        earlier start) are skipped, and this start's are added to it."""
        if not self._has_text:
            return []
        from ..text.pool import MIN_TEXTS, PoolFailed

        queued = set() if queued is None else queued
        done = self.text.prefetched
        out: list[Prefetch] = []
        for path, ops in self.bound.text_ops.items():
            texts = list(dict.fromkeys(strings_at(records, path)))
            for op in {o.analysis_key: o for o in ops}.values():
                key = op.analysis_key
                todo = [x for x in texts if (key, x) not in done and (key, x) not in queued]
                if not todo:
                    continue
                queued.update((key, x) for x in todo)
                running = None
                if pool is not None and len(todo) >= MIN_TEXTS:
                    try:
                        running = pool.start(op.config, op.query, todo)
                    except PoolFailed as exc:
                        log.warning("%s; analyzing in-process", exc)
                out.append(Prefetch(op, todo, running))
        return out

    def prefetch_finish(self, started: list[Prefetch]) -> None:
        """Collect (or, without a pool, do) the analyses of :meth:`prefetch_start`."""
        if not started:
            return
        from ..text.engine import analyzer_for
        from ..text.pool import PoolFailed

        done = self.text.prefetched
        for p in started:
            found: list[list[Span]] | None = None
            if p.running is not None:
                try:
                    found = p.running.result()
                except PoolFailed as exc:
                    log.warning("%s; analyzing in-process", exc)
            try:
                if found is None:
                    found = analyzer_for(p.op.config).analyze_batch(p.texts, p.op.query)
            except Exception as exc:
                # Not fatal here: each value is analyzed again when applied, and
                # withheld if that fails too (EngineUnavailable, a detector bug).
                log.warning("batch text analysis failed (%s)", type(exc).__name__)
                continue
            for text, spans in zip(p.texts, found, strict=True):
                done[(p.op.analysis_key, text)] = spans

    def clear_prefetch(self) -> None:
        self.text.prefetched.clear()

    def _object(
        self,
        t: Table,
        nodes: dict[str, Node],
        src: dict[str, Any],
        subject: str | None,
        prefix: str,
    ) -> dict[str, Any]:
        out: dict[str, Any] = {}
        cells = t.cells
        get = nodes.get
        for key, value in src.items():
            node = get(key)
            if node is None:
                name = key if type(key) is str and _SAFE_NAME.match(key) else "<unnamed>"
                self.undeclared[prefix + name] += 1
                continue
            kind = node.kind
            if kind == LEAF:
                # Fast path: an exact-type check inline; nulls and dates take the slow path.
                if type(value) is not node.ptype and _is_null(node, value):
                    if node.action != REDACT:
                        out[key] = None
                    continue
                action = node.action
                if action == CLEAR:
                    out[key] = value
                elif action == APPLY:
                    try:
                        out[key] = node.op(value, subject)  # type: ignore[misc]
                    except CannotApply:
                        t.withheld[node.counter] += 1
                        continue
                cells[node.counter] += 1
                continue
            if _is_null(node, value):
                if node.action != REDACT:
                    out[key] = None
                continue
            elif node.action == REDACT:
                if kind == LIST_OF_SCALARS:
                    cells[node.counter] += len(value)
                continue
            elif kind == OBJECT:
                out[key] = self._object(t, node.children, value, subject, node.path + ".")
            elif kind == LIST_OF_OBJECTS:
                items = []
                for item in value:
                    if type(item) is not dict:
                        raise RecordError(
                            node.path,
                            f"expected a list of objects, "
                            f"got an item of type {type(item).__name__}",
                        )
                    items.append(self._object(t, node.children, item, subject, node.path + "[*]."))
                out[key] = items
            else:
                out[key] = self._scalars(t, node, value, subject)
        return out

    def _scalars(self, t: Table, node: Node, values: list[Any], subject: str | None) -> Any:
        check = node.item
        assert check is not None
        for v in values:
            if v is not None and not check(v):
                raise RecordError(
                    node.path,
                    f"list item: expected "
                    f"{self.plan.fields[node.path].info.value_type.value}, "
                    f"got {type(v).__name__}",
                )
        t.cells[node.counter] += len(values)
        if node.action == CLEAR:
            return list(values)
        out: list[Any] = []
        for v in values:
            if v is None:
                out.append(None)
                continue
            try:
                out.append(node.op(v, subject))  # type: ignore[misc]
            except CannotApply:
                t.withheld[node.counter] += 1
                t.cells[node.counter] -= 1
        return out

    # -- results ------------------------------------------------------------------
    def tally(self) -> tuple[Any, ...] | None:
        """All this job's counters as one hashable value: equal tallies of one plan mean
        equal :meth:`outcome_counts` and :attr:`rules_used`. None when free text was
        scanned (entity counts vary too much to be worth keeping)."""
        if self.text.entities:
            return None
        return tuple(
            (mask, t.records > 0, tuple(t.cells), tuple(t.withheld))
            for mask, t in sorted(self._tables.items())
        )

    def outcome_counts(self) -> dict[str, dict[str, int]]:
        """field path -> outcome label -> number of values, over every table used."""
        out: dict[str, dict[str, int]] = {}
        for t in self._tables.values():
            cells = t.cells
            for i, (path, label) in enumerate(t.labels):
                counts = out.setdefault(path, {})
                if cells[i]:
                    counts[label] = counts.get(label, 0) + cells[i]
                if t.withheld[i]:
                    counts["withheld"] = counts.get("withheld", 0) + t.withheld[i]
        return out

    def data_subject_of(self, record: dict[str, Any]) -> str | None:
        path = self.plan.dataset.data_subject
        v = record.get(path[0]) if len(path) == 1 else get_dotted(record, path)
        if type(v) is str:
            return v
        if v is None or isinstance(v, bool) or not isinstance(v, str | int):
            return None
        return str(v)


#: key orders a table keeps straight-line functions for (clients send one or a few)
_LINES = 16
#: key orders a tree remembers, with or without a function
_KEY_ORDERS = 256
_LINES_LOCK = threading.Lock()
_UNSEEN: Any = object()


def straight_line(
    root: dict[str, Node], keys: tuple[Any, ...], slot: int = 0
) -> tuple[Callable[..., Any], tuple[int, ...]] | None:
    """The walk of :meth:`Executor._object` unrolled for flat records whose keys come in
    the order ``keys``: one generated function per key order, with no lookup and no
    branch per field at run time. It returns None, having changed nothing, for a record
    it does not take: a value that is null or not of its field's type (the walk then
    handles it, and raises where it must), or a transform that cannot apply (the walk
    counts the value as withheld). None as a whole when a key is not a declared scalar
    field (undeclared keys are counted, containers walked: the walk does those).

    Returns the function and the counters it stands for: a record it takes adds 1 to
    ``hits[slot]`` (see :attr:`Table.cells`), not 1 to each of its fields' counters.

    Same output and counters as the walk (tests/test_straight_line.py: hypothesis over
    records with nulls, wrong types and unknown keys). Not for plans that scan free
    text: a transform applied twice would count its entities twice."""
    if not keys or len(keys) > 256:
        return None
    env: dict[str, Any] = {
        "CannotApply": CannotApply,
        "isfinite": math.isfinite,
        "as_date": date.fromisoformat,
        "as_datetime": datetime.fromisoformat,
    }
    checks: list[str] = []
    parses: list[str] = []
    entries: list[str] = []
    counters: list[int] = []
    for i, key in enumerate(keys):
        node = root.get(key) if type(key) is str else None
        if node is None or node.kind != LEAF:
            return None
        # The checks of CHECKS, written out (a Python call per value cost more than the
        # check): dates and times are parsed in C, a ValueError sends the record to the walk.
        if node.ptype is not None:
            env[f"T{i}"] = node.ptype
            checks.append(f"type(v{i}) is T{i}")
        elif node.check is _is_date:
            checks.append(f"(type(v{i}) is str and len(v{i}) == 10)")
            parses.append(f"as_date(v{i})")
        elif node.check is _is_datetime:
            checks.append(f"type(v{i}) is str")
            parses.append(f"as_datetime(v{i})")
        elif node.check is CHECKS[FieldType.NUMBER]:
            checks.append(f"(type(v{i}) is int or (type(v{i}) is float and isfinite(v{i})))")
        else:
            env[f"C{i}"] = node.check
            checks.append(f"(v{i} is not None and C{i}(v{i}))")
        if node.action == CLEAR:
            entries.append(f"{key!r}: v{i}")
        elif node.action == APPLY:
            env[f"F{i}"] = node.op
            entries.append(f"{key!r}: F{i}(v{i}, subject)")
        counters.append(node.counter)
    values = ", ".join(f"v{i}" for i in range(len(keys)))
    source = "\n".join(
        [
            "def line(record, subject, hits):",
            f"    ({values},) = record.values()",
            f"    if not ({' and '.join(checks)}):",
            "        return None",
            *(
                [
                    "    try:",
                    f"        {', '.join(parses)}",
                    "    except ValueError:",
                    "        return None",
                ]
                if parses
                else []
            ),
            "    try:",
            f"        out = {{{', '.join(entries)}}}",
            "    except CannotApply:",
            "        return None",
            f"    hits[{slot}] += 1",
            "    return out",
        ]
    )
    exec(compile(source, "<veil straight line>", "exec"), env)  # noqa: S102 - keys are repr()
    fn: Callable[..., Any] = env["line"]
    return fn, tuple(counters)


def strings_at(records: list[Any], path: str) -> list[str]:
    """Every string value at ``path`` (``a.b``, ``a[*].b``, list items) in ``records``."""
    out: list[str] = []
    parts = path.split(".")

    def walk(obj: Any, i: int) -> None:
        if i == len(parts):
            if type(obj) is str:
                out.append(obj)
            elif type(obj) is list:
                out.extend(v for v in obj if type(v) is str)
            return
        if type(obj) is not dict:
            return
        part = parts[i]
        if part.endswith("[*]"):
            items = obj.get(part[:-3])
            if type(items) is list:
                for item in items:
                    walk(item, i + 1)
        else:
            walk(obj.get(part), i + 1)

    for r in records:
        walk(r, 0)
    return out


def _is_null(node: Node, value: Any) -> bool:
    """True for an allowed null; raise RecordError for a disallowed null or a wrong type."""
    if value is None:
        if not node.nullable:
            raise RecordError(node.path, "null is not allowed")
        return True
    if not node.check(value):
        if type(value) is float and not math.isfinite(value):
            raise RecordError(node.path, "expected a finite number (NaN and Infinity are not JSON)")
        raise RecordError(node.path, f"expected {_type_name(node)}, got {type(value).__name__}")
    return False


def _type_name(node: Node) -> str:
    return (
        {
            LEAF: "a scalar of the declared type",
            OBJECT: "an object",
            LIST_OF_OBJECTS: "a list",
            LIST_OF_SCALARS: "a list",
        }[node.kind]
        if node.kind != LEAF
        else _leaf_name(node)
    )


def _leaf_name(node: Node) -> str:
    for ftype, check in CHECKS.items():
        if check is node.check:
            return ftype.value + (
                " (ISO 8601)" if ftype in (FieldType.DATE, FieldType.DATETIME) else ""
            )
    return "the declared type"
