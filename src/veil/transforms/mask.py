"""Character masking and truncation of strings.

``mask`` never shows a short value: when fewer than ``min_masked`` characters would be
hidden the whole value is masked. Apache Ranger's MASK_SHOW_LAST_4, by contrast, shows
a 4-character value in full.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from .base import BindContext, CannotApply, FieldType, Op, Params, TransformSpec, register

MaskChar = Annotated[str, Field(min_length=1, max_length=1)]


class MaskClasses(Params):
    """Replacement per character class, like Hive's ``mask()``; null keeps the class as-is."""

    upper: MaskChar | None = "X"
    lower: MaskChar | None = "x"
    digit: MaskChar | None = "n"
    other: MaskChar | None = None


class MaskParams(Params):
    """``preserve`` characters (separators) are shown and not counted; with ``classes``,
    each character is replaced by its class's mask and ``char`` is unused."""

    keep_first: int = Field(default=0, ge=0)
    keep_last: int = Field(default=0, ge=0)
    char: MaskChar = "*"
    preserve: str = ""
    min_masked: int = Field(default=4, ge=1)
    classes: MaskClasses | None = None


def _class_of(classes: MaskClasses, c: str) -> str | None:
    """The replacement for ``c``, or None if its class is shown as-is."""
    if c.isupper():
        return classes.upper
    if c.islower():
        return classes.lower
    if c.isdigit():
        return classes.digit
    return classes.other


def _bind_mask(params: MaskParams, ctx: BindContext) -> Op:
    keep_first, keep_last = params.keep_first, params.keep_last
    min_masked, char, classes = params.min_masked, params.char, params.classes
    preserve = frozenset(params.preserve)
    # A minus sign carries no identifying information; keep it so "-1234" stays numeric-looking.
    int_preserve = preserve | {"-"}
    simple = not preserve and classes is None

    def masked_simple(s: str) -> str:
        n = len(s)
        hidden = n - keep_first - keep_last
        if hidden < min_masked:
            return char * n
        return s[:keep_first] + char * hidden + s[n - keep_last :]

    def masked_general(s: str, shown: frozenset[str]) -> str:
        out = list(s)
        # Positions that count: not preserved and (in class mode) of a class that is masked.
        if classes is None:
            idx = [i for i, c in enumerate(s) if c not in shown]
            repl = [char] * len(idx)
        else:
            idx, repl = [], []
            for i, c in enumerate(s):
                if c in shown:
                    continue
                r = _class_of(classes, c)
                if r is not None:
                    idx.append(i)
                    repl.append(r)
        n = len(idx)
        hidden = n - keep_first - keep_last
        lo, hi = (0, n) if hidden < min_masked else (keep_first, n - keep_last)
        for k in range(lo, hi):
            out[idx[k]] = repl[k]
        return "".join(out)

    def mask(value: Any, subject: str | None) -> str:
        if type(value) is str:
            return masked_simple(value) if simple else masked_general(value, preserve)
        if type(value) is int:
            return masked_general(str(value), int_preserve)
        raise CannotApply("mask: value is not a string or integer")

    return mask


register(
    TransformSpec(
        name="mask",
        disclosure="masked",
        params_model=MaskParams,
        applies_to=frozenset({FieldType.STRING, FieldType.INTEGER}),
        rank=60,
        bind=_bind_mask,
        summary="Replace characters with a mask character, optionally showing a few at the ends.",
        example='mask(keep_last=4): "4111111111111111" -> "************1111"',
        reveal=lambda p: float(p.keep_first + p.keep_last),
    )
)


class TruncateParams(Params):
    length: int = Field(ge=1)
    keep_from: Literal["start", "end"] = "start"


def _bind_truncate(params: TruncateParams, ctx: BindContext) -> Op:
    length = params.length

    def keep_start(value: Any, subject: str | None) -> str:
        if type(value) is not str:
            raise CannotApply("truncate: value is not a string")
        return value[:length]

    def keep_end(value: Any, subject: str | None) -> str:
        if type(value) is not str:
            raise CannotApply("truncate: value is not a string")
        return value[-length:]

    return keep_start if params.keep_from == "start" else keep_end


register(
    TransformSpec(
        name="truncate",
        disclosure="masked",
        params_model=TruncateParams,
        applies_to=frozenset({FieldType.STRING}),
        rank=70,
        bind=_bind_truncate,
        summary="Keep only the first (or last) `length` characters.",
        example='truncate(length=3): "SW1A 1AA" -> "SW1"',
        reveal=lambda p: float(p.length),
    )
)
