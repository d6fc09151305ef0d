"""Files that hold secrets (keysets, API-key hashes): written private, refused if not.

A keyset holds the keys that turn tokens back into identifiers; an API-keys file holds
the hashes that decide who may ask for what. Either one readable by other local users is
a leak (of keys) or an invitation (to add a key). So veil writes them with mode 0600,
atomically, and ``veil serve`` will not start on one that group or others can read or
write — as OpenSSH refuses a private key with such a mode.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path


def exposure(path: Path) -> str | None:
    """Why ``path`` is not private (group or others may read or write it), else None.

    A missing file is not this function's business (its loader says so)."""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        return None
    if mode & 0o077:
        return f"{path} is readable or writable by group or others (mode {mode:04o})"
    return None


def write_private(p: Path, text: str) -> None:
    """Replace ``p`` with ``text``: a temporary file in the same directory, made 0600
    before any byte is written, then renamed over the old one, so a reader sees the old
    content or the new, never half, and the secret is never world-readable on disk."""
    directory = p.parent if str(p.parent) else Path(".")
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", dir=directory)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
