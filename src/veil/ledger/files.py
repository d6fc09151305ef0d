"""Ledger files that stop taking writes, handled without crashing the process.

SQLite maps a WAL database's ``-shm`` index into memory and writes it on every operation,
reads included. Once a file is made immutable (``chattr +i``) or read-only, such
a write is a page fault the kernel answers with SIGBUS: the whole service died. Callers
check :func:`writable` before touching a connection, and hand connections that can no
longer be closed safely to :func:`never_close`.
"""

from __future__ import annotations

import ctypes
import os

#: Connections kept for the life of the process (closing them would write the mapping).
_KEPT: list[object] = []


def writable(path: str) -> bool:
    """False if ``path`` exists and cannot take writes (mode, read-only mount, immutable
    attribute); True if it is absent (SQLite creates it).

    Only ``access(2)``, never ``open``: closing any descriptor of a file drops every POSIX
    lock the process holds on it, SQLite's included, and another process then rewrites
    the index under this one (SIGBUS again).
    """
    return not os.path.exists(path) or os.access(path, os.W_OK)


def database_writable(path: object) -> bool:
    """:func:`writable` for a SQLite database and its ``-wal`` and ``-shm`` files."""
    return all(writable(f"{path}{suffix}") for suffix in ("", "-wal", "-shm"))


def never_close(conn: object) -> None:
    """Keep ``conn`` alive past interpreter shutdown: never deallocated, never closed; the
    operating system releases it when the process exits."""
    _KEPT.append(conn)
    ctypes.pythonapi.Py_IncRef(ctypes.py_object(conn))
