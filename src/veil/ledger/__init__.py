"""The disclosure ledger: a tamper-evident record of who received what, when and why.

``open_ledger(url, key)`` is the one way in for callers; backends implement
:class:`Ledger`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

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

if TYPE_CHECKING:
    from .postgres import PostgresLedger

__all__ = [
    "GENESIS",
    "AccountingEntry",
    "BreakGlass",
    "ChainRow",
    "Event",
    "EventKind",
    "FieldDisclosure",
    "Ledger",
    "PostgresLedger",
    "Problem",
    "RecordCounts",
    "Requester",
    "SQLiteLedger",
    "StoredEvent",
    "VerifyReport",
    "canonical_json",
    "default_ledger_url",
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


def __getattr__(name: str) -> Any:
    # psycopg takes ~0.1 s to import: load it only for PostgreSQL ledgers, so SQLite users'
    # CLI start-up does not pay for it.
    if name == "PostgresLedger":
        from .postgres import PostgresLedger

        return PostgresLedger
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _sqlite_path(url: str) -> Path:
    if url.startswith(_SQLITE):
        rest = url[len(_SQLITE) :]
    elif "://" in url:
        scheme = url.split("://", 1)[0]
        raise ConfigError(
            f"unsupported ledger URL scheme {scheme!r}",
            hint="use sqlite:///relative.db, sqlite:////absolute.db, a plain file path "
            "or postgresql://user@host/db",
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


def _postgres_url(url: str) -> str | None:
    """``url`` as a libpq URL if it names PostgreSQL, else ``None``.

    SQLAlchemy-style driver suffixes (``postgresql+psycopg://``) are dropped.
    """
    scheme, sep, rest = url.partition("://")
    if not sep:
        return None
    if scheme in ("postgresql", "postgres"):
        return url
    if scheme.startswith("postgresql+"):
        return "postgresql://" + rest
    return None


def _split_schema(url: str) -> tuple[str, str | None]:
    """(``url`` without its ``schema`` query parameter, that schema or ``None``).

    libpq rejects query parameters it does not know, so veil's own is taken out before
    psycopg sees the URL; the other parameters are kept byte for byte.
    """
    base, sep, query = url.partition("?")
    if not sep:
        return url, None
    schema: str | None = None
    kept: list[str] = []
    for part in query.split("&"):
        name, _, value = part.partition("=")
        if unquote(name) == "schema":
            schema = unquote(value)
        else:
            kept.append(part)
    return base + ("?" + "&".join(kept) if kept else ""), schema


def default_ledger_url() -> str:
    """Where the ledger is when none is named: ``$VEIL_HOME/ledger.db``, else the user's
    data directory (``$XDG_DATA_HOME/veil`` or ``~/.local/share/veil``) -- never a path
    relative to wherever a command happens to run."""
    home = os.environ.get("VEIL_HOME")
    if home:
        base = Path(home)
    else:
        data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
        base = Path(data) / "veil"
    return f"sqlite:///{base.resolve() / 'ledger.db'}"


def open_ledger(url: str, key: bytes | None = None, *, create: bool = True) -> Ledger:
    """Open the ledger at ``url``; with ``create``, create it (and its directory) if it does
    not exist yet. The CLI passes ``create=False`` unless asked (``--create``): a typo in a
    path must not silently start a new, empty ledger.

    Accepts ``sqlite:///relative.db``, ``sqlite:////absolute/path.db`` (SQLAlchemy's
    convention) and plain filesystem paths, creating missing parent directories; and
    ``postgresql://user:password@host:port/db`` (also ``postgres://`` and
    ``postgresql+psycopg://``), creating the ledger in schema ``veil`` or the one named
    by a ``?schema=NAME`` query parameter (so several ledgers can share a database). Raises
    :class:`ConfigError` for a bad URL or key, :class:`LedgerError` if the ledger cannot
    be opened or created (for PostgreSQL: the server cannot be reached).
    """
    pg = _postgres_url(url)
    if pg is not None:
        from ..extras import require

        require("postgres", "a postgresql:// ledger")
        from .postgres import PostgresLedger

        pg, schema = _split_schema(pg)
        if schema is None:
            return PostgresLedger(pg, key)
        return PostgresLedger(pg, key, schema=schema)
    path = _sqlite_path(url)
    if not create and not path.exists():
        what = "directory" if not path.parent.is_dir() else "file"
        raise ConfigError(
            f"there is no ledger at {path} (no such {what})",
            hint="check the --ledger path; to start a new ledger there, pass --create",
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LedgerError(
            f"ledger {path}: could not create its directory: {exc.strerror or exc}",
            hint="choose a ledger path whose parent is a writable directory",
        ) from exc
    return SQLiteLedger(path, key)
