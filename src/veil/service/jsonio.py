"""JSON out of the service, written by orjson: ~10x the standard library's encoder, which
was a tenth of the CPU of a 100-record answer. What orjson refuses (integers beyond 64
bits, types it does not know) is written by the standard library as before."""

from __future__ import annotations

import inspect
import json
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import orjson
from fastapi import Request
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError

#: set in a request's scope when orjson parsed its body: valid UTF-8 with no lone
#: surrogate anywhere (orjson refuses both), so the text checks need not run again
CLEAN_TEXT = "veil.clean_text"
#: the body's length in bytes: no string in it can be longer
BODY_BYTES = "veil.body_bytes"
#: the body's bytes, set with CLEAN_TEXT: what the checks may prove things from
RAW_BODY = "veil.raw_body"
#: in the validation context of a body :func:`direct_call` parsed: it is JSON as parsed
#: (object keys are strings), so a model may take parts of it without copying them
FROM_JSON = "veil.from_json"

#: str and int subclasses go to the standard library, which writes them as before
_OPTIONS = orjson.OPT_PASSTHROUGH_SUBCLASS | orjson.OPT_PASSTHROUGH_DATETIME


class FastJSONResponse(JSONResponse):
    """A JSONResponse rendered by orjson (compact, UTF-8, keys in insertion order)."""

    def render(self, content: Any) -> bytes:
        try:
            return orjson.dumps(content, option=_OPTIONS)
        except TypeError:  # orjson.JSONEncodeError is a TypeError
            return super().render(content)


def ndjson_line(obj: Any) -> bytes:
    """One NDJSON line: ``obj`` as compact JSON and a newline."""
    try:
        return orjson.dumps(obj, option=_OPTIONS | orjson.OPT_APPEND_NEWLINE)
    except TypeError:
        return json.dumps(obj, ensure_ascii=False, allow_nan=False).encode() + b"\n"


class FastJSONRequest(Request):
    """A request whose JSON body orjson parses (twice as fast as ``json.loads`` on a
    100-record batch). What orjson refuses but the standard library takes (a lone
    surrogate, NaN, integers beyond 64 bits) is parsed by the standard library, so the
    checks that follow judge it exactly as before."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            self.scope[BODY_BYTES] = len(body)
            try:
                self._json = orjson.loads(body)
                self.scope[CLEAN_TEXT] = True
                self.scope[RAW_BODY] = body
            except orjson.JSONDecodeError:
                self._json = json.loads(body)
        return self._json


#: set on an endpoint by :func:`direct`
_DIRECT = "__veil_direct__"

_E = TypeVar("_E", bound=Callable[..., Any])

#: ``Content-Type`` values the direct path takes; anything else goes through FastAPI
_JSON_TYPES = frozenset({"application/json", "application/json; charset=utf-8"})

_Direct = Callable[[Request], Awaitable[Response | None]]


def direct(endpoint: _E) -> _E:
    """Mark an endpoint for the direct path of :class:`FastJSONRoute` (see
    :func:`direct_call`). Only a simple endpoint can take it, and a marked endpoint that
    cannot is refused when its route is built, not served some other way."""
    setattr(endpoint, _DIRECT, True)
    return endpoint


def direct_call(route: APIRoute) -> _Direct:
    """A handler for the common request to ``route``, or ``None`` to say "not this one".

    FastAPI's generic handler (content negotiation, dependency solving, body fields,
    response serialization) was a quarter of the service's CPU for a one-record
    request. For an endpoint of one JSON body model, dependencies that read only the
    request, and a :class:`Response` returned, the common request needs none of that:
    the body parses, validates as the model, and the endpoint is called with the same
    values FastAPI would pass. Anything else (another content type, an empty body, JSON
    that does not parse or does not validate, dependency overrides set) answers
    ``None`` *before* any dependency or the endpoint has run, and FastAPI's handler
    then decides the request as it always has, errors included. Dependencies run
    after the body validated, in FastAPI's order; FastAPI runs them before it
    validates the body, which differs only when both would fail, and then the
    fallback runs them in FastAPI's order.
    """
    d = route.dependant
    simple = (
        inspect.iscoroutinefunction(route.endpoint)
        and not (d.path_params or d.query_params or d.header_params or d.cookie_params)
        and len(d.body_params) == 1
        and route.body_field is not None
        and not getattr(route, "_embed_body_fields", False)
        and d.background_tasks_param_name is None
        and d.response_param_name is None
        and d.security_scopes_param_name is None
        and all(
            inspect.iscoroutinefunction(sub.call)
            and sub.name is not None
            and sub.request_param_name is not None
            and not (
                sub.dependencies
                or sub.path_params
                or sub.query_params
                or sub.header_params
                or sub.cookie_params
                or sub.body_params
            )
            for sub in d.dependencies
        )
    )
    model = d.body_params[0].field_info.annotation if d.body_params else None
    if not simple or not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise TypeError(
            f"{route.path}: a @direct endpoint must be async and take one JSON body model,"
            " dependencies that read only the request, and optionally the request"
        )
    body_name = d.body_params[0].name
    deps: list[tuple[str, Callable[..., Awaitable[Any]], str]] = [
        (sub.name, sub.call, sub.request_param_name)
        for sub in d.dependencies
        if sub.name is not None and sub.call is not None and sub.request_param_name is not None
    ]
    request_name = d.request_param_name
    endpoint = route.endpoint
    overrides = route.dependency_overrides_provider

    async def call(request: Request) -> Response | None:
        if getattr(overrides, "dependency_overrides", None):
            return None
        if request.headers.get("content-type", "").lower() not in _JSON_TYPES:
            return None
        if not await request.body():
            return None
        try:
            data = await request.json()
        except ValueError:  # FastAPI's handler parses it again and says why
            return None
        try:
            body = model.model_validate(data, context={FROM_JSON: True})
        except ValidationError:  # FastAPI's handler names the error its own way
            return None
        values: dict[str, Any] = {body_name: body}
        for name, dep, arg in deps:
            values[name] = await dep(**{arg: request})
        if request_name is not None:
            values[request_name] = request
        response = await endpoint(**values)
        if not isinstance(response, Response):
            raise TypeError(f"{route.path}: a @direct endpoint must return a Response")
        return response

    return call


class FastJSONRoute(APIRoute):
    """Routes whose JSON bodies :class:`FastJSONRequest` parses, and which take the direct
    path when their endpoint is marked :func:`direct`."""

    def get_route_handler(self) -> Any:
        handler = super().get_route_handler()
        fast = direct_call(self) if getattr(self.endpoint, _DIRECT, False) else None

        async def route_handler(request: Request) -> Response:
            request = FastJSONRequest(request.scope, request.receive)
            if fast is not None:
                response = await fast(request)
                if response is not None:
                    return response
            return await handler(request)

        return route_handler
