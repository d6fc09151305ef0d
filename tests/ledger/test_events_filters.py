"""``events(data_subject=..., since=..., until=...)``: the subject filter and the time bounds
together (their SQL parameters were once bound in the wrong order, so any call with both
found nothing)."""

from __future__ import annotations

from typing import Any

from veil.ledger.events import Event, Requester


def _event(time: str, subject: str) -> Event:
    return Event(
        time=time,
        requester=Requester(id="x"),
        recipient="r",
        purpose="P",
        action="read",
        dataset="d",
        bundle="b",
        bundle_version="v",
        data_subjects=[subject],
    )


def test_subject_and_time_bounds_together(either_ledger: Any) -> None:
    a = either_ledger.append(_event("2024-01-10T00:00:00+00:00", "S1")).event.event_id
    either_ledger.append(_event("2024-02-10T00:00:00+00:00", "S2"))
    c = either_ledger.append(_event("2024-03-10T00:00:00+00:00", "S1")).event.event_id
    ids = lambda **kw: [s.event.event_id for s in either_ledger.events(data_subject="S1", **kw)]  # noqa: E731
    assert ids() == [a, c]
    assert ids(since="2024-02-01") == [c]
    assert ids(until="2024-02-01") == [a]
    assert ids(since="2024-01-01", until="2024-12-31") == [a, c]
    assert ids(since="2024-04-01") == []
