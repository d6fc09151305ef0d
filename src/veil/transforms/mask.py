"""Character masks, date masks and truncation.

``mask`` replaces characters of a string (or of an integer's digits) with a mask
character, or per character class as Hive's ``mask()`` does (``classes``). Which ones:

* ``keep_first`` / ``keep_last``: show n characters at an end, mask the rest (Hive
  ``mask_show_first_n`` / ``mask_show_last_n``, DLP ``number_to_mask: -n``).
* ``mask_first`` / ``mask_last``: mask n characters at an end, show the rest (Hive
  ``mask_first_n`` / ``mask_last_n``, DLP ``number_to_mask: n`` with ``reverse_order``).
* ``count``: which characters those n count. ``masked`` (the default, like DLP's
  ``characters_to_ignore``): only characters that would be masked; ``preserve``
  separators and classes mapped to null are shown and not counted. ``all`` (Hive and
  Ranger): every character is a position; an unmasked one inside the masked range stays
  as it is. Ranger's MASK_SHOW_LAST_4 on ``TestString-123`` gives ``xxxxxxxxxx-123``
  (the ``-`` is one of the last four); so does veil with ``count: all``, while the
  default counts only masked-class characters and shows ``xxxxxxxxxg-123``.
* ``length``: emit exactly ``length`` mask characters for the hidden part, whatever the
  input length, so the output does not leak the value's length (Ranger's masks keep it;
  BigQuery's LAST_FOUR_CHARACTERS writes ``XXXXX`` and the last four).

Where veil is stricter than the tools it borrows from, on purpose (fail closed):

* **Short values are masked whole.** When fewer than ``min_masked`` characters would
  actually be replaced, every maskable character is. Ranger's MASK_SHOW_LAST_4
  (``mask_show_last_n(col, 4, 'x', 'x', 'x', -1, '1')``) returns a value of 4 characters
  or fewer unchanged; veil never does: with ``keep_last: 4, count: all, min_masked: 1``
  and Ranger's classes it gives Ranger's output for every longer value, and a value of
  4 characters or fewer fully masked. With the default ``min_masked: 4`` values of 5 to
  7 characters are masked whole too.
* **No unkeyed hash.** Ranger's MASK_HASH is Hive's ``mask_hash``: unsalted SHA-256 of the
  value, which anyone can recompute for a guessed value. veil's ``hash`` is keyed.
* **Integers are masked as text.** Hive masks a number's digits into another number
  (``numberChar``); veil returns the masked digits as a string, keeping a minus sign.

``mask_date`` is Hive's ``mask(date)``: it sets the day, month and year of a date to
constants (null keeps the part) and keeps the type. Months are 1-12 (Hive's ``mask()``
takes 0-11 and adds one). The defaults, day 1 and month 1 with the year kept, are Ranger's
MASK_DATE_SHOW_YEAR (``mask(col, 'x', 'x', 'x', -1, '1', 1, 0, -1)``). A combination
that gives an impossible date for some input (day 31 with a kept month; Hive's
``Date.of`` throws at run time and fails the query) is refused when the policy is
compiled, as is year 0 (Hive's default ``yearValue``; veil's dates start at year 1).
A datetime keeps its offset; its time of day becomes midnight unless ``keep_time``: the
time is an element of the date too.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from .base import BindContext, CannotApply, FieldType, Op, Params, TransformSpec, register
from .dates import DATE_TYPES

MaskChar = Annotated[str, Field(min_length=1, max_length=1)]


class MaskClasses(Params):
    """Replacement per character class, like Hive's ``mask()``; null keeps the class as-is."""

    upper: MaskChar | None = "X"
    lower: MaskChar | None = "x"
    digit: MaskChar | None = "n"
    other: MaskChar | None = None


class MaskParams(Params):
    """``preserve`` characters (separators) are never masked; with ``classes``, each
    character is replaced by its class's mask and ``char`` is unused."""

    keep_first: int = Field(default=0, ge=0)
    keep_last: int = Field(default=0, ge=0)
    mask_first: int | None = Field(default=None, ge=1)
    mask_last: int | None = Field(default=None, ge=1)
    count: Literal["masked", "all"] = "masked"
    length: int | None = Field(default=None, ge=1, le=64)
    char: MaskChar = "*"
    preserve: str = ""
    min_masked: int = Field(default=4, ge=1)
    classes: MaskClasses | None = None

    @model_validator(mode="after")
    def _one_shape(self) -> MaskParams:
        hide = self.mask_first if self.mask_first is not None else self.mask_last
        if self.mask_first is not None and self.mask_last is not None:
            raise ValueError("give one of 'mask_first' or 'mask_last'")
        if hide is not None:
            if self.keep_first or self.keep_last:
                raise ValueError(
                    "'mask_first'/'mask_last' say what is hidden, 'keep_first'/'keep_last' "
                    "what is shown: use one pair"
                )
            if hide < self.min_masked:
                raise ValueError(
                    f"masking {hide} characters is fewer than 'min_masked' ({self.min_masked}), "
                    "so every value would be masked whole: lower 'min_masked' or mask more"
                )
        if self.length is not None and (
            hide is not None or self.classes is not None or self.preserve
        ):
            raise ValueError(
                "'length' replaces the hidden part with a fixed run of 'char': it goes with "
                "'keep_first'/'keep_last' only, not with 'mask_first'/'mask_last', "
                "'classes' or 'preserve'"
            )
        return self


class _Hiding(dict[int, int]):
    """A ``str.translate`` table mapping the shown characters to themselves and every
    other one to the mask character, learned as they come (at most ``_LEARN`` kept)."""

    def __init__(self, shown: dict[int, int], char: int) -> None:
        super().__init__(shown)
        self._char = char

    def __missing__(self, code: int) -> int:
        if len(self) < _LEARN:
            self[code] = self._char
        return self._char


#: code points a mask's translate table learns; past that they are looked up each time
_LEARN = 4096
#: value shapes a mask keeps the hidden range of (cleared when full), and the longest
#: value it keeps one for (identifiers are short; long values seldom share a shape)
_SHAPES = 1024
_SHAPE_LENGTH = 64
_UNSEEN: Any = object()


class Shapes(dict[bytes, tuple[int, int, str] | None]):
    """A mask's shapes: shape -> (start, end, replacement) of the range it hides, or
    None where it hides nothing; at most ``_SHAPES``, all forgotten when full."""

    def keep(self, shape: bytes, cut: tuple[int, int, str] | None) -> None:
        if len(self) >= _SHAPES:
            self.clear()
        self[shape] = cut


def _class_of(classes: MaskClasses, c: str) -> str | None:
    """The replacement for ``c``, or None if its class is shown as-is."""
    if c.isupper():
        return classes.upper
    if c.islower():
        return classes.lower
    if c.isdigit():
        return classes.digit
    return classes.other


def _hidden_range(params: MaskParams) -> Callable[[int], tuple[int, int]]:
    """``t`` counted characters -> the half-open range of their ranks to mask."""
    kf, kl = params.keep_first, params.keep_last
    if params.mask_first is not None:
        n = params.mask_first
        return lambda t: (0, min(n, t))
    if params.mask_last is not None:
        n = params.mask_last
        return lambda t: (max(t - n, 0), t)
    return lambda t: (kf, max(t - kl, kf))


def _bind_mask(params: MaskParams, ctx: BindContext) -> Op:
    if params.length is not None:
        return _bind_fixed_length(params)
    rng = _hidden_range(params)
    min_masked, char, classes = params.min_masked, params.char, params.classes
    count_all = params.count == "all"
    preserve = frozenset(params.preserve)
    # A minus sign carries no identifying information; keep it so "-1234" stays numeric-looking.
    int_preserve = preserve | {"-"}
    simple = not preserve and classes is None  # every character is masked with ``char``

    def masked_simple(s: str) -> str:
        n = len(s)
        lo, hi = rng(n)
        if hi - lo < min_masked:
            return char * n
        return s[:lo] + char * (hi - lo) + s[hi:]

    def hidden_range(s: str, shown: frozenset[str]) -> tuple[int, int] | None:
        # masked_general with one ``char`` for every class and only hidden characters
        # counted (the default; SSNs and phones keep their separators), without a list
        # per character: the hidden ones counted by str.count, the range's ends found by
        # walking in from each end. None: nothing is hidden.
        t = len(s) - sum(map(s.count, shown))
        lo, hi = rng(t)
        lo = min(lo, t)
        hi = min(max(hi, lo), t)
        if hi - lo < min_masked:  # fail closed, as masked_general
            lo, hi = 0, t
        if lo == hi:
            return None
        # s[a:b] holds the hidden characters of ranks lo..hi-1 (and shown ones between
        # them): a found from the start, b from the end, each after as many hidden
        # characters as the params keep at that end (a few, where masks keep ends).
        a, k = 0, lo
        while k:
            if s[a] not in shown:
                k -= 1
            a += 1
        b, k = len(s), t - hi
        while k:
            b -= 1
            if s[b] not in shown:
                k -= 1
        return a, b

    def masked_shown(s: str, shown: frozenset[str], others: dict[int, int]) -> str:
        # the range replaced by one ``str.translate``
        cut = hidden_range(s, shown)
        if cut is None:
            return s
        a, b = cut
        return s[:a] + s[a:b].translate(others) + s[b:]

    def masked_general(s: str, shown: frozenset[str]) -> str:
        # The replacement of each character, None where it is shown whatever happens.
        repl = [
            None if c in shown else char if classes is None else _class_of(classes, c) for c in s
        ]
        ranked = range(len(s)) if count_all else [i for i, r in enumerate(repl) if r is not None]
        lo, hi = rng(len(ranked))
        hide = [(i, r) for i in ranked[lo:hi] if (r := repl[i]) is not None]
        if len(hide) < min_masked:
            # Fail closed: the characters actually replaced are what protects the value.
            hide = [(i, r) for i, r in enumerate(repl) if r is not None]
        out = list(s)
        for i, r in hide:
            out[i] = r
        return "".join(out)

    one_char = classes is None and not count_all  # masked_shown applies

    def hidden_of(shown: frozenset[str]) -> dict[int, int]:
        """A ``str.translate`` table: ``char`` for every character but ``shown``."""
        return _Hiding({ord(c): ord(c) for c in shown}, ord(char))

    def by_shape(shown: frozenset[str]) -> Callable[[str], str]:
        """masked_shown for ``shown``, by the value's shape where it is ASCII.

        What masked_shown does to a value depends only on its length and where its
        shown characters stand (and which they are): its *shape*, the value with every
        other character made NUL. An ASCII value's shape is one ``bytes.translate``;
        the range to hide and the text that replaces it are worked out once per shape,
        by masked_shown's own rule, and kept (SSNs and phone numbers come in a few shapes),
        so a value costs a translate, a lookup and two slices. masked_shown on an SSN
        was a third of the record engine's time on a 100-record request. A shape holds
        no hidden character, only the length and the separators the output shows.
        """
        others = hidden_of(shown)
        if "\0" in shown:  # NUL would be read as hidden in a shape: no shortcut
            return lambda s: masked_shown(s, shown, others)
        table = bytes(b if chr(b) in shown else 0 for b in range(256))
        shapes = Shapes()
        known = shapes.get
        unseen = _UNSEEN

        def masked(s: str) -> str:
            if len(s) > _SHAPE_LENGTH or not s.isascii():
                return masked_shown(s, shown, others)
            shape = s.encode().translate(table)
            cut: tuple[int, int, str] | None = known(shape, unseen)  # one lookup: others clear
            if cut is unseen:
                ends = hidden_range(s, shown)
                cut = None if ends is None else (*ends, s[ends[0] : ends[1]].translate(others))
                shapes.keep(shape, cut)
            if cut is None:
                return s
            a, b, middle = cut
            return s[:a] + middle + s[b:]

        return masked

    str_masked = by_shape(preserve)
    int_masked = by_shape(int_preserve)

    def mask(value: Any, subject: str | None) -> str:
        if type(value) is str:
            if simple:
                return masked_simple(value)
            if one_char:
                return str_masked(value)
            return masked_general(value, preserve)
        if type(value) is int:
            if one_char:
                return int_masked(str(value))
            return masked_general(str(value), int_preserve)
        raise CannotApply("mask: value is not a string or integer")

    return mask


def _bind_fixed_length(params: MaskParams) -> Op:
    kf, kl, min_masked = params.keep_first, params.keep_last, params.min_masked
    assert params.length is not None
    run = params.char * params.length
    whole = params.char * (kf + params.length + kl)  # every output has this length

    def fixed(value: Any, subject: str | None) -> str:
        if type(value) is int:
            s = str(value)
        elif type(value) is str:
            s = value
        else:
            raise CannotApply("mask: value is not a string or integer")
        n = len(s)
        if n - kf - kl < min_masked:
            return whole
        return s[:kf] + run + s[n - kl :]

    return fixed


def _mask_reveal(p: MaskParams) -> float:
    """Characters shown, roughly: masking one end shows all but n (counted from a 64-character
    value); a fixed ``length`` hides the length too."""
    if p.mask_first is not None or p.mask_last is not None:
        return max(64.0 - (p.mask_first or p.mask_last or 0), 0.5)
    shown = float(p.keep_first + p.keep_last)
    return shown - 0.5 if p.length is not None else shown


register(
    TransformSpec(
        name="mask",
        disclosure="masked",
        params_model=MaskParams,
        applies_to=frozenset({FieldType.STRING, FieldType.INTEGER}),
        rank=60,
        bind=_bind_mask,
        summary=(
            "Replace characters with a mask character (or per class, as Hive does): all, all "
            "but the first/last n (keep_first/keep_last), or only the first/last n "
            "(mask_first/mask_last); count: all counts separators as Ranger does; length "
            "hides the value's length."
        ),
        example=(
            'mask(keep_last=4): "4111111111111111" -> "************1111"; '
            "mask(keep_last=4, count=all, min_masked=1, classes={upper: x, lower: x, digit: x}): "
            '"TestString-123" -> "xxxxxxxxxx-123"'
        ),
        reveal=_mask_reveal,
    )
)


# ------------------------------------------------------------------------- mask_date


class MaskDateParams(Params):
    """Constants for the parts of a date; null keeps the part. Months are 1-12."""

    day: Annotated[int | None, Field(ge=1, le=31)] = 1
    month: Annotated[int | None, Field(ge=1, le=12)] = 1
    year: Annotated[int | None, Field(ge=1, le=9999)] = None
    keep_time: bool = False

    @model_validator(mode="after")
    def _always_a_date(self) -> MaskDateParams:
        if self.day is None and self.month is None and self.year is None:
            raise ValueError("mask_date keeping day, month and year discloses the date: use keep")
        # Whether a result exists depends on the input only through its month, day and
        # whether its year is a leap year: a common and a leap year cover every input.
        for y in (2023, 2024):
            d = date(y, 1, 1)
            while d.year == y:
                try:
                    _masked_day(d, self.day, self.month, self.year)
                except ValueError:
                    got = (
                        f"{self.year or y:04d}-{self.month or d.month:02d}-{self.day or d.day:02d}"
                    )
                    raise ValueError(
                        f"an input of {d.isoformat()} would give {got}, which is not a date: "
                        "keep fewer parts or pick a day that every resulting month has "
                        "(Hive's mask() fails the query here)"
                    ) from None
                d += timedelta(days=1)
        return self


def _masked_day(d: date, day: int | None, month: int | None, year: int | None) -> date:
    return date(
        d.year if year is None else year,
        d.month if month is None else month,
        d.day if day is None else day,
    )


def _bind_mask_date(params: MaskDateParams, ctx: BindContext) -> Op:
    day, month, year, keep_time = params.day, params.month, params.year, params.keep_time

    def mask_date(value: Any, subject: str | None) -> str:
        if type(value) is not str:
            raise CannotApply("mask_date: value is not a date string")
        try:
            if len(value) == 10:
                return _masked_day(date.fromisoformat(value), day, month, year).isoformat()
            dt = datetime.fromisoformat(value)
            new = _masked_day(dt.date(), day, month, year)
            dt = dt.replace(year=new.year, month=new.month, day=new.day)
        except ValueError:
            raise CannotApply("mask_date: value is not an ISO date or datetime") from None
        if not keep_time:
            dt = dt.replace(hour=0, minute=0, second=0, microsecond=0)
        out = dt.isoformat(" " if value[10:11] == " " else "T")
        if value.endswith(("Z", "z")) and out.endswith("+00:00"):
            out = out[:-6] + "Z"
        return out

    return mask_date


def _date_reveal(p: MaskDateParams) -> float:
    """1 / the number of days that share one output (as ``generalize`` ranks its bins)."""
    days = (31 if p.day is not None else 1) * (12 if p.month is not None else 1)
    days *= 100 if p.year is not None else 1
    return (24.0 if p.keep_time else 1.0) / days


register(
    TransformSpec(
        name="mask_date",
        disclosure="generalized",
        params_model=MaskDateParams,
        applies_to=DATE_TYPES,
        rank=50,
        bind=_bind_mask_date,
        summary=(
            "Set the day, month and/or year of a date to constants, keeping the type (Hive's "
            "mask(date)); by default day and month become 1 (Ranger's MASK_DATE_SHOW_YEAR)."
        ),
        example='mask_date(): "2016-04-20" -> "2016-01-01"; mask_date(day=None): -> "2016-01-20"',
        reveal=_date_reveal,
        types_for=lambda p: DATE_TYPES,
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
