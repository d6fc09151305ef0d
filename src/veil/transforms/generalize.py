"""Generalization: disclose a coarser value (a year, a ZIP prefix, an age band, a bucket).

The params are a union discriminated on ``method``. A policy writes them flat
(``{method: bucket, size: 10}``); :class:`GeneralizeParams` holds the chosen variant in
``rule`` and serializes back to the flat form.

Output formats:

* ``year``: int year; ``month``: ``"YYYY-MM"`` (a datetime's own offset, not UTC).
* ``zip3``: the first three digits, or ``"000"`` for a restricted prefix.
* ``age``: ``str(int(age))``, or ``"{top+1}+"`` above ``top``.
* ``bucket``: half-open ranges ``"lo-hi"`` meaning lo <= v < hi, ``"<b"`` below the first
  boundary and ``"b+"`` at or above the last. With ``size``, buckets are aligned on
  ``min`` (or 0). Negative bounds print as-is: ``"-10-0"``.
"""

from __future__ import annotations

import bisect
import functools
import itertools
import math
import re
from importlib import resources
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_serializer,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from ..errors import TransformError
from .base import BindContext, CannotApply, FieldType, Op, Params, TransformSpec, register
from .dates import DATE_TYPES, parse_day

NUMERIC = frozenset({FieldType.INTEGER, FieldType.NUMBER})
_TABLE_NAME = re.compile(r"[a-z0-9][a-z0-9-]*")
_PREFIX = re.compile(r"[0-9]{3}")
_ZIP = re.compile(r"([0-9]{3})[0-9]{2}(?:-?[0-9]{4})?")


def _zip3_table_path(name: str) -> Any:
    return resources.files("veil.data").joinpath("zip3", f"{name}.yaml")


def zip3_tables() -> list[str]:
    """Names of the shipped restricted-prefix tables."""
    folder = resources.files("veil.data").joinpath("zip3")
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


@functools.lru_cache(maxsize=8)
def load_zip3_table(name: str) -> frozenset[str]:
    """The restricted prefixes of a shipped table (validated, so a bad file fails loudly)."""
    data = yaml.safe_load(_zip3_table_path(name).read_text(encoding="utf-8"))
    prefixes = data.get("prefixes") if isinstance(data, dict) else None
    if not isinstance(prefixes, list) or not all(
        isinstance(p, str) and _PREFIX.fullmatch(p) for p in prefixes
    ):
        raise TransformError(f"zip3 table '{name}' is malformed", hint="reinstall veil")
    return frozenset(prefixes)


class Year(Params):
    method: Literal["year"]


class Month(Params):
    method: Literal["month"]


class Zip3(Params):
    method: Literal["zip3"]
    table: str = "hipaa-census-2000"
    restricted: tuple[Annotated[str, Field(pattern=r"^[0-9]{3}$")], ...] | None = None

    @field_validator("table")
    @classmethod
    def _table_exists(cls, v: str) -> str:
        if not _TABLE_NAME.fullmatch(v) or not _zip3_table_path(v).is_file():
            raise ValueError(f"unknown zip3 table '{v}' (shipped: {', '.join(zip3_tables())})")
        return v


class Age(Params):
    method: Literal["age"]
    top: int = Field(default=89, ge=1, le=150)


class Bucket(Params):
    method: Literal["bucket"]
    size: int | None = Field(default=None, ge=1)
    min: int | None = None
    max: int | None = None
    bounds: tuple[int, ...] | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _one_scheme(self) -> Bucket:
        if (self.size is None) == (self.bounds is None):
            raise ValueError("give exactly one of 'size' or 'bounds'")
        if self.bounds is not None:
            if self.min is not None or self.max is not None:
                raise ValueError(
                    "'min'/'max' go with 'size'; with 'bounds' use the first/last bound"
                )
            if any(a >= b for a, b in itertools.pairwise(self.bounds)):
                raise ValueError("'bounds' must be strictly increasing")
        if self.min is not None and self.max is not None and self.min >= self.max:
            raise ValueError("'min' must be below 'max'")
        return self


Rule = Annotated[Year | Month | Zip3 | Age | Bucket, Field(discriminator="method")]
_METHOD_MISSING = "'method' is required: one of year, month, zip3, age, bucket"


class GeneralizeParams(Params):
    rule: Rule

    @model_validator(mode="wrap")
    @classmethod
    def _flat(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        """Accept the flat policy form; report errors at the user's path, not ``rule.<tag>``."""
        if isinstance(data, dict) and set(data) != {"rule"}:
            data = {"rule": data}
        try:
            return handler(data)
        except ValidationError as exc:
            errors: list[InitErrorDetails] = []
            for e in exc.errors():
                loc = e["loc"][2:] if e["loc"][:1] == ("rule",) and len(e["loc"]) > 1 else ()
                text = _METHOD_MISSING if e["type"] == "union_tag_not_found" else e["msg"]
                msg = PydanticCustomError(e["type"], text)
                errors.append({"type": msg, "loc": loc, "input": e["input"]})
            raise ValidationError.from_exception_data(cls.__name__, errors) from None

    @model_serializer(mode="wrap")
    def _dump_flat(self, handler: Any) -> Any:
        return handler(self)["rule"]


def _reveal(p: GeneralizeParams) -> float:
    """1 / width of an output bin in the field's unit (days, years, units); higher reveals more."""
    r = p.rule
    if isinstance(r, Year):
        return 1 / 366
    if isinstance(r, Month):
        return 1 / 31
    if isinstance(r, Bucket):
        if r.size is not None:
            return 1 / r.size
        assert r.bounds is not None
        widths = [b - a for a, b in itertools.pairwise(r.bounds)]
        return 1 / min(widths) if widths else 0.0
    return 1.0  # age (exact below top), zip3 (only one resolution)


def _number(value: Any, what: str) -> float:
    if type(value) is int or (type(value) is float and math.isfinite(value)):
        number: float = value
        return number
    raise CannotApply(f"{what}: value is not a finite number")


def _bind_year(r: Year) -> Op:
    def year(value: Any, subject: str | None) -> int:
        return parse_day(value, "generalize/year").year

    return year


def _bind_month(r: Month) -> Op:
    def month(value: Any, subject: str | None) -> str:
        d = parse_day(value, "generalize/month")
        return f"{d.year:04d}-{d.month:02d}"

    return month


def _bind_zip3(r: Zip3) -> Op:
    restricted = frozenset(r.restricted) if r.restricted is not None else load_zip3_table(r.table)
    match = _ZIP.fullmatch

    def zip3(value: Any, subject: str | None) -> str:
        m = match(value.strip()) if type(value) is str else None
        if m is None:
            raise CannotApply("generalize/zip3: value is not a 5-digit or ZIP+4 code")
        prefix = m.group(1)
        return "000" if prefix in restricted else prefix

    return zip3


def _bind_age(r: Age) -> Op:
    top, over = r.top, f"{r.top + 1}+"

    def age(value: Any, subject: str | None) -> str:
        a = _number(value, "generalize/age")
        if a < 0:
            raise CannotApply("generalize/age: value is negative")
        return over if a > top else str(int(a))

    return age


def _bind_bucket(r: Bucket) -> Op:
    if r.bounds is not None:
        bounds = r.bounds
        labels = [
            f"<{bounds[0]}",
            *(f"{a}-{b}" for a, b in itertools.pairwise(bounds)),
            f"{bounds[-1]}+",
        ]
        right = bisect.bisect_right

        def by_bounds(value: Any, subject: str | None) -> str:
            return labels[right(bounds, _number(value, "generalize/bucket"))]

        return by_bounds

    assert r.size is not None
    size, lo_cap, hi_cap = r.size, r.min, r.max
    origin = lo_cap if lo_cap is not None else 0
    below, above = f"<{lo_cap}", f"{hi_cap}+"

    def by_size(value: Any, subject: str | None) -> str:
        v = _number(value, "generalize/bucket")
        if lo_cap is not None and v < lo_cap:
            return below
        if hi_cap is not None and v >= hi_cap:
            return above
        lo = origin + math.floor((v - origin) / size) * size
        hi = lo + size if hi_cap is None else min(lo + size, hi_cap)
        return f"{lo}-{hi}"

    return by_size


def _bind(params: GeneralizeParams, ctx: BindContext) -> Op:
    r = params.rule
    if isinstance(r, Year):
        return _bind_year(r)
    if isinstance(r, Month):
        return _bind_month(r)
    if isinstance(r, Zip3):
        return _bind_zip3(r)
    if isinstance(r, Age):
        return _bind_age(r)
    return _bind_bucket(r)


register(
    TransformSpec(
        name="generalize",
        disclosure="generalized",
        params_model=GeneralizeParams,
        applies_to=DATE_TYPES | NUMERIC | {FieldType.STRING},
        rank=50,
        bind=_bind,
        summary="Disclose a coarser value: year, month, ZIP3 (Safe Harbor), age band or bucket.",
        example='generalize(method=bucket, size=10): 37 -> "30-40"',
        reveal=_reveal,
    )
)
