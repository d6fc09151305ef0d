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

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import Any, Literal, Protocol

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


class TokenVault(Protocol):
    """Where random re-identification codes live (45 CFR 164.514(c)): a code is drawn at
    random, never computed from the value, and the value can only be found again by
    looking the code up here. Implemented beside the ledger (same database): an issued
    code is durable no later than the ledger event of the disclosure that used it.

    The vault never sees a value: callers pass a keyed ``lookup`` of it and the value
    ``sealed`` (encrypted) under a key the vault does not hold.

    A vault may also offer array forms for bulk batches, which random tokens use where
    present: ``issue_codes`` (the sealed values as one blob and their sizes, the codes
    back as a numpy bytes array) and ``known_codes`` (``known`` as such an array, ``b""``
    where there is none); see ``veil.ledger.vault``."""

    def issue(
        self, namespace: str, items: Sequence[tuple[str, bytes]], make: Callable[[], str]
    ) -> list[str]:
        """The code of each ``(lookup, sealed)`` item in ``namespace``: the stored one if
        the lookup was issued before, else a new code from ``make()`` stored with the
        sealed value. Raises on any storage failure (the value is then withheld)."""
        ...

    def issue_columns(
        self,
        namespace: str,
        lookups: Sequence[str],
        sealed: Sequence[bytes],
        make: Callable[[], str],
    ) -> list[str]:
        """:meth:`issue` of the items ``zip(lookups, sealed)``: a bulk batch's items as
        the two lists they are made as (a tuple per item was ~5% of a first extract)."""
        ...

    def known(self, namespace: str, lookups: Sequence[str]) -> list[str | None]:
        """The stored code of each of ``lookups``, in order, None where there is none
        (nothing is written): callers seal only the values this leaves out. A list by
        position, not a dict: an extract run again asks this for every value it has."""
        ...

    def find(self, namespace: str, token: str) -> bytes | None:
        """The sealed value stored under ``token``, or None if it was never issued."""
        ...


@dataclass(frozen=True)
class BindContext:
    """What an op may know, fixed at compile time.

    ``field_type`` is the type of the values the op receives (for a list of scalars,
    the item type). ``recipient`` lets keyed transforms derive per-recipient keys.
    ``as_of`` is the disclosure date rules relative to it use (Safe Harbor's ages over
    89); None means the UTC date when the op runs. ``vault`` stores random tokens.
    """

    dataset: str
    field_path: str
    field_type: FieldType
    recipient: str
    keys: Keyring
    as_of: date | None = None
    vault: TokenVault | None = None


#: What an outcome discloses, for profiles and assertions (``veil.policy.proofs``):
#: ``clear`` the value itself; ``reversible`` an encryption the key holder can undo;
#: ``derived`` a keyed function of the value (hash, deterministic token); ``masked`` part
#: of the characters; ``generalized`` a coarser value; ``shifted`` a moved date;
#: ``random_token`` a code drawn at random (164.514(c)); ``scanned`` free text with the
#: identifiers found in it treated; ``constant`` a fixed value; ``removed`` nothing.
Disclosure = Literal[
    "clear",
    "reversible",
    "derived",
    "masked",
    "generalized",
    "shifted",
    "random_token",
    "scanned",
    "constant",
    "removed",
]

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
    #: The field types one params instance handles, when narrower than ``applies_to``
    #: (``generalize(method=zip3)`` takes strings only); validation checks fields by it.
    types_for: Callable[[Any], frozenset[FieldType]] | None = None
    #: What one params instance discloses (see :data:`Disclosure`).
    disclosure: Disclosure | Callable[[Any], Disclosure] = "masked"
    #: Versions of the reference tables one params instance uses (recorded in the ledger).
    tables_for: Callable[[Any], dict[str, str]] | None = None

    def parse_params(self, raw: dict[str, Any] | None) -> Params:
        return self.params_model.model_validate(raw or {})

    def reveal_score(self, params: Params) -> float:
        return self.reveal(params) if self.reveal else 0.0

    def keys_of(self, params: Params) -> tuple[str, ...]:
        return self.key_names(params) if self.key_names else ()

    def types(self, params: Params) -> frozenset[FieldType]:
        """The field types these params can be applied to."""
        return self.types_for(params) if self.types_for else self.applies_to

    def tables(self, params: Params) -> dict[str, str]:
        return self.tables_for(params) if self.tables_for else {}

    def discloses(self, params: Params) -> Disclosure:
        d = self.disclosure
        return d if isinstance(d, str) else d(params)


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
