"""py-abac's rule language, parsed once and evaluated without shared mutable state.

A rule's ``when`` holds, per access-control element (subject, action, context,
resource), either a mapping ``{selector: condition}`` (implicit AND) or a list of such
mappings (implicit OR), exactly as in py-abac. veil parses each condition with py-abac's
own schema and evaluates it with py-abac's own comparison code, but:

* selectors are restricted to dotted paths (``$.role``, ``$.record.consent``) so the
  planner knows statically what each clause reads;
* a clause is *dynamic* when it reads the record (``resource $.record...``, directly or
  through an attribute condition); everything else is decided once per request;
* evaluation goes through :func:`evaluate`, which never writes to condition objects
  (py-abac's attribute conditions store the compared value on ``self``, a data race
  once plans are shared between threads);
* ``RegexMatch`` runs in RE2 (:class:`LinearRegexMatch`), in time linear in the value:
  py-abac's ``re.search`` backtracks, and ``^(a+)+$`` against forty a's and a ``!``
  never finishes. A pattern RE2 cannot run with Python's meaning (lookarounds,
  backreferences, ``\b``: see :mod:`veil.text.linear`) is a syntax error.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

from marshmallow import ValidationError
from py_abac.policy.conditions.attribute.base import AttributeCondition
from py_abac.policy.conditions.logic.all_of import AllOf
from py_abac.policy.conditions.logic.any_of import AnyOf
from py_abac.policy.conditions.logic.not_ import Not
from py_abac.policy.conditions.schema import ConditionSchema
from py_abac.policy.conditions.string.regex_match import RegexMatch

from ..paths import PathSyntaxError, get_dotted, parse_selector
from ..text.linear import LinearSearch, NotLinear

ACES = ("subject", "action", "context", "resource")
KNOWN_CONDITIONS = tuple(sorted(ConditionSchema.type_schemas))


@dataclass(frozen=True)
class Clause:
    """``selector: condition`` on one access-control element."""

    ace: str
    selector: str
    keys: tuple[str, ...]
    condition: Any  # a py-abac condition object
    dynamic: bool


#: OR of ANDs of clauses; ``((),)`` is "always true", ``()`` is "never".
Dnf = tuple[tuple[Clause, ...], ...]
ALWAYS: Dnf = ((),)


class ConditionSyntaxError(ValueError):
    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.hint = hint


def _reads_record(cond: Any) -> bool:
    if isinstance(cond, AttributeCondition):
        return bool(cond.ace == "resource" and str(cond.path).startswith("$.record"))
    if isinstance(cond, AllOf | AnyOf):
        return any(_reads_record(c) for c in cond.values)
    if isinstance(cond, Not):
        return _reads_record(cond.value)
    return False


def attribute_refs(cond: Any) -> list[tuple[str, str]]:
    """(ace, selector) pairs that attribute conditions inside ``cond`` compare against."""
    if isinstance(cond, AttributeCondition):
        return [(cond.ace, cond.path)]
    if isinstance(cond, AllOf | AnyOf):
        return [r for c in cond.values for r in attribute_refs(c)]
    if isinstance(cond, Not):
        return attribute_refs(cond.value)
    return []


def parse_condition(raw: Any) -> Any:
    if not isinstance(raw, Mapping) or "condition" not in raw:
        raise ConditionSyntaxError(
            "a condition must be a mapping with a 'condition' key",
            hint="e.g. {condition: Equals, value: clinician}",
        )
    name = raw["condition"]
    if name not in ConditionSchema.type_schemas:
        raise ConditionSyntaxError(
            f"unknown condition '{name}'", hint=f"known conditions: {', '.join(KNOWN_CONDITIONS)}"
        )
    try:
        cond = ConditionSchema().load(dict(raw))
    except ValidationError as err:
        raise ConditionSyntaxError(
            f"malformed {name} condition: {_flatten(err.messages)}",
            hint="see py-abac's condition reference for the parameters of each condition",
        ) from None
    for ace, selector in attribute_refs(cond):
        parse_selector(selector)
        if ace not in ACES:
            raise ConditionSyntaxError(f"unknown access-control element '{ace}'")
    return _linear_regexes(cond)


class LinearRegexMatch(RegexMatch):  # type: ignore[misc]
    """py-abac's RegexMatch (``re.search(value, what)``), decided by RE2 in linear time."""

    def __init__(self, value: str, case_insensitive: bool = False) -> None:
        super().__init__(value, case_insensitive)
        self.search = LinearSearch(value)  # raises NotLinear

    def _is_satisfied(self, what: str) -> bool:
        return self.search.search(what)


def _linear_regexes(cond: Any) -> Any:
    """``cond`` with every RegexMatch in it replaced by a :class:`LinearRegexMatch`."""
    if isinstance(cond, RegexMatch) and not isinstance(cond, LinearRegexMatch):
        try:
            return LinearRegexMatch(cond.value, cond.case_insensitive)
        except NotLinear as exc:
            raise ConditionSyntaxError(
                f"RegexMatch pattern cannot run in linear time: {exc}",
                hint="RegexMatch runs in RE2: no lookarounds, backreferences, possessive "
                "quantifiers or \\b; anchors ^ and $ and classes \\d \\w \\s work as in Python",
            ) from None
    if isinstance(cond, AllOf | AnyOf):
        cond.values = [_linear_regexes(c) for c in cond.values]
    elif isinstance(cond, Not):
        cond.value = _linear_regexes(cond.value)
    return cond


def _flatten(messages: Any) -> str:
    if isinstance(messages, dict):
        return "; ".join(f"{k}: {_flatten(v)}" for k, v in messages.items())
    if isinstance(messages, list):
        return ", ".join(_flatten(m) for m in messages)
    return str(messages)


def parse_ace(ace: str, raw: Any) -> Dnf:
    """Parse one element's conditions into DNF. Raises ConditionSyntaxError/PathSyntaxError."""
    conjuncts = raw if isinstance(raw, list) else [raw]
    if isinstance(raw, list) and not raw:
        raise ConditionSyntaxError(
            f"'{ace}' is an empty list (an OR of nothing never matches)",
            hint="remove it, or give at least one mapping",
        )
    out = []
    for conj in conjuncts:
        clauses = []
        for selector, cond_raw in conj.items():
            keys = parse_selector(selector)
            cond = parse_condition(cond_raw)
            dynamic = (ace == "resource" and keys[0] == "record") or _reads_record(cond)
            clauses.append(Clause(ace, selector, keys, cond, dynamic))
        out.append(tuple(clauses))
    return tuple(out)


class Context:
    """The minimal EvaluationContext py-abac conditions need, over plain dicts."""

    __slots__ = ("_elements", "_value", "ace", "attribute_path")

    def __init__(self, elements: Mapping[str, Mapping[str, Any]]) -> None:
        self._elements = elements
        self.ace = ""
        self.attribute_path = ""
        self._value: Any = None

    @property
    def attribute_value(self) -> Any:
        return self._value

    def get_attribute_value(self, ace: str, path: str) -> Any:
        try:
            keys = parse_selector(path)
        except PathSyntaxError:
            return None
        return get_dotted(self._elements.get(ace, {}), keys)

    def focus(self, clause: Clause) -> None:
        self.ace = clause.ace
        self.attribute_path = clause.selector
        self._value = get_dotted(self._elements.get(clause.ace, {}), clause.keys)


def evaluate(cond: Any, ctx: Context) -> bool:
    """Evaluate a py-abac condition against the focused value; never mutates ``cond``."""
    if isinstance(cond, AllOf):
        return all(evaluate(c, ctx) for c in cond.values)
    if isinstance(cond, AnyOf):
        return any(evaluate(c, ctx) for c in cond.values)
    if isinstance(cond, Not):
        return not evaluate(cond.value, ctx)
    if isinstance(cond, AttributeCondition):
        bound = SimpleNamespace(
            ace=cond.ace, path=cond.path, value=ctx.get_attribute_value(cond.ace, cond.path)
        )
        return bool(type(cond)._is_satisfied(bound, ctx.attribute_value))
    return bool(cond.is_satisfied(ctx))


def holds(clauses: tuple[Clause, ...], ctx: Context) -> bool:
    for clause in clauses:
        ctx.focus(clause)
        if not evaluate(clause.condition, ctx):
            return False
    return True


def holds_dnf(dnf: Dnf, ctx: Context) -> bool:
    return any(holds(conj, ctx) for conj in dnf)


# --------------------------------------------------------------------- compiled predicates

#: a compiled condition: (the focused value, the record) -> verdict
_Test = Callable[[Any, Any], bool]


class _Focus:
    """The context a py-abac leaf condition is given: the focused value, and (for the
    rare condition that reads another attribute) the request and record around it."""

    __slots__ = ("_dataset", "_elements", "_record", "ace", "attribute_path", "attribute_value")

    def __init__(
        self,
        clause: Clause,
        value: Any,
        record: Any,
        elements: Mapping[str, Mapping[str, Any]],
        dataset: str,
    ) -> None:
        self.ace = clause.ace
        self.attribute_path = clause.selector
        self.attribute_value = value
        self._record = record
        self._elements = elements
        self._dataset = dataset

    def get_attribute_value(self, ace: str, path: str) -> Any:
        try:
            keys = parse_selector(path)
        except PathSyntaxError:
            return None
        if ace == "resource":
            return get_dotted({"dataset": self._dataset, "record": self._record}, keys)
        return get_dotted(self._elements.get(ace, {}), keys)


def _reader(
    ace: str, keys: tuple[str, ...] | None, elements: Mapping[str, Mapping[str, Any]], dataset: str
) -> tuple[Callable[[Any], Any] | None, Any]:
    """What ``Context.get_attribute_value``/``focus`` read for (ace, keys): (None, the
    value) when the request alone decides it, else (a function of the record, None)."""
    if keys is None:  # a selector that does not parse reads nothing
        return None, None
    if ace != "resource":
        return None, get_dotted(elements.get(ace, {}), keys)
    if keys[:1] == ("dataset",):
        return None, get_dotted({"dataset": dataset}, keys)
    if keys[:1] == ("record",):  # as below, without a resource dict per record
        rest = keys[1:]
        if len(rest) == 1:
            key = rest[0]
            return (lambda record: record.get(key) if isinstance(record, dict) else None), None
        return (lambda record: get_dotted(record, rest)), None
    return (lambda record: get_dotted({"dataset": dataset, "record": record}, keys)), None


def _compile(
    cond: Any, clause: Clause, elements: Mapping[str, Mapping[str, Any]], dataset: str
) -> _Test:
    """:func:`evaluate` of ``cond`` as a closure, its branches chosen once."""
    if isinstance(cond, AllOf):
        parts = [_compile(c, clause, elements, dataset) for c in cond.values]
        return lambda v, r: all(f(v, r) for f in parts)
    if isinstance(cond, AnyOf):
        parts = [_compile(c, clause, elements, dataset) for c in cond.values]
        return lambda v, r: any(f(v, r) for f in parts)
    if isinstance(cond, Not):
        inner = _compile(cond.value, clause, elements, dataset)
        return lambda v, r: not inner(v, r)
    if isinstance(cond, AttributeCondition):
        try:
            keys: tuple[str, ...] | None = parse_selector(cond.path)
        except PathSyntaxError:
            keys = None
        read, fixed = _reader(cond.ace, keys, elements, dataset)
        satisfied = type(cond)._is_satisfied
        ace, path = cond.ace, cond.path
        if read is None:
            bound = SimpleNamespace(ace=ace, path=path, value=fixed)
            return lambda v, r: bool(satisfied(bound, v))
        return lambda v, r: bool(satisfied(SimpleNamespace(ace=ace, path=path, value=read(r)), v))
    return lambda v, r: bool(cond.is_satisfied(_Focus(clause, v, r, elements, dataset)))


def compile_dnf(
    dnf: Dnf, elements: Mapping[str, Mapping[str, Any]], dataset: str
) -> Callable[[Any], bool]:
    """``holds_dnf(dnf, Context({**elements, "resource": {"dataset": dataset, "record":
    record}}))`` as one function of the record: what the request decides is read once,
    and no context is built per record (that was a quarter of the record engine's time
    on a plan with one row predicate). Same verdicts and the same exceptions, in the same
    order (hypothesis compares it with :func:`holds_dnf`)."""
    conjuncts = [
        [(*_reader(c.ace, c.keys, elements, dataset), _compile(c.condition, c, elements, dataset))
         for c in conj]
        for conj in dnf
    ]  # fmt: skip

    def holds(record: Any) -> bool:
        for checks in conjuncts:
            for read, fixed, test in checks:
                if not test(fixed if read is None else read(record), record):
                    break
            else:
                return True
        return False

    return holds
