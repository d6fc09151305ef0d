import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from transform_helpers import make_op

from veil import transforms
from veil.transforms import CannotApply, FieldType


@pytest.mark.parametrize(
    ("params", "value", "expected"),
    [
        ({"keep_last": 4}, "4111111111111111", "************1111"),
        ({"keep_first": 1, "keep_last": 2}, "Johnathan", "J******an"),
        ({}, "secret", "******"),
        ({"char": "#"}, "secret", "######"),
        ({"keep_last": 4, "preserve": "- "}, "4111-1111-1111-1111", "****-****-****-1111"),
        ({"keep_first": 3, "preserve": "-"}, "078-05-1120", "078-**-****"),
        ({"keep_last": 4, "min_masked": 1}, "12345", "*2345"),
        ({"keep_first": 2}, "", ""),
    ],
)
def test_mask_golden(params, value, expected):
    out = make_op("mask", params)(value, None)
    assert out == expected
    assert len(out) == len(value)


@pytest.mark.parametrize("value", ["1", "1234", "12345", "1234567"])
def test_short_values_are_fully_masked(value):
    # keep_last=4 with min_masked=4: fewer than 4 hidden characters -> hide everything.
    assert make_op("mask", {"keep_last": 4})(value, None) == "*" * len(value)


def test_exactly_min_masked_hidden_shows_the_ends():
    assert make_op("mask", {"keep_last": 4})("12345678", None) == "****5678"


def test_short_values_fully_masked_with_preserve():
    # Only 3 countable characters would be hidden: everything countable is masked.
    assert make_op("mask", {"keep_last": 4, "preserve": "-"})("12-34-567", None) == "**-**-***"


def test_class_mode_like_hive():
    classes = {"upper": "X", "lower": "x", "digit": "n", "other": None}
    out = make_op("mask", {"classes": classes})("Ab-12 z", None)
    assert out == "Xx-nn x"


def test_class_mode_defaults_and_keep_last():
    out = make_op("mask", {"classes": {}, "keep_last": 4})("Main St 1234, Apt 5B", None)
    assert out == "Xxxx Xx nnnn, Xpt 5B"  # the last 4 *masked-class* characters


def test_class_mode_null_class_is_shown_and_not_counted():
    # digits are shown as-is and do not count towards keep_last / min_masked
    params = {"classes": {"digit": None}, "keep_last": 1, "min_masked": 1}
    assert make_op("mask", params)("ab12cd", None) == "xx12xd"


def test_class_mode_other_replacement():
    params = {"classes": {"other": "?"}}
    assert make_op("mask", params)("a.b", None) == "x?x"


def test_integer_values_mask_digits_and_return_a_string():
    mask = make_op("mask", {"keep_last": 2, "min_masked": 1}, FieldType.INTEGER)
    assert mask(123456, None) == "****56"
    assert mask(-123456, None) == "-****56"
    assert make_op("mask", {"keep_last": 4}, FieldType.INTEGER)(1234, None) == "****"


@pytest.mark.parametrize("value", [1.5, True, None, ["a"], {"a": 1}])
def test_mask_rejects_other_types(value):
    with pytest.raises(CannotApply):
        make_op("mask", {})(value, None)


@pytest.mark.parametrize(
    "raw",
    [
        {"keep_last": -1},
        {"keep_first": -1},
        {"char": ""},
        {"char": "**"},
        {"min_masked": 0},
        {"keep_last": 4, "show_last": 4},
        {"classes": {"upper": "XX"}},
        {"classes": {"punct": "."}},
        {"keep_last": "four"},
    ],
)
def test_mask_rejects_bad_params(raw):
    with pytest.raises(ValidationError):
        transforms.get("mask").parse_params(raw)


def test_mask_reveal_is_the_shown_count():
    spec = transforms.get("mask")
    assert spec.reveal_score(spec.parse_params({"keep_last": 4})) == 4
    assert spec.reveal_score(spec.parse_params({"keep_first": 1, "keep_last": 4})) == 5


text = st.text(alphabet=st.characters(exclude_characters="*#"), max_size=40)


@given(
    value=text,
    keep_first=st.integers(0, 8),
    keep_last=st.integers(0, 8),
    min_masked=st.integers(1, 6),
    preserve=st.sampled_from(["", "-", "- ", "ab"]),
    char=st.sampled_from(["*", "#"]),
)
def test_mask_never_reveals_more_than_keep_first_plus_keep_last(
    value, keep_first, keep_last, min_masked, preserve, char
):
    params = {
        "keep_first": keep_first,
        "keep_last": keep_last,
        "min_masked": min_masked,
        "preserve": preserve,
        "char": char,
    }
    out = make_op("mask", params)(value, None)
    assert len(out) == len(value)
    countable = [i for i, c in enumerate(value) if c not in preserve]
    shown = [i for i in countable if out[i] == value[i]]
    assert len(shown) <= keep_first + keep_last
    hidden = len(countable) - len(shown)
    assert hidden == len(countable) or hidden >= min_masked
    assert all(out[i] == value[i] for i, c in enumerate(value) if c in preserve)


@given(value=st.text(max_size=30), length=st.integers(1, 10))
def test_truncate(value, length):
    assert make_op("truncate", {"length": length})(value, None) == value[:length]
    end = make_op("truncate", {"length": length, "keep_from": "end"})(value, None)
    assert end == value[-length:]


def test_truncate_golden():
    assert make_op("truncate", {"length": 3})("SW1A 1AA", None) == "SW1"
    assert make_op("truncate", {"length": 3, "keep_from": "end"})("SW1A 1AA", None) == "1AA"


@pytest.mark.parametrize("raw", [{}, {"length": 0}, {"length": 2, "keep_from": "middle"}])
def test_truncate_rejects_bad_params(raw):
    with pytest.raises(ValidationError):
        transforms.get("truncate").parse_params(raw)


def _reference_mask(value, params):
    """The mask as its docs say, written out plainly (count: masked, no classes): the
    characters not preserved are ranked; the ranks the params hide are replaced; if
    fewer than min_masked would be, all of them are."""
    s = str(value)
    shown = set(params.get("preserve", "")) | ({"-"} if isinstance(value, int) else set())
    ranked = [i for i, c in enumerate(s) if c not in shown]
    t = len(ranked)
    if params.get("mask_first") is not None:
        lo, hi = 0, min(params["mask_first"], t)
    elif params.get("mask_last") is not None:
        lo, hi = max(t - params["mask_last"], 0), t
    else:
        kf, kl = params.get("keep_first", 0), params.get("keep_last", 0)
        lo, hi = kf, max(t - kl, kf)
    hide = ranked[lo:hi]
    if len(hide) < params.get("min_masked", 4):
        hide = ranked
    out = list(s)
    for i in hide:
        out[i] = params.get("char", "*")
    return "".join(out)


_ends = st.one_of(
    st.fixed_dictionaries({}, optional={"keep_first": st.integers(0, 6),
                                        "keep_last": st.integers(0, 6)}),
    st.fixed_dictionaries({"mask_first": st.integers(1, 9)}),
    st.fixed_dictionaries({"mask_last": st.integers(1, 9)}),
)  # fmt: skip


@given(
    ends=_ends,
    preserve=st.text(alphabet="-() .\\]^[é", min_size=1, max_size=4),
    min_masked=st.integers(1, 5),
    char=st.sampled_from(["*", "#", "\\", "x", "\\1", "é"]).filter(lambda c: len(c) == 1),
    value=st.one_of(
        st.text(alphabet="0123456789-() .\\]^[éaZ\u0663", max_size=16),
        st.integers(-(10**12), 10**12),
    ),
)
def test_masking_with_preserved_characters_is_the_documented_rule(
    ends, preserve, min_masked, char, value
):
    """The ranked-range path (preserve, one char, count: masked) against the rule written
    out plainly above: separators, regex-special characters, a backslash as the mask."""
    params = {**ends, "preserve": preserve, "min_masked": min_masked, "char": char}
    try:
        op = make_op("mask", params)
    except (ValidationError, ValueError):
        return  # a combination the params refuse (mask_first below min_masked, say)
    assert op(value, None) == _reference_mask(value, params)


#: few characters, so that values share shapes; the mask characters among them, so a
#: value may hold its mask's character where the mask hides (it must not narrow the range)
_shapely = st.text(alphabet="19-(*#", max_size=8)


@given(
    ends=_ends,
    preserve=st.text(alphabet="-(", min_size=1, max_size=2),
    min_masked=st.integers(1, 5),
    char=st.sampled_from(["*", "#", "é"]),
    values=st.lists(st.one_of(_shapely, st.integers(-999, 99_999)), min_size=1, max_size=40),
)
def test_one_mask_over_many_values_of_shared_shapes_is_the_documented_rule(
    ends, preserve, min_masked, char, values
):
    """One op applied to many values, as a job does: what it keeps per shape (the range
    to hide, worked out on the first value of that shape) is right for every later one."""
    params = {**ends, "preserve": preserve, "min_masked": min_masked, "char": char}
    try:
        op = make_op("mask", params)
    except (ValidationError, ValueError):
        return
    for value in values:
        assert op(value, None) == _reference_mask(value, params), value


def test_a_value_holding_the_mask_character_does_not_narrow_the_next_ones() -> None:
    op = make_op("mask", {"keep_last": 4, "preserve": "-"})
    assert op("*23-45-6789", None) == "***-**-6789"
    assert op("123-45-6789", None) == "***-**-6789"  # same shape: the first digit hidden too


def test_shapes_kept_are_bounded_and_forgetting_them_changes_nothing(monkeypatch) -> None:
    from veil.transforms import mask as mask_module

    monkeypatch.setattr(mask_module, "_SHAPES", 3)
    kept = mask_module.Shapes()
    for i in range(7):
        kept.keep(bytes(i), None)
        assert len(kept) <= 3
    assert bytes(6) in kept  # the newest is kept
    params = {"keep_first": 1, "keep_last": 2, "preserve": "-"}
    op = make_op("mask", params)
    values = [f"{'-' * i}12345{'-' * j}" for i in range(5) for j in range(5)] * 2
    assert [op(v, None) for v in values] == [_reference_mask(v, params) for v in values]
