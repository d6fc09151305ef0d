"""The pure chain functions, on hand-built rows."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ledger_factory import KEY, make_event

from veil.ledger import GENESIS, ChainRow, canonical_json, link_hash, subjects_digest, verify_chain
from veil.ledger.chain import link_hash_text, normalize_time
from veil.ledger.store import sorted_digest as _digest

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(), inner, max_size=3),
    max_leaves=10,
)


@given(st.dictionaries(st.text(), json_values, max_size=5), st.integers(1, 10**12), st.text())
def test_link_hash_is_over_the_canonical_message(body: dict[str, Any], seq: int, sd: str) -> None:
    msg = canonical_json(
        {"prev_hash": GENESIS, "seq": seq, "body": body, "subjects_digest": sd}
    ).encode()
    assert link_hash(GENESIS, seq, body, sd, None) == "h:" + hashlib.sha256(msg).hexdigest()
    assert link_hash(GENESIS, seq, body, sd, KEY) == (
        "k:" + hmac.new(KEY, msg, hashlib.sha256).hexdigest()
    )


@given(st.lists(st.text(alphabet=st.characters(exclude_categories=["Cs"]))))
def test_fast_subject_digest_matches_the_contract(subjects: list[str]) -> None:
    assert _digest(sorted(set(subjects))) == subjects_digest(subjects)


@pytest.mark.parametrize(
    ("text", "end", "want"),
    [
        ("2024-05-01T12:00:00+00:00", False, "2024-05-01T12:00:00.000000+00:00"),
        ("2024-05-01T12:00:00Z", False, "2024-05-01T12:00:00.000000+00:00"),
        ("2024-05-01T14:00:00+02:00", False, "2024-05-01T12:00:00.000000+00:00"),
        ("2024-05-01T12:00:00", False, "2024-05-01T12:00:00.000000+00:00"),
        ("2024-05-01", False, "2024-05-01T00:00:00.000000+00:00"),
        ("2024-05-01", True, "2024-05-02T00:00:00.000000+00:00"),
        ("2024-05-01T12:00:00+00:00", True, "2024-05-01T12:00:00.000000+00:00"),
    ],
)
def test_normalize_time(text: str, end: bool, want: str) -> None:
    assert normalize_time(text, end_of_day=end) == want


def build(n: int, key: bytes | None) -> list[ChainRow]:
    rows, prev = [], GENESIS
    for seq in range(1, n + 1):
        ev = make_event(data_subjects=[f"p-{seq}"])
        body, sd = canonical_json(ev.body()), subjects_digest(ev.data_subjects)
        h = link_hash_text(prev, seq, body, sd, key)
        rows.append(ChainRow(seq, ev.event_id, body, sd, sd, prev, h))
        prev = h
    return rows


@pytest.mark.parametrize("key", [KEY, None])
def test_intact_chain(key: bytes | None) -> None:
    rows = build(30, key)
    report = verify_chain(rows, key, anchor=(30, rows[-1].hash))
    assert report.ok and report.checked == 30 and report.head_hash == rows[-1].hash


def test_memory_is_bounded_by_the_window() -> None:
    """A generator of rows is consumed lazily; nothing requires the whole chain in memory."""
    rows = build(50, KEY)
    seen = []

    def stream() -> Any:
        for r in rows:
            seen.append(r.seq)
            yield r

    assert verify_chain(stream(), KEY, window=4).ok and seen == list(range(1, 51))


def test_keyed_rows_without_a_key_are_flagged() -> None:
    rows = build(2, KEY)
    assert [p.kind for p in verify_chain(rows, None).problems] == ["unkeyed", "unkeyed"]


def test_wrong_key_flags_every_event() -> None:
    rows = build(3, KEY)
    assert len(verify_chain(rows, b"another key, also 32 bytes long!").problems) == 3


def test_inserted_row_in_an_unkeyed_chain() -> None:
    rows = build(5, None)
    stranger = build(1, None)[0]
    forged = ChainRow(
        3,
        stranger.event_id,
        stranger.body,
        stranger.subjects_digest,
        stranger.stored_subjects_digest,
        "f" * 64,
        "h:" + "e" * 64,
    )
    tampered = [
        *rows[:2],
        forged,
        *(
            ChainRow(
                r.seq + 1,
                r.event_id,
                r.body,
                r.subjects_digest,
                r.stored_subjects_digest,
                r.prev_hash,
                r.hash,
            )
            for r in rows[2:]
        ),
    ]
    problems = verify_chain(tampered, None).problems
    assert [(p.seq, p.kind) for p in problems] == [(3, "inserted"), (4, "reordered")]
    assert "seq 4-6" in problems[1].message


def test_truncated_to_empty_against_an_anchor() -> None:
    report = verify_chain([], KEY, anchor=(3, "k:abc"))
    assert [(p.seq, p.kind) for p in report.problems] == [(1, "missing")]


def test_seq_going_backwards() -> None:
    rows = build(3, None)
    report = verify_chain([rows[0], rows[1], rows[1]], None)
    assert "reordered" in [p.kind for p in report.problems]
