"""Shared fixtures: the shipped health bundle, demo keys, an in-memory ledger."""

from __future__ import annotations

from pathlib import Path

import pytest

from veil.bundle import Bundle
from veil.core import Veil
from veil.keys import Keyring
from veil.policytest import MemoryLedger
from veil.validate import load_bundle

ROOT = Path(__file__).resolve().parent.parent
HEALTH = ROOT / "policies" / "health"


@pytest.fixture(scope="session")
def health() -> Bundle:
    return load_bundle(str(HEALTH))


@pytest.fixture()
def veil_mem(health: Bundle) -> Veil:
    return Veil(health, MemoryLedger(), Keyring.demo())
