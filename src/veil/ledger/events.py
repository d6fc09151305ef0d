"""What the disclosure ledger stores: decisions and descriptors, never disclosed values.

An event says who asked (requester id and attribute snapshot), for whom (recipient),
why (purpose), under which bundle version, what each field became (clear, which
transform, withheld, redacted) with counts, how many records were returned or
filtered, whether break-glass was used and why, and whose data was disclosed (the
data-subject ids, stored beside the event and covered by its hash).
"""

from __future__ import annotations

import contextlib
import contextvars
import hashlib
import json
import math
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field as dc_field
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr

#: ``preview``: a console user looked at what a requester would receive (nothing was
#: sent to that requester); ``acknowledgement``: a reviewer acknowledged an event.
EventKind = Literal["disclosure", "refusal", "reveal", "accounting", "acknowledgement", "preview"]


@dataclass(slots=True)
class RequestInfo:
    """The service request being served (set by the HTTP layer), shared by reference:
    code running in the thread pool (a copy of the context) still appends to the same
    ``event_ids``. Outside a request (CLI, library) there is none and events carry no
    request id."""

    request_id: str
    event_ids: list[str] = dc_field(default_factory=list)


_REQUEST: contextvars.ContextVar[RequestInfo | None] = contextvars.ContextVar(
    "veil_request", default=None
)


def bind_request(info: RequestInfo) -> contextvars.Token[RequestInfo | None]:
    """Make ``info`` the current request (until :func:`unbind_request`)."""
    return _REQUEST.set(info)


def unbind_request(token: contextvars.Token[RequestInfo | None]) -> None:
    _REQUEST.reset(token)


def current_request_id() -> str:
    """The id of the HTTP request being served, or "" outside one."""
    info = _REQUEST.get()
    return info.request_id if info is not None else ""


def note_event(event_id: str) -> None:
    """Record that the current request appended ``event_id`` (for its log line and span)."""
    info = _REQUEST.get()
    if info is not None:
        info.event_ids.append(event_id)


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
    #: the transform's effective parameters, defaults included (key names, never keys)
    params: dict[str, Any] = Field(default_factory=dict)
    #: versions of the tables the transform used, e.g. {"zip3": "hipaa-census-2000@sha256:..."}
    tables: dict[str, str] = Field(default_factory=dict)


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


class Accounting(BaseModel):
    """What the accounting of disclosures (45 CFR 164.528) needs, decided at disclosure
    time from the bundle then in force: whether this disclosure is accountable and on what
    basis, the statement of purpose, and the recipient's name and address if known."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    accountable: bool = True
    basis: str = ""
    statement: str = ""
    recipient_name: str = ""
    recipient_address: str = ""
    business_associate: bool = False


class _Entropy(threading.local):
    """os.urandom bytes read 8 KiB at a time (a system call per id was 2% of a request),
    per thread, and dropped in a forked child so two processes never share them."""

    def __init__(self) -> None:
        self.buf = b""
        self.pos = 0

    def take(self, n: int) -> bytes:
        if self.pos + n > len(self.buf):
            self.buf, self.pos = os.urandom(8192), 0
        self.pos += n
        return self.buf[self.pos - n : self.pos]


_ENTROPY = _Entropy()


def _forget_entropy() -> None:
    global _ENTROPY
    _ENTROPY = _Entropy()


os.register_at_fork(after_in_child=_forget_entropy)


def new_event_id() -> str:
    """A UUIDv7 (RFC 9562) as 32 hex digits: milliseconds since the epoch, then 74 random
    bits. Time-ordered ids keep the ledger's event_id index appending at its right edge;
    random (v4) ids touched a different index page per event, which doubled the cost of
    a SQLite append and made it grow with the ledger (66 vs 131 us/event at 24k events)."""
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(_ENTROPY.take(10), "big")
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 9562 variant
    return f"{value:032x}"


def now_iso() -> str:
    """An event time: UTC, ISO-8601, microseconds."""
    return datetime.now(UTC).isoformat(timespec="microseconds")


class Event(BaseModel):
    """One ledger event. ``seq``, ``prev_hash`` and ``hash`` are set by the ledger on append."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    event_id: str = Field(default_factory=new_event_id)
    time: str = Field(default_factory=now_iso)
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
    #: key name -> ``v<version>:<fingerprint>`` of the key version used (which key and
    #: version, never the key); events written before keys had versions hold the bare
    #: fingerprint, which is version 1's
    key_fingerprints: dict[str, str] = Field(default_factory=dict)
    reason: str = ""
    #: the veil release that made the disclosure
    veil_version: str = ""
    #: profile views in force: view name -> profile (``name@version``)
    views: dict[str, str] = Field(default_factory=dict)
    #: None on events written before veil recorded it: the accounting lists those
    accounting: Accounting | None = None
    #: refusals: what the request was refused for; accounting events: what was provided
    details: dict[str, Any] = Field(default_factory=dict)
    #: the service request that caused the event (its X-Request-ID), "" outside one;
    #: whoever builds an event passes :func:`current_request_id` (a default factory would
    #: also stamp old events read back from the store during a request)
    request_id: str = ""
    #: Whose data was disclosed. Stored in its own indexed table; its digest is hashed.
    data_subjects: list[str] = Field(default_factory=list)

    #: ``canonical_json(self.body())`` when whoever built the event already had it
    _body_json: str | None = PrivateAttr(default=None)

    def body(self) -> dict[str, Any]:
        """Everything but the data-subject list, in the form that is hashed and stored."""
        return self.model_dump(mode="json", exclude={"data_subjects"})

    def body_json(self) -> str:
        """``canonical_json(self.body())``: the text a ledger stores and hashes."""
        if self._body_json is None:
            self._body_json = canonical_json(self.body())
        return self._body_json

    @classmethod
    def from_body(
        cls, body: dict[str, Any], fields: dict[str, FieldDisclosure], data_subjects: list[str]
    ) -> Event:
        """The event whose :meth:`body` is ``body`` (JSON-ready, ``fields`` given as plain
        dicts), built without dumping it again: ``fields`` are the same as models (shared,
        immutable), and the canonical text is kept if ``body`` serializes as is. This is
        the per-request path of the service, where dump and re-validation cost ~0.1 ms."""
        event = cls.model_validate({**body, "fields": fields, "data_subjects": data_subjects})
        with contextlib.suppress(TypeError):  # not plain JSON: body_json() dumps the model
            event._body_json = canonical_json(body)
        return event

    def stamped(
        self,
        parts: tuple[str, ...] | None,
        *,
        event_id: str,
        time: str,
        request_id: str,
        data_subjects: list[str],
    ) -> Event:
        """This event as another disclosure of the same kind: its own id, time, request id
        and data subjects. Nothing is validated again: the rest was validated when this
        event was built, and the four are what the caller makes (:func:`new_event_id`,
        :func:`now_iso`, :func:`current_request_id`, sorted ids). The canonical text is
        ``parts`` (:func:`stamp_parts` of this event's body) joined around the three
        stamps, or, without parts, written when asked. A one-record request paid ~25 us
        for ``model_copy`` and a whole canonical dump; this is ~3 us.
        """
        stamps = (event_id, request_id, time)  # in the canonical (sorted) order
        text = None
        if parts is not None and all(s.isascii() and s.isprintable() for s in stamps):
            quoted = [orjson.dumps(s).decode() for s in stamps]
            text = "".join(p + q for p, q in zip(parts, quoted, strict=False)) + parts[-1]
        cls = type(self)
        copy = cls.__new__(cls)
        values = dict(self.__dict__)
        values.update(event_id=event_id, time=time, request_id=request_id)
        values["data_subjects"] = data_subjects
        object.__setattr__(copy, "__dict__", values)
        object.__setattr__(copy, "__pydantic_extra__", None)  # extra="forbid"
        object.__setattr__(copy, "__pydantic_fields_set__", self.__pydantic_fields_set__ | _STAMPED)
        object.__setattr__(copy, "__pydantic_private__", {"_body_json": text})
        return copy

    def model_copy(self, *, update: Mapping[str, Any] | None = None, deep: bool = False) -> Event:
        copy = super().model_copy(update=update, deep=deep)
        copy._body_json = None  # the copy may differ: serialize it again when asked
        return copy


#: the fields :meth:`Event.stamped` sets
_STAMPED = frozenset({"event_id", "time", "request_id", "data_subjects"})


def stamp_parts(body: dict[str, Any]) -> tuple[str, ...] | None:
    """``canonical_json(body)`` cut where the values of ``event_id``, ``request_id`` and
    ``time`` go (keys are sorted, so in that order), for :meth:`Event.stamped`; None if
    the body is not plain JSON. The cuts are found by serializing random marks in their
    place, each of which must then occur exactly once."""
    marks = {k: f"veil-stamp-{os.urandom(16).hex()}" for k in ("event_id", "request_id", "time")}
    try:
        text = canonical_json({**body, **marks})
    except TypeError:
        return None
    parts: list[str] = []
    for mark in marks.values():
        quoted = f'"{mark}"'
        if text.count(quoted) != 1:
            return None
        head, text = text.split(quoted)
        parts.append(head)
    parts.append(text)
    return tuple(parts)


def canonical_json(obj: Any) -> str:
    """The one serialization that hashes are computed over: sorted keys, no spaces, UTF-8.

    orjson writes it ~10x faster than the standard library (it was a tenth of a request's
    CPU in the service). What it refuses (ints beyond 64 bits, non-string keys, types it
    does not know) falls back to ``json.dumps``. Stored bodies are hashed as stored, so
    the two may differ in float spelling (``1e16`` vs ``1e+16``) without breaking a chain.
    Both write NaN and infinities as null, as pydantic's JSON mode does: ``Infinity`` is
    not JSON, and PostgreSQL's jsonb would refuse it.
    """
    try:
        return orjson.dumps(obj, option=_ORJSON).decode()
    except TypeError:  # orjson.JSONEncodeError is a TypeError
        return json.dumps(_finite(obj), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _finite(obj: Any) -> Any:
    """``obj`` with NaN and infinities replaced by None, as orjson writes them."""
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


#: Sorted keys; dataclasses, datetimes and str/int subclasses are left to ``json.dumps``,
#: which spells them the way earlier releases stored them (or refuses them).
_ORJSON = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)


def subjects_digest(subjects: list[str]) -> str:
    """Order-independent digest of the data-subject ids of an event."""
    h = hashlib.sha256()
    for s in sorted(set(subjects)):
        h.update(s.encode("utf-8"))
        h.update(b"\x00")
    return h.hexdigest()
