"""Output held back until the ledger event is durable, with no plaintext outliving the process.

The spool is an *unnamed* file (Linux ``O_TMPFILE``) on the destination's filesystem: it
has no directory entry, so a process killed by SIGKILL, SIGTERM or a power cut leaves
nothing behind (the kernel frees it with the last descriptor). :func:`spooled_output`'s
``publish`` links it into place only after the caller has committed the ledger event;
until then the records exist nowhere a later reader could find them.

Where ``O_TMPFILE`` is not available (another OS, a filesystem without it), the spool is
a named file ``.veil-spool-<pid>-<random>`` created with mode 0600 beside the
destination; :func:`sweep` removes those left by processes that no longer run, and every
``spooled_output`` sweeps its directory first.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

PREFIX = ".veil-spool-"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep(directory: str | os.PathLike[str]) -> int:
    """Remove named spool files of processes that are gone; how many were removed."""
    removed = 0
    with contextlib.suppress(OSError):
        for entry in os.scandir(directory):
            name = entry.name
            if not name.startswith(PREFIX) or not entry.is_file(follow_symlinks=False):
                continue
            pid_text = name[len(PREFIX) :].split("-", 1)[0]
            pid = int(pid_text) if pid_text.isdigit() else -1
            if pid > 0 and pid != os.getpid() and _pid_alive(pid):
                continue
            if pid == os.getpid():
                continue
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
                removed += 1
    return removed


def _unnamed(directory: str) -> int | None:
    """A descriptor of an unnamed file in ``directory``, or None if the OS cannot."""
    flag = getattr(os, "O_TMPFILE", 0)
    if not flag:
        return None
    try:
        return os.open(directory, flag | os.O_RDWR, 0o600)
    except OSError:  # EOPNOTSUPP / EISDIR on filesystems without O_TMPFILE
        return None


def _link(fd: int, dest: str) -> None:
    """Give the unnamed file ``fd`` the name ``dest`` (replacing what is there)."""
    directory = os.path.dirname(dest) or "."
    name = f"{PREFIX}{os.getpid()}-{secrets.token_hex(6)}"
    tmp = os.path.join(directory, name)
    # os.link calls link(2), which would link the /proc symlink itself; with a dir_fd it
    # calls linkat(2) with AT_SYMLINK_FOLLOW, which links the file the descriptor holds.
    dir_fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.link(f"/proc/self/fd/{fd}", name, dst_dir_fd=dir_fd, follow_symlinks=True)
    finally:
        os.close(dir_fd)
    try:
        os.replace(tmp, dest)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


@contextmanager
def spooled_output(dest: str | None, *, binary: bool = False) -> Iterator[tuple[IO[Any], Any]]:
    """Yield (stream, publish). Nothing reaches ``dest`` (or stdout) unless publish() is
    called, which the caller does only after the ledger event is durable.

    On an exception, or if publish is never called, the spool is discarded. With
    ``binary``, the stream takes bytes (Parquet, Arrow IPC, CSV written by Arrow).
    """
    to_file = bool(dest and dest != "-")
    if to_file:
        assert dest is not None
        directory = str(Path(dest).resolve().parent)
        Path(directory).mkdir(parents=True, exist_ok=True)
    else:
        directory = tempfile.gettempdir()
    sweep(directory)
    fd = _unnamed(directory)
    named: str | None = None
    if fd is None:
        named = os.path.join(directory, f"{PREFIX}{os.getpid()}-{secrets.token_hex(6)}")
        fd = os.open(named, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    published = False
    stream: IO[Any] = (
        os.fdopen(fd, "w+b") if binary else os.fdopen(fd, "w+", encoding="utf-8", newline="")
    )

    def publish() -> None:
        nonlocal published
        stream.flush()
        os.fsync(stream.fileno())
        if to_file:
            assert dest is not None
            final = str(Path(dest).resolve())
            if named is not None:
                os.replace(named, final)
            else:
                _link(stream.fileno(), final)
            stream.close()
        else:
            stream.seek(0)
            if binary:
                shutil.copyfileobj(stream, sys.stdout.buffer)
                sys.stdout.buffer.flush()
            else:
                shutil.copyfileobj(stream, sys.stdout)
                sys.stdout.flush()
            stream.close()
            if named is not None:
                os.unlink(named)
        published = True

    try:
        yield stream, publish
    finally:
        if not published:
            with contextlib.suppress(OSError):
                stream.close()
            if named is not None and os.path.exists(named):
                os.unlink(named)
