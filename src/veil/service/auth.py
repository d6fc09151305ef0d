"""Authentication for the HTTP service: who is asking.

veil discloses fields according to the subject's id and attributes, so those must come
from a verified credential and never from the request body. :class:`Authenticator`
turns request headers into a :class:`Principal` or raises :class:`AuthError` (401). It
knows nothing about the web framework: the service calls
``authenticate(request.headers)``. The attributes it produces are validated against the
bundle later, like any other request (:func:`veil.request.check_request`).

Two credentials are accepted:

* **API keys**, sent as ``Authorization: ApiKey <key_id>.<secret>`` or
  ``X-API-Key: <key_id>.<secret>``. The keys file stores only hashes::

      api_keys:
        vk_3f9a0c1d2e4b5a69:
          hash: "sha256:<64 hex digits>"   # or "scrypt:<n>:<r>:<p>:<salt hex>:<hash hex>"
          subject_id: etl-nightly
          attributes: {role: analyst, org: north}
          description: nightly export job  # optional, free text

  Create an entry with :func:`veil_keygen_api_key` (or :func:`new_api_key`). Secrets made
  by veil are 256-bit random tokens, for which one SHA-256 is as good as a slow hash; use
  ``hash_api_key(secret, scheme="scrypt")`` if a secret was chosen by a person. Key ids
  are identifiers, not secrets.

* **JWT bearer tokens**, sent as ``Authorization: Bearer <jwt>`` and verified against a
  local JWKS file (``{"keys": [...]}``; nothing is ever fetched, and ``jku``/``x5u``/
  ``jwk`` headers are ignored). The token's ``kid`` selects the key and the key alone
  fixes the algorithm: RSA -> RS256 (>= 2048 bits), EC P-256 -> ES256, OKP Ed25519 ->
  EdDSA. Nothing else verifies, so ``alg: none``, every HS* and the classic "HS256
  signed with the RSA public key" forgery fail. Required claims: ``iss`` (equal to the
  configured issuer), ``aud`` (containing the configured audience), ``exp`` and ``sub``
  (the subject id); ``nbf`` and ``iat`` are checked when present, all with ``leeway``
  seconds of clock skew. ``claims_map`` maps subject attribute names to claim names; a
  missing or null claim leaves the attribute out.

Failures say why in a few fixed words ("token expired", "invalid signature") and never
echo the token, the secret or a claim value. Claims are only examined after the
signature verified, so an unsigned or forged token learns nothing about the checks.

Why one module of ~570 lines: both credential kinds end in one :class:`Principal` and one
error type, and their parsing of files (keys, JWKS) is validated the same way; the
module is the service's whole trust boundary, reviewed as one.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import math
import re
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal

import jwt
import yaml

from ..errors import ConfigError, VeilError

AuthMethod = Literal["api_key", "jwt"]

#: the algorithm each supported key type verifies; no other (kty, crv) is loaded
_ALG_BY_KEY: Mapping[tuple[str, str | None], str] = MappingProxyType(
    {("RSA", None): "RS256", ("EC", "P-256"): "ES256", ("OKP", "Ed25519"): "EdDSA"}
)
MIN_RSA_BITS = 2048
#: claims every token must carry; ``nbf`` and ``iat`` are checked only when present
REQUIRED_CLAIMS = ("exp", "iss", "aud", "sub")
DEFAULT_LEEWAY = 30.0
#: more skew than this is no longer clock skew but a longer token lifetime
MAX_LEEWAY = 300.0
#: bound on what is parsed or hashed from a header, so junk costs little
MAX_TOKEN_CHARS = 16_384
MAX_SECRET_CHARS = 512

_KEY_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_HEX = re.compile(r"[0-9a-f]+")
_ENTRY_FIELDS = frozenset({"hash", "subject_id", "attributes", "description", "recipients"})
_SCRYPT_DEFAULTS = (2**14, 8, 1)  # n, r, p: ~16 MiB, tens of milliseconds
_SCRYPT_MAX_N, _SCRYPT_MAX_R, _SCRYPT_MAX_P = 2**20, 32, 16

#: ``claims_map`` entry naming the claim that lists the recipients a token may name
RECIPIENTS_ATTRIBUTE = "recipients"
_NO_CREDENTIALS_HINT = "send Authorization: Bearer <jwt> or X-API-Key"
_API_KEY_HINT = "send X-API-Key: <key_id>.<secret> or Authorization: ApiKey <key_id>.<secret>"


class AuthError(VeilError):
    """The caller is not authenticated. The message is safe to return to the client."""

    code = "unauthenticated"
    exit_code = 2
    http_status = 401


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: the subject veil decides for.

    ``key_id`` names the credential (the API key id or the JWT's ``kid``) for logs and
    the ledger. ``attributes`` is a fresh dict per call; changing it changes nothing else.
    """

    subject_id: str
    attributes: dict[str, Any]
    method: AuthMethod
    key_id: str
    #: who vouches for the subject: ``api-key`` (this service's keys file) or the JWT's
    #: issuer. The same ``subject_id`` from two issuers is two principals.
    issuer: str = "api-key"
    #: recipients the credential lets this principal name (None: no limit from it)
    recipients: tuple[str, ...] | None = None

    @property
    def qualified(self) -> str:
        """``api-key:<subject>`` or ``jwt:<issuer>#<subject>``: a principal's full name,
        as ``admins`` lists it."""
        if self.method == "api_key":
            return f"api-key:{self.subject_id}"
        return f"jwt:{self.issuer}#{self.subject_id}"


def is_admin(principal: Principal, admins: Iterable[str]) -> bool:
    """Whether ``admins`` names ``principal``. An entry is a qualified name
    (``api-key:ops.admin``, ``jwt:https://idp.example#ops.admin``); a bare name means an
    API key's subject only, so a token whose ``sub`` happens to read ``ops.admin`` from
    any issuer is not an admin."""
    names = set(admins)
    if principal.qualified in names:
        return True
    return principal.method == "api_key" and principal.subject_id in names


# --------------------------------------------------------------------------- API keys


@dataclass(frozen=True)
class _StoredHash:
    scheme: Literal["sha256", "scrypt"]
    digest: bytes
    salt: bytes = b""
    n: int = 0
    r: int = 0
    p: int = 0

    def matches(self, secret: str) -> bool:
        """Constant-time comparison of ``secret``'s hash with the stored digest."""
        return hmac.compare_digest(_digest(self, secret.encode("utf-8")), self.digest)


def _copied(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """A request's own copy of a key's attributes (nothing downstream may alter the key
    table). YAML gives dicts, lists and scalars, copied here without ``copy.deepcopy``'s
    bookkeeping (a few microseconds of every request)."""

    def cp(v: Any) -> Any:
        t = type(v)
        if t is dict:
            return {k: cp(x) for k, x in v.items()}
        if t is list:
            return [cp(x) for x in v]
        if t in (str, int, float, bool) or v is None:
            return v
        return copy.deepcopy(v)

    return {k: cp(v) for k, v in attributes.items()}


def _digest(h: _StoredHash, secret: bytes) -> bytes:
    if h.scheme == "sha256":
        return hashlib.sha256(secret).digest()
    maxmem = 2 * 128 * h.r * h.n * h.p + (1 << 20)
    return hashlib.scrypt(
        secret, salt=h.salt, n=h.n, r=h.r, p=h.p, dklen=len(h.digest), maxmem=maxmem
    )


#: compared against when the key id is unknown, so both failures do the same work
_DUMMY_HASH = _StoredHash("sha256", hashlib.sha256(b"veil: no such key").digest())


def _parse_hash(text: str) -> _StoredHash:
    """Parse a stored hash; ValueError (with a message naming no secret) if malformed."""
    scheme, _, rest = text.partition(":")
    if scheme == "sha256":
        if len(rest) != 64 or not _HEX.fullmatch(rest):
            raise ValueError("a sha256 hash is 'sha256:' and 64 lowercase hex digits")
        return _StoredHash("sha256", bytes.fromhex(rest))
    if scheme == "scrypt":
        parts = rest.split(":")
        if len(parts) != 5 or not all(_HEX.fullmatch(x) for x in parts[3:]):
            raise ValueError("a scrypt hash is 'scrypt:<n>:<r>:<p>:<salt hex>:<hash hex>'")
        try:
            n, r, p = (int(x) for x in parts[:3])
        except ValueError:
            raise ValueError("scrypt n, r and p must be integers") from None
        salt, digest = bytes.fromhex(parts[3]), bytes.fromhex(parts[4])
        if not (1 < n <= _SCRYPT_MAX_N and n & (n - 1) == 0):
            raise ValueError(f"scrypt n must be a power of two up to {_SCRYPT_MAX_N}")
        if not (0 < r <= _SCRYPT_MAX_R and 0 < p <= _SCRYPT_MAX_P):
            raise ValueError(f"scrypt needs 0 < r <= {_SCRYPT_MAX_R} and 0 < p <= {_SCRYPT_MAX_P}")
        if len(salt) < 16 or not 16 <= len(digest) <= 64:
            raise ValueError("scrypt needs a salt of >= 16 bytes and a hash of 16-64 bytes")
        return _StoredHash("scrypt", digest, salt, n, r, p)
    raise ValueError("the hash must start with 'sha256:' or 'scrypt:'")


def hash_api_key(secret: str, *, scheme: Literal["sha256", "scrypt"] = "sha256") -> str:
    """The value to store as ``hash`` for ``secret`` (the part after ``<key_id>.``).

    ``sha256`` is plain SHA-256 of the UTF-8 secret (``printf %s "$secret" | sha256sum``
    gives the same digits); right for random secrets such as :func:`new_api_key` makes.
    ``scrypt`` is salted and slow, for secrets with less entropy than 128 bits.
    """
    if scheme == "sha256":
        return "sha256:" + hashlib.sha256(secret.encode("utf-8")).hexdigest()
    n, r, p = _SCRYPT_DEFAULTS
    h = _StoredHash("scrypt", b"\0" * 32, secrets.token_bytes(16), n, r, p)
    digest = _digest(h, secret.encode("utf-8"))
    return f"scrypt:{n}:{r}:{p}:{h.salt.hex()}:{digest.hex()}"


def new_api_key() -> tuple[str, str, str]:
    """A fresh ``(key_id, secret, stored_hash)``. Clients send ``<key_id>.<secret>``.

    The secret carries 256 random bits, so its SHA-256 can be stored: nobody can invert
    or brute-force it, and checking it costs microseconds per request.
    """
    key_id = "vk_" + secrets.token_hex(8)
    secret = secrets.token_urlsafe(32)
    return key_id, secret, hash_api_key(secret)


def veil_keygen_api_key(
    subject_id: str, attributes: Mapping[str, Any] | None = None
) -> tuple[str, dict[str, Any]]:
    """Make an API key for ``subject_id``: ``(credential, entry)``.

    ``credential`` (``<key_id>.<secret>``) is shown once and never stored; ``entry``
    (``{key_id: {hash, subject_id, attributes}}``) goes under ``api_keys:`` in the keys
    file. Raises ConfigError if the subject or attributes would not load.
    """
    key_id, secret, stored = new_api_key()
    entry = {"hash": stored, "subject_id": subject_id, "attributes": dict(attributes or {})}
    _parse_api_key_entry(key_id, entry, "the new API key")
    return f"{key_id}.{secret}", {key_id: entry}


@dataclass(frozen=True)
class _ApiKey:
    subject_id: str
    attributes: Mapping[str, Any]
    stored: _StoredHash
    recipients: tuple[str, ...] | None = None


def _parse_api_key_entry(key_id: object, entry: object, source: str) -> _ApiKey:
    where = f"{source} (API key '{key_id}')"
    hint = "write entries as '<key_id>: {hash: sha256:<hex>, subject_id: ..., attributes: {}}'"
    if not isinstance(key_id, str) or not _KEY_ID.fullmatch(key_id):
        raise ConfigError(
            f"{source}: API key id '{key_id}' is not 1-64 letters, digits, '-' or '_'",
            hint="key ids may not contain '.', which separates the id from the secret",
        )
    if not isinstance(entry, Mapping):
        raise ConfigError(f"{where} must be a mapping", hint=hint)
    unknown = set(entry) - _ENTRY_FIELDS
    if unknown:
        raise ConfigError(
            f"{where} has unknown field '{sorted(map(str, unknown))[0]}'",
            hint=f"fields: {', '.join(sorted(_ENTRY_FIELDS))}",
        )
    subject_id, attributes, stored = (
        entry.get("subject_id"),
        entry.get("attributes") or {},
        entry.get("hash"),
    )
    if not isinstance(subject_id, str) or not subject_id:
        raise ConfigError(f"{where} needs a non-empty string 'subject_id'", hint=hint)
    if not isinstance(attributes, Mapping) or not all(isinstance(k, str) for k in attributes):
        raise ConfigError(f"{where}: 'attributes' must map names to values", hint=hint)
    if not isinstance(stored, str):
        raise ConfigError(f"{where} needs a 'hash'", hint=hint)
    try:
        parsed = _parse_hash(stored)
    except ValueError as exc:
        raise ConfigError(
            f"{where} has an invalid hash: {exc}",
            hint="store hash_api_key(secret), e.g. from veil_keygen_api_key()",
        ) from None
    recipients = entry.get("recipients")
    if recipients is not None and not (
        isinstance(recipients, list) and all(isinstance(r, str) and r for r in recipients)
    ):
        raise ConfigError(f"{where}: 'recipients' must be a list of recipient ids", hint=hint)
    return _ApiKey(
        subject_id,
        MappingProxyType(copy.deepcopy(dict(attributes))),
        parsed,
        tuple(recipients) if recipients is not None else None,
    )


# --------------------------------------------------------------------------- JWKS


@dataclass(frozen=True)
class _Jwk:
    algorithm: str
    key: jwt.PyJWK


def _parse_jwks(data: object, source: str) -> dict[str, _Jwk]:
    hint = 'write it as {"keys": [{"kty": ..., "kid": ..., ...}]} with public keys only'
    if not isinstance(data, Mapping) or not isinstance(data.get("keys"), list):
        raise ConfigError(f"JWKS {source} must be an object with a 'keys' list", hint=hint)
    out: dict[str, _Jwk] = {}
    for i, jwk in enumerate(data["keys"]):
        where = f"JWKS {source} (keys[{i}])"
        if not isinstance(jwk, Mapping):
            raise ConfigError(f"{where} is not an object", hint=hint)
        if jwk.get("use", "sig") != "sig":
            continue  # an encryption key signs nothing; IdP key sets often include them
        kid = jwk.get("kid")
        if not isinstance(kid, str) or not kid:
            raise ConfigError(f"{where} has no 'kid'", hint="tokens select keys by kid")
        where = f"JWKS {source} (key '{kid}')"
        if kid in out:
            raise ConfigError(f"{where} appears twice", hint="key ids must be unique")
        if "d" in jwk:
            raise ConfigError(
                f"{where} contains private key material",
                hint="the service verifies only; give it the public JWKS",
            )
        kty, crv = jwk.get("kty"), jwk.get("crv")
        alg = _ALG_BY_KEY.get((str(kty), None if kty == "RSA" else str(crv)))
        if alg is None:
            raise ConfigError(
                f"{where} has unsupported kty/crv {kty}/{crv}",
                hint="veil verifies RS256 (RSA), ES256 (EC P-256) and EdDSA (OKP Ed25519)",
            )
        if jwk.get("alg", alg) != alg:
            raise ConfigError(
                f"{where} declares alg {jwk.get('alg')}; a {kty} key verifies {alg} only",
                hint=f"set 'alg: {alg}' or remove 'alg'",
            )
        try:
            key = jwt.PyJWK(dict(jwk), algorithm=alg)
        except (jwt.PyJWTError, ValueError, TypeError):
            raise ConfigError(f"{where} is not a valid {kty} public key", hint=hint) from None
        if alg == "RS256" and key.key.key_size < MIN_RSA_BITS:
            raise ConfigError(
                f"{where} is a {key.key.key_size}-bit RSA key",
                hint=f"use at least {MIN_RSA_BITS} bits",
            )
        out[kid] = _Jwk(alg, key)
    return out


def _jwt_failure(exc: jwt.PyJWTError) -> str:
    """A short reason for a rejected token; fixed words only, never token content."""
    if isinstance(exc, jwt.ExpiredSignatureError):
        return "token expired"
    if isinstance(exc, jwt.ImmatureSignatureError):
        return "token not yet valid"
    if isinstance(exc, jwt.InvalidAudienceError):
        return "wrong audience"
    if isinstance(exc, jwt.InvalidIssuerError):
        return "wrong issuer"
    if isinstance(exc, jwt.MissingRequiredClaimError):
        # the claim name comes from REQUIRED_CLAIMS or PyJWT, never from the token
        return f"token lacks required claim '{exc.claim}'"
    if isinstance(exc, jwt.InvalidSignatureError | jwt.InvalidKeyError):
        return "invalid signature"
    if isinstance(exc, jwt.InvalidAlgorithmError):
        return "algorithm not allowed for this key"
    if isinstance(exc, jwt.exceptions.InvalidSubjectError):
        return "invalid subject"
    if isinstance(exc, jwt.InvalidIssuedAtError):
        return "invalid issued-at time"
    if isinstance(exc, jwt.DecodeError):
        return "malformed token"
    return "invalid token"


# --------------------------------------------------------------------------- authenticator


class Authenticator:
    """Verifies credentials from request headers; immutable once built.

    ``api_keys`` is the mapping under ``api_keys:`` in the keys file (key id -> entry);
    ``jwks`` is a JWKS object. Either may be None, not both. ``issuer`` and ``audience``
    are required with a JWKS. Every input is validated and deep-copied here, so a bad
    configuration fails at start-up (ConfigError) and a reload builds a new instance to
    swap in whole; concurrent requests never see a half-updated one.
    """

    __slots__ = ("_api_keys", "_audience", "_claims_map", "_issuer", "_jwks", "_leeway")

    def __init__(
        self,
        api_keys: Mapping[str, Any] | None,
        jwks: Mapping[str, Any] | None,
        issuer: str | None = None,
        audience: str | None = None,
        leeway: float = DEFAULT_LEEWAY,
        claims_map: Mapping[str, str] | None = None,
        *,
        api_keys_source: str = "api_keys",
        jwks_source: str = "jwks",
    ) -> None:
        if api_keys is not None and not isinstance(api_keys, Mapping):
            raise ConfigError(
                f"{api_keys_source} must map key ids to entries",
                hint="write it as 'api_keys: {<key_id>: {hash: ..., subject_id: ...}}'",
            )
        self._api_keys: Mapping[str, _ApiKey] = MappingProxyType(
            {k: _parse_api_key_entry(k, v, api_keys_source) for k, v in (api_keys or {}).items()}
        )
        self._jwks: Mapping[str, _Jwk] = MappingProxyType(
            {} if jwks is None else _parse_jwks(jwks, jwks_source)
        )
        if jwks is not None and not self._jwks:
            raise ConfigError(
                f"JWKS {jwks_source} has no signing keys", hint="add the issuer's public keys"
            )
        if not self._api_keys and not self._jwks:
            raise ConfigError(
                "no authentication method is configured: no API keys and no JWKS",
                hint="configure an API keys file, a JWKS file, or both",
            )
        if self._jwks and not (isinstance(issuer, str) and issuer):
            raise ConfigError("JWT authentication needs an issuer", hint="set the expected iss")
        if self._jwks and not (isinstance(audience, str) and audience):
            raise ConfigError(
                "JWT authentication needs an audience", hint="set this service's aud value"
            )
        if (
            isinstance(leeway, bool)
            or not isinstance(leeway, int | float)
            or not (math.isfinite(leeway) and 0 <= leeway <= MAX_LEEWAY)
        ):
            raise ConfigError(
                f"JWT leeway must be between 0 and {MAX_LEEWAY:g} seconds",
                hint="leeway absorbs clock skew; 30 s is typical",
            )
        claims = dict(claims_map or {})
        if not all(
            isinstance(k, str) and k and isinstance(v, str) and v for k, v in claims.items()
        ):
            raise ConfigError(
                "claims_map must map attribute names to claim names (non-empty strings)",
                hint="e.g. {role: role, department: 'https://example.org/claims/dept'}",
            )
        self._issuer = issuer or ""
        self._audience = audience or ""
        self._leeway = float(leeway)
        self._claims_map: Mapping[str, str] = MappingProxyType(claims)

    @classmethod
    def from_files(
        cls,
        api_keys_file: Path | None,
        jwks_file: Path | None,
        issuer: str | None = None,
        audience: str | None = None,
        leeway: float = DEFAULT_LEEWAY,
        claims_map: Mapping[str, str] | None = None,
    ) -> Authenticator:
        """Load the API keys file (YAML) and the JWKS file (JSON); ConfigError names the file."""
        api_keys: Mapping[str, Any] | None = None
        if api_keys_file is not None:
            data = _load(api_keys_file, "API keys file", yaml.safe_load)
            if not isinstance(data, Mapping) or "api_keys" not in data:
                raise ConfigError(
                    f"API keys file {api_keys_file} must have a top-level 'api_keys' mapping",
                    hint="write it as 'api_keys: {<key_id>: {hash: ..., subject_id: ...}}'",
                )
            api_keys = data["api_keys"] or {}
        jwks = None if jwks_file is None else _load(jwks_file, "JWKS file", json.loads)
        return cls(
            api_keys,
            jwks,
            issuer,
            audience,
            leeway,
            claims_map,
            api_keys_source=str(api_keys_file),
            jwks_source=str(jwks_file),
        )

    def authenticate(self, headers: Mapping[str, str]) -> Principal:
        """The principal the headers prove, or AuthError.

        Header names are case-insensitive. Exactly one credential must be present: two
        (``Authorization`` and ``X-API-Key``, or a repeated header) are refused rather
        than one silently winning.
        """
        authorization = api_key = None
        seen: set[str] = set()
        for name, value in headers.items():
            lname = name.lower()
            if lname not in ("authorization", "x-api-key"):
                continue
            if lname in seen:
                raise AuthError(f"repeated {name} header", hint="send one credential")
            seen.add(lname)
            if lname == "authorization":
                authorization = value
            else:
                api_key = value
        if authorization is not None and api_key is not None:
            raise AuthError(
                "both Authorization and X-API-Key were sent", hint="send one credential"
            )
        if api_key is not None:
            return self._api_key(api_key.strip())
        if authorization is None:
            raise AuthError("no credentials", hint=_NO_CREDENTIALS_HINT)
        scheme, _, param = authorization.strip().partition(" ")
        if scheme.lower() == "bearer":
            return self._bearer(param.strip())
        if scheme.lower() == "apikey":
            return self._api_key(param.strip())
        raise AuthError("unsupported authorization scheme", hint=_NO_CREDENTIALS_HINT)

    def _api_key(self, credential: str) -> Principal:
        if not self._api_keys:
            raise AuthError("API keys are not accepted here", hint="send Authorization: Bearer")
        key_id, dot, secret = credential.partition(".")
        if not dot or not secret or len(secret) > MAX_SECRET_CHARS:
            raise AuthError("malformed API key", hint=_API_KEY_HINT)
        entry = self._api_keys.get(key_id)
        # same work and the same answer for an unknown id and a wrong secret
        ok = (entry.stored if entry else _DUMMY_HASH).matches(secret)
        if entry is None or not ok:
            raise AuthError("invalid API key")
        return Principal(
            entry.subject_id,
            _copied(entry.attributes),
            "api_key",
            key_id,
            recipients=entry.recipients,
        )

    def _bearer(self, token: str) -> Principal:
        if not self._jwks:
            raise AuthError("bearer tokens are not accepted here", hint=_API_KEY_HINT)
        if not token or len(token) > MAX_TOKEN_CHARS:
            raise AuthError("malformed token")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            header = None
        if header is None:  # raised outside the except: no PyJWT exception in the chain
            raise AuthError("malformed token")
        kid = header.get("kid")
        if kid is None:
            raise AuthError("token has no key id", hint="tokens must name their key with 'kid'")
        key = self._jwks.get(kid) if isinstance(kid, str) else None
        if key is None:
            raise AuthError("unknown key id")
        if header.get("alg") != key.algorithm:
            raise AuthError("algorithm not allowed for this key")
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[key.algorithm],
                audience=self._audience,
                issuer=self._issuer,
                leeway=self._leeway,
                options={"require": list(REQUIRED_CLAIMS), "enforce_minimum_key_length": True},
            )
            failure = None
        except jwt.PyJWTError as exc:
            failure = _jwt_failure(exc)
        if failure is not None:
            raise AuthError(failure)
        return self._principal(claims, kid)

    def _principal(self, claims: Mapping[str, Any], kid: str) -> Principal:
        # PyJWT checked these; checked again so a library regression cannot widen access
        aud = claims.get("aud")
        if claims.get("iss") != self._issuer:
            raise AuthError("wrong issuer")
        if not (aud == self._audience or (isinstance(aud, list) and self._audience in aud)):
            raise AuthError("wrong audience")
        sub = claims.get("sub")
        if not isinstance(sub, str) or not sub:
            raise AuthError("invalid subject")
        attributes = {
            attr: claims[claim]
            for attr, claim in self._claims_map.items()
            if claims.get(claim) is not None and attr != RECIPIENTS_ATTRIBUTE
        }
        recipients: tuple[str, ...] | None = None
        claim = self._claims_map.get(RECIPIENTS_ATTRIBUTE)
        if claim is not None:
            listed = claims.get(claim)
            # a token that is meant to list recipients but does not lists none (fail closed)
            ok = isinstance(listed, list) and all(isinstance(r, str) for r in listed)
            recipients = tuple(str(r) for r in listed) if ok and listed is not None else ()
        return Principal(sub, attributes, "jwt", kid, self._issuer, recipients)


def _load(path: Path, what: str, parse: Callable[[str], Any]) -> Any:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(
            f"cannot read {what} {path}: {exc.strerror}", hint="check the path"
        ) from None
    except UnicodeDecodeError:
        raise ConfigError(f"{what} {path} is not UTF-8 text", hint="check the path") from None
    try:
        return parse(text)
    except (yaml.YAMLError, json.JSONDecodeError):
        kind = "JSON" if parse is json.loads else "YAML"
        raise ConfigError(f"{what} {path} is not valid {kind}", hint="check its syntax") from None
