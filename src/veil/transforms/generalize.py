"""Generalization: disclose a coarser value (a year, a ZIP prefix, an age band, a bucket).

The params are a union discriminated on ``method``. A policy writes them flat
(``{method: bucket, size: 10}``); :class:`GeneralizeParams` holds the chosen variant in
``rule`` and serializes back to the flat form.

Output formats:

* ``year``: int year; ``month``: ``"YYYY-MM"`` (a datetime's own offset, not UTC). With
  ``top_age`` (Safe Harbor's ages over 89, see :func:`first_year_shown`) every birth year
  that could belong to someone older than ``top_age`` on the disclosure date leaves as one
  category, ``top_label`` (default ``"{top_age+1}+"``, i.e. ``"90+"``: "age 90 or older",
  as 164.514(b)(2)(i)(C) words it). A year output is then a string (``"1984"``, ``"90+"``)
  so that the column keeps one type in JSON, CSV and Arrow alike.
* ``zip3``: the first three digits, or ``"000"`` for a restricted prefix.
* ``age``: ``str(int(age))``, or ``"{top+1}+"`` above ``top``.
* ``bucket``: half-open ranges ``"lo-hi"`` meaning lo <= v < hi, ``"<b"`` below the first
  boundary and ``"b+"`` at or above the last. With ``size``, buckets are aligned on
  ``min`` (or 0). Negative bounds print as-is: ``"-10-0"``. With ``bounds``, ``labels``
  names the buckets instead, one per bucket in order (Google DLP's ``BucketingConfig``
  gives each bucket a ``replacement_value`` the same way).

Each method takes its own field types (:func:`method_types`): a year of a number field
would only ever be withheld, so validation refuses it.
"""

from __future__ import annotations

import bisect
import functools
import hashlib
import itertools
import math
import re
from datetime import UTC, date, datetime
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


_MONTH_SHAPE = re.compile(r"[0-9]{4}-[0-9]{2}")


#: ``top_age``: aggregate the birth years indicative of an age over it (None: plain dates)
TopAge = Annotated[int | None, Field(ge=1, le=150)]
TopLabel = Annotated[str | None, Field(min_length=1, max_length=32)]


def _top_label(top_age: int | None, top_label: str | None) -> str:
    """The category label, after checking it goes with ``top_age`` and stands apart."""
    if top_label is None:
        return f"{top_age + 1}+" if top_age is not None else ""
    if top_age is None:
        raise ValueError("'top_label' goes with 'top_age'")
    # The category must never read as a disclosed year or month.
    if top_label.isdigit() or _MONTH_SHAPE.fullmatch(top_label):
        raise ValueError("'top_label' must not look like a year or a month (e.g. '90+')")
    return top_label


class Year(Params):
    method: Literal["year"]
    top_age: TopAge = None
    top_label: TopLabel = None

    @model_validator(mode="after")
    def _label_stands_apart(self) -> Year:
        _top_label(self.top_age, self.top_label)
        return self

    @property
    def label(self) -> str:
        return _top_label(self.top_age, self.top_label)


class Month(Params):
    method: Literal["month"]
    top_age: TopAge = None
    top_label: TopLabel = None

    @model_validator(mode="after")
    def _label_stands_apart(self) -> Month:
        _top_label(self.top_age, self.top_label)
        return self

    @property
    def label(self) -> str:
        return _top_label(self.top_age, self.top_label)


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
    #: one name per bucket of ``bounds`` (``len(bounds) + 1``), lowest first
    labels: tuple[Annotated[str, Field(min_length=1)], ...] | None = None

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
            if self.labels is not None:
                if len(self.labels) != len(self.bounds) + 1:
                    raise ValueError(
                        f"'labels' needs {len(self.bounds) + 1} names, one per bucket: "
                        f"{len(self.bounds)} bounds make {len(self.bounds) + 1} buckets"
                    )
                if len(set(self.labels)) != len(self.labels):
                    raise ValueError("'labels' must be distinct, or buckets would merge")
        elif self.labels is not None:
            raise ValueError("'labels' go with 'bounds' (with 'size' the buckets are unbounded)")
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


def method_types(p: GeneralizeParams) -> frozenset[FieldType]:
    """The field types a method applies to: dates for year and month, strings for zip3,
    numbers for age and bucket."""
    r = p.rule
    if isinstance(r, Year | Month):
        return DATE_TYPES
    if isinstance(r, Zip3):
        return frozenset({FieldType.STRING})
    return NUMERIC


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


def first_year_shown(as_of: date | None, top_age: int) -> int:
    """The earliest birth year that may be disclosed on ``as_of`` (None: today, UTC).

    Someone born in year Y is ``D.year - Y`` years old on a day D of ``D.year`` once their
    birthday has passed, and one year younger before it. So the oldest person a year Y
    can stand for is ``D.year - Y`` (born on 1 January, whose birthday has passed on
    every D), and Y is *indicative of an age over top_age* exactly when
    ``D.year - Y > top_age``. Every birth date of such a year leaves as the category,
    including those of people not yet over ``top_age``: the year is the element
    "indicative of such age" (164.514(b)(2)(i)(C)) whoever it belongs to (on 2026-12-04,
    1936-12-05 is 89 and 1936-12-04 is 90; both leave as "90+"). Months use the same
    boundary, a month being an element of its year. The boundary moves once a year, on
    1 January, so extracts made on different days of one year agree.
    """
    day = as_of if as_of is not None else datetime.now(UTC).date()
    return day.year - top_age


def _bind_year(r: Year, as_of: date | None) -> Op:
    if r.top_age is None:

        def year(value: Any, subject: str | None) -> int:
            return parse_day(value, "generalize/year").year

        return year
    top_age, label = r.top_age, r.label

    def year_or_top(value: Any, subject: str | None) -> str:
        y = parse_day(value, "generalize/year").year
        return label if y < first_year_shown(as_of, top_age) else str(y)

    return year_or_top


def _bind_month(r: Month, as_of: date | None) -> Op:
    top_age, label = r.top_age, r.label

    def month(value: Any, subject: str | None) -> str:
        d = parse_day(value, "generalize/month")
        if top_age is not None and d.year < first_year_shown(as_of, top_age):
            return label
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


def bound_labels(r: Bucket) -> list[str]:
    """The name of each bucket of ``r.bounds``, lowest first."""
    assert r.bounds is not None
    if r.labels is not None:
        return list(r.labels)
    b = r.bounds
    return [f"<{b[0]}", *(f"{x}-{y}" for x, y in itertools.pairwise(b)), f"{b[-1]}+"]


def _bind_bucket(r: Bucket) -> Op:
    if r.bounds is not None:
        bounds = r.bounds
        labels = bound_labels(r)
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
        return _bind_year(r, ctx.as_of)
    if isinstance(r, Month):
        return _bind_month(r, ctx.as_of)
    if isinstance(r, Zip3):
        return _bind_zip3(r)
    if isinstance(r, Age):
        return _bind_age(r)
    return _bind_bucket(r)


@functools.lru_cache(maxsize=8)
def zip3_table_version(name: str) -> str:
    """``name@<census vintage>:sha256:<digest of the file>``: what a ledger event records,
    so a later reader knows exactly which restricted prefixes were applied."""
    text = _zip3_table_path(name).read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    vintage = data.get("version", "?") if isinstance(data, dict) else "?"
    digest = hashlib.sha256(text.encode()).hexdigest()[:16]
    return f"{name}@{vintage}:sha256:{digest}"


def tables_used(params: GeneralizeParams) -> dict[str, str]:
    """The reference tables these params apply (recorded in every ledger event)."""
    r = params.rule
    if not isinstance(r, Zip3):
        return {}
    if r.restricted is not None:
        listed = ",".join(sorted(r.restricted))
        return {"zip3": f"custom:sha256:{hashlib.sha256(listed.encode()).hexdigest()[:16]}"}
    return {"zip3": zip3_table_version(r.table)}


register(
    TransformSpec(
        name="generalize",
        disclosure="generalized",
        params_model=GeneralizeParams,
        applies_to=DATE_TYPES | NUMERIC | {FieldType.STRING},
        rank=50,
        bind=_bind,
        summary=(
            "Disclose a coarser value: year or month (birth years over an age as one "
            "category), ZIP3 (Safe Harbor), age band or bucket (named with labels)."
        ),
        example=(
            'generalize(method=bucket, size=10): 37 -> "30-40"; '
            'generalize(method=year, top_age=89) on 2026-12-04: "1936-12-05" -> "90+"'
        ),
        reveal=_reveal,
        types_for=method_types,
        tables_for=tables_used,
    )
)
