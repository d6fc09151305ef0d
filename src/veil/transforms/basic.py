"""Transforms that need no computation: keep, redact, nullify, replace."""

from __future__ import annotations

from typing import Any

from .base import (
    ALL_TYPES,
    SCALAR_TYPES,
    BindContext,
    CannotApply,
    NoParams,
    Op,
    Params,
    TransformSpec,
    register,
)


def _identity(value: Any, subject: str | None) -> Any:
    return value


def _null(value: Any, subject: str | None) -> None:
    return None


def _never(value: Any, subject: str | None) -> Any:
    # The engine omits redacted fields; reaching this means a wiring bug, so fail closed.
    raise CannotApply("redact: a redacted field is omitted, never transformed")


register(
    TransformSpec(
        name="keep",
        disclosure="clear",
        params_model=NoParams,
        applies_to=ALL_TYPES,
        rank=100,
        bind=lambda p, ctx: _identity,
        summary="Disclose the value unchanged.",
        example='keep: "Alice" -> "Alice"',
    )
)

register(
    TransformSpec(
        name="redact",
        disclosure="removed",
        params_model=NoParams,
        applies_to=ALL_TYPES,
        rank=0,
        bind=lambda p, ctx: _never,
        summary="Omit the field from the output entirely.",
        example='redact: {"ssn": "078-05-1120"} -> {}',
    )
)

register(
    TransformSpec(
        name="nullify",
        disclosure="constant",
        params_model=NoParams,
        applies_to=ALL_TYPES,
        rank=10,
        bind=lambda p, ctx: _null,
        summary="Keep the field but disclose null, so the schema stays stable.",
        example='nullify: "078-05-1120" -> null',
    )
)


class ReplaceParams(Params):
    value: str | int | float | bool | None


def _bind_replace(params: ReplaceParams, ctx: BindContext) -> Op:
    constant = params.value

    def replace(value: Any, subject: str | None) -> Any:
        return constant

    return replace


register(
    TransformSpec(
        name="replace",
        disclosure="constant",
        params_model=ReplaceParams,
        applies_to=SCALAR_TYPES,
        rank=20,
        bind=_bind_replace,
        summary="Disclose a fixed constant instead of the value.",
        example='replace(value="[withheld]"): "Alice" -> "[withheld]"',
    )
)
