"""Key material for keyed transforms and the ledger's HMAC chain.

Keys never live in policies: a policy names a key (``key: research-tokens``) and the
keyring resolves the name from a key file or from ``VEIL_KEY_<NAME>`` environment
variables. A keyed transform whose key is missing fails at compile time, so no request
ever runs with a guessed or default key. The only built-in keys are the demo keys, which
are derived from a public string and are loudly marked as such.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from .errors import ConfigError

ENV_PREFIX = "VEIL_KEY_"
MIN_KEY_BYTES = 16


def env_name(name: str) -> str:
    """The environment variable that holds key ``name`` (``ledger`` -> ``VEIL_KEY_LEDGER``)."""
    return ENV_PREFIX + "".join(c if c.isalnum() else "_" for c in name).upper()


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
            hint="write keys as 'hex:<64 hex digits>' or 'base64:<...>'; generate one"
            " with: python -c 'import secrets; print(\"hex:\" + secrets.token_hex(32))'",
        ) from None
    if len(raw) < MIN_KEY_BYTES:
        raise ConfigError(
            f"key in {source} is {len(raw)} bytes; at least {MIN_KEY_BYTES} are required",
            hint="use a 32-byte random key",
        )
    return raw


@dataclass(frozen=True)
class Keyring:
    """Named keys. ``is_demo`` marks the public demo keys, which must never protect real data."""

    keys: Mapping[str, bytes] = field(default_factory=dict)
    source: str = "environment"
    is_demo: bool = False
    use_env: bool = True

    def get(self, name: str) -> bytes:
        if name in self.keys:
            return self.keys[name]
        if self.use_env:
            value = os.environ.get(env_name(name))
            if value:
                return decode_key(value, source=f"${env_name(name)}")
        if self.is_demo:
            return demo_key(name)
        raise ConfigError(
            f"key '{name}' is not configured",
            hint=f"add '{name}' to the key file passed with --keys (or $VEIL_KEY_FILE), "
            f"or set ${env_name(name)}",
        )

    def has(self, name: str) -> bool:
        try:
            self.get(name)
        except ConfigError:
            return False
        return True

    def fingerprint(self, name: str) -> str:
        """A short public identifier of a key, for the ledger: which key, never the key."""
        digest = hashlib.sha256(b"veil-key-fingerprint:" + self.get(name)).hexdigest()
        return digest[:16]

    @classmethod
    def from_file(cls, path: str | Path) -> Keyring:
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                f"cannot read key file {p}: {exc.strerror}", hint="check the --keys path"
            ) from None
        try:
            data = json.loads(text) if p.suffix == ".json" else yaml.safe_load(text)
        except (yaml.YAMLError, json.JSONDecodeError):
            raise ConfigError(
                f"key file {p} is not valid YAML/JSON",
                hint="write it as 'keys: {name: hex:...}'",
            ) from None
        if isinstance(data, dict) and "keys" in data:
            data = data["keys"]
        if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
            raise ConfigError(
                f"key file {p} must map key names to strings",
                hint="write it as 'keys: {name: hex:...}'",
            )
        keys = {str(k): decode_key(v, source=f"{p} (key '{k}')") for k, v in data.items()}
        return cls(keys=keys, source=str(p))

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
