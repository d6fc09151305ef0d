"""Connecting to a PostgreSQL ledger, and saying what failed without leaking secrets.

libpq's and psycopg's own messages can quote the URL (password included) and event
contents, so :func:`ledger_error` never repeats them: it names ``host:port/db``
(:func:`location`), the psycopg error class, the SQLSTATE and, for connection failures
that carry none, a fixed phrase (``connection refused``).
"""

from __future__ import annotations

import os
import re
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict

from ..errors import ConfigError, LedgerError


def conn_params(url: str, connect_timeout: float) -> dict[str, Any]:
    """libpq connection parameters for ``url``: ``connect_timeout`` as given, and our
    application name and TCP keepalives unless the URL sets them."""
    try:
        params: dict[str, Any] = conninfo_to_dict(url)
    except psycopg.Error:
        # libpq's message quotes the URL, password included: don't repeat it.
        raise ConfigError(
            "the PostgreSQL ledger URL is not a valid libpq URL",
            hint="use postgresql://user[:password]@host[:port]/database",
        ) from None
    params["connect_timeout"] = max(1, round(connect_timeout))
    params.setdefault("application_name", "veil-ledger")
    # Find a dead peer in about a minute instead of the OS's many minutes.
    params.setdefault("keepalives", 1)
    params.setdefault("keepalives_idle", 30)
    params.setdefault("keepalives_interval", 10)
    params.setdefault("keepalives_count", 3)
    return params


def location(params: dict[str, Any]) -> str:
    """``host:port/db`` for messages; never includes the user or password."""
    host = params.get("host") or params.get("hostaddr") or os.environ.get("PGHOST") or "localhost"
    port = params.get("port") or os.environ.get("PGPORT") or "5432"
    db = params.get("dbname") or os.environ.get("PGDATABASE") or params.get("user") or "?"
    return f"{host}:{port}/{db}"


#: libpq reports connection failures as text only, without SQLSTATE, and its text names
#: hosts and users. Known failures are reduced to a fixed phrase (and SQLSTATE-like class
#: for the hint); the text itself is never repeated.
_CONNECT_REASONS = tuple(
    (re.compile(pattern), reason, state)
    for pattern, reason, state in (
        (r"connection refused", "connection refused", "08"),
        (r"timeout expired|timed out", "connection timed out", "08"),
        (r"could not translate host name|name or service not known", "host not found", "08"),
        (
            r"server closed the connection|terminating connection|connection not open"
            r"|connection is lost|ssl syscall error|eof detected",
            "connection lost",
            "08",
        ),
        (
            r"authentication failed|no password supplied|no pg_hba\.conf entry",
            "login refused",
            "28",
        ),
        (r"role \"[^\"]*\" does not exist", "role does not exist", "28"),
        (r"database \"[^\"]*\" does not exist", "database does not exist", "3D000"),
        (r"too many clients|connection slots", "too many connections", "53"),
        (r"starting up|shutting down|recovery mode", "server starting or stopping", "57P"),
    )
)


def _reason(exc: psycopg.Error) -> tuple[str, str]:
    """(a fixed description of a connection-level failure or "", SQLSTATE or its class)."""
    if exc.sqlstate:
        return "", exc.sqlstate
    text = str(exc).lower()
    for pattern, reason, state in _CONNECT_REASONS:
        if pattern.search(text):
            return reason, state
    return "", ""


def _hint(exc: psycopg.Error, state: str, where: str, schema: str) -> str:
    if state.startswith("28"):
        return (
            "the server refused the login: check the user and password (ledger URL, "
            "PGPASSWORD or ~/.pgpass) and pg_hba.conf"
        )
    if state == "3D000":
        return "the database does not exist: create it, or fix the database in the ledger URL"
    if state == "42501":
        return (
            f"the ledger's database user lacks privileges: grant it USAGE on schema {schema} "
            "and SELECT/INSERT/UPDATE on its tables (CREATE on the database to create it)"
        )
    if state == "55P03":
        return "another writer held the ledger's lock too long; retry, or raise lock_timeout"
    if state == "25006":
        return "the server is a read-only standby: point the ledger URL at the primary"
    if state == "23505":
        return "an event with this id is already in the ledger: build a new event per disclosure"
    if state.startswith("53"):
        return "the server is out of resources (disk, memory or connections): see its log"
    if not state or state.startswith(("08", "57P")) or isinstance(exc, psycopg.OperationalError):
        return (
            f"check that PostgreSQL is running and reachable at {where}; "
            "the ledger reconnects by itself on its next call"
        )
    return "see the PostgreSQL server log, then run `veil audit verify`"


def ledger_error(
    what: str, exc: psycopg.Error, where: str, schema: str, *, unknown: bool = False
) -> LedgerError:
    """The :class:`LedgerError` for ``exc`` raised while trying to ``what`` on the ledger
    at ``where`` (``host:port/db``). ``unknown``: the connection broke during COMMIT."""
    reason, state = _reason(exc)
    code = f", SQLSTATE {exc.sqlstate}" if exc.sqlstate else ""
    message = (
        f"PostgreSQL ledger at {where} unavailable: "
        f"{type(exc).__name__}{code} (could not {what}{': ' + reason if reason else ''})"
    )
    hint = _hint(exc, state, where, schema)
    if unknown:
        message += "; the connection broke during COMMIT, so the event may have been recorded"
        hint = "nothing was disclosed; run `veil audit verify`, then retry. " + hint
    return LedgerError(message, hint=hint)
