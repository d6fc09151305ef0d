"""The build hook that compiles veil's C extension (hatch_build.py): a build with a C
compiler and OpenSSL's headers gives a module that computes what the Python twins do;
a build without a working compiler says why and leaves veil to the twins, never failing
the install (unless ``VEIL_NATIVE=1`` asks it to)."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sysconfig
from pathlib import Path
from typing import Any

import pytest

from veil.transforms import cryptobatch

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("hatch_build", ROOT / "hatch_build.py")
assert _spec is not None and _spec.loader is not None
hatch_build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(hatch_build)


def _load(path: Path) -> Any:
    loader = importlib.machinery.ExtensionFileLoader("veil.transforms._cryptobatch", str(path))
    spec = importlib.util.spec_from_file_location(loader.name, path, loader=loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_the_hook_builds_a_module_equal_to_the_python_twins(tmp_path: Path) -> None:
    out = tmp_path / f"_cryptobatch{sysconfig.get_config_var('EXT_SUFFIX')}"
    assert hatch_build.compile_module(ROOT, out) is None
    module = _load(out)
    values: list[Any] = ["MRN-1", "é", b"\x00\xff", ""] * 1500  # past the split: threads
    module.set_workers(2)
    key, nonces = os.urandom(32), os.urandom(12 * len(values))
    assert module.hmac_sha256_hex(key, values) == cryptobatch.hmac_sha256_hex_py(key, values)
    assert module.prefix_digests(b"h", values, 7) == cryptobatch.prefix_digests_py(b"h", values, 7)
    assert module.seal_aes_gcm(key, nonces, values, b"") == cryptobatch.seal_aes_gcm_py(
        key, nonces, values, b""
    )


def test_without_a_compiler_the_hook_says_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CC", "false")  # a compiler that always fails
    why = hatch_build.compile_module(ROOT, tmp_path / "x.so")
    assert why is not None
    monkeypatch.setenv("CC", str(tmp_path / "no-such-compiler"))
    why = hatch_build.compile_module(ROOT, tmp_path / "x.so")
    assert why is not None and "no-such-compiler" in why
    assert not (tmp_path / "x.so").exists()
