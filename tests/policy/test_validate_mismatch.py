"""Validation rejects rules that would validate and then withhold every value, or that name
fields that do not exist: each with file:line and a hint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from veil.errors import PolicyError
from veil.policy.validate import load_bundle


def _bundle(tmp_path: Path, fields: dict[str, Any], rule: dict[str, Any]) -> Path:
    doc = {
        "bundle": {"name": "t"},
        "vocabulary": {"purposes": {"P": "p"}},
        "datasets": {
            "d": {
                "record_id": "id",
                "data_subject": "id",
                "fields": {"id": {"type": "string"}, **fields},
            }
        },
        "rules": [{"id": "r", **rule}],
    }
    (tmp_path / "b.yaml").write_text(yaml.safe_dump(doc, sort_keys=False), encoding="utf-8")
    return tmp_path


def _issues(tmp_path: Path) -> list[Any]:
    with pytest.raises(PolicyError) as exc:
        load_bundle(str(tmp_path))
    return exc.value.issues


GENERALIZE = [
    # (field type, params, valid?): each method on a type it cannot handle, then its own
    ("number", {"method": "year"}, False),
    ("integer", {"method": "month"}, False),
    ("datetime", {"method": "zip3"}, False),
    ("string", {"method": "age"}, False),
    ("date", {"method": "bucket", "size": 10}, False),
    ("date", {"method": "year"}, True),
    ("datetime", {"method": "month"}, True),
    ("string", {"method": "zip3"}, True),
    ("integer", {"method": "age"}, True),
    ("number", {"method": "bucket", "size": 5}, True),
]


@pytest.mark.parametrize(("ftype", "params", "valid"), GENERALIZE)
def test_generalize_method_must_fit_the_field_type(
    ftype: str, params: dict[str, Any], valid: bool, tmp_path: Path
) -> None:
    """Before, every method validated on every type, then withheld every value."""
    _bundle(
        tmp_path,
        {"f": {"type": ftype}},
        {"target": {"fields": ["f"]}, "then": {"transform": "generalize", "params": params}},
    )
    if valid:
        assert load_bundle(str(tmp_path)).rules
        return
    [issue] = _issues(tmp_path)
    assert issue.code == "transform" and issue.file.endswith("b.yaml") and issue.line
    assert f"method='{params['method']}'" in issue.message
    assert "cannot be applied to f" in issue.message


def test_misspelt_field_in_a_target_list_is_reported(tmp_path: Path) -> None:
    _bundle(
        tmp_path,
        {"amount": {"type": "number"}, "balance": {"type": "number"}},
        {"target": {"fields": ["amount", "balnce"]}, "then": "allow"},
    )
    [issue] = _issues(tmp_path)
    assert issue.code == "target" and "'balnce'" in issue.message
    assert "balance" in issue.hint and issue.where == "rules[0].target.fields[1]"


def test_glob_matching_nothing_is_reported(tmp_path: Path) -> None:
    _bundle(tmp_path, {"a": {"type": "string"}}, {"target": {"fields": ["b*"]}, "then": "allow"})
    [issue] = _issues(tmp_path)
    assert "'b*'" in issue.message
