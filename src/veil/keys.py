"""Key material for keyed transforms and the ledger's HMAC chain.

Keys never live in policies: a policy names a key (``key: research-tokens``) and the
keyring resolves the name from a keyset file (``veil keys new``; see
:mod:`veil.keyset.file`, which also reads the flat ``keys: {name: hex:...}`` files of
earlier releases) or from ``VEIL_KEY_<NAME>`` environment variables. A keyed transform
whose key is missing fails at compile time, so no request ever runs with a guessed or
default key. The only built-in keys are the demo keys, which are derived from a public
string and are loudly marked as such.

Keys have versions: transforms produce with the **primary** version (the newest active
one) and reveal with the version a token names; a key from a flat file or a variable is
version 1. A version's material may be held in a PKCS#11 token, in which case veil uses it
only through :meth:`~veil.keyset.model.KeyVersion.mac` and never sees its bytes.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .errors import ConfigError
from .keyset.model import MIN_KEY_BYTES, Key, KeyVersion, decode_key

__all__ = [
    "ENV_PREFIX",
    "MIN_KEY_BYTES",
    "Key",
    "KeyVersion",
    "Keyring",
    "decode_key",
    "demo_key",
    "env_name",
]

ENV_PREFIX = "VEIL_KEY_"


def env_name(name: str) -> str:
    """The environment variable that holds key ``name`` (``ledger`` -> ``VEIL_KEY_LEDGER``)."""
    return ENV_PREFIX + "".join(c if c.isalnum() else "_" for c in name).upper()


@dataclass(frozen=True)
class Keyring:
    """Named keys. ``is_demo`` marks the public demo keys, which must never protect real data.

    ``keys`` holds single-version raw keys (tests, programs); ``versioned`` the keys of a
    keyset file. Immutable and picklable (a token key holds its token's settings, not a
    session), so a bound plan never sees the primary change under it: a rotation takes
    effect when the keyset is loaded again.
    """

    keys: Mapping[str, bytes] = field(default_factory=dict)
    source: str = "environment"
    is_demo: bool = False
    use_env: bool = True
    versioned: Mapping[str, Key] = field(default_factory=dict)

    def key(self, name: str) -> Key:
        """Key ``name`` with all its versions; ConfigError if it is not configured."""
        found = self.versioned.get(name)
        if found is not None:
            return found
        if name in self.keys:
            return Key.single(name, self.keys[name])
        if self.use_env:
            value = os.environ.get(env_name(name))
            if value:
                return Key.single(name, decode_key(value, source=f"${env_name(name)}"))
        if self.is_demo:
            return Key.single(name, demo_key(name))
        raise ConfigError(
            f"key '{name}' is not configured",
            hint=f"add it to the key file passed with --keys (or $VEIL_KEY_FILE): "
            f"veil keys new {name}; or set ${env_name(name)}",
        )

    def primary(self, name: str) -> KeyVersion:
        """The version transforms produce with."""
        return self.key(name).primary

    def version(self, name: str, version: int) -> KeyVersion:
        return self.key(name).version(version)

    def get(self, name: str) -> bytes:
        """The primary version's bytes (the ledger chain; callers that need raw bytes)."""
        return self.primary(name).secret(f"'{name}' as raw bytes (e.g. the ledger chain)")

    def has(self, name: str) -> bool:
        try:
            self.key(name)
        except ConfigError:
            return False
        return True

    def fingerprint(self, name: str) -> str:
        """A short public identifier of the primary version: which key, never the key."""
        return self.primary(name).fingerprint

    def label(self, name: str) -> str:
        """``v2:9f86d081884c7d65``: the primary's version and fingerprint, for the ledger."""
        return self.primary(name).label

    @classmethod
    def from_file(cls, path: str | Path) -> Keyring:
        """The keys of a keyset file (or a flat key file); decrypted if it is encrypted."""
        from .keyset.file import read

        return cls(versioned=dict(read(path).keys), source=str(path))

    @classmethod
    def from_environment(cls) -> Keyring:
        """Keys from ``$VEIL_KEY_FILE`` if set, plus ``VEIL_KEY_<NAME>`` variables."""
        file = os.environ.get("VEIL_KEY_FILE")
        return cls.from_file(file) if file else cls()

    @classmethod
    def demo(cls) -> Keyring:
        """Public, derived keys for ``veil demo`` and policy tests only. Not secret."""
        return cls(source="DEMO KEYS (public, not secret)", is_demo=True, use_env=False)


def demo_key(name: str) -> bytes:
    return hashlib.sha256(b"veil-public-demo-key:" + name.encode()).digest()
