"""Keysets: keys with versions and rotation, in a file (optionally encrypted under a
master key) or in a PKCS#11 token.

    model    Key, KeyVersion: ids, versions, the primary, fingerprints, token markers
    file     the keyset file format: read, parse, write (mode 0600, atomic)
    seal     master keys (environment or token) and the AES-256-GCM of encrypted keysets
    pkcs11   tokens: pkcs11: URIs, sessions, HMAC and AES-GCM in the token, key generation
    manage   what ``veil keys`` does: new, rotate, encrypt, list, check

:class:`veil.keys.Keyring` is what the rest of veil sees: names resolved to keys.
"""

from __future__ import annotations

from .model import Key, KeyKind, KeyVersion, marker, split_marker

__all__ = ["Key", "KeyKind", "KeyVersion", "marker", "split_marker"]
