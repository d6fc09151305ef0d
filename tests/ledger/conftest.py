from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from ledger_factory import KEY, make_event

from veil.ledger import SQLiteLedger, StoredEvent


@pytest.fixture(params=[KEY, None], ids=["keyed", "unkeyed"])
def key(request: pytest.FixtureRequest) -> bytes | None:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "ledger.db"


@pytest.fixture
def ledger(db: Path, key: bytes | None) -> Iterator[SQLiteLedger]:
    led = SQLiteLedger(db, key)
    yield led
    led.close()


@pytest.fixture
def filled(ledger: SQLiteLedger) -> Callable[[int], list[StoredEvent]]:
    """Append ``n`` events with subjects p-<seq> and one shared subject, return them."""

    def fill(n: int) -> list[StoredEvent]:
        return [
            ledger.append(make_event(data_subjects=[f"p-{i}", "shared"], purpose=f"purpose-{i}"))
            for i in range(1, n + 1)
        ]

    return fill
