"""The keyset file: keys by id, each with numbered versions, optionally encrypted.

Plain form (what ``veil keys new`` writes, mode 0600)::

    veil_keyset: 1
    pkcs11: pkcs11:token=veil?module-path=/usr/lib/softhsm/libsofthsm2.so   # if a key is in a token
    keys:
      research-tokens:
        kind: hmac                      # hmac (hash, tokenize, date_shift, ledger) | aes (fpe)
        versions:
          v1: {created: '2025-06-01T10:00:00Z', secret: 'hex:...'}
          v2: {created: '2025-09-01T10:00:00Z', secret: 'hex:...'}     # primary: newest active
      research-hsm:
        kind: hmac
        versions:
          v1: {created: '...', pkcs11: 'pkcs11:object=veil:research-hsm:v1', fingerprint: '...'}

A version may say ``status: retired`` (kept to reveal, never primary). Encrypted form::

    veil_keyset: 1
    master: env:VEIL_MASTER_KEY         # or pkcs11:object=veil-master
    sealed: base64:...                  # AES-256-GCM of the plain form's 'keys:' document

The flat files of earlier releases (``keys: {name: hex:...}``, or the mapping alone) are
read as keys of one version (v1) of unknown kind, so their tokens do not change.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, cast

import yaml

from ..errors import ConfigError
from ..secretfiles import write_private
from .model import (
    AES_SIZES,
    GENERATE_HINT,
    KINDS,
    STATUSES,
    Key,
    KeyKind,
    KeyVersion,
    Status,
    decode_key,
    encode_key,
)
from .pkcs11 import Pkcs11Uri, TokenKey, parse_uri, setting
from .seal import master as master_key

FORMAT = 1
HEADER = (
    "# veil keyset (made by `veil keys`): secret key material. Keep it private (mode 0600),\n"
    "# out of version control, and backed up: what a lost key made cannot be revealed.\n"
)
SEALED_HEADER = (
    "# veil keyset, encrypted under the master key below (`veil keys list` shows its keys).\n"
    "# Keep it private (mode 0600) and backed up, with the master key: both are needed.\n"
)
_VERSION_FIELDS = {"created", "secret", "pkcs11", "fingerprint", "status"}


@dataclass(frozen=True)
class Keyset:
    """What a keyset file holds. ``master``: the file is encrypted under that key."""

    keys: Mapping[str, Key] = field(default_factory=dict)
    pkcs11: str | None = None
    master: str | None = None
    source: str = "keyset"
    #: read from a flat key file of an earlier release (rewritten in this format on save)
    legacy: bool = False

    def token(self) -> Pkcs11Uri:
        """The token setting: the recorded one, overridden by ``$VEIL_PKCS11``."""
        return setting(self.pkcs11, source=self.source)

    def with_key(self, key: Key) -> Keyset:
        return replace(self, keys={**self.keys, key.id: key})


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# -- reading ---------------------------------------------------------------------------


def read(path: str | Path) -> Keyset:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"cannot read key file {p}: {exc.strerror}",
            hint="check the --keys path; " + GENERATE_HINT,
        ) from None
    return parse(_load(text, str(p), json_=p.suffix == ".json"), source=str(p))


def _load(text: str, source: str, *, json_: bool) -> Any:
    try:
        return json.loads(text) if json_ else yaml.safe_load(text)
    except (yaml.YAMLError, json.JSONDecodeError):
        raise ConfigError(
            f"key file {source} is not valid YAML/JSON",
            hint="write it with `veil keys new`, or as 'keys: {name: hex:...}'",
        ) from None


def parse(data: Any, *, source: str) -> Keyset:
    """A keyset from a file's document; every problem is listed in one ConfigError."""
    if not isinstance(data, dict):
        raise ConfigError(
            f"key file {source} must be a mapping", hint="write it with `veil keys new`"
        )
    if "veil_keyset" not in data:
        return _parse_flat(data, source)
    problems: list[str] = []
    if data.get("veil_keyset") != FORMAT:
        problems.append(f"veil_keyset is {data.get('veil_keyset')!r}; this veil reads {FORMAT}")
    extra = set(data) - {"veil_keyset", "keys", "pkcs11", "master", "sealed"}
    if extra:
        problems.append(f"unknown entries: {', '.join(sorted(map(str, extra)))}")
    pk = data.get("pkcs11")
    if pk is not None and not isinstance(pk, str):
        problems.append("pkcs11 must be a pkcs11: URI")
    master = data.get("master")
    sealed = data.get("sealed")
    if (master is None) != (sealed is None) or (sealed is not None and "keys" in data):
        problems.append("an encrypted keyset has 'master' and 'sealed' and no 'keys'")
    _raise(problems, source)
    base = Keyset(pkcs11=pk, source=source)
    keys = data.get("keys") or {}
    if sealed is not None:
        if not isinstance(master, str) or not isinstance(sealed, str):
            raise ConfigError(f"key file {source}: master and sealed must be strings")
        inner = _load(_unseal(base, master, sealed).decode(), source, json_=False)
        keys = inner.get("keys") if isinstance(inner, dict) else None
        base = replace(base, master=master)
    if not isinstance(keys, dict):
        raise ConfigError(f"key file {source}: 'keys' must map key ids to keys")
    return replace(base, keys=_parse_keys(keys, base, source))


def _parse_flat(data: dict[str, Any], source: str) -> Keyset:
    flat = data.get("keys", data)
    if not isinstance(flat, dict) or not all(isinstance(v, str) for v in flat.values()):
        raise ConfigError(
            f"key file {source} must map key names to strings",
            hint="write it as 'keys: {name: hex:...}', or with `veil keys new`",
        )
    keys = {
        str(k): Key.single(str(k), decode_key(v, source=f"{source} (key '{k}')"))
        for k, v in flat.items()
    }
    return Keyset(keys=keys, source=source, legacy=True)


def _parse_keys(raw: dict[Any, Any], ks: Keyset, source: str) -> dict[str, Key]:
    problems: list[str] = []
    keys: dict[str, Key] = {}
    token: Pkcs11Uri | None = None
    for kid, entry in raw.items():
        name = str(kid)
        where = f"key '{name}'"
        if isinstance(entry, str):  # a flat entry in a keyset: one version, kind unknown
            raw_key = _decode(entry, f"{source} ({where})", problems)
            if raw_key is not None:
                keys[name] = Key.single(name, raw_key)
            continue
        if not isinstance(entry, dict) or not isinstance(entry.get("versions"), dict):
            problems.append(f"{where}: needs 'kind' and 'versions' (v1: {{...}})")
            continue
        kind = entry.get("kind")
        if kind is not None and kind not in KINDS:
            problems.append(f"{where}: kind must be one of {', '.join(KINDS)}")
            continue
        versions: list[KeyVersion] = []
        for vid, item in entry["versions"].items():
            vwhere = f"{where} {vid}"
            n = _version_number(vid)
            if n is None or not isinstance(item, dict):
                problems.append(f"{vwhere}: versions are v1, v2, ... each a mapping")
                continue
            extra = set(item) - _VERSION_FIELDS
            status = item.get("status", "active")
            if extra:
                problems.append(f"{vwhere}: unknown entries {', '.join(sorted(map(str, extra)))}")
            if status not in STATUSES:
                problems.append(f"{vwhere}: status must be one of {', '.join(STATUSES)}")
            created = item.get("created", "")
            if isinstance(created, datetime | date):  # an unquoted YAML timestamp
                created = created.isoformat()
            common: dict[str, Any] = {
                "kind": cast("KeyKind | None", kind),
                "created": str(created),
                "status": cast(Status, status),
            }
            if ("secret" in item) == ("pkcs11" in item):
                problems.append(f"{vwhere}: give either 'secret' or 'pkcs11'")
            elif "secret" in item:
                if not isinstance(item["secret"], str):
                    problems.append(f"{vwhere}: secret must be 'hex:...' or 'base64:...'")
                    continue
                raw_key = _decode(item["secret"], f"{source} ({vwhere})", problems)
                if raw_key is None:
                    continue
                if kind == "aes" and len(raw_key) not in AES_SIZES:
                    problems.append(f"{vwhere}: an aes key is 16, 24 or 32 bytes")
                versions.append(KeyVersion(name, n, material=raw_key, **common))
            else:
                if kind != "hmac":
                    problems.append(f"{vwhere}: only hmac keys can be held in a token")
                    continue
                if token is None:
                    token = ks.token()
                uri = parse_uri(str(item["pkcs11"]), source=f"{source} ({vwhere})").over(token)
                if not uri.object:
                    problems.append(f"{vwhere}: the pkcs11 URI names no object")
                    continue
                versions.append(
                    KeyVersion(
                        name,
                        n,
                        token=TokenKey(uri.config(f"{source} ({vwhere})"), uri.object),
                        recorded_fingerprint=str(item.get("fingerprint", "")),
                        **common,
                    )
                )
        versions.sort(key=lambda v: v.version)
        if not versions:
            problems.append(f"{where}: has no versions")
            continue
        keys[name] = Key(name, cast("KeyKind | None", kind), tuple(versions))
    _raise(problems, source)
    return keys


def _decode(text: str, where: str, problems: list[str]) -> bytes | None:
    try:
        return decode_key(text, source=where)
    except ConfigError as exc:
        problems.append(exc.message)
        return None


def _version_number(vid: Any) -> int | None:
    text = str(vid)
    if text.startswith("v") and text[1:].isdigit() and text[1:2] != "0" and text.isascii():
        return int(text[1:])
    return None


def _raise(problems: list[str], source: str) -> None:
    if problems:
        raise ConfigError(
            f"key file {source} is invalid:\n  " + "\n  ".join(problems),
            hint="see `veil keys --help`; `veil keys new` writes a valid keyset",
        )


def _aad(ref: str) -> bytes:
    return f"veil-keyset:{FORMAT}:{ref}".encode()


def _unseal(ks: Keyset, ref: str, sealed: str) -> bytes:
    try:
        blob = base64.b64decode(sealed.removeprefix("base64:"), validate=True)
    except (ValueError, binascii.Error):
        raise ConfigError(f"key file {ks.source}: 'sealed' is not base64") from None
    m = master_key(ref, ks.token(), source=ks.source)
    return m.open(blob, _aad(m.ref))


# -- writing ---------------------------------------------------------------------------


def document(ks: Keyset) -> dict[str, Any]:
    """The plain keyset as a document (key material included: it is written to the file)."""
    keys: dict[str, Any] = {}
    for kid, key in ks.keys.items():
        versions: dict[str, Any] = {}
        for v in key.versions:
            item: dict[str, Any] = {"created": v.created} if v.created else {}
            if v.material is not None:
                item["secret"] = encode_key(v.material)
            else:
                assert v.token is not None
                item["pkcs11"] = Pkcs11Uri(object=v.token.label).render()
                item["fingerprint"] = v.recorded_fingerprint
            if v.status != "active":
                item["status"] = v.status
            versions[f"v{v.version}"] = item
        keys[kid] = {"kind": key.kind, "versions": versions} if key.kind else {"versions": versions}
    return {"keys": keys}


def write(path: str | Path, ks: Keyset) -> None:
    """Write ``ks`` to ``path`` atomically with mode 0600, encrypted if ``ks.master``."""
    p = Path(path)
    doc: dict[str, Any] = {"veil_keyset": FORMAT}
    if ks.pkcs11:
        doc["pkcs11"] = ks.pkcs11
    inner = document(ks)
    if ks.master:
        m = master_key(ks.master, ks.token(), source=str(p))
        plain = yaml.safe_dump(inner, sort_keys=False).encode()
        doc["master"] = m.ref
        doc["sealed"] = "base64:" + base64.b64encode(m.seal(plain, _aad(m.ref))).decode()
    else:
        doc.update(inner)
    if p.suffix == ".json":
        text = json.dumps(doc, indent=2) + "\n"
    else:
        header = SEALED_HEADER if ks.master else HEADER
        text = header + yaml.safe_dump(doc, sort_keys=False, width=120)
    write_private(p, text)
