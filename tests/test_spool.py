"""Sanitized records never outlive a killed process: the spool is an unnamed file, linked
into place only after the ledger event is durable."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from veil.formats import spool
from veil.samples.synth import accounts

ROOT = Path(__file__).resolve().parent.parent


def _spool_fds(pid: int, directory: Path) -> list[str]:
    """Open descriptors of ``pid`` on files in ``directory`` (an unnamed spool shows as
    ``directory/#inode (deleted)``)."""
    out = []
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith(str(directory) + "/"):
            out.append(target)
    return out


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_a_killed_sanitize_leaves_no_records_on_disk(sig: int, tmp_path: Path) -> None:
    """Records are streamed in on stdin; once sanitized ones sit in the spool, the process
    is killed while it waits for more. Nothing may remain beside the destination."""
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    out = out_dir / "extract.jsonl"
    cmd = [
        sys.executable, "-m", "veil.cli", "sanitize", "-", "-o", str(out),
        "-p", str(ROOT / "policies" / "finance"), "-d", "accounts", "--subject-id", "s1",
        "-a", "role=support_agent", "-a", "org=bank-a", "--purpose", "SUPPORT",
        "--ledger", f"sqlite:///{tmp_path / 'l.db'}", "--create",
    ]  # fmt: skip
    proc = subprocess.Popen(
        cmd, cwd=ROOT, stdin=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert proc.stdin is not None
    for rec in accounts(5000, seed=7):
        proc.stdin.write(json.dumps(dict(rec, organization_id="bank-a")) + "\n")
    proc.stdin.flush()
    deadline = time.monotonic() + 60
    spools: list[str] = []
    while time.monotonic() < deadline and proc.poll() is None:
        spools = _spool_fds(proc.pid, out_dir)
        if spools and os.path.getsize(f"/proc/{proc.pid}/fd/{_fd_of(proc.pid, spools[0])}") > 0:
            break
        time.sleep(0.05)
    assert proc.poll() is None and spools, "no spool with records seen before the kill"
    assert all("(deleted)" in s for s in spools), spools  # unnamed from the start
    proc.send_signal(sig)
    proc.wait(30)
    assert proc.returncode != 0
    assert sorted(p.name for p in out_dir.iterdir()) == []


def _fd_of(pid: int, target: str) -> str:
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            if os.readlink(fd) == target:
                return fd.name
        except OSError:
            continue
    return "-1"


def test_stale_named_spools_are_swept(tmp_path: Path) -> None:
    """Where O_TMPFILE is not available the spool has a name; a later run removes the
    spools of processes that are gone (and not those of live ones)."""
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    stale = tmp_path / f"{spool.PREFIX}{int(dead.stdout)}-abc"
    live = tmp_path / f"{spool.PREFIX}{os.getppid()}-def"
    stale.write_text("name,street\n")
    live.write_text("x")
    assert spool.sweep(tmp_path) == 1
    assert not stale.exists() and live.exists()


def test_publish_links_the_unnamed_spool(tmp_path: Path) -> None:
    dest = tmp_path / "o.txt"
    with spool.spooled_output(str(dest)) as (stream, publish):
        stream.write("hello\n")
        assert list(tmp_path.iterdir()) == []  # nothing named yet
        publish()
    assert dest.read_text() == "hello\n"
    assert [p.name for p in tmp_path.iterdir()] == ["o.txt"]
    assert oct(dest.stat().st_mode & 0o777) == "0o600"
