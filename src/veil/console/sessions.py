"""Console sign-in sessions, CSRF tokens and the headers every console page carries.

A session is made only after the same authenticator as the API accepted an API key or a
bearer token; the cookie holds a random token (256 bits) and the server keeps only its
SHA-256, so a memory or log dump does not hand out live sessions. Sessions are short:
15 minutes without a request, 8 hours at most; signing out forgets it at once. Each
session has its own CSRF token, required on every form post; the sign-in form, which has
no session yet, uses a double-submit cookie instead.

Sessions live in the serving process: with ``veil serve --workers N`` a person may be
asked to sign in again when a request lands on another worker. That is the price of
keeping nothing secret on disk.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from ..service.auth import Principal

COOKIE = "veil_console"
LOGIN_COOKIE = "veil_console_login"
PATH = "/console"
IDLE_SECONDS = 15 * 60
MAX_SECONDS = 8 * 3600

#: No inline script or style, nothing from another origin, no framing, forms post here.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; font-src 'self'; form-action 'self'; frame-ancestors 'none'; "
    "base-uri 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
    "Cross-Origin-Opener-Policy": "same-origin",
}


@dataclass
class Session:
    principal: Principal
    csrf: str
    created: float
    seen: float
    #: per bundle version: what the bundle lets this person do in the console
    cache: dict[str, Any] = field(default_factory=dict)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class Sessions:
    """The signed-in people of this process (thread-safe; pages run in a thread pool)."""

    def __init__(self, idle: float = IDLE_SECONDS, most: float = MAX_SECONDS) -> None:
        self.idle = idle
        self.most = most
        self._by_digest: dict[str, Session] = {}
        self._lock = threading.Lock()

    def start(self, principal: Principal) -> tuple[str, Session]:
        """A new session for ``principal``: (cookie token, session)."""
        token = secrets.token_urlsafe(32)
        now = time.monotonic()
        session = Session(principal, secrets.token_urlsafe(32), now, now)
        with self._lock:
            self._expire(now)
            self._by_digest[_digest(token)] = session
        return token, session

    def get(self, token: str | None) -> Session | None:
        """The live session of ``token``; touching it extends its idle deadline."""
        if not token:
            return None
        key = _digest(token)
        now = time.monotonic()
        with self._lock:
            session = self._by_digest.get(key)
            if session is None:
                return None
            if now - session.seen > self.idle or now - session.created > self.most:
                del self._by_digest[key]
                return None
            session.seen = now
            return session

    def end(self, token: str | None) -> None:
        if token:
            with self._lock:
                self._by_digest.pop(_digest(token), None)

    def _expire(self, now: float) -> None:
        dead = [
            k
            for k, s in self._by_digest.items()
            if now - s.seen > self.idle or now - s.created > self.most
        ]
        for k in dead:
            del self._by_digest[k]


def same(a: str | None, b: str | None) -> bool:
    """Constant-time equality of two tokens, False if either is missing."""
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))
