"""CannotApply messages end up in logs and counters: they must never echo the value."""

import pytest
from transform_helpers import make_op

from veil.transforms import CannotApply, FieldType

CANARY = "CANARY7319"
DT, D, S, N = FieldType.DATETIME, FieldType.DATE, FieldType.STRING, FieldType.NUMBER

CASES = [
    ("redact", {}, S, CANARY, None),
    ("mask", {}, S, {"k": CANARY}, None),
    ("truncate", {"length": 2}, S, [CANARY], None),
    ("hash", {"key": "k"}, S, {CANARY: 1}, None),
    ("tokenize", {"key": "k"}, S, [CANARY], None),
    ("fpe", {"key": "k", "preserve_other": False}, S, "4111" + CANARY, None),
    ("fpe", {"key": "k"}, S, "12-CANARY", None),  # too few digits
    ("fpe", {"key": "k"}, S, 73197319, None),
    ("generalize", {"method": "year"}, D, CANARY, None),
    ("generalize", {"method": "month"}, DT, "2024-01-01T" + CANARY, None),
    ("generalize", {"method": "zip3"}, S, CANARY + "02139", None),
    ("generalize", {"method": "age"}, N, -73197319, None),
    ("generalize", {"method": "age"}, N, CANARY, None),
    ("generalize", {"method": "bucket", "size": 10}, N, CANARY, None),
    ("date_shift", {"key": "k"}, D, "2024-01-" + CANARY, "subject"),
    ("date_shift", {"key": "k"}, DT, CANARY, "subject"),
    ("date_shift", {"key": "k"}, D, "2024-01-01", None),
]


@pytest.mark.parametrize(("name", "params", "field_type", "value", "subject"), CASES)
def test_cannot_apply_never_contains_the_value(name, params, field_type, value, subject):
    op = make_op(name, params, field_type)
    with pytest.raises(CannotApply) as exc:
        op(value, subject)
    text = str(exc.value) + repr(exc.value)
    assert "CANARY" not in text and "7319" not in text
    # A chained exception (e.g. from the cipher) may quote the value: it must be suppressed.
    assert exc.value.__cause__ is None
    assert exc.value.__context__ is None or exc.value.__suppress_context__
    assert text.strip()
