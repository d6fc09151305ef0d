"""The service's JSON writer: orjson where it can, the standard library where it cannot,
and the same JSON either way."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from veil.service.jsonio import FastJSONResponse, ndjson_line

values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()  # beyond 64 bits too: orjson refuses those
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(), kids, max_size=4),
    max_leaves=20,
)


@given(values)
def test_same_json_as_the_standard_library(value: Any) -> None:
    body = FastJSONResponse(value).body
    assert json.loads(body) == value
    line = ndjson_line(value)
    assert line.endswith(b"\n") and b"\n" not in line[:-1]
    assert json.loads(line) == value


def test_big_integers_and_unicode_survive() -> None:
    value = {"n": 2**80, "s": "Zoë \u2028 😀", "k": [1, 2.5, None]}
    assert json.loads(FastJSONResponse(value).body) == value
    assert json.loads(ndjson_line(value)) == value
    assert "Zoë".encode() in FastJSONResponse(value).body  # UTF-8, not \\u escapes
