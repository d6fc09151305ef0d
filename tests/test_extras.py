"""The lean core: what `pip install veil` brings, what needs an extra, and the error a
missing extra gives.

The installed package's own metadata (Requires-Dist) is checked, not pyproject.toml's
text; the CLI runs in a child interpreter where the optional packages cannot be
imported (an import hook refuses them), which is what a core-only install looks like
from veil's side.
"""

from __future__ import annotations

import importlib.metadata
import json
import re
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from veil.extras import EXTRAS

ROOT = Path(__file__).resolve().parent.parent

#: distributions the core may depend on (and nothing heavier)
LEAN = {
    "py-abac", "marshmallow", "pydantic", "pyyaml", "typer", "rich", "fastfpe",
    "cryptography", "regex", "google-re2", "orjson",
}  # fmt: skip
#: import name -> distribution, for the modules veil.extras checks
DIST = {
    "fastapi": "fastapi",
    "presidio_analyzer": "presidio-analyzer",
    "pyarrow": "pyarrow",
    "pyspark": "pyspark",
    "psycopg": "psycopg",
    "pkcs11": "python-pkcs11",
    "opentelemetry": "opentelemetry-api",
}
#: what a core-only install does not have
OPTIONAL_MODULES = [
    "fastapi", "starlette", "uvicorn", "pydantic_settings", "prometheus_client", "jwt",
    "psycopg", "presidio_analyzer", "spacy", "tldextract", "stdnum", "phonenumbers",
    "pyarrow", "numpy", "pyspark", "pandas", "pkcs11", "opentelemetry", "jinja2", "fpdf",
]  # fmt: skip


def _requirements() -> list[tuple[str, str | None]]:
    """(distribution, extra or None) for each Requires-Dist of the installed veil."""
    out = []
    for line in importlib.metadata.requires("veil") or []:
        name = re.match(r"[A-Za-z0-9._-]+", line)
        assert name is not None
        extra = re.search(r"extra\s*==\s*['\"]([^'\"]+)['\"]", line)
        out.append((name.group(0).lower().replace("_", "-"), extra.group(1) if extra else None))
    return out


def test_the_core_install_is_lean() -> None:
    core = {d for d, extra in _requirements() if extra is None}
    assert core <= LEAN, f"heavy core dependencies: {sorted(core - LEAN)}"
    assert {"pydantic", "py-abac", "orjson"} <= core


def _dists(extra: str) -> set[str]:
    return {d for d, e in _requirements() if e == extra}


def test_each_extra_brings_what_veil_checks_for() -> None:
    provided = set(importlib.metadata.metadata("veil").get_all("Provides-Extra") or [])
    assert set(EXTRAS) | {"all", "dev", "ner"} <= provided
    for extra, (module, _) in EXTRAS.items():
        assert DIST[module] in _dists(extra), f"veil[{extra}] does not install {DIST[module]}"
    for extra in ("service", "text", "bulk", "postgres", "hsm", "otel"):
        assert _dists(extra) <= _dists("all"), f"veil[all] lacks part of veil[{extra}]"
    assert _dists("all") | _dists("spark") <= _dists("dev")  # the README's install


CHILD = """
import importlib.abc, sys
BLOCKED = set({blocked!r})
class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None
sys.meta_path.insert(0, Refuse())
for name in [m for m in sys.modules if m.split(".")[0] in BLOCKED]:
    del sys.modules[name]
from veil.cli import main
sys.argv = ["veil", *sys.argv[1:]]
main()
"""


@pytest.fixture(scope="module")
def core_only(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("core")
    script = d / "veil_core_only.py"
    script.write_text(CHILD.format(blocked=OPTIONAL_MODULES))
    return script


def _veil(script: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "VEIL_HOME": str(cwd), "HOME": str(cwd)}
    if (cwd / "keys.yaml").exists():
        env["VEIL_KEY_FILE"] = str(cwd / "keys.yaml")
    return subprocess.run(
        [sys.executable, str(script), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def _events(db: Path) -> int:
    with sqlite3.connect(db) as c:
        return int(c.execute("select count(*) from events").fetchone()[0])


def test_core_only_sanitizes_validates_and_audits(core_only: Path, tmp_path: Path) -> None:
    data = ROOT / "examples" / "data"
    health = str(ROOT / "policies" / "health")
    assert _veil(core_only, tmp_path, "--version").returncode == 0
    r = _veil(core_only, tmp_path, "policy", "validate", health)
    assert r.returncode == 0, r.stderr
    ledger = f"sqlite:///{tmp_path / 'l.db'}"
    clinician = ["-p", health, "-d", "patients", "--subject-id", "dr.a", "-a", "role=clinician",
                 "-a", "org=org-north", "--purpose", "TREAT", "--ledger", ledger]  # fmt: skip
    out = tmp_path / "treat.jsonl"
    r = _veil(core_only, tmp_path, "sanitize", str(data / "patients.jsonl"), "-o", str(out),
              *clinician, "--create")  # fmt: skip
    assert r.returncode == 0, r.stderr
    first = json.loads(out.read_text().splitlines()[0])
    assert first["ssn"].startswith("***")
    csv_out = tmp_path / "treat.csv"  # CSV to CSV: the record engine, without pyarrow
    r = _veil(core_only, tmp_path, "sanitize", str(data / "patients.csv"), "-o", str(csv_out),
              *clinician)  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert csv_out.read_text().count("\n") > 10
    r = _veil(core_only, tmp_path, "audit", "verify", "--ledger", ledger)
    assert r.returncode == 0, r.stderr
    assert _events(tmp_path / "l.db") == 2


# fmt: off
MISSING_EXTRA_CASES = [
    (["serve", "--port", "1"], "service"),
    (["scan", "{data}/patients.jsonl", "-d", "x"], "text"),
    (["sanitize", "{data}/patients.jsonl", "-o", "{tmp}/o.jsonl", "-p", "{health}",
      "-d", "patients", "--subject-id", "r.chen", "-a", "role=researcher",
      "-a", "org=university", "--purpose", "HRESCH", "--recipient", "study-42",
      "--ledger", "sqlite:///{tmp}/l.db", "--create"], "text"),
    (["sanitize", "{data}/patients.csv", "-o", "{tmp}/o.parquet", "-p", "{health}",
      "-d", "patients", "--subject-id", "dr.a", "-a", "role=clinician",
      "-a", "org=org-north", "--purpose", "TREAT",
      "--ledger", "sqlite:///{tmp}/l.db", "--create"], "bulk"),
    (["audit", "verify", "--ledger", "postgresql://127.0.0.1:1/none"], "postgres"),
    ]
# fmt: on


@pytest.mark.parametrize(("args", "extra"), MISSING_EXTRA_CASES)
def test_a_missing_extra_is_named_before_anything_happens(
    core_only: Path, tmp_path: Path, args: list[str], extra: str
) -> None:
    fill = {"data": ROOT / "examples" / "data", "health": ROOT / "policies" / "health",
            "tmp": tmp_path}  # fmt: skip
    # the keys the health bundle names: the core makes them, no extra needed
    made = _veil(core_only, tmp_path, "keys", "new", "--for", str(fill["health"]))
    assert made.returncode == 0 and (tmp_path / "keys.yaml").exists(), made.stderr
    r = _veil(core_only, tmp_path, *[a.format(**fill) for a in args])
    assert r.returncode == 7, (r.returncode, r.stderr)
    assert f"veil[{extra}]" in r.stderr and "Traceback" not in r.stderr
    assert not (tmp_path / "o.jsonl").exists() and not (tmp_path / "o.parquet").exists()
    if (tmp_path / "l.db").exists():  # nothing disclosed, so nothing logged
        assert _events(tmp_path / "l.db") == 0
