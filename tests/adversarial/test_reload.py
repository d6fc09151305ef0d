"""Finding 4 of issue 12: a YAML bomb froze the service on SIGHUP until SIGKILL (SIGTERM
ignored), pinned a CPU over HTTP reload, and kept `veil policy validate` busy for over a
minute. Now the loader refuses it in milliseconds, a reload runs in a worker with a
deadline (the running bundle keeps serving), and SIGHUP never blocks."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from veil.keys import Keyring
from veil.policy.testing import MemoryLedger
from veil.service import state as state_mod
from veil.service.state import PolicyState

ROOT = Path(__file__).resolve().parent.parent.parent
BOMB = "bundle: {name: bomb}\na: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)
)


@pytest.fixture
def bundle_dir(tmp_path: Path) -> Path:
    d = tmp_path / "finance"
    shutil.copytree(ROOT / "policies" / "finance", d)
    return d


def test_a_yaml_bomb_reload_is_rejected_fast_and_the_bundle_keeps_serving(
    bundle_dir: Path,
) -> None:
    st = PolicyState(bundle_dir, MemoryLedger(), Keyring.demo())
    before = st.current.bundle.version
    (bundle_dir / "bomb.yaml").write_text(BOMB, encoding="utf-8")
    start = time.monotonic()
    result = st.reload()
    assert time.monotonic() - start < 2
    assert not result.ok and any("yaml_limit" in p for p in result.problems)
    assert st.current.bundle.version == before


def test_a_reload_that_takes_too_long_is_given_up(
    bundle_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    st = PolicyState(bundle_dir, MemoryLedger(), Keyring.demo())
    before = st.current.bundle.version
    real = state_mod._load_and_prove

    def slow(policies: Path) -> object:
        time.sleep(3)
        return real(policies)

    monkeypatch.setattr(state_mod, "_load_and_prove", slow)
    (bundle_dir / "bundle.yaml").write_text(
        (bundle_dir / "bundle.yaml").read_text() + "\n# changed\n", encoding="utf-8"
    )
    start = time.monotonic()
    result = st.reload(timeout=0.5)
    assert time.monotonic() - start < 1.5
    assert not result.ok and "longer than 0.5 s" in result.problems[0]
    assert st.current.bundle.version == before
    # and SIGHUP's path returns at once
    start = time.monotonic()
    st.reload_in_background()
    assert time.monotonic() - start < 0.1
