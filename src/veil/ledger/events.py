"""What the disclosure ledger stores: decisions and descriptors, never disclosed values.

An event says who asked (requester id and attribute snapshot), for whom (recipient),
why (purpose), under which bundle version, what each field became (clear, which
transform, withheld, redacted) with counts, how many records were returned or
filtered, whether break-glass was used and why, and whose data was disclosed (the
data-subject ids, stored beside the event and covered by its hash).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

EventKind = Literal["disclosure", "refusal", "reveal"]


class Requester(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    id: str
    attributes: dict[str, Any] = Field(default_factory=dict)


class FieldDisclosure(BaseModel):
    """How one declared field was disclosed: outcome label -> number of values."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    #: e.g. {"clear": 120} or {"mask": 98, "withheld": 2}; "redacted" counts omitted values
    outcomes: dict[str, int] = Field(default_factory=dict)
    rules: list[str] = Field(default_factory=list)
    #: human description of the transform, e.g. "mask(keep_last=4)"
    treatment: str = ""
    #: PII entity type -> number found in this field's free text (scan_text), never values
    entities: dict[str, int] = Field(default_factory=dict)


class RecordCounts(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    read: int = 0
    returned: int = 0
    filtered: int = 0


class BreakGlass(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    used: bool = False
    reason: str | None = None
    rules: list[str] = Field(default_factory=list)


class Event(BaseModel):
    """One ledger event. ``seq``, ``prev_hash`` and ``hash`` are set by the ledger on append."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: str = Field(default_factory=lambda: uuid.uuid4().hex)
    time: str = Field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="microseconds"))
    kind: EventKind = "disclosure"
    requester: Requester
    recipient: str
    purpose: str
    action: str
    dataset: str
    bundle: str
    bundle_version: str
    context: dict[str, Any] = Field(default_factory=dict)
    fields: dict[str, FieldDisclosure] = Field(default_factory=dict)
    undeclared: dict[str, int] = Field(default_factory=dict)
    records: RecordCounts = Field(default_factory=RecordCounts)
    break_glass: BreakGlass = Field(default_factory=BreakGlass)
    key_fingerprints: dict[str, str] = Field(default_factory=dict)
    reason: str = ""
    #: Whose data was disclosed. Stored in its own indexed table; its digest is hashed.
    data_subjects: list[str] = Field(default_factory=list)

    def body(self) -> dict[str, Any]:
        """Everything but the data-subject list, in the form that is hashed and stored."""
        return self.model_dump(mode="json", exclude={"data_subjects"})


def canonical_json(obj: Any) -> str:
    """The one serialization that hashes are computed over."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def subjects_digest(subjects: list[str]) -> str:
    """Order-independent digest of the data-subject ids of an event."""
    h = hashlib.sha256()
    for s in sorted(set(subjects)):
        h.update(s.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()
