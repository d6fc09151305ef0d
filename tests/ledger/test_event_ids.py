"""Event ids: RFC 9562 UUIDv7, unique, and ordered by time (index locality in the ledger)."""

from __future__ import annotations

import os
import time
import uuid

from ledger_factory import make_event

from veil.ledger.events import new_event_id


def test_ids_are_uuid7_unique_and_time_ordered() -> None:
    ids = []
    for _ in range(5):
        ids += [new_event_id() for _ in range(1000)]
        time.sleep(0.002)
    assert len(set(ids)) == len(ids)
    parsed = [uuid.UUID(i) for i in ids]
    assert all(u.version == 7 and u.variant == uuid.RFC_4122 for u in parsed)
    assert all(len(i) == 32 and i == u.hex for i, u in zip(ids, parsed, strict=True))
    millis = [int(i[:12], 16) for i in ids]
    assert millis == sorted(millis)  # within a millisecond the rest is random
    now = time.time_ns() // 1_000_000
    assert now - 5_000 < millis[0] <= now


def test_events_get_them_by_default() -> None:
    assert uuid.UUID(make_event().event_id).version == 7


def test_a_forked_child_never_repeats_its_parents_random_bits() -> None:
    """Ids take their random bits from a buffer of os.urandom bytes; a child process
    (Spark's forked Python workers, pre-fork servers) must not reuse the parent's."""
    new_event_id()  # the buffer is filled now, before the fork
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write, new_event_id().encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    mine = new_event_id()
    assert child[13:] != mine[13:]  # the random part (after time and version)
