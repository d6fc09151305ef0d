"""ASGI entry point for process managers, and the HTTP protocol veil serves with.

``veil serve`` runs uvicorn with :func:`uvicorn_options`. Worker processes import
:func:`build` by name, so the settings travel as a JSON file named by
``VEIL_SERVE_SETTINGS`` (written by ``veil serve``) or, failing that, come from
``VEIL_*`` environment variables. Each worker reloads its policies on SIGHUP. Run by
hand, pass the protocol too::

    uvicorn --factory veil.service.asgi:build --http veil.service.asgi:HttpProtocol

uvicorn cuts an idle keep-alive connection, but not one that sends its request line
and headers a byte at a time, nor one that connects and says nothing: 600 such sockets
stayed open indefinitely. :class:`HttpProtocol` gives each request's head a deadline
(``server.header_seconds``, from the connection or the request's first byte) and a
size limit (``server.max_header_bytes``); the body's deadlines are the app's
(:class:`veil.service.limits.BodyLimit`).
"""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
from typing import Any, ClassVar

from fastapi import FastAPI
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .app import create_app, install_sighup
from .observe import configure_logging
from .settings import ServerSettings, ServiceSettings, load_settings

PROTOCOL = "veil.service.asgi:HttpProtocol"


def build() -> FastAPI:
    path = os.environ.get("VEIL_SERVE_SETTINGS")
    if path:
        settings = ServiceSettings.model_validate(json.loads(Path(path).read_text("utf-8")))
    else:
        settings = load_settings(None)
    configure_logging(settings.log_format, settings.log_level)
    HttpProtocol.configure(settings.server)
    app = create_app(settings)
    install_sighup(app)
    return app


def uvicorn_options(server: ServerSettings) -> dict[str, Any]:
    """Keyword arguments for ``uvicorn.run`` that enforce ``server``'s socket limits."""
    HttpProtocol.configure(server)
    return {
        "http": PROTOCOL,
        "timeout_keep_alive": server.keep_alive_seconds,
        "limit_concurrency": server.max_connections,
        "h11_max_incomplete_event_size": server.max_header_bytes,
    }


class _HeadTooLarge(Exception):
    """Raised inside the parser: uvicorn answers 400 and closes the connection."""


_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
    b"content-length: 36\r\nconnection: close\r\n\r\nthe request headers did not arrive\r\n"
)


class HttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, with a deadline and a size limit for each request's
    line and headers (class attributes, set by :meth:`configure` in each process)."""

    header_seconds: ClassVar[float] = ServerSettings().header_seconds
    max_header_bytes: ClassVar[int] = ServerSettings().max_header_bytes

    @classmethod
    def configure(cls, server: ServerSettings) -> None:
        cls.header_seconds = server.header_seconds
        cls.max_header_bytes = server.max_header_bytes

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._head_bytes = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm()  # a connection that says nothing is cut too

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = 0
        if self._head_timer is None:  # a later request on a kept-alive connection
            self._arm()

    def on_url(self, url: bytes) -> None:
        self._count(len(url))
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._count(len(name) + len(value) + 4)
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def _count(self, n: int) -> None:
        self._head_bytes += n
        if self._head_bytes > self.max_header_bytes:
            raise _HeadTooLarge

    def _arm(self) -> None:
        self._head_timer = self.loop.call_later(self.header_seconds, self._head_timed_out)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self.transport.write(_TIMEOUT)
            self.transport.close()
