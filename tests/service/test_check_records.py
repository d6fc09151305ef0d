"""``check_records``' shortcuts (text already vouched for by orjson, a body too short to
hold a long string) decide exactly as the full walk of every record does."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from veil.service.limits import (
    LimitExceeded,
    check_records,
    check_shape,
    containers,
    count_within,
    strings_within,
)

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

        def from_bytes() -> None:  # flat records proven from the body's bytes
            check_records(
                records,
                max_depth,
                limit,  # noqa: B023
                clean_text=True,
                body_bytes=len(body),
                raw=body,
                outside=1,
            )

        assert _verdict(fast) == _verdict(full)
        assert _verdict(from_bytes) == _verdict(full)


def _longest(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict):
        return max([0, *map(len, value), *map(_longest, value.values())])
    if isinstance(value, list):
        return max([0, *map(_longest, value)])
    return 0


@settings(max_examples=500, deadline=None)
@given(
    records=RECORDS,
    context=st.none() | st.dictionaries(TEXT, VALUES, max_size=3),
    limit=st.integers(1, 60),
    max_depth=st.integers(1, 3),
)
def test_what_the_bytes_prove_holds_for_the_parsed_body(
    records: list[dict[str, Any]], context: dict[str, Any] | None, limit: int, max_depth: int
) -> None:
    """strings_within and the count of opening bytes, checked against the parsed body:
    no string longer than the limit when strings_within says so, and no container in a
    record when the openers are exactly those outside the records, the list and one per
    record (the context, when there is one, counted by containers)."""
    doc: dict[str, Any] = (
        {"records": records} if context is None else {"context": context, "records": records}
    )
    raw = orjson.dumps(doc)
    if strings_within(raw, limit):
        assert _longest(doc) <= limit
    outside = 1 + (0 if context is None else containers(context))
    if raw.count(b"{") + raw.count(b"[") == outside + 1 + len(records):
        assert all(type(v) not in (dict, list) for r in records for v in r.values())
    check = {
        "max_depth": max_depth,
        "max_string": limit,
        "clean_text": True,
        "body_bytes": len(raw),
    }
    assert _verdict(lambda: check_records(records, raw=raw, outside=outside, **check)) == _verdict(
        lambda: check_records(records, **check)
    )


@pytest.mark.parametrize("text", ['"' * 100, "\\" * 100, 'a\\"' * 40, "{[" * 50])
def test_escaped_quotes_and_brackets_in_strings_prove_nothing(text: str) -> None:
    """A long string of quotes (each escaped, so quote bytes everywhere), of backslashes,
    or of brackets: never taken for short, and a record holding one is checked."""
    raw = orjson.dumps({"records": [{"k": text}]})
    assert not strings_within(raw, 20)
    with pytest.raises(LimitExceeded):
        check_records(
            [{"k": text}], 4, 20, clean_text=True, body_bytes=len(raw), raw=raw, outside=1
        )


@given(raw=st.binary(max_size=64) | st.text("{[a", max_size=64).map(str.encode),
       limit=st.integers(0, 70))  # fmt: skip
def test_counting_within_a_limit_is_counting_up_to_one_past_it(raw: bytes, limit: int) -> None:
    assert count_within(raw, b"{", limit) == min(raw.count(b"{"), limit + 1)
