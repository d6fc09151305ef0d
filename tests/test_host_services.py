"""The suite never stops, restarts or reconfigures a service it did not start: the host
PostgreSQL's postmaster pid and start time are read when the session starts and again
when it ends (tests/conftest.py), and a difference fails the run."""

from __future__ import annotations

import os

import pytest

from host_services import host_postgres_identity


def test_host_postgres_identity_is_readable() -> None:
    ident = host_postgres_identity()
    if ident is None:
        if os.environ.get("VEIL_REQUIRE_POSTGRES") == "1":
            pytest.fail("PostgreSQL not reachable at the test URL")
        pytest.skip("PostgreSQL not reachable at the test URL (set VEIL_TEST_POSTGRES_URL)")
    assert ident.startswith("pid ") and "started " in ident
    assert host_postgres_identity() == ident  # stable while nobody restarts it
