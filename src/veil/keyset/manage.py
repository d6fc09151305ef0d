"""What ``veil keys`` does to a keyset: make keys, rotate them, encrypt the file, check it.

Every function takes a :class:`~veil.keyset.file.Keyset` and returns a new one (the CLI
writes it back); none prints or returns key material. New material comes from
:mod:`secrets` (or is generated inside the token, for keys held there).
"""

from __future__ import annotations

import re
import secrets
import stat
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .file import Keyset, now, read
from .model import AES_SIZES, USES, Key, KeyKind, KeyVersion
from .pkcs11 import generate, parse_uri
from .seal import master as master_key
from .seal import normalize

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
#: The ledger's chain key is checked on every open (a chain is keyed by one key for
#: life), so rotating it would lock the ledger; it is never rotated here.
LEDGER_KEY = "ledger"


def _size(kind: KeyKind, nbytes: int | None) -> int:
    n = 32 if nbytes is None else nbytes
    if kind == "aes" and n not in AES_SIZES:
        raise ConfigError(
            f"an aes key is 16, 24 or 32 bytes, not {n}", hint="use --bytes 32 (AES-256)"
        )
    if kind == "hmac" and not 32 <= n <= 64:
        raise ConfigError(
            f"an hmac key is 32 to 64 bytes, not {n}", hint="use --bytes 32 (the default)"
        )
    return n


def token_label(key_id: str, version: int) -> str:
    """The label of a key version made in a token."""
    return f"veil:{key_id}:v{version}"


def _make_version(
    ks: Keyset, key_id: str, n: int, kind: KeyKind, nbytes: int, in_token: bool
) -> KeyVersion:
    if not in_token:
        return KeyVersion(key_id, n, kind, now(), material=secrets.token_bytes(nbytes))
    if kind != "hmac":
        raise ConfigError(
            "only hmac keys can be held in a token (FF1 is no PKCS#11 mechanism)",
            hint="keep aes keys in the keyset and encrypt it under a token master key: "
            "veil keys encrypt --master pkcs11",
        )
    config = ks.token().config(ks.source)
    made = generate(config, token_label(key_id, n), "hmac")
    version = KeyVersion(key_id, n, kind, now(), token=made)
    return replace(version, recorded_fingerprint=version.fingerprint)


def with_token(ks: Keyset, uri: str | None) -> Keyset:
    """``ks`` recording the token ``uri`` (no object) as where its token keys live."""
    if not uri:
        return ks
    parsed = parse_uri(uri, source="--pkcs11")
    if parsed.object:
        raise ConfigError(
            "--pkcs11 names the token, not a key: leave 'object' out",
            hint="e.g. pkcs11:token=veil?module-path=/usr/lib/softhsm/libsofthsm2.so",
        )
    if ks.pkcs11 and parse_uri(ks.pkcs11, source=ks.source) != parsed:
        raise ConfigError(
            f"{ks.source} already records another token ({ks.pkcs11})",
            hint="one keyset uses one token; set $VEIL_PKCS11 to move it to another host's",
        )
    return replace(ks, pkcs11=parsed.render())


def new_key(
    ks: Keyset, key_id: str, kind: KeyKind, nbytes: int | None = None, *, in_token: bool = False
) -> tuple[Keyset, KeyVersion]:
    if not _ID.match(key_id):
        raise ConfigError(
            f"'{key_id}' is not a valid key id",
            hint="letters, digits, '.', '_' and '-', at most 64, e.g. research-tokens",
        )
    if key_id in ks.keys:
        raise ConfigError(
            f"key '{key_id}' already exists in {ks.source}",
            hint=f"to replace its material, rotate it: veil keys rotate {key_id}",
        )
    if key_id == LEDGER_KEY and in_token:
        raise ConfigError(
            "the ledger key cannot be held in a token: the ledger needs its bytes",
            hint="keep it in the keyset, encrypted under a token master key",
        )
    if in_token and nbytes not in (None, 32):
        raise ConfigError("a key made in a token is 32 bytes", hint="leave out --bytes")
    version = _make_version(ks, key_id, 1, kind, _size(kind, nbytes), in_token)
    return ks.with_key(Key(key_id, kind, (version,))), version


def rotate(
    ks: Keyset, key_id: str, kind: KeyKind | None = None
) -> tuple[Keyset, KeyVersion, KeyVersion]:
    """Add a version of ``key_id`` (the new primary); returns (keyset, old primary, new)."""
    key = ks.keys.get(key_id)
    if key is None:
        raise ConfigError(
            f"key '{key_id}' is not in {ks.source}", hint=f"create it: veil keys new {key_id}"
        )
    if key_id == LEDGER_KEY:
        raise ConfigError(
            "the ledger key is not rotated: a ledger is keyed by one key for life, and "
            "opening it checks that key",
            hint="start a new ledger with a new key to change it",
        )
    kind = key.kind or kind
    if kind is None:
        raise ConfigError(
            f"key '{key_id}' comes from a flat key file and has no kind",
            hint="say what it is: --kind hmac (hash, tokenize, date_shift) or --kind aes (fpe)",
        )
    if key.kind is not None and key.kind != kind:
        raise ConfigError(f"key '{key_id}' is an {key.kind} key, not {kind}")
    old = key.primary
    size = old.size if kind == "aes" else max(32, old.size)
    version = _make_version(ks, key_id, key.latest + 1, kind, size, old.in_token)
    # A key of unknown kind gets the kind it was rotated as, for all its versions.
    versions = (*(replace(v, kind=kind) for v in key.versions), version)
    return ks.with_key(Key(key_id, kind, versions)), old, version


def encrypt(ks: Keyset, ref: str) -> Keyset:
    """``ks`` to be written encrypted under ``ref`` (a token master is made if missing)."""
    ref = normalize(ref)
    master_key(ref, ks.token(), source=ks.source, create=True)
    return replace(ks, master=ref)


def rows(ks: Keyset) -> list[dict[str, Any]]:
    """One row per key version for ``veil keys list``: never key material."""
    out = []
    for key in ks.keys.values():
        try:
            primary = key.primary.version
        except ConfigError:
            primary = 0
        for v in key.versions:
            out.append(
                {
                    "id": key.id,
                    "kind": key.kind or "",
                    "version": v.version,
                    "primary": v.version == primary,
                    "status": v.status,
                    "created": v.created,
                    "fingerprint": v.stated_fingerprint,
                    "where": f"token ({v.token.label})" if v.token else "file",
                }
            )
    return out


# -- check -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    code: str
    message: str
    hint: str = ""


def check(path: Path, bundle: Any | None = None) -> tuple[Keyset | None, list[Finding]]:
    """Every problem of the keyset at ``path`` (and, with ``bundle``, of the keys the
    bundle names): file mode, parse errors, versions, token keys, missing keys, kinds."""
    found: list[Finding] = []
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError as exc:
        return None, [Finding("missing", f"cannot read {path}: {exc.strerror}")]
    if mode & 0o077:
        found.append(
            Finding(
                "mode",
                f"{path} is readable or writable by others (mode {mode:04o})",
                f"chmod 600 {path}",
            )
        )
    try:
        ks = read(path)
    except ConfigError as exc:
        return None, [*found, Finding("invalid", exc.message, exc.hint)]
    for key in ks.keys.values():
        try:
            key.primary  # noqa: B018 - raises if there is none
        except ConfigError as exc:
            found.append(Finding("no_primary", exc.message, exc.hint))
        for v in key.versions:
            if v.in_token:
                try:
                    v.fingerprint  # noqa: B018 - asks the token, checks the recorded one
                except ConfigError as exc:
                    found.append(Finding("token", f"key {v.ref}: {exc.message}", exc.hint))
    if bundle is not None:
        found.extend(_bundle_findings(ks, bundle))
    return ks, found


def required_keys(bundle: Any) -> dict[str, set[str]]:
    """Key id -> the transforms of ``bundle`` that use it (span transforms included)."""
    from .. import transforms

    need: dict[str, set[str]] = {}

    def visit(name: str, params: Any) -> None:
        spec = transforms.get(name)
        if spec.keyed:
            for key in spec.keys_of(params):
                need.setdefault(key, set()).add(name)
        # scan_text is not keyed itself: the transforms it applies to what it finds are
        for action in (getattr(params, "entities", None) or {}).values():
            inner = transforms.get(action.transform)
            visit(action.transform, inner.parse_params(action.params))

    for rule in bundle.rules:
        if rule.outcome is not None and rule.outcome.transform:
            visit(rule.outcome.transform, rule.outcome.params)
    return need


def _bundle_findings(ks: Keyset, bundle: Any) -> list[Finding]:
    from ..keys import Keyring

    ring = Keyring(versioned=ks.keys, source=ks.source)
    found: list[Finding] = []
    for name, users in sorted(required_keys(bundle).items()):
        if not ring.has(name):
            kind = "aes" if "fpe" in users else "hmac"
            found.append(
                Finding(
                    "missing_key",
                    f"bundle '{bundle.name}' uses key '{name}' ({', '.join(sorted(users))}), "
                    f"which is neither in {ks.source} nor set in the environment",
                    f"veil keys new {name}" + (" --kind aes" if kind == "aes" else ""),
                )
            )
            continue
        key = ring.key(name)
        wants: set[KeyKind] = {"aes" if u == "fpe" else "hmac" for u in users}
        if key.kind is not None and wants - {key.kind}:
            found.append(
                Finding(
                    "kind",
                    f"key '{name}' is an {key.kind} key ({USES[key.kind]}) but bundle "
                    f"'{bundle.name}' uses it for {', '.join(sorted(users))}",
                    "use one key per kind of use: make another with veil keys new",
                )
            )
        if "fpe" in users and any(v.in_token for v in key.versions):
            found.append(
                Finding(
                    "token_fpe",
                    f"key '{name}' is held in a token, and fpe needs AES key bytes",
                    "keep fpe keys in the keyset, encrypted under a token master key",
                )
            )
    return found
