"""Anchors: the ledger's head written somewhere the ledger's writer cannot reach.

Whoever can write the ledger's database can cut events off its end, or (without the key)
rewrite an unkeyed chain, or strip a keyed chain of its key and rehash it unkeyed; the
head the ledger keeps about itself moves with them. An anchor is ``{seq, hash, keyed,
key_fingerprint}`` of the head at a moment, kept elsewhere (a WORM bucket, a ticket,
another organisation, printed in a report). ``veil audit verify --anchor FILE`` then
proves that the chain still holds that head at that position (nothing cut off or
rewritten before it) and that it is keyed with the same key.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .base import Problem, VerifyReport

FORMAT = "veil-ledger-anchor/1"


@dataclass(frozen=True)
class Anchor:
    seq: int
    hash: str
    keyed: bool
    key_fingerprint: str
    ledger: str
    time: str
    format: str = FORMAT

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2, sort_keys=True) + "\n"


def take(ledger: Any, where: str) -> Anchor:
    """The anchor of ``ledger``'s current head (``where``: how the ledger is named, no
    password)."""
    seq, head = ledger.head()
    return Anchor(
        seq=seq,
        hash=head,
        keyed=bool(ledger.keyed),
        key_fingerprint=str(getattr(ledger, "key_fingerprint", "")),
        ledger=where,
        time=datetime.now(UTC).isoformat(timespec="seconds"),
    )


def load(path: Path) -> Anchor:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        if data.get("format") != FORMAT:
            raise ValueError("format")
        return Anchor(
            seq=int(data["seq"]),
            hash=str(data["hash"]),
            keyed=bool(data["keyed"]),
            key_fingerprint=str(data.get("key_fingerprint", "")),
            ledger=str(data.get("ledger", "")),
            time=str(data.get("time", "")),
        )
    except OSError as exc:
        raise ConfigError(
            f"cannot read anchor {path}: {exc.strerror}", hint="check the path"
        ) from None
    except (ValueError, KeyError, TypeError, AttributeError):
        raise ConfigError(
            f"{path} is not a veil ledger anchor",
            hint="write one with `veil audit anchor -o FILE`",
        ) from None


def check(anchor: Anchor, ledger: Any, report: VerifyReport) -> None:
    """Add to ``report`` what the chain's head check cannot see: a key that changed or
    disappeared since the anchor was taken."""
    fingerprint = str(getattr(ledger, "key_fingerprint", ""))
    if anchor.keyed and not ledger.keyed:
        report.problems.append(
            Problem(
                anchor.seq,
                "",
                "downgraded",
                "the anchor was taken of a keyed (HMAC) chain; the ledger is now unkeyed: "
                "its chain was rewritten without the key",
            )
        )
    elif anchor.keyed and anchor.key_fingerprint and fingerprint != anchor.key_fingerprint:
        report.problems.append(
            Problem(
                anchor.seq,
                "",
                "rekeyed",
                "the ledger's key is not the key the anchor was taken with",
            )
        )
