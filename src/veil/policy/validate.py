"""Static checks over a whole bundle; every problem is found and reported at once.

A bundle that produces any issue is not loaded. Checks, by code:

* ``path``         a field path that does not parse, or conflicts with its parent's type
* ``dataset``      record-id / data-subject paths that are not declared scalar fields
* ``tag``          a tag that the vocabulary does not declare
* ``duplicate_id`` two rules with one id
* ``target``       a target naming an unknown dataset, or matching no field at all
* ``transform``    an unknown transform, bad parameters, or a field type it cannot handle
* ``condition``    a malformed condition or an unsupported selector
* ``attribute``    a selector reading an undeclared subject/context/resource attribute
* ``never_matches`` a comparison with a value the attribute can never have
* ``semantics``    combinations veil refuses (row-dependent deny, field targets on row rules)
* ``recognizer``   a custom free-text recognizer with a bad name or a regex that does not compile
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError

from .. import transforms
from ..errors import Issue, PolicyError, TransformError
from ..paths import PathSyntaxError, strip_each
from ..text.decl import RecognizerDecl
from ..text.engine import NER_ENTITIES, check_regex
from ..transforms.base import SCALAR_TYPES
from ..transforms.text import NamedRecognizer, ScanTextParams, unsupported_entities
from .bundle import Bundle, CompiledRule, DatasetInfo, FieldInfo
from .compliance import compile_compliance
from .conditions import ACES, ALWAYS, Clause, ConditionSyntaxError, Context, parse_ace
from .datasets import check_field_names, compile_dataset
from .decision import ALLOW, DENY, REDACT, Outcome
from .loader import Located, RawBundle, format_loc, load_raw
from .matching import RESERVED_CONTEXT, RESOURCE_KEYS, residual, resource_element, target_matches
from .model import AttributeDecl, Rule

_RECOGNIZER_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


def load_bundle(root: str) -> Bundle:
    """Load, validate and compile a bundle directory; raise PolicyError listing every issue."""
    return compile_bundle(load_raw(root))


class _Issues:
    def __init__(self) -> None:
        self.items: list[Issue] = []

    def add(
        self, code: str, msg: str, src: Located, sub: tuple[Any, ...] = (), hint: str = ""
    ) -> None:
        self.items.append(Issue(code, msg, src.file, src.line(sub), src.where(sub), hint))


def _rule_outcome(
    rule: Rule,
    src: Located,
    issues: _Issues,
    recognizers: dict[str, RecognizerDecl],
    regions: tuple[str, ...] = (),
) -> Outcome | None:
    then = rule.then
    if then == "allow":
        return ALLOW
    if then == "redact":
        return REDACT
    if then == "deny":
        return DENY
    if then == "exclude":
        return None
    assert not isinstance(then, str)
    try:
        spec = transforms.get(then.transform)
    except TransformError as exc:
        issues.add("transform", exc.message, src, ("then", "transform"), exc.hint)
        return None
    try:
        params = spec.parse_params(then.params)
    except ValidationError as err:
        for e in err.errors(include_url=False, include_input=False):
            # Drop pydantic's class-name markers ("TransformThen"), not entity names ("US_SSN").
            loc = tuple(
                p
                for p in e["loc"]
                if not (isinstance(p, str) and p[:1].isupper() and not p.isupper())
            )
            msg = e["msg"].removeprefix("Value error, ")
            issues.add(
                "transform",
                f"{then.transform}: {msg}" + (f" at '{format_loc(loc)}'" if loc else ""),
                src,
                ("then", "params", *loc),
                f"see the transforms table: {spec.example}",
            )
        return None
    if then.transform == "redact":
        return REDACT
    if then.transform == "keep":
        return ALLOW
    if isinstance(params, ScanTextParams):
        if regions and "phone_regions" not in params.model_fields_set:
            # the bundle's text.regions, carried in the params like its recognizers
            params = params.model_copy(update={"phone_regions": regions})
        resolved = _with_recognizers(params, recognizers, src, issues)
        if resolved is None:
            return None
        params = resolved
    return Outcome("transform", spec.name, params, spec.rank, spec.reveal_score(params))


def _with_recognizers(
    params: ScanTextParams,
    recognizers: dict[str, RecognizerDecl],
    src: Located,
    issues: _Issues,
) -> ScanTextParams | None:
    """``params`` carrying the bundle's recognizers for its entity types, if all are detectable.

    The recognizers travel inside the params so that every engine binding the plan
    (record, columnar, Spark workers) detects the same things.
    """
    if "recognizers" in params.model_fields_set:
        issues.add(
            "transform",
            "scan_text: 'recognizers' is filled in from the bundle's 'recognizers:' section",
            src,
            ("then", "params", "recognizers"),
            "declare custom recognizers at the top level of a bundle file",
        )
        return None
    wanted = set(params.entities)
    named = tuple(
        NamedRecognizer(name=n, decl=d)
        for n, d in sorted(recognizers.items())
        if d.entity in wanted
    )
    params = params.model_copy(update={"recognizers": named})
    missing = unsupported_entities(params)
    for entity in missing:
        hint = (
            "named entities (PERSON, LOCATION, ORGANIZATION, NRP) need 'engine: ner'"
            if entity in NER_ENTITIES and params.engine != "ner"
            else "declare a recognizer for it under 'recognizers:', or remove it"
        )
        issues.add(
            "transform",
            f"scan_text: no recognizer of engine '{params.engine}' detects '{entity}'",
            src,
            ("then", "params", "entities", entity),
            hint,
        )
    return None if missing else params


def _compile_recognizers(raw: RawBundle, issues: _Issues) -> None:
    for name, decl in raw.recognizers.items():
        src = raw.recognizer_src[name]
        if not _RECOGNIZER_NAME.match(name):
            issues.add(
                "recognizer",
                f"recognizer name '{name}' is not a simple name",
                src,
                (),
                "use letters, digits, '_', '.' or '-'",
            )
        for i, pattern in enumerate(decl.patterns):
            problem = check_regex(pattern.regex)
            if problem is not None:
                issues.add(
                    "recognizer",
                    f"recognizer '{name}': pattern '{pattern.name}' is not a valid regex "
                    f"({problem})",
                    src,
                    ("patterns", i, "regex"),
                    "regexes use Python syntax that RE2 can run (no lookarounds or "
                    "backreferences); quote them in YAML with single quotes",
                )


def _check_selector(
    clause: Clause,
    rule_datasets: list[DatasetInfo],
    b: RawBundle,
    src: Located,
    where: tuple[Any, ...],
    issues: _Issues,
) -> None:
    ace, keys = clause.ace, clause.keys
    head = keys[0]
    if ace == "subject":
        if head != "id" and head not in b.subject_attributes:
            issues.add(
                "attribute",
                f"subject attribute '{head}' is not declared",
                src,
                where,
                f"declared: id, {', '.join(sorted(b.subject_attributes)) or '(none)'}",
            )
    elif ace == "context":
        if head not in RESERVED_CONTEXT and head not in b.context_attributes:
            issues.add(
                "attribute",
                f"context attribute '{head}' is not declared",
                src,
                where,
                f"declared: {', '.join([*RESERVED_CONTEXT, *sorted(b.context_attributes)])}",
            )
    elif ace == "action":
        if head != "name":
            issues.add(
                "attribute",
                f"action has no attribute '{head}'",
                src,
                where,
                "the action element has one attribute: $.name",
            )
    elif head not in RESOURCE_KEYS:
        issues.add(
            "attribute",
            f"resource has no attribute '{head}'",
            src,
            where,
            f"resource attributes: {', '.join(RESOURCE_KEYS)}",
        )
    elif head == "record":
        rec_path = ".".join(keys[1:])
        hits = [
            f for ds in rule_datasets for f in ds.fields.values() if strip_each(f.path) == rec_path
        ]
        if not rec_path or not hits:
            issues.add(
                "attribute",
                f"'$.record.{rec_path}' is not a field of the rule's datasets",
                src,
                where,
                "use a declared field path; narrow target.datasets if needed",
            )
        elif any("[*]" in f.path for f in hits):
            issues.add(
                "attribute",
                f"'$.record.{rec_path}' is inside a list; row conditions "
                "can only read fields outside lists",
                src,
                where,
            )


def _enum_for(
    clause: Clause, b: RawBundle, datasets: dict[str, DatasetInfo], tags: set[str]
) -> tuple[str, set[Any]] | None:
    """The finite set of values the selected attribute can take, if veil knows it."""
    ace, keys = clause.ace, clause.keys
    if ace == "context" and keys == ("purpose",):
        return "purpose", set(b.vocabulary.purposes)
    if ace == "action" and keys == ("name",):
        return "action", set(b.vocabulary.actions)
    decl: AttributeDecl | None = None
    if ace == "subject" and len(keys) == 1:
        decl = b.subject_attributes.get(keys[0])
    if ace == "context" and len(keys) == 1:
        decl = b.context_attributes.get(keys[0])
    if decl is not None and decl.values is not None:
        return f"{ace} attribute '{keys[0]}'", set(decl.values)
    if ace == "resource" and keys == ("dataset",):
        return "dataset", set(datasets)
    if ace == "resource" and keys == ("tags",):
        return "tag", tags
    if ace == "resource" and keys == ("path",):
        return "field path", {p for ds in datasets.values() for p in ds.fields}
    return None


def _check_values(
    clause: Clause,
    enum: tuple[str, set[Any]],
    src: Located,
    where: tuple[Any, ...],
    issues: _Issues,
) -> None:
    what, allowed = enum
    cond = clause.condition
    name = type(cond).__name__
    values: list[Any] = []
    if name in ("Equals", "Eq") or name == "NotEquals":
        values = [cond.value]
    elif name in ("IsIn", "IsNotIn", "AnyIn", "AllIn", "AnyNotIn", "AllNotIn"):
        values = list(cond.values)
    unknown = [v for v in values if v not in allowed]
    if unknown:
        shown = ", ".join(repr(v) for v in unknown)
        issues.add(
            "never_matches",
            f"{what} can never be {shown}",
            src,
            where,
            f"known values: {', '.join(sorted(map(str, allowed)))}",
        )


def _compile_rule(
    order: int,
    rule: Rule,
    src: Located,
    b: RawBundle,
    datasets: dict[str, DatasetInfo],
    tags: set[str],
    issues: _Issues,
) -> CompiledRule | None:
    before = len(issues.items)
    t = rule.target
    if t.datasets is not None:
        for name in t.datasets:
            if name not in b.datasets:
                issues.add(
                    "target",
                    f"unknown dataset '{name}'",
                    src,
                    ("target", "datasets"),
                    f"datasets: {', '.join(sorted(b.datasets))}",
                )
    for tag in t.tags or []:
        if tag not in tags:
            issues.add(
                "tag",
                f"unknown tag '{tag}'",
                src,
                ("target", "tags"),
                f"declared tags: {', '.join(sorted(tags))}",
            )
    rule_datasets = [ds for ds in datasets.values() if t.datasets is None or ds.name in t.datasets]
    check_field_names(t.fields, rule_datasets, src, ("target", "fields"), issues)
    when = {}
    for ace in ACES:
        raw = getattr(rule.when, ace)
        if raw in ({}, None):
            when[ace] = ALWAYS
            continue
        try:
            dnf = parse_ace(ace, raw)
        except (ConditionSyntaxError, PathSyntaxError) as exc:
            issues.add("condition", str(exc), src, ("when", ace), getattr(exc, "hint", ""))
            continue
        when[ace] = dnf
        for i, conj in enumerate(dnf):
            for clause in conj:
                where: tuple[Any, ...] = (
                    "when",
                    ace,
                    *((i,) if isinstance(raw, list) else ()),
                    clause.selector,
                )
                _check_selector(clause, rule_datasets, b, src, where, issues)
                enum = _enum_for(clause, b, datasets, tags)
                if enum is not None:
                    _check_values(clause, enum, src, where, issues)
    regions = tuple(b.text.regions) if b.text is not None else ()
    outcome = _rule_outcome(rule, src, issues, b.recognizers, regions)
    dynamic = any(c.dynamic for dnf in when.values() for conj in dnf for c in conj)
    if rule.is_row_rule:
        if t.fields is not None or t.tags is not None or t.types is not None:
            issues.add(
                "semantics",
                "a row rule (then: exclude) cannot target fields, tags or types",
                src,
                ("target",),
                "keep only target.datasets on row rules",
            )
    else:
        if outcome == DENY and dynamic:
            issues.add(
                "semantics",
                "'deny' cannot depend on record values: a request is refused "
                "before any record is read",
                src,
                ("then",),
                "use 'redact' for the field, or a row rule with 'then: exclude'",
            )
        if len(issues.items) == before:
            cr = CompiledRule(rule, order, src, when, outcome)
            _check_field_coverage(cr, rule_datasets, src, issues)
    if len(issues.items) != before:
        return None
    return CompiledRule(rule, order, src, when, outcome)


def _check_field_coverage(
    cr: CompiledRule, rule_datasets: list[DatasetInfo], src: Located, issues: _Issues
) -> None:
    """A field rule must match some field; a transform must support every field it matches."""
    matched: list[FieldInfo] = []
    resource = cr.when["resource"]
    for ds in rule_datasets:
        for f in ds.fields.values():
            if not target_matches(cr, ds, f):
                continue
            if residual(resource, Context({"resource": resource_element(ds, f)})) == ():
                continue
            matched.append(f)
    outcome = cr.outcome
    if outcome is not None and outcome.verdict == "transform":
        scalars = [f for f in matched if not f.is_container]
        if not scalars:
            issues.add(
                "target",
                "rule can never match: no scalar field fits its target and resource conditions",
                src,
                ("target",),
                "transforms apply to scalar fields; check target.fields/tags/types",
            )
            return
        spec = transforms.get(outcome.transform or "")
        assert outcome.params is not None
        types = spec.types(outcome.params)
        bad = [f.path for f in scalars if f.value_type not in types]
        if bad:
            kinds = ", ".join(sorted(t.value for t in types if t in SCALAR_TYPES))
            issues.add(
                "transform",
                f"{outcome.describe()} cannot be applied to {', '.join(bad)} (it handles: {kinds})",
                src,
                ("then",),
                "narrow the rule's target (fields, tags or types)",
            )
    elif not matched:
        issues.add(
            "target",
            "rule can never match: no field fits its target and resource conditions",
            src,
            ("target",),
            "check target.fields/tags/types and datasets",
        )


def compile_bundle(raw: RawBundle) -> Bundle:
    issues = _Issues()
    tags = set(raw.vocabulary.tags)
    _compile_recognizers(raw, issues)
    datasets: dict[str, DatasetInfo] = {}
    for name, ds in raw.datasets.items():
        info = compile_dataset(name, ds, raw.dataset_src[name], tags, issues)
        if info is not None:
            datasets[name] = info
    seen: dict[str, Located] = {}
    rules: list[CompiledRule] = []
    for order, (rule, src) in enumerate(zip(raw.rules, raw.rule_src, strict=True)):
        if rule.id in seen:
            first = seen[rule.id]
            issues.add(
                "duplicate_id",
                f"rule id '{rule.id}' is used twice",
                src,
                ("id",),
                f"first used at {first.file}:{first.line()}",
            )
            continue
        seen[rule.id] = src
        compiled = _compile_rule(order, rule, src, raw, datasets, tags, issues)
        if compiled is not None:
            rules.append(compiled)
    for i, (test, src) in enumerate(zip(raw.tests, raw.test_src, strict=True)):
        if test.request.dataset not in raw.datasets:
            issues.add(
                "test",
                f"test '{test.name}' uses unknown dataset '{test.request.dataset}'",
                src,
                ("request", "dataset"),
            )
        del i
    declared, views, assertions = compile_compliance(raw, datasets, tags, issues)
    if issues.items:
        raise PolicyError(issues.items)
    return Bundle(
        name=raw.meta.name,
        version=raw.version,
        root=raw.root,
        description=raw.meta.description,
        vocabulary=raw.vocabulary,
        subject_attributes=raw.subject_attributes,
        context_attributes=raw.context_attributes,
        datasets=datasets,
        rules=tuple(rules),
        tests=tuple(raw.tests),
        test_src=tuple(raw.test_src),
        recognizers=dict(raw.recognizers),
        purposes=declared["purposes"],
        recipients=declared["recipients"],
        recipient_scopes=declared["recipient_scopes"],
        views=tuple(views),
        assertions=tuple(assertions),
    )
