"""``check_records``' shortcuts (text already vouched for by orjson, a body too short to
hold a long string) decide exactly as the full walk of every record does."""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from veil.service.limits import LimitExceeded, check_records, check_shape

# valid text only: the shortcut is taken only when orjson parsed the body, and orjson
# refuses lone surrogates (the full walk handles those)
TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=40)
SCALARS = st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | TEXT
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=12,
)
RECORDS = st.lists(st.dictionaries(TEXT, VALUES, max_size=6), max_size=6)


def _verdict(fn: Any) -> tuple[str, str] | None:
    try:
        fn()
    except LimitExceeded as exc:
        return ("limit", exc.limit)
    return None


@settings(max_examples=300, deadline=None)
@given(records=RECORDS, max_depth=st.integers(2, 4), max_string=st.integers(1, 60))
def test_shortcuts_agree_with_the_full_walk(
    records: list[dict[str, Any]], max_depth: int, max_string: int
) -> None:
    body = orjson.dumps({"records": records})

    # a small limit (long strings possible) and one the body cannot exceed (the
    # short-body shortcut)
    for limit in (max_string, len(body)):

        def full() -> None:
            for i, rec in enumerate(records):
                check_shape(rec, max_depth, limit, where=f"records[{i}]")  # noqa: B023

        def fast() -> None:
            check_records(records, max_depth, limit, clean_text=True, body_bytes=len(body))  # noqa: B023

        assert _verdict(fast) == _verdict(full)
