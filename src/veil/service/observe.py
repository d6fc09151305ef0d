"""What the service tells its operators: request ids, JSON logs, metrics, traces.

Every HTTP request gets a request id — the caller's ``X-Request-ID`` if it is a plain
token (letters, digits, ``._:-``, at most 64), else a fresh one — returned in the
response's ``X-Request-ID`` and written into every ledger event the request appends
(:attr:`veil.ledger.events.Event.request_id`), so an operator can go from a log line to
the disclosure it made and back. A caller's id that is not a plain token is replaced,
not echoed: a header is attacker-controlled, and logs are read by tools that trust them.

The access log is one JSON object per request: method, *route template* (never the raw
path or query string, which may carry a data subject's id), status, duration, client
address, request id and the ledger event ids. No body, header or value ever reaches it.
With the ``otel`` extra installed and ``otel: true`` in the settings, each request is
also an OpenTelemetry span carrying the same request id and ledger event ids.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from typing import Any

import orjson
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..ledger.events import RequestInfo, bind_request, current_request_id, unbind_request
from .metrics import Metrics

log = logging.getLogger("veil.service")
access = logging.getLogger("veil.access")

#: What a caller's X-Request-ID may be for veil to keep it (else it makes its own).
REQUEST_ID = re.compile(r"[A-Za-z0-9._:\-]{1,64}")
_HEADER = b"x-request-id"


def new_request_id() -> str:
    """A fresh request id: the time-ordered form of the ledger's event ids."""
    from ..ledger.events import new_event_id

    return new_event_id()


def request_id_of(scope: Scope) -> str:
    """The caller's X-Request-ID if it is a plain token, else a new id."""
    for name, value in scope.get("headers", ()):
        if name == _HEADER:
            try:
                text: str = bytes(value).decode("ascii")
            except UnicodeDecodeError:
                break
            if REQUEST_ID.fullmatch(text):
                return text
            break
    return new_request_id()


class Observe:
    """Pure ASGI middleware (BaseHTTPMiddleware costs ~0.5 ms a request): request id,
    access log line, request counter by route and status, optional trace span; turns a
    crash into a 500 that says nothing."""

    def __init__(self, app: ASGIApp, metrics: Metrics, tracer: Any = None) -> None:
        self.app = app
        self.metrics = metrics
        self.tracer = tracer

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        info = RequestInfo(request_id_of(scope))
        token = bind_request(info)
        started_at = time.perf_counter()
        status = 500
        started = False
        rid = info.request_id.encode("ascii")

        async def tracking(message: Message) -> None:
            nonlocal status, started
            if message["type"] == "http.response.start":
                status = message["status"]
                started = True
                headers = list(message.get("headers", ()))
                headers.append((_HEADER, rid))
                message = {**message, "headers": headers}
            await send(message)

        span = None
        if self.tracer is not None:
            span = self.tracer.start_span("veil.request", kind=_server_kind())
            span.set_attribute("veil.request_id", info.request_id)
            span.set_attribute("http.request.method", scope.get("method", ""))
        try:
            await self.app(scope, receive, tracking)
        except Exception as exc:
            log.error(
                "unhandled error",
                extra={"request_id": info.request_id, "error": type(exc).__name__},
            )
            status = 500
            if not started:
                await JSONResponse(
                    {
                        "error": {
                            "code": "internal",
                            "message": "internal error; nothing was disclosed",
                            "hint": "",
                        }
                    },
                    status_code=500,
                    headers={"X-Request-ID": info.request_id},
                )(scope, receive, send)
        finally:
            unbind_request(token)
        route = getattr(scope.get("route"), "path", "unmatched")
        self.metrics.requests.labels(route, str(status)).inc()
        if span is not None:
            span.set_attribute("http.route", route)
            span.set_attribute("http.response.status_code", status)
            span.set_attribute("veil.ledger.event_ids", list(info.event_ids))
            span.update_name(f"{scope.get('method', '')} {route}")
            span.end()
        if access.isEnabledFor(logging.INFO):
            client = scope.get("client")
            access.info(
                "request",
                extra={
                    "request_id": info.request_id,
                    "method": scope.get("method", ""),
                    "route": route,
                    "status": status,
                    "duration_ms": round((time.perf_counter() - started_at) * 1000, 3),
                    "client": client[0] if client else "",
                    "events": info.event_ids,
                },
            )


def _server_kind() -> Any:
    from opentelemetry.trace import SpanKind

    return SpanKind.SERVER


def tracer_for(enabled: bool) -> Any:
    """The OpenTelemetry tracer the service uses, or None when tracing is off.

    veil does not configure exporters: the process's tracer provider does (set up by
    ``opentelemetry-instrument``, the ``OTEL_*`` environment, or the embedding code).
    Asking for tracing without the extra installed is a start-up error, not a silent
    no-op."""
    if not enabled:
        return None
    try:
        from opentelemetry import trace
    except ImportError:
        from ..errors import ConfigError

        raise ConfigError(
            "tracing is on (otel: true) but OpenTelemetry is not installed",
            hint="pip install 'veil[otel]', or set otel: false",
        ) from None
    from .. import __version__

    return trace.get_tracer("veil", __version__)


#: LogRecord attributes that are the logging machinery's, not a message's fields.
_STANDARD = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", (), None)).keys()
    | {"message", "asctime", "color_message"}  # uvicorn's ANSI-coloured duplicate
)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, and the record's extra
    fields. An exception is reduced to its class name — its message or traceback could
    quote a value (a parser error echoing its input), and logs are not the place."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                out[key] = value
        if "request_id" not in out:
            rid = current_request_id()
            if rid:
                out["request_id"] = rid
        if record.exc_info and record.exc_info[0] is not None:
            out["error"] = record.exc_info[0].__name__
        return orjson.dumps(out, default=str).decode()


def configure_logging(fmt: str = "json", level: str = "info") -> None:
    """Route veil's and uvicorn's loggers to stderr in ``fmt`` ("json" or "text").

    Called by ``veil serve`` (and each worker process) before the app is built; the
    library itself never configures logging."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        lg = logging.getLogger(name)
        lg.handlers.clear()
        lg.propagate = True
    # uvicorn's own access log would print the raw path and query string
    logging.getLogger("uvicorn.access").disabled = True
