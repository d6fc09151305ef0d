"""Profile views and assertions proved over every request: one counterexample per
identifier class, and the transforms each class accepts.

The regulation text each class comes from is quoted in ``veil.policy.profiles``; the
cases here restate what 45 CFR 164.514(b)(2)(i)(A)-(R), 164.514(e) and PCI DSS v4.0
3.4.1 allow, independently of how veil implements the checks.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from veil.cli import app
from veil.errors import AccessDenied
from veil.policy.plan import compile_plan
from veil.policy.profiles import LIMITED_DATA_SET, PCI_DISPLAY, SAFE_HARBOR
from veil.policy.proofs import prove
from veil.request import Request

from .bundles import RESEARCH, RESEARCHER, bundle_dict, field_type, load, write_bundle

SH_CLASSES = [c.id for c in SAFE_HARBOR.classes]


def _one_field(class_id: str, then: Any, profile: Any = SAFE_HARBOR) -> dict[str, Any]:
    return bundle_dict(
        profile=profile,
        fields={"f": {"type": field_type(class_id), "tags": [class_id]}},
        rules=[{"id": "r", "target": {"fields": ["f"]}, "when": RESEARCHER, "then": then}],
    )


@pytest.mark.parametrize("class_id", SH_CLASSES)
def test_safe_harbor_counterexample_for_each_identifier_class(
    class_id: str, tmp_path: Path
) -> None:
    """A field of each class disclosed in clear to a researcher fails the proof, and the
    counterexample names the class, its CFR paragraph, the field, the rule and a request."""
    bundle = load(tmp_path, _one_field(class_id, "allow"))
    report = prove(bundle)
    assert not report.ok
    [cx] = report.counterexamples or []
    v = cx.violation
    assert v.field == "f" and v.rules == ("r",) and f"class {class_id}" in v.cite
    assert "164.514(b)(2)(i)" in v.cite
    assert cx.request.purpose == "HRESCH" and cx.request.subject.get("role") == "researcher"
    assert "counterexample:" in cx.render()


@pytest.mark.parametrize("class_id", [c.id for c in LIMITED_DATA_SET.classes])
def test_limited_data_set_counterexample_for_each_direct_identifier(
    class_id: str, tmp_path: Path
) -> None:
    doc = _one_field(class_id, "allow", LIMITED_DATA_SET)
    doc["recipients"] = {"study": {"name": "Study", "agreements": ["data_use_agreement"]}}
    doc["profiles"]["v"]["when"] = {
        "context": {
            "$.purpose": {"condition": "Equals", "value": "HRESCH"},
            "$.recipient": {"condition": "Equals", "value": "study"},
        }
    }
    doc["rules"][1]["when"] = {
        **RESEARCHER,
        "context": {
            "$.purpose": {"condition": "Equals", "value": "HRESCH"},
            "$.recipient": {"condition": "Equals", "value": "study"},
        },
    }
    report = prove(load(tmp_path, doc))
    [cx] = report.counterexamples or []
    assert cx.violation.field == "f" and "164.514(e)(2)" in cx.violation.cite


#: (class, outcome that Safe Harbor accepts)
ACCEPTED = [
    ("name", "redact"),
    ("ssn", {"transform": "replace", "params": {"value": "<SSN>"}}),
    ("phone", {"transform": "nullify"}),
    ("zip", {"transform": "generalize", "params": {"method": "zip3"}}),
    ("date", {"transform": "generalize", "params": {"method": "year"}}),
    ("birth_date", {"transform": "generalize", "params": {"method": "year", "top_age": 89}}),
    ("age", {"transform": "generalize", "params": {"method": "age"}}),
    ("age", {"transform": "generalize", "params": {"method": "bucket", "size": 10, "max": 90}}),
]


@pytest.mark.parametrize(("class_id", "then"), ACCEPTED)
def test_safe_harbor_accepts(class_id: str, then: Any, tmp_path: Path) -> None:
    report = prove(load(tmp_path, _one_field(class_id, then)))
    assert report.ok, [c.render() for c in report.counterexamples or []]
    assert report.planned > 0


#: (class, outcome Safe Harbor refuses, words the reason must contain)
REFUSED = [
    # (C) all elements of dates except year: a month or a shifted date is refused
    ("date", {"transform": "generalize", "params": {"method": "month"}}, "more than the year"),
    ("date", {"transform": "date_shift", "params": {"key": "k"}}, "shifted date"),
    # (C) a plain birth year discloses years indicative of an age over 89
    ("birth_date", {"transform": "generalize", "params": {"method": "year"}}, "over 89"),
    # (C) ages over 89: buckets that split them
    (
        "age",
        {"transform": "generalize", "params": {"method": "bucket", "size": 10, "max": 120}},
        "over 89",
    ),
    ("age", {"transform": "generalize", "params": {"method": "age", "top": 99}}, "over 89"),
    # (B) restricted ZIP prefixes kept: a zip3 list that misses 036 (HHS, 2000 Census)
    (
        "zip",
        {"transform": "generalize", "params": {"method": "zip3", "restricted": ["059", "063"]}},
        "restricted prefix 036",
    ),
    ("zip", {"transform": "truncate", "params": {"length": 4}}, "more than three digits"),
    # (R) and 164.514(c): a code derived from the identifier
    ("medical_record_number", {"transform": "tokenize", "params": {"key": "k"}}, "derived"),
    ("other_identifier", {"transform": "hash", "params": {"key": "k"}}, "derived"),
    ("ssn", {"transform": "mask", "params": {"keep_last": 4}}, "partly masked"),
]


@pytest.mark.parametrize(("class_id", "then", "why"), REFUSED)
def test_safe_harbor_refuses(class_id: str, then: Any, why: str, tmp_path: Path) -> None:
    report = prove(load(tmp_path, _one_field(class_id, then)))
    assert not report.ok
    assert any(why in c.violation.message for c in report.counterexamples or []), [
        c.violation.message for c in report.counterexamples or []
    ]


def test_record_keys_are_identifiers_whatever_their_tags(tmp_path: Path) -> None:
    """164.514(b)(2)(i)(R): the dataset's record id is a unique identifying number even
    when no tag says so."""
    doc = bundle_dict(fields={}, rules=[])
    doc["rules"] = [{"id": "rid-clear", "target": {"fields": ["rid"]}, "then": "allow"}]
    [cx] = prove(load(tmp_path, doc)).counterexamples or []
    assert cx.violation.field == "rid" and "other_identifier" in cx.violation.cite


def test_record_dependent_rules_are_judged_in_every_table(tmp_path: Path) -> None:
    """A rule that discloses the name only for some records is still a counterexample,
    and the counterexample says which record condition shows it."""
    doc = _one_field("name", "redact")
    doc["datasets"]["records"]["fields"]["flag"] = {"type": "boolean"}
    doc["rules"].append(
        {
            "id": "leak-when-flagged",
            "target": {"fields": ["f"]},
            "when": {
                **RESEARCHER,
                "resource": {"$.record.flag": {"condition": "IsIn", "values": [True]}},
            },
            "then": "allow",
            "exception": True,
            "priority": 5,
        }
    )
    [cx] = prove(load(tmp_path, doc)).counterexamples or []
    assert cx.violation.when_record == ("leak-when-flagged",)


def test_unmapped_class_is_a_validation_error(tmp_path: Path) -> None:
    doc = _one_field("name", "redact")
    del doc["vocabulary"]["tags"]["fax"]
    from veil.errors import PolicyError

    with pytest.raises(PolicyError) as exc:
        load(tmp_path, doc)
    assert "class 'fax'" in exc.value.render() and "classes: {fax: []}" in exc.value.render()


def test_lds_needs_a_data_use_agreement_and_an_eligible_purpose(tmp_path: Path) -> None:
    """164.514(e)(4): a data use agreement; (e)(3)(i): research, public health or
    health care operations only."""
    doc = _one_field("name", "redact", LIMITED_DATA_SET)
    doc["vocabulary"]["purposes"]["TREAT"]["category"] = "marketing"
    doc["profiles"]["v"]["when"] = {}
    report = prove(load(tmp_path, doc))
    kinds = {c.violation.kind for c in report.counterexamples or []}
    assert kinds == {"agreement", "purpose"}


PCI = [
    ({"transform": "mask", "params": {"keep_first": 6, "keep_last": 4}}, {}, True),
    ({"transform": "mask", "params": {"keep_first": 7, "keep_last": 4}}, {}, False),
    # PCI SSC FAQ on 8-digit BINs: first eight and last two for any role; first eight and
    # last four only for roles with a documented business need (outside the view)
    ({"transform": "mask", "params": {"keep_first": 8, "keep_last": 2}}, {"bin_digits": 8}, True),
    ({"transform": "mask", "params": {"keep_first": 8, "keep_last": 4}}, {"bin_digits": 8}, False),
    ({"transform": "mask", "params": {"keep_first": 8, "keep_last": 2}}, {}, False),
    ({"transform": "mask", "params": {"keep_last": 5}}, {}, False),
    # a "Hive-style" class mask that leaves digits as they are shows the whole PAN
    (
        {"transform": "mask", "params": {"classes": {"digit": None}}},
        {},
        False,
    ),
    ({"transform": "mask", "params": {"keep_last": 4, "char": "0"}}, {}, False),
    ({"transform": "fpe", "params": {"key": "k"}}, {}, True),
    ("allow", {}, False),
]


@pytest.mark.parametrize(("then", "options", "ok"), PCI)
def test_pci_display_bin_and_last_four_at_most(
    then: Any, options: dict[str, Any], ok: bool, tmp_path: Path
) -> None:
    """PCI DSS v4.0 3.4.1: "the BIN and last four digits are the maximum number of digits
    to be displayed"; 8-digit BINs where the issuer uses them."""
    doc = _one_field("pan", then, PCI_DISPLAY)
    doc["profiles"]["v"]["options"] = options
    report = prove(load(tmp_path, doc))
    assert report.ok is ok, [c.render() for c in report.counterexamples or []]


def test_runtime_refuses_what_the_proof_did_not_foresee(tmp_path: Path) -> None:
    """A scope selecting requests by a free attribute value the enumeration cannot guess
    (RegexMatch): plan compilation still refuses the violating request."""
    doc = _one_field("name", "allow")
    doc["subject_attributes"]["team"] = {"type": "string"}
    doc["profiles"]["v"]["when"] = {
        "subject": {"$.team": {"condition": "RegexMatch", "value": "^onc-[0-9]{3}$"}}
    }
    bundle = load(tmp_path, doc)
    req = Request(
        subject_id="r1",
        subject={"role": "researcher", "team": "onc-123"},
        purpose="HRESCH",
        dataset="records",
    )
    with pytest.raises(AccessDenied) as exc:
        compile_plan(bundle, req)
    assert "cannot prove" in exc.value.message and "class name" in exc.value.message


def test_cli_validate_exit_3_with_counterexample(tmp_path: Path) -> None:
    root = write_bundle(tmp_path / "b", _one_field("ssn", "allow"))
    res = CliRunner().invoke(app, ["policy", "validate", str(root)])
    assert res.exit_code == 3, res.output
    assert "counterexample:" in res.output and "164.514(b)(2)(i)(G)" in res.output


def test_cli_validate_proves_the_shipped_bundles() -> None:
    for name in ("health", "finance"):
        res = CliRunner().invoke(app, ["policy", "validate", f"policies/{name}"])
        assert res.exit_code == 0, res.output
    res = CliRunner().invoke(app, ["policy", "validate", "policies/health"])
    assert "proved: view 'research-safe-harbor' meets hipaa-safe-harbor@1" in res.output
    assert "proved: view 'research-limited-data-set'" in res.output


def test_assertion_counterexample(tmp_path: Path) -> None:
    doc = bundle_dict(
        fields={"f": {"type": "string", "tags": ["secret"]}},
        rules=[{"id": "r", "target": {"fields": ["f"]}, "when": RESEARCH, "then": "allow"}],
        extra_tags=("secret",),
        assertions=[
            {
                "id": "no-secret",
                "when": RESEARCH,
                "fields": {"tags": ["secret"]},
                "never": ["clear"],
            }
        ],
    )
    report = prove(load(tmp_path, doc))
    [cx] = report.counterexamples or []
    assert cx.violation.kind == "assertion" and cx.violation.name == "no-secret"
