"""``events(data_subject=..., since=..., until=...)``: the subject filter and the time bounds
together (their SQL parameters were once bound in the wrong order, so any call with both
found nothing)."""

from __future__ import annotations

from typing import Any

import pytest
from ledger_factory import make_event

from veil.ledger import BreakGlass
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


def test_column_filters_break_glass_and_cursor(either_ledger: Any) -> None:
    """What the console's ledger browser and break-glass review ask of both backends: the
    column filters, the break-glass index's condition and cursor pages, checked against
    the same selection made in Python over every event."""
    made = []
    for i in range(30):
        bg = BreakGlass(used=True, reason="er", rules=["r"]) if i % 7 == 0 else BreakGlass()
        made.append(
            either_ledger.append(
                make_event(
                    purpose=["TREAT", "HRESCH", "ETREAT"][i % 3],
                    recipient=f"r{i % 2}",
                    # a context key named "used" must not pass for break-glass
                    context={"used": True} if i % 5 == 0 else {},
                    break_glass=bg,
                )
            )
        )
    everything = list(either_ledger.events(descending=True))
    assert len(everything) == 30

    def ids(**kw: Any) -> list[str]:
        return [s.event.event_id for s in either_ledger.events(descending=True, **kw)]

    want = [s.event.event_id for s in everything if s.event.break_glass.used]
    assert ids(break_glass=True) == want and len(want) == 5
    want = [s.event.event_id for s in everything if s.event.purpose == "HRESCH"]
    assert ids(columns={"purpose": "HRESCH"}) == want
    want = [
        s.event.event_id
        for s in everything
        if s.event.purpose == "TREAT" and s.event.recipient == "r0"
    ]
    assert ids(columns={"purpose": "TREAT", "recipient": "r0"}) == want
    cursor = everything[9].seq
    assert ids(after_seq=cursor) == [s.event.event_id for s in everything[10:]]
    with pytest.raises(ValueError, match="cannot be filtered"):
        ids(columns={"body": "x"})
