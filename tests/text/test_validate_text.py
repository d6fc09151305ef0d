"""Bundle recognizers and scan_text params are checked at load, every problem with file
and line, before any text is read."""

from __future__ import annotations

from pathlib import Path

import pytest

from veil.errors import PolicyError
from veil.policy.validate import load_bundle

BUNDLE = """\
bundle: {name: t}
vocabulary:
  tags: {free_text: narrative}
  purposes: {P: p}
recognizers:
  mrn:
    entity: MRN
    patterns:
      - {name: bad, regex: '\\bMRN-(\\d{7}\\b', score: 0.9}
  'bad name!':
    entity: ACCT
    deny_list: [x]
  empty:
    entity: EMPTY
datasets:
  d:
    record_id: id
    data_subject: id
    fields:
      id: {type: string}
      note: {type: string, tags: [free_text]}
      n: {type: integer}
rules:
  - id: needs-ner
    target: {fields: [note]}
    then:
      transform: scan_text
      params:
        entities:
          PERSON: {transform: redact}
          NO_SUCH_THING: {transform: redact}
  - id: bad-span-transform
    target: {fields: [note]}
    then:
      transform: scan_text
      params:
        entities:
          US_SSN: {transform: mask, params: {keep_lst: 4}}
  - id: sets-recognizers
    target: {fields: [note]}
    then:
      transform: scan_text
      params:
        entities: {US_SSN: {transform: redact}}
        recognizers: []
  - id: on-an-integer
    target: {fields: [n]}
    then:
      transform: scan_text
      params:
        entities: {US_SSN: {transform: redact}}
"""


@pytest.fixture()
def issues(tmp_path: Path) -> list[tuple[str, int | None, str]]:
    root = tmp_path / "b"
    root.mkdir()
    (root / "bundle.yaml").write_text(BUNDLE)
    with pytest.raises(PolicyError) as info:
        load_bundle(str(root))
    assert all(i.file.endswith("bundle.yaml") for i in info.value.issues)
    return [(i.code, i.line, i.message) for i in info.value.issues]


def test_shape_errors_are_located(tmp_path: Path) -> None:
    root = tmp_path / "b"
    root.mkdir()
    (root / "bundle.yaml").write_text(BUNDLE)
    with pytest.raises(PolicyError) as info:
        load_bundle(str(root))
    (issue,) = [i for i in info.value.issues if i.code == "schema"]  # no cross-checks yet
    assert issue.line == 14 and issue.where == "recognizers.empty"
    assert "patterns" in issue.message


def test_cross_checks_are_all_reported_with_lines(tmp_path: Path) -> None:
    root = tmp_path / "b"
    root.mkdir()
    (root / "bundle.yaml").write_text(BUNDLE.replace("  empty:\n    entity: EMPTY\n", ""))
    with pytest.raises(PolicyError) as info:
        load_bundle(str(root))
    got = {(i.code, i.line): i for i in info.value.issues}
    assert "not a valid regex" in got[("recognizer", 9)].message
    assert "not a simple name" in got[("recognizer", 11)].message
    person = got[("transform", 28)]
    assert "'PERSON'" in person.message and "engine: ner" in person.hint
    assert "'NO_SUCH_THING'" in got[("transform", 29)].message
    keep_lst = got[("transform", 36)]  # the span transform's own params, located
    assert "keep_lst" in keep_lst.message and keep_lst.where.endswith("entities.US_SSN")
    assert "filled in from the bundle" in got[("transform", 43)].message
    assert "cannot be applied to n" in got[("transform", 47)].message
    assert len(info.value.issues) == 7


def test_shipped_bundles_carry_their_recognizers() -> None:
    root = Path(__file__).resolve().parents[2] / "policies"
    health = load_bundle(str(root / "health"))
    rule = next(r for r in health.rules if r.id == "sh-notes-scrubbed")
    assert rule.outcome is not None and rule.outcome.params is not None
    names = [r.name for r in rule.outcome.params.recognizers]  # type: ignore[attr-defined]
    assert names == ["mrn"]
    assert "mrn" not in rule.outcome.describe()  # the ledger description stays short


REGIONS_BUNDLE = """\
bundle: {{name: r}}
vocabulary:
  tags: {{free_text: narrative}}
  purposes: {{P: p}}
{text}
datasets:
  d:
    record_id: id
    data_subject: id
    fields:
      id: {{type: string}}
      note: {{type: string, tags: [free_text]}}
rules:
  - id: id-clear
    target: {{fields: [id]}}
    then: allow
  - id: scrub
    target: {{fields: [note]}}
    then:
      transform: scan_text
      params:
        entities: {{PHONE_NUMBER: {{transform: replace, params: {{value: "<PHONE>"}}}}}}
{own}
"""


def _regions_bundle(tmp_path: Path, text: str, own: str = "") -> Path:
    root = tmp_path / "r"
    root.mkdir(parents=True)
    (root / "bundle.yaml").write_text(REGIONS_BUNDLE.format(text=text, own=own))
    return root


def _scrub(root: Path, note: str) -> str:
    from veil.core import Veil
    from veil.keys import Keyring
    from veil.policy.testing import MemoryLedger
    from veil.request import Request

    veil = Veil(load_bundle(str(root)), MemoryLedger(), Keyring.demo())
    req = Request(subject_id="s", purpose="P", dataset="d")
    out: str = veil.sanitize(req, [{"id": "1", "note": note}]).records[0]["note"]
    return out


def test_bundle_text_regions_declare_the_phone_formats(tmp_path: Path) -> None:
    """``text: {regions: [...]}`` is the bundle's declaration of whose national phone
    formats its scan_text rules detect; a rule's own phone_regions wins."""
    uk = "Call 020 7946 0958 today"  # Ofcom's drama range, UK national format
    gb = _regions_bundle(tmp_path / "a", "text: {regions: [GB]}")
    assert "020 7946 0958" not in _scrub(gb, uk)
    us_only = _regions_bundle(tmp_path / "b", "")  # no declaration: the default, US
    assert "020 7946 0958" in _scrub(us_only, uk)
    own = _regions_bundle(tmp_path / "c", "text: {regions: [GB]}", "        phone_regions: [US]")
    assert "020 7946 0958" in _scrub(own, uk)
    assert "+44 20 7946 0958" not in _scrub(us_only, "Call +44 20 7946 0958")  # E.164: always


def test_bad_text_regions_are_located(tmp_path: Path) -> None:
    root = _regions_bundle(tmp_path, "text: {regions: [gb, United Kingdom]}")
    with pytest.raises(PolicyError) as got:
        load_bundle(str(root))
    located = [i for i in got.value.issues if i.file.endswith("bundle.yaml") and i.line == 5]
    assert located and all(i.where.startswith("text.regions") for i in located)
