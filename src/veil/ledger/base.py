"""The ledger interface shared by the SQLite and (later) PostgreSQL backends.

Obligations of every implementation:

* ``append`` makes the event durable and chained before it returns. If it raises, the
  caller must not disclose anything: the disclosure did not happen.
* Appends are serialized across threads and processes so the hash chain stays linear.
* ``append(event, idempotent=True)`` returns the stored event if one with the same
  ``event_id`` exists (first writer wins) instead of appending a second one.
* Stored events are never updated or deleted by veil; ``verify`` detects any change.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from .events import Event


@dataclass(frozen=True)
class StoredEvent:
    seq: int
    event: Event
    prev_hash: str
    hash: str


@dataclass(frozen=True)
class Problem:
    """One verification finding, naming the event (by seq and id) where the chain breaks."""

    seq: int
    event_id: str
    kind: str  # modified | missing | reordered | inserted | bad_link | unkeyed
    message: str


@dataclass
class VerifyReport:
    checked: int = 0
    head_hash: str = ""
    keyed: bool = False
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class AccountingEntry:
    """One line of a HIPAA 164.528-style accounting of disclosures."""

    event_id: str
    time: str
    recipient: str
    requester_id: str
    purpose: str
    dataset: str
    description: str
    break_glass: bool


class EventSource(Protocol):
    """What reads of the ledger need (the accounting, the audit endpoints)."""

    def events(
        self,
        *,
        since: str | None = None,
        until: str | None = None,
        data_subject: str | None = None,
        limit: int | None = None,
        descending: bool = False,
    ) -> Iterator[StoredEvent]: ...


class Ledger(EventSource, Protocol):
    def append(self, event: Event, *, idempotent: bool = False) -> StoredEvent: ...

    def subjects_of(self, event_id: str) -> Sequence[str]: ...

    def verify(self) -> VerifyReport: ...

    def accounting(
        self, data_subject: str, *, since: str | None = None, until: str | None = None
    ) -> list[AccountingEntry]: ...

    def close(self) -> None: ...


def event_row(stored: StoredEvent) -> dict[str, Any]:
    """A stored event as a record of the bundle's ledger-events dataset (``ledger_events``):
    what the audit API and the console pass through policy before anyone reads it."""
    e = stored.event
    return {
        "event_id": e.event_id,
        "seq": stored.seq,
        "time": e.time,
        "kind": e.kind,
        "requester_id": e.requester.id,
        "recipient": e.recipient,
        "purpose": e.purpose,
        "dataset": e.dataset,
        "records_returned": e.records.returned,
        "break_glass": e.break_glass.used,
        "bundle_version": e.bundle_version,
    }
