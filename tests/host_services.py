"""What the suite knows about the host's services, to prove it leaves them alone."""

from __future__ import annotations

import os

PG_URL = os.environ.get("VEIL_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def host_postgres_identity() -> str | None:
    """The host PostgreSQL's postmaster pid and start time, or None if it does not answer.

    The suite must never stop, restart or reconfigure a service it did not start: this is
    read when the session starts and again when it ends, and a difference fails the run.
    """
    try:
        import psycopg

        with psycopg.connect(PG_URL, connect_timeout=3) as conn:
            row = conn.execute("SELECT pg_postmaster_start_time()::text").fetchone()
            started = str(row[0]) if row else "?"
            try:
                text = conn.execute("SELECT pg_read_file('postmaster.pid')").fetchone()
                pid = str(text[0]).split("\n", 1)[0] if text else "?"
            except psycopg.Error:  # not a superuser: the start time alone tells a restart
                pid = "?"
    except Exception:
        return None
    return f"pid {pid}, started {started}"
