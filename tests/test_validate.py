"""A bundle with mistakes is rejected with every problem located by file and line."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from veil.errors import PolicyError
from veil.policy.validate import load_bundle

HEALTH = Path(__file__).resolve().parent.parent / "policies" / "health"

BROKEN_RULES = """
rules:
  - id: typo-attribute
    when:
      subject: {"$.rol": {condition: Equals, value: clinician}}
    then: allow
  - id: typo-condition
    when:
      subject: {"$.role": {condition: Equal, value: clinician}}
    then: allow
  - id: typo-purpose
    when:
      context: {"$.purpose": {condition: Equals, value: HRESH}}
    then: allow
  - id: mask-a-date
    target: {fields: [birth_date]}
    then: {transform: mask, params: {keep_last: 4}}
  - id: typo-attribute
    then: allow
  - id: unknown-tag
    target: {tags: [secret_sauce]}
    then: redact
  - id: no-such-field
    target: {fields: [nonexistent_*]}
    then: allow
  - id: bad-params
    target: {fields: [ssn]}
    then: {transform: mask, params: {keep_lst: 4}}
  - id: row-deny
    when:
      resource: {"$.record.sensitive": {condition: IsIn, values: [true]}}
    then: deny
"""


@pytest.fixture()
def broken(tmp_path: Path) -> Path:
    dest = tmp_path / "health"
    shutil.copytree(HEALTH, dest)
    (dest / "broken.yaml").write_text(BROKEN_RULES)
    return dest


def test_every_problem_reported_with_file_and_line(broken: Path) -> None:
    with pytest.raises(PolicyError) as info:
        load_bundle(str(broken))
    issues = info.value.issues
    by_code = {(i.code, i.line) for i in issues}
    codes = [i.code for i in issues]
    assert all(i.file.endswith("broken.yaml") for i in issues)
    assert all(i.line is not None and i.line > 1 for i in issues)
    for code in (
        "attribute",
        "condition",
        "never_matches",
        "transform",
        "duplicate_id",
        "tag",
        "target",
        "semantics",
    ):
        assert code in codes, (code, by_code)
    rendered = info.value.render()
    assert "$.rol" in rendered and "hint:" in rendered
    # the typo'd purpose is named with the declared ones as a hint
    purpose = next(i for i in issues if i.code == "never_matches")
    assert "HRESH" in purpose.message and "HRESCH" in purpose.hint


def test_yaml_syntax_error_located(tmp_path: Path) -> None:
    dest = tmp_path / "b"
    shutil.copytree(HEALTH, dest)
    (dest / "rules.yaml").write_text("rules:\n  - id: x\n    then: [allow\n")
    with pytest.raises(PolicyError) as info:
        load_bundle(str(dest))
    (issue,) = info.value.issues
    assert issue.code == "yaml" and issue.file.endswith("rules.yaml") and issue.line


def test_unknown_key_and_duplicate_key(tmp_path: Path) -> None:
    dest = tmp_path / "b"
    shutil.copytree(HEALTH, dest)
    (dest / "extra.yaml").write_text(
        "rules:\n  - id: a\n    then: allow\n    priorty: 3\n"
        "  - id: b\n    then: allow\n    then: redact\n"
    )
    with pytest.raises(PolicyError) as info:
        load_bundle(str(dest))
    msgs = [(i.code, i.message, i.line) for i in info.value.issues]
    assert any(c == "duplicate_key" and ln == 7 for c, _, ln in msgs), msgs


def test_shipped_bundle_is_valid(health) -> None:  # type: ignore[no-untyped-def]
    assert health.name == "health" and health.version.startswith("sha256:")
    assert {"patients", "fhir_patients"} <= set(health.datasets)
