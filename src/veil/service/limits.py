"""Request size limits, enforced before and while a body is read.

Limits are named in every rejection so a client knows which one to respect; no
rejection ever echoes what was sent.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..errors import VeilError


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


class _TooLarge(Exception):
    pass


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    data = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(data)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": data})


class BodyLimit:
    """ASGI middleware: 413 when a body is larger than the limit for its route."""

    def __init__(self, app: ASGIApp, default: int, per_path: dict[str, int]) -> None:
        self.app = app
        self.default = default
        self.per_path = per_path

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
                    err = LimitExceeded(name, limit)
                    await _send_json(
                        send,
                        413,
                        {"error": {"code": err.code, "message": err.message, "hint": err.hint}},
                    )
                    return
        received = 0
        started = False

        async def limited() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _TooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited, tracking_send)
        except _TooLarge:
            if not started:
                err = LimitExceeded(name, limit)
                await _send_json(
                    send,
                    413,
                    {"error": {"code": err.code, "message": err.message, "hint": err.hint}},
                )


def check_shape(value: Any, max_depth: int, max_string: int) -> None:
    """Reject values nested deeper than ``max_depth`` or strings longer than ``max_string``.

    Iterative, with scalars checked inline: it runs over every value of every request.
    """
    if type(value) is str:
        if len(value) > max_string:
            raise LimitExceeded("max_string", max_string, status=422)
        return
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        container, depth = stack.pop()
        child_depth = depth + 1
        items = container.items() if type(container) is dict else enumerate(container)
        for key, item in items:
            if type(key) is str and len(key) > max_string:
                raise LimitExceeded("max_string", max_string, status=422)
            t = type(item)
            if t is str:
                if len(item) > max_string:
                    raise LimitExceeded("max_string", max_string, status=422)
            elif t is dict or t is list:
                if child_depth >= max_depth:
                    raise LimitExceeded("max_depth", max_depth, status=422)
                stack.append((item, child_depth))
