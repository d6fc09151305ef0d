"""Request limits, enforced before and while a body is read: size, time, shape, text.

Limits are named in every rejection so a client knows which one to respect; no
rejection ever echoes what was sent. Everything here runs before a request's ledger
event is prepared, so a refused request leaves no event.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable
from typing import Any

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import RequestError, VeilError


class LimitExceeded(VeilError):
    code = "limit_exceeded"
    exit_code = 2
    http_status = 413

    def __init__(self, limit: str, value: int, *, status: int = 413) -> None:
        super().__init__(
            f"request exceeds the limit '{limit}' ({value})",
            hint=f"split the request or raise '{limit}' in the service settings",
        )
        self.limit = limit
        self.http_status = status


class TooSlow(VeilError):
    code = "request_timeout"
    exit_code = 2
    http_status = 408

    def __init__(self, limit: str, seconds: float) -> None:
        super().__init__(
            f"the request body did not arrive in time (limit '{limit}': {seconds:g} s)",
            hint="send the body at once, or raise the limit in the service settings",
        )


class BodyRefused(HTTPException):
    """Raised by the body reader. An HTTPException, because FastAPI passes those through
    from a body it parses (any other exception there becomes a 400); the app renders
    :attr:`error` and closes the connection (the rest of the body is never read)."""

    def __init__(self, error: VeilError) -> None:
        super().__init__(error.http_status, error.message, headers={"Connection": "close"})
        self.error = error


def _body(error: VeilError) -> dict[str, Any]:
    return {"error": {"code": error.code, "message": error.message, "hint": error.hint}}


async def _send_json(send: Send, status: int, body: dict[str, Any], *, close: bool = False) -> None:
    data = json.dumps(body).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(data)).encode()),
    ]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


class BodyLimit:
    """ASGI middleware: 413 when a body is larger than the limit for its route; 408 when
    it pauses longer than ``idle_seconds`` between reads, or (but on ``unbounded_paths``,
    streams that may run long) takes longer than ``body_seconds`` in all. A slow client
    thus holds a connection for a bounded time (uvicorn has no body timeout)."""

    def __init__(
        self,
        app: ASGIApp,
        default: int,
        per_path: dict[str, int],
        idle_seconds: float = 15.0,
        body_seconds: float = 60.0,
        unbounded_paths: Iterable[str] = (),
    ) -> None:
        self.app = app
        self.default = default
        self.per_path = per_path
        self.idle_seconds = idle_seconds
        self.body_seconds = body_seconds
        self.unbounded_paths = frozenset(unbounded_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self.per_path.get(scope.get("path", ""), self.default)
        name = "max_stream_bytes" if scope.get("path", "") in self.per_path else "max_body_bytes"
        for key, value in scope.get("headers", []):
            if key == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > limit:
                    await _send_json(send, 413, _body(LimitExceeded(name, limit)), close=True)
                    return
        received = 0
        started = False
        complete = False
        loop = asyncio.get_running_loop()
        deadline = (
            None
            if scope.get("path", "") in self.unbounded_paths
            else loop.time() + self.body_seconds
        )

        async def limited() -> Message:
            nonlocal received, complete
            if complete:  # the body is in: what follows is waiting for a disconnect
                return await receive()
            timeout, which = self.idle_seconds, "body_idle_seconds"
            if deadline is not None and deadline - loop.time() < timeout:
                timeout, which = deadline - loop.time(), "body_seconds"
            try:
                async with asyncio.timeout(max(timeout, 0.0)):  # no task per read, unlike wait_for
                    message = await receive()
            except TimeoutError:
                seconds = self.idle_seconds if which == "body_idle_seconds" else self.body_seconds
                raise BodyRefused(TooSlow(which, seconds)) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyRefused(LimitExceeded(name, limit))
                complete = not message.get("more_body", False)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited, tracking_send)
        except BodyRefused as exc:
            if not started:
                await _send_json(send, exc.status_code, _body(exc.error), close=True)


def is_text(s: str) -> bool:
    """False if ``s`` holds a lone surrogate: JSON can spell one (``"\\ud800"``), but it
    is not Unicode text, and UTF-8 (the ledger, every response) cannot carry it."""
    if s.isascii():  # O(1) in CPython: most strings stop here
        return True
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _not_text(where: str) -> RequestError:
    return RequestError(
        f"invalid text at '{where}': a lone surrogate (\\ud800-\\udfff) is not Unicode",
        hint="send valid Unicode text (a surrogate pair, or the character itself)",
    )


def non_text_path(value: Any, path: str = "") -> str | None:
    """Where in ``value`` the first string (or key) that is not text is (``.a[2]``)."""
    if type(value) is str:
        return None if is_text(value) else path
    items = (
        value.items() if type(value) is dict else enumerate(value) if type(value) is list else ()
    )
    for key, item in items:
        here = f"{path}.{key}" if type(key) is str else f"{path}[{key}]"
        if type(key) is str and not is_text(key):
            return f"{path}.<key>"
        found = non_text_path(item, here)
        if found is not None:
            return found
    return None


def check_shape(value: Any, max_depth: int, max_string: int, *, where: str = "") -> None:
    """Reject values nested deeper than ``max_depth``, strings longer than ``max_string``
    and strings that are not text (a lone surrogate: 422 naming the path from ``where``).

    Iterative, with scalars checked inline: it runs over every value of every request.
    """
    if type(value) is str:
        if len(value) > max_string:
            raise LimitExceeded("max_string", max_string, status=422)
        if not value.isascii() and not is_text(value):
            raise _not_text(where)
        return
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        container, depth = stack.pop()
        child_depth = depth + 1
        items = container.items() if type(container) is dict else enumerate(container)
        for key, item in items:
            if type(key) is str:
                if len(key) > max_string:
                    raise LimitExceeded("max_string", max_string, status=422)
                if not key.isascii() and not is_text(key):
                    raise _not_text(where + (non_text_path(value) or ""))
            t = type(item)
            if t is str:
                if len(item) > max_string:
                    raise LimitExceeded("max_string", max_string, status=422)
                if not item.isascii() and not is_text(item):
                    raise _not_text(where + (non_text_path(value) or ""))
            elif t is dict or t is list:
                if child_depth >= max_depth:
                    raise LimitExceeded("max_depth", max_depth, status=422)
                stack.append((item, child_depth))


def containers(value: Any) -> int:
    """How many objects and arrays ``value`` (parsed JSON) is and holds."""
    n, stack = 0, [value]
    while stack:
        v = stack.pop()
        if type(v) is dict:
            n += 1
            stack.extend(v.values())
        elif type(v) is list:
            n += 1
            stack.extend(v)
    return n


def strings_within(raw: bytes, limit: int) -> bool:
    """True if no string (key or value) in the JSON text ``raw`` can have more than
    ``limit`` characters (False: it may).

    A string lies between two quote bytes with none between them unless escaped, and
    each of its characters takes at least one byte. With no escaped quote in the text
    and a quote in every aligned block of ``limit // 2`` bytes, no run of bytes without
    a quote is longer than ``limit - 2``: it cannot hold a whole block. Each block is
    searched only up to its first quote, so this reads a few bytes per block.
    """
    if b"\\" in raw and b'\\"' in raw:  # the first search is memchr's, the second is not
        return False
    block = max(limit // 2, 1)
    return all(raw.find(b'"', i, i + block) >= 0 for i in range(0, len(raw) - block + 1, block))


def count_within(raw: bytes, byte: bytes, limit: int) -> int:
    """How many times ``byte`` occurs in ``raw``, counting no further than ``limit + 1``.

    One ``find`` per occurrence: ``find`` of a single byte is memchr, which skips
    through bytes many at a time, where ``bytes.count`` looks at each one (two counts
    over a 100-record body were ~4% of its request). A count that must come out at
    ``limit`` stops soon after ``limit``, however many the body holds."""
    find = raw.find
    n, i = 0, find(byte)
    while i >= 0 and n <= limit:
        n += 1
        i = find(byte, i + 1)
    return n


def check_records(
    records: list[dict[str, Any]],
    max_depth: int,
    max_string: int,
    *,
    clean_text: bool = False,
    body_bytes: int | None = None,
    raw: bytes | None = None,
    outside: int = 0,
) -> None:
    """:func:`check_shape` for each of a batch's records, without re-reading what is
    already known: when the parser vouched for the text (``clean_text``) only records
    holding a container, a long string or a long key get the full walk, and when the
    whole body is no longer than ``max_string`` (``body_bytes``) no string can be. Same
    errors as :func:`check_shape`, in the same order of records.

    With the body's bytes (``raw``, what the parser read) and the number of objects and
    arrays outside the records list (``outside``), a batch of flat records is proven
    flat without looking at them: every object or array opens with a ``{`` or ``[``
    byte and strings can only add such bytes, so when there are exactly ``outside``,
    one for the list and one per record, no record holds one; and
    :func:`strings_within` then says whether any string can be too long. The
    per-record walk was a tenth of a 100-record request's CPU.
    """
    if not clean_text:
        for i, rec in enumerate(records):
            check_shape(rec, max_depth, max_string, where=f"records[{i}]")
        return
    short = body_bytes is not None and body_bytes <= max_string
    expected = outside + 1 + len(records)  # objects and arrays in a body of flat records
    if (
        raw is not None
        and (objects := count_within(raw, b"{", expected)) <= expected
        and objects + count_within(raw, b"[", expected - objects) == expected
        and all(type(r) is dict for r in records)
        and (short or strings_within(raw, max_string))
    ):
        return
    for i, rec in enumerate(records):
        if not short and rec and max(map(len, rec)) > max_string:
            check_shape(rec, max_depth, max_string, where=f"records[{i}]")
            continue
        for value in rec.values():
            t = type(value)
            if t is dict or t is list or (t is str and not short and len(value) > max_string):
                check_shape(rec, max_depth, max_string, where=f"records[{i}]")
                break


class LineSplitter:
    """Bytes in, complete NDJSON lines out, in time linear in the bytes.

    A line may not exceed ``max_line`` bytes (:class:`LimitExceeded` 413, raised as soon
    as it is known, without waiting for the newline). Appending each chunk to one
    buffer and splitting it again was quadratic on a long line (128 MB: 30 s).
    """

    def __init__(self, max_line: int) -> None:
        self.max_line = max_line
        self.line_no = 0
        self._pending: list[bytes] = []
        self._pending_len = 0

    def feed(self, chunk: bytes) -> list[tuple[int, bytes]]:
        """The lines ``chunk`` completes, numbered from 1."""
        if b"\n" not in chunk:
            self._hold(chunk)
            return []
        first, *middle, rest = chunk.split(b"\n")
        self._hold(first)
        lines = [b"".join(self._pending), *middle]
        self._pending, self._pending_len = [], 0
        for raw in middle:
            if len(raw) > self.max_line:
                raise LimitExceeded("max_line_bytes", self.max_line)
        self._hold(rest)
        out = []
        for raw in lines:
            self.line_no += 1
            out.append((self.line_no, raw))
        return out

    def close(self) -> list[tuple[int, bytes]]:
        """The last line, if the body did not end with a newline."""
        raw = b"".join(self._pending)
        self._pending, self._pending_len = [], 0
        if not raw.strip():
            return []
        self.line_no += 1
        return [(self.line_no, raw)]

    def _hold(self, part: bytes) -> None:
        if part:
            self._pending_len += len(part)
            if self._pending_len > self.max_line:
                raise LimitExceeded("max_line_bytes", self.max_line)
            self._pending.append(part)
