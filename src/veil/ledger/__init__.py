"""The disclosure ledger: a tamper-evident record of who received what, when and why.

``open_ledger(url, key)`` is the one way in for callers; backends implement
:class:`Ledger`.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import ConfigError, LedgerError
from .accounting import describe, render_csv, render_json
from .base import AccountingEntry, Ledger, Problem, StoredEvent, VerifyReport
from .chain import GENESIS, ChainRow, link_hash, link_hash_text, verify_chain
from .events import (
    BreakGlass,
    Event,
    EventKind,
    FieldDisclosure,
    RecordCounts,
    Requester,
    canonical_json,
    subjects_digest,
)
from .sqlite import SQLiteLedger

__all__ = [
    "GENESIS",
    "AccountingEntry",
    "BreakGlass",
    "ChainRow",
    "Event",
    "EventKind",
    "FieldDisclosure",
    "Ledger",
    "Problem",
    "RecordCounts",
    "Requester",
    "SQLiteLedger",
    "StoredEvent",
    "VerifyReport",
    "canonical_json",
    "describe",
    "link_hash",
    "link_hash_text",
    "open_ledger",
    "render_csv",
    "render_json",
    "subjects_digest",
    "verify_chain",
]

_SQLITE = "sqlite:///"


def _sqlite_path(url: str) -> Path:
    if url.startswith(_SQLITE):
        rest = url[len(_SQLITE) :]
    elif "://" in url:
        scheme = url.split("://", 1)[0]
        raise ConfigError(
            f"unsupported ledger URL scheme {scheme!r}",
            hint="use sqlite:///relative.db, sqlite:////absolute.db or a plain file path",
        )
    else:
        rest = url
    rest = rest.split("?", 1)[0]
    if not rest or rest == ":memory:":
        raise ConfigError(
            f"ledger URL {url!r} names no file",
            hint="the ledger must be a durable file, e.g. sqlite:///veil-ledger.db",
        )
    return Path(rest).expanduser()


def open_ledger(url: str, key: bytes | None = None) -> Ledger:
    """Open (creating if needed) the ledger at ``url``.

    Accepts ``sqlite:///relative.db``, ``sqlite:////absolute/path.db`` (SQLAlchemy's
    convention) and plain filesystem paths; creates missing parent directories.
    ``postgresql://`` is recognised but not available yet. Raises :class:`ConfigError`
    for a bad URL or key, :class:`LedgerError` if the file cannot be opened or created.
    """
    if url.startswith(("postgresql://", "postgres://", "postgresql+")):
        raise ConfigError(
            "PostgreSQL ledger is not available yet",
            hint="use an SQLite ledger for now, e.g. sqlite:///var/veil/ledger.db",
        )
    path = _sqlite_path(url)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LedgerError(
            f"ledger {path}: could not create its directory: {exc.strerror or exc}",
            hint="choose a ledger path whose parent is a writable directory",
        ) from exc
    return SQLiteLedger(path, key)
