"""Master keys: what an encrypted keyset file is sealed under (AES-256-GCM).

A master key is named by a reference stored in the clear in the keyset's header:

* ``env:VEIL_MASTER_KEY``: 32 bytes (``hex:`` or ``base64:``) in that environment
  variable, sealed and opened with the ``cryptography`` package;
* ``pkcs11:object=veil-master``: an AES-256 key in a PKCS#11 token, which seals and opens
  with CKM_AES_GCM inside the token (the key never leaves it); the token's module, label
  and PIN come from the keyset's ``pkcs11:`` setting unless the reference names them.

Both write ``nonce (12 bytes) || ciphertext || tag (16 bytes)``, with the header's
reference as associated data, so a header pointed at another master fails to open.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from ..errors import ConfigError
from .model import decode_key
from .pkcs11 import Pkcs11Uri, TokenKey, generate, has_key, parse_uri

MASTER_ENV = "VEIL_MASTER_KEY"
DEFAULT_LABEL = "veil-master"
NONCE = 12


class Master(Protocol):
    @property
    def ref(self) -> str: ...

    def seal(self, plaintext: bytes, aad: bytes) -> bytes: ...

    def open(self, blob: bytes, aad: bytes) -> bytes: ...


@dataclass(frozen=True)
class EnvMaster:
    ref: str
    var: str

    def _aead(self) -> AESGCM:
        text = os.environ.get(self.var)
        if not text:
            raise ConfigError(
                f"the keyset is encrypted under ${self.var}, which is not set",
                hint=f"set ${self.var} to the master key (32 bytes, hex:...)",
            )
        raw = decode_key(text, source=f"${self.var}")
        if len(raw) != 32:
            raise ConfigError(
                f"${self.var} is {len(raw)} bytes; a master key is 32 (AES-256)",
                hint="generate one with: openssl rand -hex 32 (and prefix it with hex:)",
            )
        return AESGCM(raw)

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        nonce = secrets.token_bytes(NONCE)
        return nonce + self._aead().encrypt(nonce, plaintext, aad)

    def open(self, blob: bytes, aad: bytes) -> bytes:
        try:
            return self._aead().decrypt(blob[:NONCE], blob[NONCE:], aad)
        except InvalidTag:
            raise ConfigError(
                f"${self.var} does not open this keyset",
                hint="it was encrypted under another master key, or the file was changed",
            ) from None


@dataclass(frozen=True)
class TokenMaster:
    ref: str
    key: TokenKey

    def seal(self, plaintext: bytes, aad: bytes) -> bytes:
        nonce = secrets.token_bytes(NONCE)
        return nonce + self.key.encrypt(nonce, plaintext, aad)

    def open(self, blob: bytes, aad: bytes) -> bytes:
        return self.key.decrypt(blob[:NONCE], blob[NONCE:], aad)


def normalize(ref: str) -> str:
    """``env`` and ``pkcs11`` alone mean the default variable and label."""
    if ref == "env":
        return f"env:{MASTER_ENV}"
    if ref == "pkcs11":
        return f"pkcs11:object={DEFAULT_LABEL}"
    return ref


def master(ref: str, token: Pkcs11Uri, *, source: str, create: bool = False) -> Master:
    """The master key ``ref`` names. With ``create``, a token master that does not exist
    yet is made (nothing can have been sealed under a key that did not exist)."""
    ref = normalize(ref)
    if ref.startswith("env:") and len(ref) > 4:
        return EnvMaster(ref, ref[4:])
    if ref.startswith("pkcs11:"):
        uri = parse_uri(ref, source=source).over(token)
        config = uri.config(source)
        label = uri.object or DEFAULT_LABEL
        if create and not has_key(config, label):
            generate(config, label, "aes")
        return TokenMaster(ref, TokenKey(config, label))
    raise ConfigError(
        f"{source}: master key '{ref}' is neither env:NAME nor a pkcs11: URI",
        hint=f"use env:{MASTER_ENV} or pkcs11:object={DEFAULT_LABEL}",
    )
