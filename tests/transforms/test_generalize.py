import pytest
from pydantic import ValidationError
from transform_helpers import make_op

from veil import transforms
from veil.transforms import CannotApply, FieldType
from veil.transforms.generalize import load_zip3_table

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
