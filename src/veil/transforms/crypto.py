"""Keyed transforms: HMAC hash, tokenize (pseudonyms) and FF1 format-preserving encryption.

Nothing here is ever unkeyed: an unkeyed hash of a low-entropy field (a phone number, a
date of birth) is reversed by enumerating the domain. Keys come from the keyring at bind
time, so a missing key fails the compile, not a request.

**Key versions in outputs.** Ops produce with the key's primary version. Tokens and hashes
made with version 1 look as they always did (``tok_4yxbko4zb54bbrsh``); from version 2 on
they carry a marker after the prefix (``tok_v2_4yxbko4zb54bbrsh``, hashes ``v2_<hex>``),
so a recipient holding extracts from both sides of a rotation sees that two codes differ
because the key did, and ``veil reveal`` finds a random code's version without guessing.
The marker is outside the code's own alphabet (``_`` is neither base32 nor hex), and
version 1 writes none so that outputs and joins made before keys had versions are
unchanged. FF1 output keeps its format (digits stay digits): its version is recorded only
in the ledger event, like every op's (``key_fingerprints: {name: "v2:<fingerprint>"}``).

Keys held in a PKCS#11 token are used through the token's HMAC: a hash or token that is
not per recipient is computed in the token value by value; per-recipient keys and the
vault's lookup and sealing keys are HMAC outputs of the key (as they are for a key in a
file), derived in the token and held in memory for the job.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from fastfpe import ff1
from pydantic import Field, model_validator

from ..errors import ConfigError, TransformError, VeilError
from ..keys import Keyring
from ..keyset.model import KeyKind, KeyVersion, split_marker
from . import cryptobatch
from .base import (
    SCALAR_TYPES,
    BindContext,
    CannotApply,
    FieldType,
    Op,
    Params,
    TokenVault,
    TransformSpec,
    register,
)

KeyName = Annotated[str, Field(min_length=1)]


def recipient_label(recipient: str) -> bytes:
    """What a per-recipient key is the HMAC of, under the rule's key (any key version:
    ``version.mac(recipient_label(r))``, computed in the token for a key held there)."""
    return b"veil:recipient:" + recipient.encode()


def recipient_key(key: bytes, recipient: str) -> bytes:
    """A per-recipient key, so two recipients' pseudonyms of one value cannot be joined."""
    return hmac.digest(key, recipient_label(recipient), "sha256")


def primary_for(keys: Keyring, name: str, kind: KeyKind, transform: str) -> KeyVersion:
    """The version of key ``name`` that ``transform`` produces with, checked for kind: an
    AES key is never used as an HMAC key or the reverse (a key of unknown kind, from a flat
    key file, is used as it always was)."""
    version = keys.primary(name)
    if version.kind is not None and version.kind != kind:
        raise ConfigError(
            f"{transform} needs an {kind} key, and key '{name}' is an {version.kind} key",
            hint=f"make one for it: veil keys new NAME --kind {kind}",
        )
    return version


def _keyed_mac(
    params: HashParams | TokenizeParams, ctx: BindContext, transform: str
) -> tuple[Callable[[Any], bytes], str]:
    """HMAC-SHA256 of the value's canonical bytes under the (derived) key, and the marker
    of the key version (see the module docstring).

    Strings are hashed as UTF-8; numbers and booleans as their JSON text (so ``1`` and
    ``"1"`` agree, and ``true`` is spelled one way).
    """
    version = primary_for(ctx.keys, params.key, "hmac", transform)
    if params.per_recipient:
        key: bytes | None = version.mac(recipient_label(ctx.recipient))
    else:
        key = version.material  # None: held in a token, which computes each MAC
    if key is None:
        in_token = version.mac

        def token_mac(value: Any) -> bytes:
            return in_token(_value_bytes(value))

        return token_mac, version.marker
    base = hmac.new(key, digestmod=hashlib.sha256)  # copying a keyed state skips re-keying

    def mac(value: Any) -> bytes:
        t = type(value)
        if t is str:
            data = value.encode()
        elif t is int or t is float or t is bool:
            data = json.dumps(value).encode()
        else:
            raise CannotApply("value is not a scalar")
        h = base.copy()
        h.update(data)
        return h.digest()

    return mac, version.marker


def token_version(code: str, prefix: str) -> int | None:
    """The key version a token or hash with ``prefix`` was made with (1 when it carries no
    marker), or None if ``code`` does not start with ``prefix``."""
    if not code.startswith(prefix):
        return None
    return split_marker(code[len(prefix) :])[0]


class HashParams(Params):
    key: KeyName
    length: int = Field(default=64, ge=16, le=64)
    prefix: str = ""
    per_recipient: bool = False


def _bind_hash(params: HashParams, ctx: BindContext) -> Op:
    mac, marker = _keyed_mac(params, ctx, "hash")
    length, prefix = params.length, params.prefix + marker

    def hash_(value: Any, subject: str | None) -> str:
        return prefix + mac(value).hex()[:length]

    return hash_


class TokenizeParams(Params):
    """``mode: keyed`` (default): a keyed function of the value, so equal values give equal
    tokens without any storage. ``mode: random``: a code drawn at random the first time a
    value is seen for a recipient and kept in the token vault beside the ledger, the only
    way back to the value (45 CFR 164.514(c): a re-identification code must not be
    "derived from or related to information about the individual")."""

    key: KeyName
    prefix: str = "tok_"
    length: int = Field(default=16, ge=8, le=52)
    per_recipient: bool = True
    mode: Literal["keyed", "random"] = "keyed"


_B32 = "abcdefghijklmnopqrstuvwxyz234567"  # RFC 4648 base32, lower case
_B32_PAIRS = [_B32[i >> 5] + _B32[i & 31] for i in range(1024)]
#: random byte -> base32 character: 256 is a multiple of 32, so a uniform byte gives a
#: uniform character (5 bits of entropy each), one C-level ``bytes.translate`` per batch
_B32_OF_BYTE = bytes(ord(_B32[i & 31]) for i in range(256))


def random_codes(count: int, length: int, prefix: str = "") -> list[str]:
    """``count`` codes of ``length`` uniformly random lower-case base32 characters, each
    after ``prefix``.

    One draw of random bytes (:data:`cryptobatch.random_bytes`) and one ``bytes.translate``
    for the whole batch: a per-code
    encoding of 32 random bytes was a sixth of a first research extract's time; the
    prefix is added in the same pass that cuts the codes (a second pass was ~7% of it)."""
    return _Drawn(prefix, length, count).many(count)


def base32_prefix(length: int) -> Callable[[bytes], str]:
    """First ``length`` chars of unpadded lower-case base32 of a 32-byte digest.

    Same output as ``b32encode(d).decode().lower()[:length]`` but about 3x faster, since
    :func:`base64.b32encode` is pure Python and encodes the whole digest.
    """
    nbytes = min((length * 5 + 7) // 8, 32)
    pairs = (length + 1) // 2
    pad = pairs * 10 - nbytes * 8  # zero bits appended, as base32 does at the end
    shifts = [pairs * 10 - 10 * (i + 1) for i in range(pairs)]
    table = _B32_PAIRS

    def encode(digest: bytes) -> str:
        n = int.from_bytes(digest[:nbytes], "big")
        n = n << pad if pad >= 0 else n >> -pad
        return "".join([table[(n >> s) & 1023] for s in shifts])[:length]

    return encode


def _bind_tokenize(params: TokenizeParams, ctx: BindContext) -> Op:
    if params.mode == "random":
        return _bind_random_token(params, ctx)
    mac, marker = _keyed_mac(params, ctx, "tokenize")
    prefix, encode = params.prefix + marker, base32_prefix(params.length)

    def tokenize(value: Any, subject: str | None) -> str:
        return prefix + encode(mac(value))

    return tokenize


def _canonical(values: list[Any]) -> list[str] | list[bytes]:
    """What :mod:`cryptobatch` hashes and seals for ``values``: a list of ``str`` (exactly)
    as it is, since it hashes a ``str`` as its UTF-8; else :func:`_value_bytes` of each
    value."""
    if set(map(type, values)) <= {str}:
        return values
    return [_value_bytes(v) for v in values]


def _value_bytes(value: Any) -> bytes:
    """A value's canonical bytes, as the keyed hash and tokenize use them."""
    t = type(value)
    if t is str:
        data: bytes = value.encode()
        return data
    if t is int or t is float or t is bool:
        return json.dumps(value).encode()
    raise CannotApply("value is not a scalar")


class _Drawn:
    """The vault's ``make``: ``n`` codes drawn at once (:func:`random_codes`' characters),
    handed out in order, as str (:meth:`many`, one call for all of them), as a numpy
    bytes array (:meth:`array`, a bulk job's: no str per code) or one per call; past
    them (a redraw after a collision) each call draws more."""

    def __init__(self, prefix: str, length: int, n: int) -> None:
        self._prefix, self._length, self._n = prefix, length, n
        self._chars = cryptobatch.random_bytes(n * length).translate(_B32_OF_BYTE)
        self._next = 0

    def _take(self, n: int) -> tuple[bytes, int]:
        """The characters of up to ``n`` codes not handed out yet, and how many."""
        start = self._next
        count = min(n, self._n - start)
        self._next = start + count
        return self._chars[start * self._length : (start + count) * self._length], count

    def many(self, n: int) -> list[str]:
        chars, count = self._take(n)
        text, length, prefix = chars.decode("ascii"), self._length, self._prefix
        if count < n:  # past the batch (redraws): more characters, drawn now
            text += (
                cryptobatch.random_bytes((n - count) * length)
                .translate(_B32_OF_BYTE)
                .decode("ascii")
            )
        return [prefix + text[i : i + length] for i in range(0, n * length, length)]

    def array(self, n: int) -> Any:
        """``n`` codes as a numpy bytes array (numpy is there: a bulk job asks)."""
        import numpy as np

        chars, count = self._take(n)
        if count < n:
            chars += cryptobatch.random_bytes((n - count) * self._length).translate(_B32_OF_BYTE)
        head = self._prefix.encode()
        width = len(head) + self._length
        grid = np.empty((n, width), dtype=np.uint8)
        grid[:, : len(head)] = np.frombuffer(head, dtype=np.uint8)
        grid[:, len(head) :] = np.frombuffer(chars, dtype=np.uint8).reshape(n, self._length)
        return grid.reshape(-1).view(f"S{width}")

    def __call__(self) -> str:
        return self.many(1)[0]


class RandomTokens:
    """The op of ``tokenize(mode=random)``: a random code per value, kept in the vault.

    ``namespace`` separates codes by key version (its fingerprint), recipient (unless
    per_recipient is false) and format; the vault is given a keyed lookup of the value and
    the value sealed with AES-256-GCM (the namespace as associated data), both keys derived
    from the key version. Codes of versions after the first carry the version's marker, so
    a rotation starts new codes and reveal knows which version's namespace to look in.
    """

    CACHE = 65_536
    #: batches of at most this many values read and fill the cache (a service's few
    #: values a request); larger ones (a bulk job's) ask the vault's index, which finds
    #: a batch's codes at once: a dict probe per value cost as much and rarely hit
    CACHED = 4096
    #: values of a batch looked up first, to tell an extract run again from a first one
    PROBE = 64

    def __init__(
        self,
        params: TokenizeParams,
        ctx: BindContext,
        vault: TokenVault,
        version: KeyVersion | None = None,
    ) -> None:
        """``version``: the key version (reveal); by default the key's primary."""
        if version is None:
            version = primary_for(ctx.keys, params.key, "hmac", "tokenize")
        self.version = version
        scope = ctx.recipient if params.per_recipient else "*"
        self.namespace = f"{version.fingerprint}:{scope}:{params.prefix}:{params.length}"
        self._lookup_key = version.mac(b"veil:vault:lookup")
        self._seal_key = version.mac(b"veil:vault:seal")
        self._seal = AESGCM(self._seal_key)
        self._aad = self.namespace.encode()
        self._vault = vault
        self._prefix = params.prefix + version.marker
        self._length = params.length
        self._cache: dict[str, str] = {}
        self._lock = threading.Lock()

    def batch(self, values: list[Any]) -> list[str]:
        """Codes of ``values`` with one vault round trip for the ones not cached.

        Per distinct value not cached: one HMAC (the vault's lookup), one AES-GCM seal,
        each over the whole batch in one call (:mod:`cryptobatch`); the nonces and the
        codes' randomness come from :data:`cryptobatch.random_bytes` once per batch each
        (a system call per value was a fifth of a first research extract's time)."""
        datas = _canonical(values)
        lookups = cryptobatch.hmac_sha256_hex(self._lookup_key, datas)
        n = len(lookups)
        # (A bulk job's first batches find the cache empty: no lookup per value then.
        # Where every value is missing, the lists below are taken whole, not by index.)
        codes: list[str | None]
        cached = n <= self.CACHED
        if cached and self._cache:
            hit = self._cache.get  # read once per value: another thread may clear it
            codes = list(map(hit, lookups))
            missing = [i for i, c in enumerate(codes) if c is None]
        else:
            codes, missing = [None] * n, list(range(n))
        if len(missing) > self.PROBE:
            # A batch the vault already knows (an extract run again) needs no sealing:
            # when a sample of it is known, look all of it up first and seal the rest.
            try:
                sample = [lookups[i] for i in missing[:: len(missing) // self.PROBE]]
                if any(c is not None for c in self._vault.known(self.namespace, sample)):
                    every = len(missing) == n
                    asked = lookups if every else [lookups[i] for i in missing]
                    found = list(self._vault.known(self.namespace, asked))
                    if len(found) != len(asked):
                        raise ValueError("the vault answered for other lookups than asked")
                    if every:
                        codes = found
                        missing = (
                            [i for i, c in enumerate(codes) if c is None] if None in codes else []
                        )
                    else:
                        for i, code in zip(missing, found, strict=True):
                            codes[i] = code
                        missing = [i for i in missing if codes[i] is None]
            except VeilError:
                raise
            except Exception:  # a vault that fails in any way withholds, never discloses
                raise CannotApply("tokenize: the token vault could not read codes") from None
        if missing:
            if len(missing) == n:  # the whole batch: a value given twice gets one code
                asked = lookups
                tokens = self._issue(lookups, datas)
                codes = tokens
            else:
                pending = {lookups[i]: datas[i] for i in missing}
                asked = list(pending)
                tokens = self._issue(asked, list(pending.values()))
                issued = dict(zip(asked, tokens, strict=True))
                for i in missing:
                    codes[i] = issued[lookups[i]]
            if cached:
                cache = self._cache
                with self._lock:
                    if len(cache) + len(asked) > self.CACHE:
                        cache.clear()
                    if len(asked) <= self.CACHE:
                        cache.update(zip(asked, tokens, strict=True))
        return codes  # type: ignore[return-value]  # every None was filled above

    def codes(self, values: list[Any] | cryptobatch.Packed) -> Any:
        """:meth:`batch` for a bulk job's batch (more than :attr:`CACHED` values, none
        None): the codes as a numpy bytes array, which Arrow takes without a str per
        code; None where the vault has no array form (the caller uses :meth:`batch`).
        ``values`` may be the column's UTF-8 as Arrow holds it (:class:`cryptobatch.Packed`):
        then no value becomes a Python object at all.

        A batch the vault knows in part is looked up first and only the rest sealed and
        issued, as in :meth:`batch`."""
        vault = self._vault
        known_codes = getattr(vault, "known_codes", None)
        issue_codes = getattr(vault, "issue_codes", None)
        if known_codes is None or issue_codes is None or len(values) <= self.CACHED:
            return None
        datas = values if isinstance(values, cryptobatch.Packed) else _canonical(values)
        lookups = cryptobatch.hmac_sha256_hex_joined(self._lookup_key, datas)
        n = len(lookups)
        try:
            sample = lookups[:: max(1, n // self.PROBE)]
            if not any(c is not None for c in vault.known(self.namespace, sample)):
                return self._issue(lookups, datas, issue_codes)
            placed = known_codes(self.namespace, lookups)
            if len(placed) != n:
                raise ValueError("the vault answered for other lookups than asked")
        except VeilError:
            raise
        except Exception:  # a vault that fails in any way withholds, never discloses
            raise CannotApply("tokenize: the token vault could not read codes") from None
        missing = (placed == b"").nonzero()[0]
        if not len(missing):
            return placed
        at = missing.tolist()
        subset = datas.take(at) if isinstance(datas, cryptobatch.Packed) else [datas[i] for i in at]
        new = self._issue([lookups[i] for i in at], subset, issue_codes)
        width = max(placed.dtype.itemsize, new.dtype.itemsize)
        placed = placed.astype(f"S{width}", copy=False)
        placed[missing] = new
        return placed

    def _issue(
        self,
        lookups: Sequence[str],
        datas: Sequence[str | bytes] | cryptobatch.Packed,
        issue_codes: Any = None,
    ) -> Any:
        """Codes of the values ``datas`` (as :func:`_canonical` gives them; ``lookups``
        are theirs) from the vault, in order, each value sealed for it; the nonces and
        the codes' randomness come from :data:`cryptobatch.random_bytes` once per call
        each. The vault gives a lookup asked twice one code. With ``issue_codes`` (the vault's array
        form, a bulk job's), the values are sealed into one blob and the codes come back
        as a numpy bytes array."""
        n = len(lookups)
        nonces = cryptobatch.random_bytes(cryptobatch.NONCE * n)
        seal = cryptobatch.seal_aes_gcm if issue_codes is None else cryptobatch.seal_aes_gcm_joined
        try:
            sealed = seal(self._seal_key, nonces, datas, self._aad)
        except (RuntimeError, OverflowError):  # OpenSSL refused: withheld, never disclosed
            raise CannotApply("tokenize: a value could not be sealed for the vault") from None
        make = _Drawn(self._prefix, self._length, n)
        issue = self._vault.issue_columns if issue_codes is None else issue_codes
        try:
            tokens: Any = issue(self.namespace, lookups, sealed, make)
        except VeilError:
            raise
        except Exception:  # a vault that fails in any way withholds, never discloses
            raise CannotApply("tokenize: the token vault could not issue a code") from None
        if len(tokens) != n or (issue_codes is not None and bool((tokens == b"").any())):
            raise CannotApply("tokenize: the token vault answered for other values than asked")
        return tokens

    def __call__(self, value: Any, subject: str | None) -> str:
        return self.batch([value])[0]

    def reveal(self, token: str) -> Any:
        """The value behind ``token``, or CannotApply if this namespace never issued it."""
        sealed = self._vault.find(self.namespace, token) if token.startswith(self._prefix) else None
        if sealed is None:
            raise CannotApply("reveal: no such token for this rule, key version and recipient")
        try:
            data = self._seal.decrypt(sealed[:12], sealed[12:], self._aad)
        except InvalidTag:
            raise CannotApply("reveal: the stored value does not open with this key") from None
        return data.decode()


def _bind_random_token(params: TokenizeParams, ctx: BindContext) -> Op:
    vault = ctx.vault
    if vault is None:
        raise TransformError(
            "tokenize(mode='random') needs a token vault, and this ledger has none",
            hint="use a SQLite or PostgreSQL ledger (the vault lives in the ledger database)",
        )
    return RandomTokens(params, ctx, vault)


def _linkability(p: HashParams | TokenizeParams) -> float:
    # Linkable across recipients reveals more than any length; longer means fewer collisions.
    return (0.0 if p.per_recipient else 100.0) + p.length


register(
    TransformSpec(
        name="hash",
        disclosure="derived",
        params_model=HashParams,
        applies_to=SCALAR_TYPES,
        rank=30,
        bind=_bind_hash,
        summary="Keyed HMAC-SHA256 of the value, as hex; never unkeyed.",
        example='hash(key=demo, length=16): "alice@example.org" -> "cad9051aff4fb16d"',
        keyed=True,
        key_names=lambda p: (p.key,),
        reveal=_linkability,
    )
)

register(
    TransformSpec(
        name="tokenize",
        disclosure=lambda p: "random_token" if p.mode == "random" else "derived",
        params_model=TokenizeParams,
        applies_to=SCALAR_TYPES,
        rank=40,
        bind=_bind_tokenize,
        summary="Deterministic keyed pseudonym, distinct per recipient unless per_recipient=false.",
        example='tokenize(key=demo) for analyst: "alice@example.org" -> "tok_4yxbko4zb54bbrsh"',
        keyed=True,
        key_names=lambda p: (p.key,),
        reveal=_linkability,
    )
)


#: Canonical alphabets. Order matters (it is the numeral order FF1 works in) and follows
#: the common base-62 convention: digits, then lower case, then upper case.
ALPHABETS = {
    "digits": "0123456789",
    "lower_alnum": "0123456789abcdefghijklmnopqrstuvwxyz",
    "alphanumeric": "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ",
}
#: NIST SP 800-38G Rev. 1: the domain radix**n must hold at least a million values.
MIN_DOMAIN = 1_000_000


class FpeParams(Params):
    """With ``preserve_other``, characters outside the alphabet (separators, but also
    letters in a digits field) are disclosed in place; set it false to refuse them."""

    key: KeyName
    alphabet: Literal["digits", "lower_alnum", "alphanumeric"] = "digits"
    tweak: str | None = None
    preserve_other: bool = True
    #: ``luhn``: values are card numbers whose digits pass the Luhn check. Those that do
    #: not are withheld, and ``veil reveal`` refuses a code that decrypts to a number
    #: failing it: that code was not made by this key version (a wrong key passes by
    #: chance one time in ten, so the check refuses most wrong keys, never a right one).
    check: Literal["none", "luhn"] = "none"

    @model_validator(mode="after")
    def _luhn_digits(self) -> FpeParams:
        if self.check == "luhn" and self.alphabet != "digits":
            raise ValueError("check: luhn needs alphabet: digits")
        return self


def luhn_ok(digits: str) -> bool:
    """The Luhn (mod 10) check of a card number's digits."""
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = ord(c) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _fpe_codec(
    key: bytes,
    alphabet: str,
    tweak: str | None,
    preserve_other: bool,
    *,
    decrypt: bool,
    check: str = "none",
) -> Callable[[str], str]:
    if len(key) not in (16, 24, 32):
        raise TransformError(
            f"fpe needs an AES key of 16, 24 or 32 bytes, got {len(key)}",
            hint="fpe keys are AES keys; use 32 random bytes, e.g. 'hex:' + secrets.token_hex(32)",
        )
    if alphabet not in ALPHABETS:
        raise TransformError(
            f"unknown fpe alphabet '{alphabet}'", hint=f"use one of: {', '.join(ALPHABETS)}"
        )
    chars = ALPHABETS[alphabet]
    charset = frozenset(chars)
    radix = len(chars)
    min_len = next(n for n in range(1, 64) if radix**n >= MIN_DOMAIN)
    key_hex = key.hex()
    tweak_hex = (tweak or "").encode().hex()
    cipher = ff1.decrypt if decrypt else ff1.encrypt

    luhn = check == "luhn"

    def run(text: str) -> str:
        if len(text) < min_len:
            raise CannotApply(f"fpe: fewer than {min_len} '{alphabet}' characters (domain < 10^6)")
        if luhn and not decrypt and not luhn_ok(text):
            raise CannotApply("fpe: the number fails the Luhn check")
        try:
            out: str = cipher(key_hex, tweak_hex, chars, text)
        except ValueError:
            raise CannotApply("fpe: the FF1 cipher rejected the value") from None
        if luhn and decrypt and not luhn_ok(out):
            raise CannotApply("fpe reveal: the result fails the Luhn check (wrong key version)")
        return out

    def codec(value: str) -> str:
        if charset.issuperset(value):
            return run(value)
        if not preserve_other:
            raise CannotApply(f"fpe: value has characters outside the '{alphabet}' alphabet")
        positions = [i for i, c in enumerate(value) if c in charset]
        out = list(value)
        for i, c in zip(positions, run("".join(out[i] for i in positions)), strict=True):
            out[i] = c
        return "".join(out)

    return codec


def fpe_reveal(
    ciphertext: str,
    key: bytes,
    alphabet: str,
    tweak: str | None,
    preserve_other: bool,
    *,
    check: str = "none",
) -> str:
    """Invert ``fpe`` for a key holder (``veil reveal``); raises CannotApply on bad input,
    and with ``check="luhn"`` on a result that fails the check."""
    codec = _fpe_codec(key, alphabet, tweak, preserve_other, decrypt=True, check=check)
    return codec(ciphertext)


FPE_NEEDS_BYTES = "fpe (FF1 is no PKCS#11 mechanism)"


def _bind_fpe(params: FpeParams, ctx: BindContext) -> Op:
    version = primary_for(ctx.keys, params.key, "aes", "fpe")
    codec = _fpe_codec(
        version.secret(FPE_NEEDS_BYTES),
        params.alphabet,
        params.tweak,
        params.preserve_other,
        decrypt=False,
        check=params.check,
    )

    def fpe(value: Any, subject: str | None) -> str:
        if type(value) is not str:
            raise CannotApply("fpe: value is not a string")
        return codec(value)

    return fpe


register(
    TransformSpec(
        name="fpe",
        disclosure="reversible",
        params_model=FpeParams,
        applies_to=frozenset({FieldType.STRING}),
        rank=90,
        bind=_bind_fpe,
        summary="FF1 format-preserving encryption: same format, reversible with the key.",
        example='fpe(key=demo): "4111-1111-1111-1111" -> "0999-6832-4596-3463"',
        keyed=True,
        key_names=lambda p: (p.key,),
    )
)
