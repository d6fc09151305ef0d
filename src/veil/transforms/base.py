"""The transform contract and registry.

A transform is an obligation attached to a field decision. It is declared once as a
:class:`TransformSpec`: a name, a pydantic params model (validated when the plan is
compiled, never per value), the field types it applies to, how much it reveals (its
``rank``, used by most-restrictive-wins combining) and a ``bind`` function. ``bind``
runs at compile time with the validated params and a :class:`BindContext` (keys,
recipient, field) and returns an :data:`Op`: the pure per-value function the engines
call in the hot path.

An op that cannot transform a value safely (an FPE input with characters outside the
alphabet, a date that does not parse) raises :class:`CannotApply`. The engine then
withholds that one cell and counts it: an obligation that cannot be met means the
value is not disclosed (XACML semantics). ``CannotApply`` messages never hold values.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from ..errors import TransformError
from ..keys import Keyring


class FieldType(StrEnum):
    STRING = "string"
    INTEGER = "integer"
    NUMBER = "number"
    BOOLEAN = "boolean"
    DATE = "date"
    DATETIME = "datetime"
    OBJECT = "object"
    LIST = "list"


SCALAR_TYPES = frozenset(
    {
        FieldType.STRING,
        FieldType.INTEGER,
        FieldType.NUMBER,
        FieldType.BOOLEAN,
        FieldType.DATE,
        FieldType.DATETIME,
    }
)
ALL_TYPES = frozenset(FieldType)


class CannotApply(Exception):  # named as a signal, not an error
    """The op cannot transform this value safely; the engine withholds the cell."""


class Params(BaseModel):
    """Base of every params model: unknown parameters are errors, models are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NoParams(Params):
    pass


@dataclass(frozen=True)
class BindContext:
    """What an op may know, fixed at compile time.

    ``field_type`` is the type of the values the op receives (for a list of scalars,
    the item type). ``recipient`` lets keyed transforms derive per-recipient keys.
    """

    dataset: str
    field_path: str
    field_type: FieldType
    recipient: str
    keys: Keyring


#: The hot-path function: (value, data_subject_id) -> transformed value.
#: ``value`` is never None (the engine passes nulls through untouched).
Op = Callable[[Any, "str | None"], Any]


@dataclass(frozen=True)
class TransformSpec:
    name: str
    params_model: type[Params]
    applies_to: frozenset[FieldType]
    rank: int
    bind: Callable[[Any, BindContext], Op]
    summary: str
    example: str
    keyed: bool = False
    #: Refines ``rank`` between two uses of the same transform (higher reveals more),
    #: e.g. a mask that shows 4 characters reveals more than one that shows 2.
    reveal: Callable[[Any], float] | None = None
    #: Key names a params instance refers to (for compile-time key checks and the ledger).
    key_names: Callable[[Any], tuple[str, ...]] | None = None

    def parse_params(self, raw: dict[str, Any] | None) -> Params:
        return self.params_model.model_validate(raw or {})

    def reveal_score(self, params: Params) -> float:
        return self.reveal(params) if self.reveal else 0.0

    def keys_of(self, params: Params) -> tuple[str, ...]:
        return self.key_names(params) if self.key_names else ()


REGISTRY: dict[str, TransformSpec] = {}


def register(spec: TransformSpec) -> TransformSpec:
    """Add a transform; a second one with the same name is a programming error."""
    if spec.name in REGISTRY:
        raise TransformError(f"transform '{spec.name}' is registered twice")
    REGISTRY[spec.name] = spec
    return spec


def get(name: str) -> TransformSpec:
    try:
        return REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(REGISTRY))
        raise TransformError(
            f"unknown transform '{name}'", hint=f"known transforms: {known}"
        ) from None
