"""Date parsing shared by date transforms, and the per-subject ``date_shift``.

Dates arrive as ISO strings ('YYYY-MM-DD'); datetimes as ISO-8601 strings, possibly with
an offset or 'Z'. Anything :mod:`datetime` cannot parse is a :class:`CannotApply`.
"""

from __future__ import annotations

import functools
import hmac
from datetime import date, datetime, timedelta
from typing import Any

from pydantic import Field

from ..keys import Keyring
from .base import BindContext, CannotApply, FieldType, Op, Params, TransformSpec, register
from .crypto import KeyName, primary_for, recipient_label

DATE_TYPES = frozenset({FieldType.DATE, FieldType.DATETIME})


def parse_day(value: Any, what: str) -> date:
    """The calendar date of a date or datetime string (in its own offset, not UTC)."""
    if type(value) is not str:
        raise CannotApply(f"{what}: value is not a date string")
    try:
        if len(value) == 10:
            return date.fromisoformat(value)
        return datetime.fromisoformat(value).date()
    except ValueError:
        raise CannotApply(f"{what}: value is not an ISO date or datetime") from None


class DateShiftParams(Params):
    """``per_recipient``: each recipient gets its own offsets (a key derived per
    recipient), so two recipients' extracts cannot be aligned on their dates. Off by
    default, so a bundle that shifts structured dates and dates inside notes with one key
    keeps them consistent; set it on both."""

    key: KeyName
    max_days: int = Field(default=30, ge=1, le=3650)
    per_recipient: bool = False


def shift_key(params: DateShiftParams, keys: Keyring, recipient: str) -> bytes:
    """The key the offsets of ``params`` come from, for ``recipient``: the primary version
    of the rule's key (its version is in the ledger event; shifted dates carry none).

    A key held in a PKCS#11 token gives a subkey derived in the token (both engines need
    bytes to compute offsets per subject); a key in a file is used as it always was.
    """
    version = primary_for(keys, params.key, "hmac", "date_shift")
    if params.per_recipient:
        return version.mac(recipient_label(recipient))
    if version.material is not None:
        return version.material
    return version.mac(b"veil:date_shift:key")


def shift_days(key: bytes, subject: str, max_days: int) -> int:
    """The subject's offset: uniform over [-max_days, max_days] without 0, fixed per key."""
    digest = hmac.digest(key, b"veil:date_shift:" + subject.encode(), "sha256")
    n = int.from_bytes(digest[:8], "big") % (2 * max_days)  # bias < 2**-50
    return n - max_days if n < max_days else n - max_days + 1


def _bind_date_shift(params: DateShiftParams, ctx: BindContext) -> Op:
    key, max_days = shift_key(params, ctx.keys, ctx.recipient), params.max_days

    @functools.lru_cache(maxsize=65536)
    def offset(subject: str) -> timedelta:
        return timedelta(days=shift_days(key, subject, max_days))

    def date_shift(value: Any, subject: str | None) -> str:
        if subject is None:
            # Without a subject, intervals cannot be kept consistent; a random shift would
            # silently break them and a fixed one would leak across subjects.
            raise CannotApply("date_shift: record has no data subject id")
        if type(value) is not str:
            raise CannotApply("date_shift: value is not a date string")
        try:
            if len(value) == 10:
                return (date.fromisoformat(value) + offset(subject)).isoformat()
            dt = datetime.fromisoformat(value) + offset(subject)
        except (ValueError, OverflowError):
            raise CannotApply("date_shift: value is not a shiftable ISO date or datetime") from None
        sep = " " if value[10:11] == " " else "T"
        out = dt.isoformat(sep)
        if value.endswith(("Z", "z")) and out.endswith("+00:00"):
            out = out[:-6] + "Z"
        return out

    return date_shift


register(
    TransformSpec(
        name="date_shift",
        disclosure="shifted",
        params_model=DateShiftParams,
        applies_to=DATE_TYPES,
        rank=85,
        bind=_bind_date_shift,
        summary="Shift dates by a keyed per-subject offset, preserving intervals within a subject.",
        example='date_shift(key=demo), subject patient-17: "2024-03-01" -> "2024-03-31"',
        keyed=True,
        key_names=lambda p: (p.key,),
    )
)
