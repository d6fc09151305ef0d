"""Mask semantics users bring from Hive, Ranger, Google DLP and BigQuery, checked against the
source projects' own tests and documentation (each group cites repository, path and commit),
and properties of the new options checked without reading the implementation."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from transform_helpers import make_op

from veil import transforms
from veil.policy.decision import Outcome
from veil.transforms import CannotApply, FieldType


def hive(upper: str | None, lower: str | None, digit: str | None, other: str | None) -> dict:
    """Hive's (upperChar, lowerChar, digitChar, otherChar); Hive's -1 ("retain") is None."""
    return {"upper": upper, "lower": lower, "digit": digit, "other": other}


#: Hive counts positions (every character) and has no minimum: veil's spelling of that
HIVE = {"count": "all", "min_masked": 1}
#: Ranger's masks call Hive's functions with 'x', 'x', 'x', -1
RANGER = {**HIVE, "classes": hive("x", "x", "x", None)}


def mask(params: dict, value: str | int, ftype: FieldType = FieldType.STRING) -> str:
    return make_op("mask", params, ftype)(value, None)


# --- Hive: the .q.out results of Hive's own query tests ------------------------------
# apache/hive ql/src/test/results/clientpositive/llap/udf_mask.q.out
#   @ 97d259535d940f38a153f2f0382e3a6d078c905f
#   mask('TestString-123', 'X', 'x', '0', ':') -> XxxxXxxxxx:000 (explain with '1': ...1000)
# apache/hive ql/src/test/results/clientpositive/llap/udf_mask_first_n.q.out
#   @ 97d259535d940f38a153f2f0382e3a6d078c905f
# apache/hive ql/src/test/results/clientpositive/llap/udf_mask_last_n.q.out
#   @ 9b597b6d7a69f5063bec4a5d002a8780785ab522
# apache/hive ql/src/test/results/clientpositive/llap/udf_mask_show_first_n.q.out
#   @ 0d6bb0eedeb70473e99af3c803d86279deb67352
# apache/hive ql/src/test/results/clientpositive/llap/udf_mask_show_last_n.q.out
#   @ 441c4770a5342fe7ee2a7f6c696c8aef456745ca
HIVE_STRING_CASES = [
    # (Hive call, veil params, expected)
    ("mask(v, 'X', 'x', '0', ':')", {}, "XxxxXxxxxx:000"),
    ("mask_first_n(v, 4, 'X', 'x', '0', ':')", {"mask_first": 4}, "XxxxString-123"),
    ("mask_last_n(v, 4, 'X', 'x', '0', ':')", {"mask_last": 4}, "TestString:000"),
    ("mask_show_first_n(v, 4, 'X', 'x', '0', ':')", {"keep_first": 4}, "TestXxxxxx:000"),
    ("mask_show_last_n(v, 4, 'X', 'x', '0', ':')", {"keep_last": 4}, "XxxxXxxxxx-123"),
]
HIVE_EXPLAIN_CASES = [  # the same calls with otherChar '1' (the queries' EXPLAIN plans)
    ({}, "XxxxXxxxxx1000"),
    ({"mask_first": 4}, "XxxxString-123"),
    ({"mask_last": 4}, "TestString1000"),
    ({"keep_first": 4}, "TestXxxxxx1000"),
    ({"keep_last": 4}, "XxxxXxxxxx-123"),
]


@pytest.mark.parametrize(("call", "params", "expected"), HIVE_STRING_CASES)
def test_hive_string_masks(call, params, expected):
    classes = hive("X", "x", "0", ":")
    assert mask({**HIVE, "classes": classes, **params}, "TestString-123") == expected, call


@pytest.mark.parametrize(("params", "expected"), HIVE_EXPLAIN_CASES)
def test_hive_string_masks_other_char(params, expected):
    classes = hive("X", "x", "0", "1")
    assert mask({**HIVE, "classes": classes, **params}, "TestString-123") == expected


def test_hive_mask_defaults_are_veils_class_defaults():
    # GenericUDFMask.java @ 441c4770a5342fe7ee2a7f6c696c8aef456745ca (apache/hive
    # ql/src/java/org/apache/hadoop/hive/ql/udf/generic/): upper 'X', lower 'x', digit 'n',
    # other -1 (kept): the defaults of veil's MaskClasses.
    assert mask({"classes": {}}, "TestString-123") == "XxxxXxxxxx-nnn"


def test_hive_mask_last_n_masks_a_short_value_whole_as_veil_does():
    # GenericUDFMaskLastN.java @ 1a748a70c04107de523d980d1b8539900676fe0a: startIdx is 0
    # when value.length() <= charCount, so the whole value is masked.
    assert mask({**HIVE, "classes": {}, "mask_last": 4}, "Ab1") == "Xxn"


def test_hive_show_last_n_shows_a_short_value_whole_veil_does_not():
    # GenericUDFMaskShowLastN.java @ 441c4770a5342fe7ee2a7f6c696c8aef456745ca:
    # `if(value.length() <= charCount) return value;` -- veil fails closed instead.
    assert mask({**HIVE, "classes": {}, "keep_last": 4}, "Ab12") == "Xxnn"
    assert mask({**HIVE, "classes": {}, "keep_first": 4}, "Ab12") == "Xxnn"


# apache/hive ql/src/test/results/clientpositive/llap/udf_mask.q.out
#   @ 97d259535d940f38a153f2f0382e3a6d078c905f
#   mask(cast('2016-04-20' as date), -1, -1, -1, -1, -1, dayValue, monthValue, yearValue);
#   Hive months are 0-11 (GenericUDFMask.java adds 1), veil's 1-12; -1 keeps a part.
HIVE_DATE_CASES = [
    # (day, month, year) in Hive's numbering, veil params, expected
    ((1, 0, -1), {"day": 1, "month": 1, "year": None}, "2016-01-01"),
    ((1, -1, -1), {"day": 1, "month": None, "year": None}, "2016-04-01"),
    ((-1, 0, -1), {"day": None, "month": 1, "year": None}, "2016-01-20"),
]


@pytest.mark.parametrize(("hive_args", "params", "expected"), HIVE_DATE_CASES)
def test_hive_date_masks(hive_args, params, expected):
    assert make_op("mask_date", params, FieldType.DATE)("2016-04-20", None) == expected


def test_hive_date_cases_veil_refuses_at_compile_time():
    spec = transforms.get("mask_date")
    # Hive's year 0 ('0000-01-01' in udf_mask.q.out): veil's dates start at year 1.
    with pytest.raises(ValidationError):
        spec.parse_params({"year": 0})
    # (-1, -1, -1) keeps the whole date: that is `keep`, not a mask.
    with pytest.raises(ValidationError):
        spec.parse_params({"day": None, "month": None, "year": None})
    # Hive resets an out-of-range dayValue to 1 silently (GenericUDFMask.java init);
    # veil reports it.
    with pytest.raises(ValidationError):
        spec.parse_params({"day": 0})
    with pytest.raises(ValidationError):
        spec.parse_params({"month": 0})


@pytest.mark.parametrize(
    "params",
    [
        {"day": 31, "month": None},  # every month without a 31st
        {"day": 30, "month": 2},
        {"day": 29, "month": 2, "year": 2023},
        {"day": 29, "month": None},  # February of a common year
        {"day": None, "month": 4},  # an input of the 31st has no 31 April
        {"day": None, "month": 2, "year": None},
        {"day": None, "month": None, "year": 2023},  # 29 February of a leap year
    ],
)
def test_impossible_dates_are_refused_not_failed_at_run_time(params):
    # Hive: MaskTransformer.transform(Date) returns Date.of(year, month, day), which is
    # LocalDate.of and throws for 2016-02-31: the query fails. veil refuses the params.
    with pytest.raises(ValidationError, match="not a date"):
        transforms.get("mask_date").parse_params(params)


@pytest.mark.parametrize(
    "params",
    [
        {"day": 29, "month": 2, "year": 2024},
        {"day": 28, "month": None},
        {"day": None, "month": 1},
        {"day": None, "month": 12, "year": 2001},
        {"day": None, "month": None, "year": 2000},  # leap: every 29 February exists
    ],
)
def test_dates_that_always_exist_are_accepted(params):
    transforms.get("mask_date").parse_params(params)


# --- Ranger: the Hive service definition's data masks ----------------------------------
# apache/ranger agents-common/src/main/resources/service-defs/ranger-servicedef-hive.json
#   @ 00ed2023136f149c9df82b44562c60699698e43c, dataMaskDef.maskTypes:
#   MASK = mask({col}); MASK_SHOW_LAST_4 = mask_show_last_n({col}, 4, 'x', 'x', 'x', -1, '1');
#   MASK_SHOW_FIRST_4 = mask_show_first_n({col}, 4, 'x', 'x', 'x', -1, '1');
#   MASK_DATE_SHOW_YEAR = mask({col}, 'x', 'x', 'x', -1, '1', 1, 0, -1).
# Expected values: those Hive functions (sources cited above) applied to the input.
RANGER_CASES = [
    ("MASK", {"classes": {}}, "TestString-123", "XxxxXxxxxx-nnn"),
    ("MASK_SHOW_LAST_4", {**RANGER, "keep_last": 4}, "TestString-123", "xxxxxxxxxx-123"),
    ("MASK_SHOW_LAST_4", {**RANGER, "keep_last": 4}, "4111-1111-1111-1111", "xxxx-xxxx-xxxx-1111"),
    ("MASK_SHOW_FIRST_4", {**RANGER, "keep_first": 4}, "TestString-123", "Testxxxxxx-xxx"),
    ("MASK_SHOW_FIRST_4", {**RANGER, "keep_first": 4}, "12345", "1234x"),
]


@pytest.mark.parametrize(("name", "params", "value", "expected"), RANGER_CASES)
def test_ranger_masks(name, params, value, expected):
    assert mask(params, value) == expected, name


def test_ranger_date_show_year_is_the_mask_date_default():
    op = make_op("mask_date", {}, FieldType.DATE)
    assert op("2016-04-20", None) == "2016-01-01"


def test_veils_default_count_differs_from_ranger_on_separators():
    # The separator is not counted by default, so one more letter is shown.
    params = {"classes": hive("x", "x", "x", None), "keep_last": 4, "min_masked": 1}
    assert mask(params, "TestString-123") == "xxxxxxxxxg-123"


@pytest.mark.parametrize("value", ["", "a", "ab-", "abcd", "12-4"])
def test_ranger_style_never_shows_a_value_of_four_characters_or_fewer(value):
    # Ranger shows these whole (MASK_SHOW_LAST_4 -> mask_show_last_n returns them as-is).
    out = mask({**RANGER, "keep_last": 4}, value)
    assert out == "".join("x" if c.isalnum() else c for c in value)


def test_default_min_masked_masks_values_of_five_to_seven_characters_whole():
    params = {**RANGER, "min_masked": 4, "keep_last": 4}
    assert mask(params, "1234567") == "xxxxxxx"
    assert mask(params, "12345678") == "xxxx5678"


# --- Google DLP: CharacterMaskConfig and BucketingConfig ------------------------------
# googleapis/googleapis google/privacy/dlp/v2/dlp.proto
#   @ 07ee67599cf8b34d2fb0bf6a0823dbc1aa875568, message CharacterMaskConfig:
#   number_to_mask 14, masking_character '0': 1234-5678-9012-3456 -> 00000000000000-3456;
#   number_to_mask 3, '*', reverse_order: 12345 -> 12***; skip '-' and mask 5 with '*':
#   555-555-5555 -> ***-**5-5555; number_to_mask -4, CharsToIgnore '-':
#   ****-****-****-3456, and with reverse_order 1234-****-****-****.
DLP_CASES = [
    ({"mask_first": 14, "char": "0"}, "1234-5678-9012-3456", "00000000000000-3456"),
    ({"mask_last": 3, "min_masked": 3}, "12345", "12***"),
    ({"mask_first": 5, "preserve": "-"}, "555-555-5555", "***-**5-5555"),
    ({"keep_last": 4, "preserve": "-"}, "1234-5678-9012-3456", "****-****-****-3456"),
    ({"keep_first": 4, "preserve": "-"}, "1234-5678-9012-3456", "1234-****-****-****"),
]


@pytest.mark.parametrize(("params", "value", "expected"), DLP_CASES)
def test_dlp_character_mask(params, value, expected):
    assert mask(params, value) == expected


def test_dlp_number_to_mask_beyond_the_length_masks_everything():
    # "If not set, all matching chars will be masked" (same proto); more than there are:
    assert mask({"mask_last": 8}, "12345") == "*****"


def test_dlp_bucketing_replacement_values():
    # Same proto, message BucketingConfig: "such as 1-30 -> LOW, 31-65 -> MEDIUM,
    # 66-100 -> HIGH"; min inclusive, max exclusive.
    params = {"method": "bucket", "bounds": [31, 66], "labels": ["LOW", "MEDIUM", "HIGH"]}
    op = make_op("generalize", params, FieldType.INTEGER)
    assert [op(v, None) for v in (1, 30, 31, 65, 66, 100)] == [
        "LOW",
        "LOW",
        "MEDIUM",
        "MEDIUM",
        "HIGH",
        "HIGH",
    ]


# --- BigQuery: the LAST_FOUR_CHARACTERS masking rule ----------------------------------
# https://cloud.google.com/ruby/docs/reference/google-cloud-bigquery-data_policies-v1/latest/
#   Google-Cloud-Bigquery-DataPolicies-V1-DataMaskingPolicy-PredefinedExpression
#   "If text length > 4 characters: Replace text with XXXXX, append last four characters of
#   original text. If text length <= 4 characters: Apply SHA-256 hash."
BIGQUERY_LAST_FOUR = {"keep_last": 4, "length": 5, "char": "X", "min_masked": 1}


def test_bigquery_last_four_is_a_length_hiding_mask():
    assert mask(BIGQUERY_LAST_FOUR, "4111111111111111") == "XXXXX1111"
    assert mask(BIGQUERY_LAST_FOUR, "12345") == "XXXXX2345"
    # veil has no unkeyed hash: a short value is masked whole, at the same length
    assert mask(BIGQUERY_LAST_FOUR, "1234") == "XXXXXXXXX"


# --- params ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        {"mask_first": 4, "mask_last": 4},
        {"mask_first": 4, "keep_last": 4},
        {"mask_last": 4, "keep_first": 1},
        {"mask_last": 0},
        {"mask_first": 2},  # fewer than min_masked (4): every value would be masked whole
        {"count": "some"},
        {"length": 0},
        {"length": 8, "classes": {}},
        {"length": 8, "preserve": "-"},
        {"length": 8, "mask_last": 4},
    ],
)
def test_bad_params(raw):
    with pytest.raises(ValidationError):
        transforms.get("mask").parse_params(raw)


def test_describe_names_the_new_options():
    spec = transforms.get("mask")
    params = spec.parse_params({"keep_last": 4, "count": "all", "min_masked": 1})
    outcome = Outcome("transform", transform="mask", params=params, rank=spec.rank)
    assert outcome.describe() == "mask(keep_last=4, count='all', min_masked=1)"
    spec = transforms.get("mask_date")
    outcome = Outcome("transform", "mask_date", spec.parse_params({"day": None}), spec.rank)
    assert outcome.describe() == "mask_date(day=None)"


def test_mask_date_spec():
    spec = transforms.get("mask_date")
    params = spec.parse_params({})
    assert spec.discloses(params) == "generalized"
    assert spec.types(params) == {FieldType.DATE, FieldType.DATETIME}
    assert spec.reveal_score(spec.parse_params({"day": None})) > spec.reveal_score(params)


def test_reveal_orders_the_new_options():
    spec = transforms.get("mask")

    def reveal(raw):
        return spec.reveal_score(spec.parse_params(raw))

    assert reveal({"mask_last": 4}) > reveal({"keep_last": 4})
    assert reveal({"mask_last": 4}) > reveal({"mask_last": 8})
    assert reveal({"keep_last": 4, "length": 4}) < reveal({"keep_last": 4})


# --- mask_date ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "value", "expected"),
    [
        ({}, "2024-12-31T23:30:00-05:00", "2024-01-01T00:00:00-05:00"),  # its own offset
        ({}, "2024-07-02 10:11:12", "2024-01-01 00:00:00"),
        ({"keep_time": True}, "2024-07-02T10:11:12.5Z", "2024-01-01T10:11:12.500000Z"),
        ({"day": 15, "month": None}, "2024-02-29", "2024-02-15"),
        ({"day": None, "month": None, "year": 2000}, "1984-02-29", "2000-02-29"),
    ],
)
def test_mask_date_keeps_the_type(params, value, expected):
    assert make_op("mask_date", params, FieldType.DATETIME)(value, None) == expected


@pytest.mark.parametrize("value", ["2024-02-30", "yesterday", "", 20240101, None])
def test_mask_date_withholds_what_is_not_a_date(value):
    with pytest.raises(CannotApply):
        make_op("mask_date", {}, FieldType.DATE)(value, None)


# --- properties, checked independently of the implementation --------------------------

TEXT = st.text(alphabet=st.characters(codec="utf-8", exclude_characters="*#"), max_size=30)
CLASSES = st.fixed_dictionaries(
    {
        "upper": st.sampled_from(["X", "#", None]),
        "lower": st.sampled_from(["x", "#", None]),
        "digit": st.sampled_from(["n", "0", None]),
        "other": st.sampled_from([None, ":"]),
    }
)


def replacement(classes: dict, c: str) -> str | None:
    """Hive's classes (GenericUDFMask.java: Character.getType), in Python's spelling."""
    if c.isupper():
        return classes["upper"]
    if c.islower():
        return classes["lower"]
    if c.isdigit():
        return classes["digit"]
    return classes["other"]


def masked_whole(value: str, out: str, classes: dict) -> bool:
    return out == "".join(replacement(classes, c) or c for c in value)


@given(value=TEXT, n=st.integers(1, 8), classes=CLASSES, at_end=st.booleans())
def test_mask_one_end_counting_every_character(value, n, classes, at_end):
    params = {**HIVE, "classes": classes, ("mask_last" if at_end else "mask_first"): n}
    out = mask(params, value)
    assert len(out) == len(value)
    cut = max(len(value) - n, 0) if at_end else min(n, len(value))
    masked_part = range(cut, len(value)) if at_end else range(cut)
    # Hidden range: each character is its class's mask, or itself when its class is kept.
    hidden = [i for i in masked_part if replacement(classes, value[i]) is not None]
    if not hidden:  # nothing in range can be masked: fail closed, mask all there is
        assert masked_whole(value, out, classes)
        return
    for i, c in enumerate(value):
        if i in masked_part:
            assert out[i] == (replacement(classes, c) or c)
        else:
            assert out[i] == c


@given(value=TEXT, n=st.integers(0, 8), classes=CLASSES, min_masked=st.integers(1, 4))
def test_ranger_style_keep_last_counts_positions(value, n, classes, min_masked):
    params = {"count": "all", "min_masked": min_masked, "classes": classes, "keep_last": n}
    out = mask(params, value)
    assert len(out) == len(value)
    cut = max(len(value) - n, 0)
    replaced = [i for i in range(cut) if replacement(classes, value[i]) is not None]
    if len(replaced) < min_masked:
        assert masked_whole(value, out, classes)
        return
    assert out[cut:] == value[cut:]
    assert all(out[i] == (replacement(classes, value[i]) or value[i]) for i in range(cut))


@given(
    value=TEXT,
    n=st.integers(1, 8),
    preserve=st.sampled_from(["", "-", "- ", "ab"]),
    at_end=st.booleans(),
)
def test_dlp_style_skipped_characters_do_not_count(value, n, preserve, at_end):
    params = {"preserve": preserve, "min_masked": 1, ("mask_last" if at_end else "mask_first"): n}
    out = mask(params, value)
    assert len(out) == len(value)
    assert all(out[i] == c for i, c in enumerate(value) if c in preserve)
    countable = [i for i, c in enumerate(value) if c not in preserve]
    hidden = [i for i in countable if out[i] == "*"]
    assert len(hidden) == min(n, len(countable))
    # and they are the n countable characters at that end
    expected = countable[len(countable) - len(hidden) :] if at_end else countable[: len(hidden)]
    assert hidden == expected


@given(
    value=st.one_of(TEXT, st.integers(-(10**12), 10**12)),
    length=st.integers(1, 12),
    keep_first=st.integers(0, 3),
    keep_last=st.integers(0, 4),
    min_masked=st.integers(1, 4),
)
def test_length_hiding_mask_output_length_never_depends_on_the_value(
    value, length, keep_first, keep_last, min_masked
):
    params = {
        "length": length,
        "keep_first": keep_first,
        "keep_last": keep_last,
        "min_masked": min_masked,
    }
    ftype = FieldType.INTEGER if isinstance(value, int) else FieldType.STRING
    out = mask(params, value, ftype)
    text = str(value)
    assert len(out) == keep_first + length + keep_last
    if len(text) - keep_first - keep_last >= min_masked:
        assert out == text[:keep_first] + "*" * length + text[len(text) - keep_last :]
    else:
        assert out == "*" * len(out)


mask_date_params = st.fixed_dictionaries(
    {
        "day": st.one_of(st.none(), st.integers(1, 31)),
        "month": st.one_of(st.none(), st.integers(1, 12)),
        "year": st.one_of(st.none(), st.integers(1, 9999)),
        "keep_time": st.booleans(),
    }
)


@given(
    params=mask_date_params,
    day=st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)),
    moment=st.one_of(st.none(), st.datetimes(timezones=st.just(timezone(timedelta(hours=2))))),
)
def test_mask_date_sets_exactly_the_parts_it_names(params, day, moment):
    try:
        transforms.get("mask_date").parse_params(params)
    except ValidationError:
        # refused only when some input would give an impossible date
        for y in (2023, 2024):
            for k in range(366):
                d = date(y, 1, 1) + timedelta(days=k)
                try:
                    date(
                        params["year"] or d.year, params["month"] or d.month, params["day"] or d.day
                    )
                except ValueError:
                    return
        assert all(params[p] is None for p in ("day", "month", "year"))
        return
    if moment is None:
        out = date.fromisoformat(
            make_op("mask_date", params, FieldType.DATE)(day.isoformat(), None)
        )
        got, was = out, day
    else:
        text = make_op("mask_date", params, FieldType.DATETIME)(moment.isoformat(), None)
        out_dt = datetime.fromisoformat(text)
        assert out_dt.utcoffset() == moment.utcoffset()
        if params["keep_time"]:
            assert out_dt.time() == moment.time()
        else:
            assert (out_dt.hour, out_dt.minute, out_dt.second, out_dt.microsecond) == (0, 0, 0, 0)
        got, was = out_dt.date(), moment.date()
    for part in ("year", "month", "day"):
        want = params[part] if params[part] is not None else getattr(was, part)
        assert getattr(got, part) == want


@given(
    value=st.text(alphabet=st.characters(codec="utf-8", exclude_characters="*"), min_size=16),
    n=st.integers(4, 8),
)
def test_mask_first_and_mask_last_hide_exactly_n_characters(value, n):
    first = mask({"mask_first": n}, value)
    last = mask({"mask_last": n}, value)
    assert first[n:] == value[n:] and first[:n] == "*" * n
    assert last[:-n] == value[:-n] and last[-n:] == "*" * n
