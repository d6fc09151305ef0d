import hmac
from datetime import date, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError
from transform_helpers import make_op

from veil import transforms
from veil.transforms import CannotApply, FieldType
from veil.transforms.dates import shift_days

K = bytes(range(32))


def shift(params=None, field_type=FieldType.DATE):
    return make_op("date_shift", {"key": "k", **(params or {})}, field_type)


def expected_offset(subject, max_days=30):
    n = int.from_bytes(hmac.digest(K, b"veil:date_shift:" + subject.encode(), "sha256")[:8], "big")
    n %= 2 * max_days
    return n - max_days if n < max_days else n - max_days + 1


def test_offset_derivation_is_the_documented_one():
    for subject in ("patient-1", "patient-2", "", "日本"):
        assert shift_days(K, subject, 30) == expected_offset(subject)


def test_date_golden():
    op = shift()
    assert shift_days(K, "patient-1", 30) == -10
    assert op("2024-03-01", "patient-1") == "2024-02-20"
    assert op("2024-03-01", "patient-2") == "2024-03-04"  # +3 days
    assert op("2024-12-31", "patient-2") == "2025-01-03"


def test_same_subject_same_offset_different_subjects_differ():
    op = shift()
    a = op("2024-03-01", "patient-1")
    assert a == op("2024-03-01", "patient-1")
    subjects = [f"patient-{i}" for i in range(20)]
    assert len({op("2024-03-01", s) for s in subjects}) > 1


def test_key_changes_offsets():
    a = [shift()("2024-03-01", f"p{i}") for i in range(10)]
    b = [
        make_op("date_shift", {"key": "k2"}, FieldType.DATE)("2024-03-01", f"p{i}")
        for i in range(10)
    ]
    assert a != b


@pytest.mark.parametrize(
    ("value", "pattern"),
    [
        ("2024-03-01T08:30:00Z", "T08:30:00Z"),
        ("2024-03-01T08:30:00+02:00", "T08:30:00+02:00"),
        ("2024-03-01T08:30:00.250000-05:00", "T08:30:00.250000-05:00"),
        ("2024-03-01 08:30:00", " 08:30:00"),
        ("2024-03-01T08:30:00", "T08:30:00"),
    ],
)
def test_datetime_keeps_time_and_offset(value, pattern):
    out = shift(field_type=FieldType.DATETIME)(value, "patient-1")
    assert out.endswith(pattern)
    delta = datetime.fromisoformat(out) - datetime.fromisoformat(value)
    assert delta.days == shift_days(K, "patient-1", 30) and delta.seconds == 0


def test_date_only_value_in_datetime_field_stays_a_date():
    out = shift(field_type=FieldType.DATETIME)("2024-03-01", "patient-1")
    assert len(out) == 10


def test_no_subject_cannot_apply():
    with pytest.raises(CannotApply):
        shift()("2024-03-01", None)


@pytest.mark.parametrize("value", ["2024-02-30", "03/01/2024", "", 20240301, "0001-01-01x"])
def test_bad_values_cannot_apply(value):
    with pytest.raises(CannotApply):
        shift()(value, "patient-1")


def test_overflow_cannot_apply():
    subject = next(s for s in (f"p{i}" for i in range(100)) if shift_days(K, s, 30) < 0)
    with pytest.raises(CannotApply):
        shift()("0001-01-01", subject)


@pytest.mark.parametrize(
    "raw",
    [
        {"key": "k", "max_days": 0},
        {"key": "k", "max_days": 3651},
        {"max_days": 5},
        {"key": "k", "days": 3},
    ],
)
def test_bad_params(raw):
    with pytest.raises(ValidationError):
        transforms.get("date_shift").parse_params(raw)


@given(subject=st.text(max_size=20), max_days=st.integers(1, 3650))
def test_offset_is_never_zero_and_within_bounds(subject, max_days):
    off = shift_days(K, subject, max_days)
    assert off != 0 and -max_days <= off <= max_days


def test_offsets_cover_both_signs_and_the_extremes():
    offs = {shift_days(K, f"s{i}", 2) for i in range(200)}
    assert offs == {-2, -1, 1, 2}


dates = st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 1, 1))


@given(subject=st.text(min_size=1, max_size=12), a=dates, b=dates, max_days=st.integers(1, 365))
def test_intervals_within_a_subject_are_preserved(subject, a, b, max_days):
    op = shift({"max_days": max_days})
    sa = date.fromisoformat(op(a.isoformat(), subject))
    sb = date.fromisoformat(op(b.isoformat(), subject))
    assert sb - sa == b - a
    assert 1 <= abs((sa - a).days) <= max_days


@given(
    subject=st.text(min_size=1, max_size=12),
    a=st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 1, 1)),
)
def test_datetime_shift_is_whole_days(subject, a):
    out = shift(field_type=FieldType.DATETIME)(a.isoformat(), subject)
    delta = datetime.fromisoformat(out) - a
    assert delta.seconds == 0 and delta.microseconds == 0
    assert delta.days == shift_days(K, subject, 30)


def test_per_recipient_shifts_cannot_be_aligned_across_recipients():
    """Finding 2 of issue 12: shifted dates were equal for every recipient, so two
    recipients' extracts could be joined on them. With per_recipient each recipient's
    offsets come from its own derived key; the same recipient stays consistent."""
    subjects = [f"patient-{i}" for i in range(50)]

    def offsets(recipient):
        op = make_op("date_shift", {"key": "k", "per_recipient": True}, FieldType.DATE, recipient)
        return [date.fromisoformat(op("2024-03-01", s)) - date(2024, 3, 1) for s in subjects]

    a, b = offsets("study-42"), offsets("study-99")
    assert a == offsets("study-42")
    assert sum(x != y for x, y in zip(a, b, strict=True)) > 40
    shared = make_op("date_shift", {"key": "k"}, FieldType.DATE, "study-42")
    other = make_op("date_shift", {"key": "k"}, FieldType.DATE, "study-99")
    assert all(shared("2024-03-01", s) == other("2024-03-01", s) for s in subjects)
