"""Keys with versions: what a keyset holds, whatever file or token the material is in.

A key has an id (the name policies use, ``key: research-tokens``), a kind and numbered
versions. The **primary** version is the newest one whose status is ``active``: it is the
only one that produces tokens. Older versions stay in the keyset so what they made can
still be revealed (FF1, random codes) or recognized (keyed tokens and hashes carry their
version); a version marked ``retired`` is never primary again (rolling a rotation back).

A version's material is either bytes (from the keyset file, itself possibly encrypted under
a master key) or a non-extractable secret object in a PKCS#11 token, which veil can only
ask to compute HMAC-SHA256: every use of a key goes through :meth:`KeyVersion.mac` where
it can, so the two kinds of version give the same outputs for the same material.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Literal

from ..errors import ConfigError

if TYPE_CHECKING:
    from .pkcs11 import TokenKey

KeyKind = Literal["hmac", "aes"]
Status = Literal["active", "retired"]
KINDS: tuple[KeyKind, ...] = ("hmac", "aes")
STATUSES: tuple[Status, ...] = ("active", "retired")
MIN_KEY_BYTES = 16
#: FF1 runs on AES: only these key sizes exist.
AES_SIZES = (16, 24, 32)
#: What each kind of key is for (messages and ``veil keys list``).
USES: dict[KeyKind, str] = {
    "hmac": "hash, tokenize, date_shift, ledger",
    "aes": "fpe (FF1)",
}
_FINGERPRINT_LABEL = b"veil-key-fingerprint:"
GENERATE_HINT = "create one with: veil keys new NAME (add --kind aes for an fpe key)"


def decode_key(text: str, *, source: str) -> bytes:
    """Decode ``hex:...``, ``base64:...`` or bare hex; the message names the source, not the key."""
    text = text.strip()
    try:
        if text.startswith("base64:"):
            raw = base64.b64decode(text[7:], validate=True)
        else:
            raw = bytes.fromhex(text.removeprefix("hex:"))
    except (ValueError, binascii.Error):
        raise ConfigError(
            f"key in {source} is not valid hex or base64",
            hint="write keys as 'hex:<64 hex digits>' or 'base64:<...>'; " + GENERATE_HINT,
        ) from None
    if len(raw) < MIN_KEY_BYTES:
        raise ConfigError(
            f"key in {source} is {len(raw)} bytes; at least {MIN_KEY_BYTES} are required",
            hint="use a 32-byte random key; " + GENERATE_HINT,
        )
    return raw


def encode_key(raw: bytes) -> str:
    return "hex:" + raw.hex()


def material_fingerprint(raw: bytes) -> str:
    """The fingerprint of key bytes (the one veil has always logged)."""
    return hashlib.sha256(_FINGERPRINT_LABEL + raw).hexdigest()[:16]


def marker(version: int) -> str:
    """What a token made with ``version`` carries after its prefix: nothing for version 1
    (so tokens made before keys had versions are unchanged), ``v<N>_`` from version 2 on.
    ``_`` is in neither the base32 nor the hex alphabet, so a marker cannot be mistaken
    for the start of a version-1 code."""
    return "" if version == 1 else f"v{version}_"


def split_marker(text: str) -> tuple[int, str]:
    """``(version, rest)`` of a token's part after its prefix (see :func:`marker`)."""
    if text.startswith("v"):
        head, sep, rest = text[1:].partition("_")
        if sep and head.isdigit() and head[0] != "0" and head.isascii():
            return int(head), rest
    return 1, text


@dataclass(frozen=True, eq=False)
class KeyVersion:
    """One version of a key. ``material`` is None when the key is held in a token."""

    key: str
    version: int
    kind: KeyKind | None = None  # None: a key from a flat key file or a variable
    created: str = ""
    status: Status = "active"
    material: bytes | None = field(default=None, repr=False)
    token: TokenKey | None = None
    #: a token key's fingerprint as recorded when it was made (checked on first use)
    recorded_fingerprint: str = ""

    @property
    def ref(self) -> str:
        """``research-tokens@v2``: how messages name a version."""
        return f"{self.key}@v{self.version}"

    @property
    def in_token(self) -> bool:
        return self.material is None

    @property
    def marker(self) -> str:
        return marker(self.version)

    @property
    def size(self) -> int:
        return len(self.material) if self.material is not None else 32

    def mac(self, data: bytes) -> bytes:
        """HMAC-SHA256 of ``data`` under this version: in the token if it is held there."""
        if self.material is not None:
            return hmac.digest(self.material, data, "sha256")
        assert self.token is not None
        return self.token.sign(data)

    def secret(self, use: str) -> bytes:
        """The key bytes, for a use no PKCS#11 mechanism covers (FF1, the ledger chain)."""
        if self.material is None:
            raise ConfigError(
                f"key {self.ref} is held in a PKCS#11 token and cannot leave it; {use} "
                "needs the key's bytes",
                hint="keep this key in the keyset file, encrypted under a master key held in "
                "the token (veil keys encrypt --master pkcs11:object=veil-master)",
            )
        return self.material

    @cached_property
    def fingerprint(self) -> str:
        """A short public identifier of this version, for the ledger: which key, never the
        key. A token key's is a MAC of a constant computed in the token, and must match the
        one recorded when it was made (a token object replaced under the same label would
        otherwise silently make different tokens)."""
        if self.material is not None:
            return material_fingerprint(self.material)
        fp = self.mac(_FINGERPRINT_LABEL).hex()[:16]
        if self.recorded_fingerprint and fp != self.recorded_fingerprint:
            raise ConfigError(
                f"key {self.ref}: the token object has fingerprint {fp}, the keyset recorded "
                f"{self.recorded_fingerprint}",
                hint="the token holds another key under this label; restore the token or "
                "rotate the key",
            )
        return fp

    @property
    def stated_fingerprint(self) -> str:
        """The fingerprint without asking the token (``veil keys list``)."""
        return self.recorded_fingerprint if self.in_token else self.fingerprint

    @property
    def label(self) -> str:
        """``v2:9f86d081884c7d65``: what a ledger event records for the key."""
        return f"v{self.version}:{self.fingerprint}"


@dataclass(frozen=True)
class Key:
    """A key id and its versions, oldest first."""

    id: str
    kind: KeyKind | None
    versions: tuple[KeyVersion, ...]

    @classmethod
    def single(cls, name: str, raw: bytes) -> Key:
        """A key of one version from raw bytes (a flat key file, a variable, demo keys)."""
        return cls(name, None, (KeyVersion(name, 1, material=raw),))

    @property
    def primary(self) -> KeyVersion:
        active = [v for v in self.versions if v.status == "active"]
        if not active:
            raise ConfigError(
                f"key '{self.id}' has no active version",
                hint=f"rotate it (veil keys rotate {self.id}) or mark a version active",
            )
        return active[-1]

    @property
    def latest(self) -> int:
        return self.versions[-1].version if self.versions else 0

    def version(self, n: int) -> KeyVersion:
        for v in self.versions:
            if v.version == n:
                return v
        have = ", ".join(f"v{v.version}" for v in self.versions)
        raise ConfigError(
            f"key '{self.id}' has no version {n} (it has {have})",
            hint="use the keyset the tokens were made with; versions are never deleted by veil",
        )
