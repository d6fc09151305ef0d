"""Shared fixtures: the shipped health bundle, demo keys, an in-memory ledger; and a
network guard: veil must never reach the network at run time (models, suffix lists,
model hubs). Any connect to a non-loopback address and any DNS lookup of a non-local
name is refused *and* fails the test that made it, even if the caller swallowed the
error (tldextract, for one, falls back silently)."""

from __future__ import annotations

import ipaddress
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from host_services import host_postgres_identity
from veil.core import Veil
from veil.keys import Keyring
from veil.policy.bundle import Bundle
from veil.policy.testing import MemoryLedger
from veil.policy.validate import load_bundle

ROOT = Path(__file__).resolve().parent.parent
HEALTH = ROOT / "policies" / "health"


class NetworkBlocked(OSError):
    """Raised for a connection or lookup the test suite does not allow."""


#: attempts not yet reported (a test fails if it made any)
BLOCKED: list[str] = []
_LOCAL_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback", ""}


def _is_local_host(host: Any) -> bool:
    if host is None:
        return True
    if isinstance(host, bytes):
        host = host.decode("ascii", "replace")
    host = str(host).strip("[]").lower()
    if host in _LOCAL_NAMES or host.endswith(".localhost") or host == socket.gethostname().lower():
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


def _is_ip(host: Any) -> bool:
    try:
        ipaddress.ip_address(str(host.decode() if isinstance(host, bytes) else host).strip("[]"))
    except ValueError:
        return False
    return True


def _check_address(family: int, address: Any) -> None:
    if family not in (socket.AF_INET, socket.AF_INET6):
        return  # Unix sockets and the like are local by nature
    host = address[0] if isinstance(address, tuple) else address
    if not _is_local_host(host):
        BLOCKED.append(f"connect to {host!r}")
        raise NetworkBlocked(f"network access blocked in tests: connect to {host!r}")


def _install_guard() -> None:
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex
    real_getaddrinfo = socket.getaddrinfo
    real_gethostbyname = socket.gethostbyname
    real_gethostbyname_ex = socket.gethostbyname_ex

    def connect(self: socket.socket, address: Any) -> None:
        _check_address(self.family, address)
        real_connect(self, address)

    def connect_ex(self: socket.socket, address: Any) -> int:
        _check_address(self.family, address)
        return real_connect_ex(self, address)

    def lookup(real: Any) -> Any:
        def guarded(host: Any, *args: Any, **kwargs: Any) -> Any:
            # A numeric address needs no DNS; connecting to it is checked by connect().
            if not _is_local_host(host) and not _is_ip(host):
                BLOCKED.append(f"DNS lookup of {host!r}")
                raise socket.gaierror(
                    socket.EAI_NONAME, f"network access blocked in tests: lookup of {host!r}"
                )
            return real(host, *args, **kwargs)

        return guarded

    socket.socket.connect = connect  # type: ignore[method-assign]
    socket.socket.connect_ex = connect_ex  # type: ignore[method-assign]
    socket.getaddrinfo = lookup(real_getaddrinfo)
    socket.gethostbyname = lookup(real_gethostbyname)
    socket.gethostbyname_ex = lookup(real_gethostbyname_ex)


def pytest_configure(config: pytest.Config) -> None:
    _install_guard()
    sys.modules["tests_guard_access"] = _GuardAccess()  # type: ignore[assignment]
    config.stash[_HOST_PG] = host_postgres_identity()


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    before = session.config.stash.get(_HOST_PG, None)
    if before is None:
        return
    after = host_postgres_identity()
    if after != before:
        session.config.stash[_HOST_PG_CHANGED] = f"{before} -> {after}"
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_terminal_summary(terminalreporter: Any) -> None:
    changed = terminalreporter.config.stash.get(_HOST_PG_CHANGED, None)
    if changed:
        terminalreporter.write_line(
            f"FAILED: the host's PostgreSQL was stopped or restarted by the suite ({changed})",
            red=True,
        )


_HOST_PG = pytest.StashKey[str | None]()
_HOST_PG_CHANGED = pytest.StashKey[str]()


class _GuardAccess:
    """``import tests_guard_access as guard`` in tests: read and clear the record."""

    @staticmethod
    def blocked() -> list[str]:
        return sorted(set(BLOCKED))

    @staticmethod
    def clear() -> None:
        BLOCKED.clear()


@pytest.fixture(autouse=True)
def _no_network_attempts() -> Iterator[None]:
    BLOCKED.clear()
    yield
    if BLOCKED:
        attempts = sorted(set(BLOCKED))
        BLOCKED.clear()
        pytest.fail(f"test tried to reach the network: {', '.join(attempts)}")


@pytest.fixture(scope="session")
def health() -> Bundle:
    return load_bundle(str(HEALTH))


@pytest.fixture()
def veil_mem(health: Bundle) -> Veil:
    return Veil(health, MemoryLedger(), Keyring.demo())
