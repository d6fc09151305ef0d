from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from transform_helpers import KEYS, make_op

from veil import transforms
from veil.policy.decision import Outcome
from veil.transforms import BindContext, CannotApply, FieldType
from veil.transforms.generalize import first_year_shown, load_zip3_table

G = "generalize"
# HHS Safe Harbor guidance, 2000 Census: 3-digit ZIP areas with 20,000 people or fewer.
SAFE_HARBOR = [
    "036", "059", "063", "102", "203", "556", "692", "790", "821",
    "823", "830", "831", "878", "879", "884", "890", "893",
]  # fmt: skip


def gen(params, field_type=FieldType.STRING):
    return make_op(G, params, field_type)


# --- dates ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "year", "month"),
    [
        ("1984-07-02", 1984, "1984-07"),
        ("2024-12-31T23:30:00-05:00", 2024, "2024-12"),  # the value's own offset, not UTC
        ("2024-01-01T00:10:00Z", 2024, "2024-01"),
        ("0987-03-04", 987, "0987-03"),
    ],
)
def test_year_and_month(value, year, month):
    assert gen({"method": "year"}, FieldType.DATE)(value, None) == year
    assert gen({"method": "month"}, FieldType.DATE)(value, None) == month


@pytest.mark.parametrize("value", ["1984-13-02", "yesterday", "", 1984, "1984-02-30"])
def test_bad_dates_cannot_apply(value):
    with pytest.raises(CannotApply):
        gen({"method": "year"}, FieldType.DATE)(value, None)


# --- years and months of people over an age (45 CFR 164.514(b)(2)(i)(C)) ------------


def dated(params, as_of, field_type=FieldType.DATE):
    spec = transforms.get(G)
    ctx = BindContext("people", "birth_date", field_type, "analyst", KEYS, as_of=as_of)
    return spec.bind(spec.parse_params(params), ctx)


def age_on(born: date, day: date) -> int:
    """Completed years on ``day``, written out independently of the transform."""
    return day.year - born.year - ((day.month, day.day) < (born.month, born.day))


AS_OF = date(2026, 12, 4)


@pytest.mark.parametrize(
    ("born", "age", "expected"),
    [
        # 1936 holds 89-year-olds (born after 4 December) and 90-year-olds: the whole year
        # is indicative of an age over 89, so everyone born in it leaves as the category.
        ("1936-12-05", 89, "90+"),
        ("1936-12-04", 90, "90+"),
        ("1936-12-31", 89, "90+"),
        ("1936-01-01", 90, "90+"),
        # 1937: nobody born in it is over 89 on 2026-12-04.
        ("1937-01-01", 89, "1937"),
        ("1937-12-05", 88, "1937"),
        ("1850-06-01", 176, "90+"),
        ("2026-12-31", -1, "2026"),  # after the disclosure date: not an age over 89
    ],
)
def test_year_with_top_age_aggregates_every_year_indicative_of_90_or_older(born, age, expected):
    assert age_on(date.fromisoformat(born), AS_OF) == age
    assert dated({"method": "year", "top_age": 89}, AS_OF)(born, None) == expected


def test_year_boundary_moves_on_the_first_of_january():
    op_dec = dated({"method": "year", "top_age": 89}, date(2026, 12, 31))
    op_jan = dated({"method": "year", "top_age": 89}, date(2027, 1, 1))
    # born 1937-01-01 turns 90 on 2027-01-01: from that day 1937 is aggregated too
    assert op_dec("1937-01-01", None) == "1937"
    assert op_jan("1937-01-01", None) == "90+"
    assert op_jan("1937-12-31", None) == "90+"  # 89 that day, but the year says 90
    assert op_jan("1938-01-01", None) == "1938"


def test_year_with_top_age_outputs_strings_so_the_column_keeps_one_type():
    op = dated({"method": "year", "top_age": 89}, AS_OF, FieldType.DATETIME)
    assert op("1984-07-02T10:00:00+02:00", None) == "1984"
    assert op("0987-03-04T00:00:00", None) == "90+"
    assert dated({"method": "year"}, AS_OF)("1936-12-04", None) == 1936  # no top_age: int


def test_month_with_top_age():
    op = dated({"method": "month", "top_age": 89}, AS_OF)
    assert [op(v, None) for v in ("1936-12-05", "1937-01-20", "1984-07-02")] == [
        "90+",
        "1937-01",
        "1984-07",
    ]


def test_top_label_and_other_ages():
    op = dated({"method": "year", "top_age": 64, "top_label": "65 or older"}, AS_OF)
    assert (op("1961-06-01", None), op("1962-06-01", None)) == ("65 or older", "1962")


def test_without_a_disclosure_date_today_utc_is_used():
    today = datetime.now(UTC).date()
    assert first_year_shown(None, 89) == today.year - 89
    op = dated({"method": "year", "top_age": 89}, None)
    assert op(f"{today.year - 90:04d}-12-31", None) == "90+"
    assert op(f"{today.year - 89:04d}-01-01", None) == str(today.year - 89)


@given(
    born=st.dates(min_value=date(1800, 1, 1), max_value=date(2100, 12, 31)),
    as_of=st.dates(min_value=date(1990, 1, 1), max_value=date(2100, 12, 31)),
    top_age=st.integers(1, 120),
)
def test_category_is_exactly_the_years_someone_older_than_top_age_was_born_in(born, as_of, top_age):
    out = dated({"method": "year", "top_age": top_age}, as_of)(born.isoformat(), None)
    # The year can stand for someone over top_age iff its first day's child is over it.
    oldest_of_year = age_on(date(born.year, 1, 1), as_of)
    if oldest_of_year > top_age:
        assert out == f"{top_age + 1}+"
    else:
        assert out == str(born.year)
        # and then no birthday of that year is over top_age on as_of
        assert all(
            age_on(date(born.year, 1, 1) + timedelta(days=k), as_of) <= top_age
            for k in (0, 58, 59, 180, 364)
            if (date(born.year, 1, 1) + timedelta(days=k)).year == born.year
        )


# --- zip3 ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("02139", "021"), ("02139-4307", "021"), ("021394307", "021"), (" 10001 ", "100")],
)
def test_zip3(value, expected):
    assert gen({"method": "zip3"})(value, None) == expected


def test_shipped_table_is_the_safe_harbor_list():
    assert load_zip3_table("hipaa-census-2000") == frozenset(SAFE_HARBOR)


@pytest.mark.parametrize("prefix", SAFE_HARBOR)
def test_restricted_prefixes_become_000(prefix):
    op = gen({"method": "zip3"})
    assert op(prefix + "01", None) == "000"
    assert op(prefix + "01-1234", None) == "000"


def test_restricted_override():
    op = gen({"method": "zip3", "restricted": ["021"]})
    assert op("02139", None) == "000"
    assert op("03601", None) == "036"  # the table is replaced, not extended
    assert gen({"method": "zip3", "restricted": []})("89301", None) == "893"


@pytest.mark.parametrize("value", ["0213", "021390", "02139-43", "ABCDE", "02139 4307", "", 2139])
def test_malformed_zip_cannot_apply(value):
    with pytest.raises(CannotApply):
        gen({"method": "zip3"})(value, None)


# --- age -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, "0"), (37, "37"), (89, "89"), (89.9, "90+"), (90, "90+"), (104, "90+"), (37.6, "37")],
)
def test_age(value, expected):
    assert gen({"method": "age"}, FieldType.INTEGER)(value, None) == expected


def test_age_custom_top():
    assert gen({"method": "age", "top": 79}, FieldType.INTEGER)(80, None) == "80+"
    assert gen({"method": "age", "top": 79}, FieldType.INTEGER)(79, None) == "79"


def test_age_top_above_89_is_the_profiles_business_not_the_transforms():
    # Safe Harbor caps at 89; that limit lives in the profile, so other uses may go higher.
    op = gen({"method": "age", "top": 99}, FieldType.INTEGER)
    assert (op(95, None), op(99, None), op(100, None), op(130.5, None)) == (
        "95",
        "99",
        "100+",
        "100+",
    )


@pytest.mark.parametrize("value", [-1, "37", True, float("nan"), float("inf")])
def test_age_rejects_non_ages(value):
    with pytest.raises(CannotApply):
        gen({"method": "age"}, FieldType.INTEGER)(value, None)


# --- bucket --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [(37, "30-40"), (30, "30-40"), (39.99, "30-40"), (0, "0-10"), (-3, "-10-0"), (40, "40-50")],
)
def test_fixed_size_buckets(value, expected):
    assert gen({"method": "bucket", "size": 10}, FieldType.NUMBER)(value, None) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(9, "<10"), (10, "10-20"), (85, "80-89"), (88.5, "80-89"), (89, "89+"), (120, "89+")],
)
def test_fixed_size_buckets_with_min_and_max(value, expected):
    params = {"method": "bucket", "size": 10, "min": 10, "max": 89}
    assert gen(params, FieldType.NUMBER)(value, None) == expected


def test_fixed_size_buckets_align_on_min():
    params = {"method": "bucket", "size": 10, "min": 5}
    op = gen(params, FieldType.INTEGER)
    assert [op(v, None) for v in (4, 5, 14, 15)] == ["<5", "5-15", "5-15", "15-25"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, "<18"), (17.9, "<18"), (18, "18-65"), (64, "18-65"), (65, "65+"), (99, "65+")],
)
def test_bound_buckets(value, expected):
    assert gen({"method": "bucket", "bounds": [18, 65]}, FieldType.INTEGER)(value, None) == expected


def test_single_bound():
    op = gen({"method": "bucket", "bounds": [18]}, FieldType.INTEGER)
    assert (op(17, None), op(18, None)) == ("<18", "18+")


@pytest.mark.parametrize("value", ["37", [37], True, float("nan")])
def test_bucket_rejects_non_numbers(value):
    with pytest.raises(CannotApply):
        gen({"method": "bucket", "size": 10}, FieldType.NUMBER)(value, None)


@pytest.mark.parametrize(
    ("value", "expected"),
    [(0, "child"), (17.9, "child"), (18, "adult"), (64, "adult"), (65, "senior"), (99, "senior")],
)
def test_bound_buckets_with_labels(value, expected):
    # Google DLP BucketingConfig: each bucket has a replacement_value ("Bucket is represented
    # as a range, along with replacement values"; min inclusive, max exclusive):
    # https://cloud.google.com/python/docs/reference/dlp/latest/google.cloud.dlp_v2.types.BucketingConfig.Bucket
    params = {"method": "bucket", "bounds": [18, 65], "labels": ["child", "adult", "senior"]}
    assert gen(params, FieldType.INTEGER)(value, None) == expected


# --- field types per method ----------------------------------------------------------

DATES = frozenset({FieldType.DATE, FieldType.DATETIME})
NUMBERS = frozenset({FieldType.INTEGER, FieldType.NUMBER})


@pytest.mark.parametrize(
    ("raw", "types"),
    [
        ({"method": "year"}, DATES),
        ({"method": "year", "top_age": 89}, DATES),
        ({"method": "month"}, DATES),
        ({"method": "zip3"}, frozenset({FieldType.STRING})),
        ({"method": "age"}, NUMBERS),
        ({"method": "bucket", "size": 10}, NUMBERS),
        ({"method": "bucket", "bounds": [1], "labels": ["low", "high"]}, NUMBERS),
    ],
)
def test_each_method_names_its_field_types(raw, types):
    spec = transforms.get(G)
    assert spec.types(spec.parse_params(raw)) == types
    assert types <= spec.applies_to


def test_describe_shows_top_age():
    spec = transforms.get(G)
    params = spec.parse_params({"method": "year", "top_age": 89})
    outcome = Outcome("transform", transform=G, params=params, rank=spec.rank)
    assert outcome.describe() == "generalize(method='year', top_age=89)"


# --- params --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        {},
        {"method": "decade"},
        {"method": "year", "size": 10},
        {"method": "zip3", "table": "hipaa-census-1990"},
        {"method": "zip3", "table": "../../etc/passwd"},
        {"method": "zip3", "restricted": ["36"]},
        {"method": "zip3", "restricted": ["abc"]},
        {"method": "age", "top": 0},
        {"method": "bucket"},
        {"method": "bucket", "size": 0},
        {"method": "bucket", "size": 10, "bounds": [1, 2]},
        {"method": "bucket", "bounds": []},
        {"method": "bucket", "bounds": [65, 18]},
        {"method": "bucket", "bounds": [18, 18]},
        {"method": "bucket", "bounds": [18], "min": 0},
        {"method": "bucket", "size": 10, "min": 50, "max": 50},
        {"method": "year", "top_age": 0},
        {"method": "year", "top_label": "old"},  # a label without top_age
        {"method": "year", "top_age": 89, "top_label": "1936"},  # reads as a year
        {"method": "month", "top_age": 89, "top_label": "1936-12"},  # reads as a month
        {"method": "year", "top_age": 89, "top_label": ""},
        {"method": "zip3", "top_age": 89},
        {"method": "bucket", "bounds": [18, 65], "labels": ["a", "b"]},  # 3 buckets
        {"method": "bucket", "bounds": [18, 65], "labels": ["a", "b", "c", "d"]},
        {"method": "bucket", "bounds": [18, 65], "labels": ["a", "b", "a"]},
        {"method": "bucket", "bounds": [18], "labels": ["a", ""]},
        {"method": "bucket", "size": 10, "labels": ["a", "b"]},
    ],
)
def test_bad_params(raw):
    with pytest.raises(ValidationError):
        transforms.get(G).parse_params(raw)


def test_errors_point_at_the_users_param():
    with pytest.raises(ValidationError) as exc:
        transforms.get(G).parse_params({"method": "bucket", "size": 0})
    assert exc.value.errors()[0]["loc"] == ("size",)
    with pytest.raises(ValidationError) as exc:
        transforms.get(G).parse_params({"method": "decade"})
    assert exc.value.errors()[0]["loc"] == ()
    assert "decade" in exc.value.errors()[0]["msg"]


def test_params_serialize_flat():
    params = transforms.get(G).parse_params({"method": "bucket", "bounds": [18, 65]})
    assert params.model_dump(exclude_none=True) == {"method": "bucket", "bounds": (18, 65)}
    assert params == transforms.get(G).parse_params({"method": "bucket", "bounds": [18, 65]})


def _reveal(raw):
    spec = transforms.get(G)
    return spec.reveal_score(spec.parse_params(raw))


def test_reveal_orders_resolutions():
    assert _reveal({"method": "month"}) > _reveal({"method": "year"})
    size5 = _reveal({"method": "bucket", "size": 5})
    assert size5 > _reveal({"method": "bucket", "size": 10})
    assert _reveal({"method": "bucket", "bounds": [18, 65]}) < _reveal(
        {"method": "bucket", "size": 10}
    )
    assert _reveal({"method": "bucket", "bounds": [18, 21, 65]}) > size5 / 2
    assert _reveal({"method": "age"}) > size5
