"""Property: any single tampering of a keyed ledger is reported at, and only at, its event."""

from __future__ import annotations

import sqlite3
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ledger_factory import KEY, make_event

from veil.ledger import SQLiteLedger, link_hash_text

OPS = ["body", "column", "subject_add", "subject_del", "delete", "swap", "rehash_unkeyed"]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(n=st.integers(2, 12), data=st.data())
def test_single_tampering_is_named(n: int, data: st.DataObject) -> None:
    op = data.draw(st.sampled_from(OPS))
    victim = data.draw(st.integers(1, n - 1 if op == "swap" else n))
    with tempfile.TemporaryDirectory() as d:
        db = Path(d) / "l.db"
        with SQLiteLedger(db, KEY) as led:
            ids = [
                led.append(make_event(data_subjects=[f"p{i}", "x"])).event.event_id
                for i in range(1, n + 1)
            ]
            conn = sqlite3.connect(db)
            eid = ids[victim - 1]
            expected = {victim}
            if op == "body":
                conn.execute(
                    "UPDATE events SET body = json_set(body, '$.action', 'w') WHERE seq = ?",
                    (victim,),
                )
            elif op == "column":
                conn.execute("UPDATE events SET dataset = 'other' WHERE seq = ?", (victim,))
            elif op == "subject_add":
                conn.execute("INSERT INTO event_subjects VALUES (?, 'intruder')", (eid,))
            elif op == "subject_del":
                conn.execute(
                    "DELETE FROM event_subjects WHERE event_id = ? AND data_subject_id = 'x'",
                    (eid,),
                )
            elif op == "delete":
                conn.execute("DELETE FROM events WHERE seq = ?", (victim,))
                conn.execute("DELETE FROM event_subjects WHERE event_id = ?", (eid,))
                expected = {victim + 1} if victim < n else {victim}
            elif op == "swap":
                conn.execute("UPDATE events SET seq = -1 WHERE seq = ?", (victim,))
                conn.execute("UPDATE events SET seq = ? WHERE seq = ?", (victim, victim + 1))
                conn.execute("UPDATE events SET seq = ? WHERE seq = -1", (victim + 1,))
                expected = {victim, victim + 1}
            else:  # rewritten by someone without the key, with a correct plain SHA-256 link
                seq, body, sd, prev = conn.execute(
                    "SELECT seq, body, subjects_digest, prev_hash FROM events WHERE seq = ?",
                    (victim,),
                ).fetchone()
                conn.execute(
                    "UPDATE events SET hash = ? WHERE seq = ?",
                    (link_hash_text(prev, seq, body, sd, None), victim),
                )
            conn.commit()
            conn.close()
            report = led.verify()
    named = {p.seq for p in report.problems}
    assert named == expected, (op, victim, report.problems)
