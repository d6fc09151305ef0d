"""Row predicates compiled once per plan (``conditions.compile_dnf``) give py-abac's
verdicts: for conditions of every kind veil accepts, over records and requests of mixed
types, the compiled function and the interpreter (``holds_dnf`` over a ``Context``, the
record engine's path before) agree on the verdict, or both raise the same error."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from veil.policy.conditions import Context, compile_dnf, holds_dnf, parse_ace

RECORD_PATHS = ["$.record.a", "$.record.b", "$.record.n.c", "$.record.tags", "$.dataset"]
SUBJECT_PATHS = ["$.org", "$.orgs", "$.level"]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(-3, 3, allow_nan=False),
    st.sampled_from(["a", "b", "A", "org-1", "10.1.2.3", "patients", ""]),
)
values = st.one_of(scalars, st.lists(scalars, max_size=3))
given_values = scalars.filter(lambda v: v is not None)  # py-abac refuses a null value


def _attribute(name: str) -> Any:
    return st.builds(
        lambda ace, path: {"condition": name, "ace": ace, "path": path},
        st.sampled_from(["subject", "resource", "context"]),
        # (py-abac's own schema refuses a three-step path here)
        st.sampled_from([*SUBJECT_PATHS, "$.record.a", "$.record.tags", "$.nope", "$.record"]),
    )


leaves = st.one_of(
    st.builds(lambda n, v: {"condition": n, "value": v},
              st.sampled_from(["Equals", "NotEquals"]), st.sampled_from(["a", "org-1", ""])),
    st.builds(lambda n, v: {"condition": n, "value": v},
              st.sampled_from(["Eq", "Neq", "Gt", "Gte", "Lt", "Lte"]), st.integers(-2, 2)),
    st.builds(lambda n, v: {"condition": n, "values": v},
              st.sampled_from(["IsIn", "IsNotIn", "AnyIn", "AllIn", "AnyNotIn", "AllNotIn"]),
              st.lists(st.sampled_from(["a", "b", 1, 2, True]), max_size=3)),
    st.builds(lambda n, v, ci: {"condition": n, "value": v, "case_insensitive": ci},
              st.sampled_from(["StartsWith", "EndsWith", "Contains", "NotContains"]),
              st.sampled_from(["a", "org", "1"]), st.booleans()),
    st.builds(lambda p: {"condition": "RegexMatch", "value": p},
              st.sampled_from(["^a", "org-[0-9]", "^$"])),
    st.sampled_from([{"condition": n} for n in
                     ["Exists", "NotExists", "IsEmpty", "IsNotEmpty", "Any"]]),
    st.just({"condition": "CIDR", "value": "10.0.0.0/8"}),
    st.just({"condition": "EqualsObject", "value": {"x": 1}}),
    st.sampled_from(["EqualsAttribute", "NotEqualsAttribute", "IsInAttribute",
                     "IsNotInAttribute", "AnyInAttribute", "AllInAttribute"]).flatmap(_attribute),
)  # fmt: skip
conditions = st.recursive(
    leaves,
    lambda inner: st.one_of(
        st.builds(
            lambda n, vs: {"condition": n, "values": vs},
            st.sampled_from(["AllOf", "AnyOf"]),
            st.lists(inner, min_size=1, max_size=3),
        ),
        st.builds(lambda v: {"condition": "Not", "value": v}, inner),
    ),
    max_leaves=4,
)
#: a rule's resource and subject conditions: OR (list) of AND (mapping) of clauses
resource_when = st.lists(
    st.dictionaries(st.sampled_from(RECORD_PATHS), conditions, min_size=1, max_size=2),
    min_size=1,
    max_size=2,
)
subject_when = st.dictionaries(st.sampled_from(SUBJECT_PATHS), conditions, max_size=1)
records = st.fixed_dictionaries(
    {},
    optional={
        "a": values,
        "b": values,
        "n": st.one_of(values, st.fixed_dictionaries({}, optional={"c": values})),
        "tags": st.lists(scalars, max_size=3),
    },
)
subjects = st.fixed_dictionaries(
    {}, optional={"org": values, "orgs": st.lists(scalars, max_size=3), "level": values}
)


def _outcome(f: Any) -> Any:
    try:
        return bool(f())
    except Exception as exc:  # the engine turns these into a located InputError
        return type(exc).__name__


@settings(max_examples=400, deadline=None, derandomize=True)
@given(
    resource=resource_when,
    subject=subject_when,
    subject_attrs=subjects,
    rows=st.lists(records, min_size=1, max_size=4),
)
def test_compiled_predicates_decide_like_py_abac(
    resource: Any, subject: Any, subject_attrs: dict[str, Any], rows: list[dict[str, Any]]
) -> None:
    dnf = parse_ace("resource", resource)
    if subject:  # AND the subject's clauses into every conjunct, as a plan's residual does
        (extra,) = parse_ace("subject", subject)
        dnf = tuple(conj + extra for conj in dnf)
    elements = {"subject": subject_attrs, "action": {"method": "read"}, "context": {}}
    compiled = compile_dnf(dnf, elements, "patients")
    for record in rows:
        ctx = Context({**elements, "resource": {"dataset": "patients", "record": record}})
        want = _outcome(lambda ctx=ctx: holds_dnf(dnf, ctx))  # type: ignore[misc]
        assert _outcome(lambda record=record: compiled(record)) == want  # type: ignore[misc]


def test_always_and_never() -> None:
    assert compile_dnf(((),), {}, "d")({}) is True
    assert compile_dnf((), {}, "d")({}) is False


@pytest.mark.parametrize("path", ["$.record.a", "$.record.n.c", "$.record.n", "$.record"])
@pytest.mark.parametrize(
    "record",
    [{}, {"a": "x"}, {"n": {"c": "x"}}, {"n": "x"}, {"n": {"c": None}}, {"c": "x", "n": {}}],
)
@pytest.mark.parametrize(
    "condition",
    [{"condition": "Equals", "value": "x"}, {"condition": "Exists"}, {"condition": "NotExists"}],
)
def test_record_paths_read_what_py_abac_reads(
    path: str, record: dict[str, Any], condition: dict[str, Any]
) -> None:
    """Each way a record path is read (one key, nested keys, the record itself) against
    py-abac on records where the value is there, missing, null or under a non-mapping."""
    dnf = parse_ace("resource", [{path: condition}])
    elements: dict[str, Any] = {"subject": {}, "action": {"method": "read"}, "context": {}}
    ctx = Context({**elements, "resource": {"dataset": "patients", "record": record}})
    want = _outcome(lambda: holds_dnf(dnf, ctx))
    assert _outcome(lambda: compile_dnf(dnf, elements, "patients")(record)) == want
