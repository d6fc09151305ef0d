"""Hypothesis strategies for parsed JSON, shared by the property tests."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st


def json_values(text_size: int = 8, key_size: int = 5, max_leaves: int = 8) -> Any:
    """Values ``json.loads`` can return (no NaN): scalars, and lists and objects of them."""
    return st.recursive(
        st.none()
        | st.booleans()
        | st.integers()
        | st.floats(allow_nan=False)
        | st.text(max_size=text_size),
        lambda kids: (
            st.lists(kids, max_size=3)
            | st.dictionaries(st.text(max_size=key_size), kids, max_size=3)
        ),
        max_leaves=max_leaves,
    )
