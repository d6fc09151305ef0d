"""Keys in a PKCS#11 token (an HSM, or SoftHSM2): made there and never leaving it.

Two kinds of object live in a token, both created by veil as sensitive and
non-extractable (``CKA_SENSITIVE``, not ``CKA_EXTRACTABLE``), so no call can read or wrap
their value out:

* **HMAC keys** (``CKK_GENERIC_SECRET``, used with ``CKM_SHA256_HMAC``): keyed hashes,
  tokens, date shifts and vault keys are computed from them through the token (see
  :meth:`veil.keyset.model.KeyVersion.mac`).
* **Master keys** (``CKK_AES``, used with ``CKM_AES_GCM``): they encrypt a keyset file,
  whose keys (FF1 needs raw AES keys, and no PKCS#11 mechanism computes FF1) are then
  decrypted in the token and held in memory only.

Where the token is comes from a ``pkcs11:`` URI (RFC 7512, the subset veil needs)::

    pkcs11:token=veil;object=veil-master?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=env:VEIL_HSM_PIN

``token`` is the token label, ``object`` a key's label, ``module-path`` the PKCS#11
library and ``pin-source`` the environment variable holding the user PIN (default
``VEIL_HSM_PIN``; a PIN is never written in a URI or a file). A keyset records the
token's URI once (``pkcs11:``) and each key its object label; ``$VEIL_PKCS11`` overrides
the recorded parts per host (a module path differs between machines).

One session per token per process, opened on first use and shared under a lock (PKCS#11
sessions run one operation at a time); a forked child opens its own.
"""

from __future__ import annotations

import contextlib
import os
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

from ..errors import ConfigError

DEFAULT_PIN_ENV = "VEIL_HSM_PIN"
ENV_SETTING = "VEIL_PKCS11"
_PATH_ATTRS = ("token", "object")
_QUERY_ATTRS = ("module-path", "pin-source")
_INSTALL_HINT = "install the HSM extra: pip install 'veil[hsm]' (python-pkcs11)"


@dataclass(frozen=True)
class Pkcs11Uri:
    """A parsed ``pkcs11:`` URI; any part may be missing until settings are merged."""

    token: str | None = None
    object: str | None = None
    module: str | None = None
    pin_env: str | None = None

    def over(self, base: Pkcs11Uri) -> Pkcs11Uri:
        """These parts, with ``base`` filling in the ones this URI lacks."""
        return Pkcs11Uri(
            self.token or base.token,
            self.object or base.object,
            self.module or base.module,
            self.pin_env or base.pin_env,
        )

    def render(self) -> str:
        parts = (("token", self.token), ("object", self.object))
        path = [f"{k}={quote(v, safe='')}" for k, v in parts if v]
        query = []
        if self.module:
            query.append(f"module-path={quote(self.module, safe='/')}")
        if self.pin_env:
            query.append(f"pin-source=env:{self.pin_env}")
        return "pkcs11:" + ";".join(path) + ("?" + "&".join(query) if query else "")

    def config(self, where: str) -> TokenConfig:
        missing = [n for n, v in (("module-path", self.module), ("token", self.token)) if not v]
        if missing:
            raise ConfigError(
                f"{where}: the PKCS#11 setting lacks {' and '.join(missing)}",
                hint="give the token as pkcs11:token=LABEL?module-path=/path/to/module.so "
                f"(in the keyset's 'pkcs11:' entry, --pkcs11, or ${ENV_SETTING})",
            )
        assert self.module is not None and self.token is not None
        return TokenConfig(self.module, self.token, self.pin_env or DEFAULT_PIN_ENV)


def parse_uri(text: str, *, source: str) -> Pkcs11Uri:
    """Parse a ``pkcs11:`` URI; unknown attributes and PINs in the URI are errors."""
    if not text.startswith("pkcs11:"):
        raise ConfigError(
            f"{source}: '{text}' is not a pkcs11: URI",
            hint="write it as pkcs11:token=LABEL;object=LABEL?module-path=...",
        )
    path, _, query = text[7:].partition("?")
    found: dict[str, str] = {}
    for part, allowed in ((path, _PATH_ATTRS), (query, _QUERY_ATTRS)):
        for item in filter(None, part.split("&" if part is query else ";")):
            name, eq, value = item.partition("=")
            if name == "pin-value":
                raise ConfigError(
                    f"{source}: a PIN must not be written in a pkcs11 URI",
                    hint=f"use pin-source=env:NAME (default ${DEFAULT_PIN_ENV})",
                )
            if not eq or name not in allowed or name in found:
                raise ConfigError(
                    f"{source}: pkcs11 URI attribute '{name}' is unknown, repeated or empty",
                    hint="veil reads token and object (path), module-path and pin-source (query)",
                )
            found[name] = unquote(value)
    pin = found.get("pin-source")
    if pin is not None and not pin.startswith("env:"):
        raise ConfigError(
            f"{source}: pin-source must name an environment variable (env:NAME)",
            hint=f"e.g. pin-source=env:{DEFAULT_PIN_ENV}",
        )
    return Pkcs11Uri(
        found.get("token"),
        found.get("object"),
        found.get("module-path"),
        pin[4:] if pin else None,
    )


def setting(recorded: str | None, *, source: str) -> Pkcs11Uri:
    """A keyset's token setting: what it recorded, overridden part by part by
    ``$VEIL_PKCS11`` (read here, by the entry point that loads the keyset)."""
    base = parse_uri(recorded, source=source) if recorded else Pkcs11Uri()
    env = os.environ.get(ENV_SETTING)
    return parse_uri(env, source=f"${ENV_SETTING}").over(base) if env else base


@dataclass(frozen=True)
class TokenConfig:
    module: str
    token: str
    pin_env: str = DEFAULT_PIN_ENV

    @property
    def uri(self) -> Pkcs11Uri:
        return Pkcs11Uri(self.token, None, self.module, self.pin_env)


@dataclass(frozen=True)
class TokenKey:
    """A secret key object in a token, by label. Picklable: it holds no session."""

    config: TokenConfig
    label: str

    def sign(self, data: bytes) -> bytes:
        """HMAC-SHA256 of ``data`` (CKM_SHA256_HMAC), computed in the token."""
        from pkcs11 import Mechanism

        with _session(self.config) as s:
            out: bytes = s.run(
                "compute an HMAC",
                lambda: s.key(self.label).sign(data, mechanism=Mechanism.SHA256_HMAC),
            )
        return out

    def encrypt(self, nonce: bytes, data: bytes, aad: bytes) -> bytes:
        """AES-GCM (CKM_AES_GCM) in the token: ciphertext with its 16-byte tag appended,
        as :class:`cryptography.hazmat.primitives.ciphers.aead.AESGCM` writes it."""
        from pkcs11 import Mechanism
        from pkcs11.mechanisms import GCMParams

        with _session(self.config) as s:
            out: bytes = s.run(
                "encrypt",
                lambda: s.key(self.label).encrypt(
                    data, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(nonce, aad)
                ),
            )
        return out

    def decrypt(self, nonce: bytes, data: bytes, aad: bytes) -> bytes:
        """Inverse of :meth:`encrypt`; ConfigError if the tag does not check."""
        from pkcs11 import Mechanism
        from pkcs11.mechanisms import GCMParams

        with _session(self.config) as s:
            out: bytes = s.run(
                "decrypt",
                lambda: s.key(self.label).decrypt(
                    data, mechanism=Mechanism.AES_GCM, mechanism_param=GCMParams(nonce, aad)
                ),
                # SoftHSM2 reports a bad tag as CKR_GENERAL_ERROR, others as
                # CKR_ENCRYPTED_DATA_INVALID: either way, this key does not open it
                failed=ConfigError(
                    f"the token's key '{self.label}' does not open this data",
                    hint="the keyset was encrypted under another master key or was changed",
                ),
            )
        return out


def generate(config: TokenConfig, label: str, kind: str) -> TokenKey:
    """Make a sensitive, non-extractable key in the token: ``hmac`` (256-bit generic
    secret for CKM_SHA256_HMAC) or ``aes`` (AES-256 for CKM_AES_GCM, a master key)."""
    from pkcs11 import Attribute, KeyType

    with _session(config) as s:
        if s.find(label):
            raise ConfigError(
                f"the token already holds a key labelled '{label}'",
                hint="choose another label; veil never replaces a key in a token",
            )
        sign = kind == "hmac"
        template = {
            Attribute.TOKEN: True,
            Attribute.PRIVATE: True,
            Attribute.SENSITIVE: True,
            Attribute.EXTRACTABLE: False,
            Attribute.SIGN: sign,
            Attribute.VERIFY: sign,
            Attribute.ENCRYPT: not sign,
            Attribute.DECRYPT: not sign,
            Attribute.WRAP: False,
            Attribute.UNWRAP: False,
            Attribute.DERIVE: False,
        }
        key_type = KeyType.GENERIC_SECRET if sign else KeyType.AES
        s.run(
            "make a key",
            lambda: s.session.generate_key(
                key_type, 256, label=label, store=True, template=template
            ),
        )
    return TokenKey(config, label)


def has_key(config: TokenConfig, label: str) -> bool:
    with _session(config) as s:
        return s.find(label)


# -- sessions ------------------------------------------------------------------------


class _Session:
    """One logged-in session on a token; use it inside ``with`` (holds its lock)."""

    def __init__(self, config: TokenConfig) -> None:
        self.config = config
        self.lock = threading.Lock()
        self.keys: dict[str, Any] = {}
        pin = os.environ.get(config.pin_env)
        if not pin:
            raise ConfigError(
                f"the PIN of token '{config.token}' is not set",
                hint=f"set ${config.pin_env} (the token's user PIN)",
            )
        self._pin = pin
        lib = _library(config.module)
        self._token = self.run(
            f"find token '{config.token}'", lambda: lib.get_token(token_label=config.token)
        )
        self.session: Any = self.run(
            f"open token '{config.token}'", lambda: _login(self._token, pin)
        )

    def __enter__(self) -> _Session:
        self.lock.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.lock.release()

    def run(self, what: str, fn: Any, *, failed: ConfigError | None = None) -> Any:
        """``fn()``, with PKCS#11 failures as ConfigError (named, never with data). A
        session logged out under us (login is per process, and any session of it may log
        out) logs in again once."""
        from pkcs11 import exceptions as ex

        try:
            try:
                return fn()
            except ex.UserNotLoggedIn:
                self.session = _login(self._token, self._pin)
                self.keys.clear()
                return fn()
        except ConfigError:
            raise
        except ex.NoSuchToken:
            raise ConfigError(
                f"no PKCS#11 token labelled '{self.config.token}' in {self.config.module}",
                hint="check the token label (softhsm2-util --show-slots lists them)",
            ) from None
        except ex.PinIncorrect:
            raise ConfigError(
                f"the PIN in ${self.config.pin_env} is wrong for token '{self.config.token}'",
                hint="set the token's user PIN",
            ) from None
        except ex.PKCS11Error as exc:
            if failed is not None:
                raise failed from None
            raise ConfigError(
                f"PKCS#11: cannot {what} ({type(exc).__name__})",
                hint="check the token, its PIN and the key label",
            ) from None

    def find(self, label: str) -> bool:
        from pkcs11 import ObjectClass

        def search() -> bool:
            query = {_attr("CLASS"): ObjectClass.SECRET_KEY, _attr("LABEL"): label}
            return bool(list(self.session.get_objects(query)))

        found: bool = self.run("list keys", search)
        return found

    def key(self, label: str) -> Any:
        """The key object labelled ``label`` (PKCS#11 errors propagate to :meth:`run`)."""
        found = self.keys.get(label)
        if found is None:
            from pkcs11 import ObjectClass
            from pkcs11 import exceptions as ex

            try:
                found = self.session.get_key(object_class=ObjectClass.SECRET_KEY, label=label)
            except ex.NoSuchKey:
                raise ConfigError(
                    f"token '{self.config.token}' holds no key labelled '{label}'",
                    hint="check the keyset and $VEIL_PKCS11 name the token the key was made in",
                ) from None
            except ex.MultipleObjectsReturned:
                raise ConfigError(
                    f"token '{self.config.token}' holds several keys labelled '{label}'",
                    hint="labels must be unique; remove the extra objects",
                ) from None
            self.keys[label] = found
        return found


def _login(token: Any, pin: str) -> Any:
    from pkcs11 import exceptions as ex

    try:
        return token.open(user_pin=pin, rw=True)
    except ex.UserAlreadyLoggedIn:
        # PKCS#11 login is per process: another session of this process has logged in
        return token.open(rw=True)


def _attr(name: str) -> Any:
    from pkcs11 import Attribute

    return getattr(Attribute, name)


_LOCK = threading.Lock()
_SESSIONS: dict[TokenConfig, _Session] = {}
_LIBS: dict[str, Any] = {}
_PID = os.getpid()


def _library(module: str) -> Any:
    try:
        import pkcs11
    except ImportError:
        raise ConfigError("PKCS#11 support is not installed", hint=_INSTALL_HINT) from None
    lib = _LIBS.get(module)
    if lib is None:
        if not os.path.exists(module):
            raise ConfigError(
                f"PKCS#11 module {module} does not exist",
                hint="set module-path (SoftHSM2: /usr/lib/softhsm/libsofthsm2.so)",
            )
        try:
            lib = pkcs11.lib(module)
        except Exception as exc:
            raise ConfigError(
                f"cannot load PKCS#11 module {module} ({type(exc).__name__})",
                hint="check module-path names a PKCS#11 library",
            ) from None
        _LIBS[module] = lib
    return lib


def _session(config: TokenConfig) -> _Session:
    global _PID
    with _LOCK:
        if os.getpid() != _PID:  # a forked child: the parent's sessions are not ours
            _PID = os.getpid()
            _SESSIONS.clear()
            for lib in _LIBS.values():
                lib.reinitialize()
        s = _SESSIONS.get(config)
        if s is None:
            s = _SESSIONS[config] = _Session(config)
        return s


def forget_sessions() -> None:
    """Close every session (tests that re-create tokens; a long-lived process never needs
    to)."""
    with _LOCK:
        for s in _SESSIONS.values():
            with s, contextlib.suppress(Exception):  # closing is best effort
                s.session.close()
        _SESSIONS.clear()
