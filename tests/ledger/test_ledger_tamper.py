"""Tampering with the SQLite file directly: verify must name the event that was touched."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from ledger_factory import KEY, make_event

from veil.ledger import SQLiteLedger, StoredEvent, canonical_json, link_hash, subjects_digest
from veil.ledger.base import Problem

Fill = Callable[[int], list[StoredEvent]]


def sql(db: Path, *statements: tuple[str, tuple[Any, ...]]) -> None:
    conn = sqlite3.connect(db)
    with conn:
        for stmt, args in statements:
            conn.execute(stmt, args)
    conn.close()


def named(problems: list[Problem]) -> list[tuple[int, str, str]]:
    return [(p.seq, p.event_id, p.kind) for p in problems]


def test_untouched_ledger_verifies(ledger: SQLiteLedger, filled: Fill, key: bytes | None) -> None:
    stored = filled(5)
    report = ledger.verify()
    assert report.ok, report.problems
    assert report.checked == 5
    assert report.keyed is (key is not None)
    assert report.head_hash == stored[-1].hash == ledger.head()[1]


def test_empty_ledger_verifies(ledger: SQLiteLedger) -> None:
    report = ledger.verify()
    assert report.ok and report.checked == 0


def test_field_changed_inside_body(ledger: SQLiteLedger, filled: Fill, db: Path) -> None:
    ev = filled(5)[2]
    sql(db, ("UPDATE events SET body = json_set(body, '$.purpose', 'marketing') WHERE seq = 3", ()))
    report = ledger.verify()
    assert named(report.problems) == [(3, ev.event.event_id, "modified")]
    assert "changed after it was written" in report.problems[0].message
    assert report.problems[0].message.startswith(f"seq 3 (event {ev.event.event_id})")


def test_field_changed_in_last_event(ledger: SQLiteLedger, filled: Fill, db: Path) -> None:
    ev = filled(3)[2]
    sql(db, ("UPDATE events SET body = json_set(body, '$.recipient', 'x') WHERE seq = 3", ()))
    assert named(ledger.verify().problems) == [(3, ev.event.event_id, "modified")]


def test_query_column_changed(ledger: SQLiteLedger, filled: Fill, db: Path) -> None:
    ev = filled(4)[1]
    sql(db, ("UPDATE events SET purpose = 'marketing' WHERE seq = 2", ()))
    report = ledger.verify()
    assert named(report.problems) == [(2, ev.event.event_id, "modified")]
    assert "column 'purpose'" in report.problems[0].message


def test_time_column_moved(ledger: SQLiteLedger, filled: Fill, db: Path) -> None:
    ev = filled(3)[0]
    sql(db, ("UPDATE events SET time = '1999-01-01T00:00:00.000000+00:00' WHERE seq = 1", ()))
    assert named(ledger.verify().problems) == [(1, ev.event.event_id, "modified")]


@pytest.mark.parametrize("victim", [1, 3])
def test_deleted_event(ledger: SQLiteLedger, filled: Fill, db: Path, victim: int) -> None:
    stored = filled(5)
    sql(db, ("DELETE FROM events WHERE seq = ?", (victim,)))
    report = ledger.verify()
    after = stored[victim]  # the event now following the gap
    gone = stored[victim - 1].event.event_id
    assert named(report.problems) == [
        (victim + 1, after.event.event_id, "missing"),
        (0, gone, "subjects"),  # its subject rows were left behind
    ]
    assert f"seq {victim} missing" in report.problems[0].message


def test_deleted_event_with_its_subjects(ledger: SQLiteLedger, filled: Fill, db: Path) -> None:
    stored = filled(5)
    eid = stored[2].event.event_id
    sql(
        db,
        ("DELETE FROM events WHERE seq = 3", ()),
        ("DELETE FROM event_subjects WHERE event_id = ?", (eid,)),
    )
    assert named(ledger.verify().problems) == [(4, stored[3].event.event_id, "missing")]


def test_deleted_last_event_is_caught_by_recorded_head(
    ledger: SQLiteLedger, filled: Fill, db: Path
) -> None:
    stored = filled(4)
    sql(
        db,
        ("DELETE FROM events WHERE seq = 4", ()),
        ("DELETE FROM event_subjects WHERE event_id = ?", (stored[3].event.event_id,)),
    )
    report = ledger.verify()
    assert [(p.seq, p.kind) for p in report.problems] == [(4, "missing")]
    assert "chain ends at seq 3" in report.problems[0].message


def test_external_anchor_catches_a_rebuilt_unkeyed_chain(tmp_path: Path) -> None:
    """Without a key anyone can rebuild the chain; an anchor recorded elsewhere still tells."""
    db = tmp_path / "l.db"
    led = SQLiteLedger(db)
    for i in range(3):
        led.append(make_event(purpose=f"p{i}"))
    anchor = led.head()
    # Rewrite event 2 and re-hash it and everything after it, like a careful forger would.
    conn = sqlite3.connect(db)
    rows = conn.execute("SELECT seq, body, subjects_digest FROM events ORDER BY seq").fetchall()
    prev = rows[0] and conn.execute("SELECT hash FROM events WHERE seq=1").fetchone()[0]
    for seq, body, digest in rows[1:]:
        b = json.loads(body)
        b["purpose"] = "marketing"
        h = link_hash(prev, seq, b, digest, None)
        conn.execute(
            "UPDATE events SET body=?, purpose=?, prev_hash=?, hash=? WHERE seq=?",
            (canonical_json(b), "marketing", prev, h, seq),
        )
        prev = h
    conn.execute("UPDATE meta SET value=? WHERE key='head_hash'", (prev,))
    conn.commit()
    conn.close()
    assert led.verify().ok  # nothing inside the file contradicts the forgery...
    report = led.verify(anchor=anchor)  # ...but the head recorded elsewhere does
    assert [(p.seq, p.kind) for p in report.problems] == [(3, "modified")]
    led.close()


def _swap_seq(db: Path, a: int, b: int) -> None:
    sql(
        db,
        ("UPDATE events SET seq = -1 WHERE seq = ?", (a,)),
        ("UPDATE events SET seq = ? WHERE seq = ?", (a, b)),
        ("UPDATE events SET seq = ? WHERE seq = -1", (b,)),
    )


def test_swapped_seq_numbers(ledger: SQLiteLedger, filled: Fill, db: Path) -> None:
    stored = filled(6)
    _swap_seq(db, 3, 4)
    report = ledger.verify()
    assert named(report.problems) == [
        (3, stored[3].event.event_id, "reordered"),
        (4, stored[2].event.event_id, "reordered"),
    ]
    assert "was written at seq 4" in report.problems[0].message
    assert "was written at seq 3" in report.problems[1].message


def test_swapped_non_adjacent(ledger: SQLiteLedger, filled: Fill, db: Path) -> None:
    stored = filled(8)
    _swap_seq(db, 2, 6)
    report = ledger.verify()
    assert named(report.problems) == [
        (2, stored[5].event.event_id, "reordered"),
        (6, stored[1].event.event_id, "reordered"),
    ]


def test_swapped_bodies_and_hashes(ledger: SQLiteLedger, filled: Fill, db: Path) -> None:
    """Swap everything but seq and prev_hash: contents trade places, links stay put."""
    stored = filled(5)
    cols = "event_id, time, kind, recipient, purpose, dataset, body, subjects_digest, hash"
    conn = sqlite3.connect(db)
    r2 = conn.execute(f"SELECT {cols} FROM events WHERE seq = 2").fetchone()
    r3 = conn.execute(f"SELECT {cols} FROM events WHERE seq = 3").fetchone()
    sets = ", ".join(f"{c.strip()} = ?" for c in cols.split(","))
    conn.execute("UPDATE events SET event_id = 'tmp' WHERE seq = 2")
    conn.execute(f"UPDATE events SET {sets} WHERE seq = 3", (*r2,))
    conn.execute(f"UPDATE events SET {sets} WHERE seq = 2", (*r3,))
    conn.commit()
    conn.close()
    report = ledger.verify()
    assert named(report.problems) == [
        (2, stored[2].event.event_id, "reordered"),
        (3, stored[1].event.event_id, "reordered"),
    ]


def _forge_append(db: Path, key: bytes | None, *, prefix_key: bool = False) -> str:
    """Append an event the way someone with file access (but maybe not the key) would."""
    ev = make_event(purpose="forged", data_subjects=["p-9"])
    conn = sqlite3.connect(db)
    seq, prev = conn.execute("SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
    digest = subjects_digest(ev.data_subjects)
    h = link_hash(prev, seq + 1, ev.body(), digest, key)
    if prefix_key:
        h = "k:" + h[2:]
    conn.execute(
        "INSERT INTO events VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (
            seq + 1,
            ev.event_id,
            ev.time,
            ev.kind,
            ev.recipient,
            ev.purpose,
            ev.dataset,
            canonical_json(ev.body()),
            digest,
            prev,
            h,
        ),
    )
    conn.execute("INSERT INTO event_subjects VALUES (?, 'p-9')", (ev.event_id,))
    conn.execute("UPDATE meta SET value = ? WHERE key = 'head_seq'", (str(seq + 1),))
    conn.execute("UPDATE meta SET value = ? WHERE key = 'head_hash'", (h,))
    conn.commit()
    conn.close()
    return ev.event_id


def test_event_appended_without_the_key(tmp_path: Path) -> None:
    db = tmp_path / "l.db"
    with SQLiteLedger(db, KEY) as led:
        for _ in range(3):
            led.append(make_event())
        eid = _forge_append(db, None)
        led.append(make_event())  # the real writer carries on after the forgery
        report = led.verify()
    assert named(report.problems) == [(4, eid, "unkeyed")]
    assert "without the ledger key" in report.problems[0].message


def test_event_appended_with_a_wrong_key(tmp_path: Path) -> None:
    db = tmp_path / "l.db"
    with SQLiteLedger(db, KEY) as led:
        for _ in range(3):
            led.append(make_event())
        eid = _forge_append(db, b"not the key, but 32 bytes long!!")
        assert [(p.seq, p.event_id) for p in led.verify().problems] == [(4, eid)]
        led.append(make_event())
        assert named(led.verify().problems) == [(4, eid, "modified")]


def test_keyed_hash_forged_by_hand_in_the_middle(tmp_path: Path) -> None:
    db = tmp_path / "l.db"
    with SQLiteLedger(db, KEY) as led:
        stored = [led.append(make_event()) for _ in range(4)]
        flip = "CASE WHEN substr(hash, -2) = 'ff' THEN '00' ELSE 'ff' END"  # always a change
        sql(
            db,
            (f"UPDATE events SET hash = 'k:' || substr(hash, 3, 62) || {flip} WHERE seq = 2", ()),
        )
        report = led.verify()
    assert named(report.problems) == [(2, stored[1].event.event_id, "unkeyed")]


def test_subject_rows_added(ledger: SQLiteLedger, filled: Fill, db: Path) -> None:
    ev = filled(4)[1]
    sql(db, ("INSERT INTO event_subjects VALUES (?, 'p-intruder')", (ev.event.event_id,)))
    report = ledger.verify()
    assert named(report.problems) == [(2, ev.event.event_id, "subjects")]
    assert "(now 3)" in report.problems[0].message


def test_subject_rows_removed(ledger: SQLiteLedger, filled: Fill, db: Path) -> None:
    ev = filled(4)[2]
    sql(
        db,
        (
            "DELETE FROM event_subjects WHERE event_id = ? AND data_subject_id = 'shared'",
            (ev.event.event_id,),
        ),
    )
    assert named(ledger.verify().problems) == [(3, ev.event.event_id, "subjects")]


def test_subject_digest_rewritten_to_match(ledger: SQLiteLedger, filled: Fill, db: Path) -> None:
    """Fixing up the stored digest as well only moves the finding to the event's hash."""
    ev = filled(3)[1]
    subjects = [*ev.event.data_subjects, "p-intruder"]
    sql(
        db,
        ("INSERT INTO event_subjects VALUES (?, 'p-intruder')", (ev.event.event_id,)),
        ("UPDATE events SET subjects_digest = ? WHERE seq = 2", (subjects_digest(subjects),)),
    )
    assert named(ledger.verify().problems) == [(2, ev.event.event_id, "modified")]


def test_renumbered_after_a_deletion_is_one_problem(tmp_path: Path) -> None:
    """Deleting an event and closing the gap shifts every later event: report the block once."""
    db = tmp_path / "l.db"
    with SQLiteLedger(db, KEY) as led:
        stored = [led.append(make_event()) for _ in range(8)]
        sql(
            db,
            ("DELETE FROM events WHERE seq = 3", ()),
            ("DELETE FROM event_subjects WHERE event_id = ?", (stored[2].event.event_id,)),
            ("UPDATE events SET seq = seq - 1 WHERE seq > 3", ()),
            ("UPDATE meta SET value = '7' WHERE key = 'head_seq'", ()),
        )
        report = led.verify(anchor=led.head())
    assert named(report.problems) == [(3, stored[3].event.event_id, "reordered")]
    assert "seq 3-7" in report.problems[0].message
    assert "written at seq 4-8" in report.problems[0].message


def test_several_problems_are_all_listed(ledger: SQLiteLedger, filled: Fill, db: Path) -> None:
    stored = filled(10)
    sql(
        db,
        ("UPDATE events SET body = json_set(body, '$.purpose', 'x') WHERE seq = 2", ()),
        ("DELETE FROM events WHERE seq = 5", ()),
        ("DELETE FROM event_subjects WHERE event_id = ?", (stored[4].event.event_id,)),
        ("INSERT INTO event_subjects VALUES (?, 'p-x')", (stored[7].event.event_id,)),
    )
    assert named(ledger.verify().problems) == [
        (2, stored[1].event.event_id, "modified"),
        (6, stored[5].event.event_id, "missing"),
        (8, stored[7].event.event_id, "subjects"),
    ]


def test_reading_a_garbled_body_raises_tamper(ledger: SQLiteLedger, filled: Fill, db: Path) -> None:
    from veil.errors import TamperDetected

    filled(2)
    sql(db, ("UPDATE events SET body = '{\"oops\": 1}' WHERE seq = 2", ()))
    with pytest.raises(TamperDetected, match="seq 2"):
        list(ledger.events())
    assert [(p.seq, p.kind) for p in ledger.verify().problems] == [(2, "modified")]


def test_link_column_changed(ledger: SQLiteLedger, filled: Fill, db: Path) -> None:
    ev = filled(5)[2]
    sql(db, ("UPDATE events SET prev_hash = ? WHERE seq = 3", ("0" * 64,)))
    report = ledger.verify()
    assert named(report.problems) == [(3, ev.event.event_id, "modified")]
    assert "prev_hash" in report.problems[0].message


def test_hash_column_changed_on_last_event(ledger: SQLiteLedger, filled: Fill, db: Path) -> None:
    ev = filled(3)[2]
    sql(db, ("UPDATE events SET hash = 'h:00' WHERE seq = 3", ()))
    assert [(p.seq, p.event_id) for p in ledger.verify().problems] == [(3, ev.event.event_id)]
