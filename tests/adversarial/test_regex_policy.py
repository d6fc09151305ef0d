"""Finding 13 of issue 12: ``RegexMatch`` in policies used ``re`` with no timeout, and
``^(a+)+$`` validated. A rule reading a record field runs its condition on values the
requester sends, so one record could pin a CPU for ever. Now RegexMatch runs in RE2
(linear time), and a pattern RE2 cannot run with Python's meaning is a validation error
at its file and line; so is a bundle recognizer's pattern that is not linear-time."""

from __future__ import annotations

import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from veil.errors import PolicyError
from veil.policy.validate import load_bundle

ROOT = Path(__file__).resolve().parents[2]
PROBE_RULE = """
  - id: regex-probe
    description: diagnoses that look like a probe are redacted
    target: {datasets: [patients], fields: [diagnosis]}
    when:
      resource: {"$.record.diagnosis": {condition: RegexMatch, value: "%s"}}
    then: redact
"""


def _bundle(tmp: Path, pattern: str) -> Path:
    d = tmp / "health"
    shutil.copytree(ROOT / "policies" / "health", d)
    rules = d / "rules.yaml"
    rules.write_text(rules.read_text() + PROBE_RULE % pattern)
    return d


def test_a_catastrophic_regexmatch_on_a_record_value_is_linear(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path, "^(a+)+$")
    script = textwrap.dedent(
        f"""
        import time
        from veil.core import Veil
        from veil.keys import Keyring
        from veil.policy.testing import MemoryLedger
        from veil.policy.validate import load_bundle
        from veil.request import Request
        from veil.samples.synth import patients

        veil = Veil(load_bundle({str(bundle)!r}), MemoryLedger(), Keyring.demo())
        req = Request(subject_id="dr.a", subject={{"role": "clinician", "org": "org-north"}},
                      purpose="TREAT", dataset="patients")
        base = dict(next(iter(patients(1, seed=3))), organization_id="org-north")
        records = [dict(base, diagnosis="a" * 40 + "!"), dict(base, diagnosis="aaaa")]
        start = time.monotonic()
        out = veil.sanitize(req, records).records
        print(round(time.monotonic() - start, 3), "diagnosis" in out[0], "diagnosis" in out[1])
        """
    )
    started = time.monotonic()
    try:
        run = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, timeout=10
        )
    except subprocess.TimeoutExpired:
        pytest.fail("evaluating RegexMatch '^(a+)+$' on 41 characters did not finish in 10 s")
    assert run.returncode == 0, run.stderr[-2000:]
    seconds, probe_kept, match_kept = run.stdout.split()
    assert float(seconds) < 1.0, seconds
    assert probe_kept == "True" and match_kept == "False"  # same answers as re.search
    assert time.monotonic() - started < 10


@pytest.mark.parametrize(
    ("pattern", "why"),
    [("(?=a)b", "lookaround"), ("(a)\\\\1", "backreference"), ("\\\\bx\\\\b", "word boundaries")],
)
def test_a_regexmatch_re2_cannot_run_is_a_validation_error_at_its_line(
    tmp_path: Path, pattern: str, why: str
) -> None:
    bundle = _bundle(tmp_path, pattern)
    with pytest.raises(PolicyError) as err:
        load_bundle(str(bundle))
    issues = [i for i in err.value.issues if "RegexMatch" in i.message]
    assert len(issues) == 1, [i.render() for i in err.value.issues]
    issue = issues[0]
    assert why in issue.message and "linear time" in issue.message
    rendered = issue.render()
    lines = (bundle / "rules.yaml").read_text().splitlines()
    line = next(n for n, text in enumerate(lines, 1) if "RegexMatch" in text)
    assert f"rules.yaml:{line} " in rendered, rendered


def test_a_recognizer_pattern_that_is_not_linear_is_a_validation_error(tmp_path: Path) -> None:
    d = tmp_path / "health"
    shutil.copytree(ROOT / "policies" / "health", d)
    datasets = d / "datasets.yaml"
    text = datasets.read_text().replace(
        "      - {name: mrn-bare, regex: '\\b\\d{7}\\b', score: 0.1}",
        "      - {name: mrn-bare, regex: '(?<!x)(\\d+)+\\b', score: 0.1}",
    )
    assert "(?<!x)" in text
    datasets.write_text(text)
    with pytest.raises(PolicyError) as err:
        load_bundle(str(d))
    (issue,) = [i for i in err.value.issues if "mrn-bare" in i.message]
    assert "not linear-time" in issue.message and "datasets.yaml" in issue.render()
