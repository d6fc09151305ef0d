"""Finding 7 of issue 12: a keyed ledger could be downgraded (set to unkeyed and the chain
rehashed without the key): `verify --keys` said "configuration error" (exit 7), not
tampering (8), and without keys said ok. Cutting events off the end passed verification.
Anchors, and refusing an unkeyed ledger where a key is configured, catch both."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from typer.testing import CliRunner

from veil.cli import app
from veil.ledger import SQLiteLedger
from veil.ledger.chain import link_hash_text
from veil.ledger.events import Event, Requester

KEY = bytes(range(32))
RUNNER = CliRunner()


def _event(i: int) -> Event:
    return Event(
        requester=Requester(id=f"u{i}"),
        recipient="r",
        purpose="P",
        action="read",
        dataset="d",
        bundle="b",
        bundle_version="v",
        data_subjects=[f"s{i}"],
    )


def _ledger(tmp_path: Path, n: int) -> Path:
    db = tmp_path / "l.db"
    with SQLiteLedger(db, KEY) as led:
        for i in range(n):
            led.append(_event(i))
    return db


def _keys(tmp_path: Path) -> Path:
    f = tmp_path / "keys.yaml"
    f.write_text(f"keys:\n  ledger: hex:{KEY.hex()}\n", encoding="utf-8")
    return f


def _verify(db: Path, *extra: str) -> tuple[int, str]:
    res = RUNNER.invoke(app, ["audit", "verify", "--ledger", f"sqlite:///{db}", *extra])
    return res.exit_code, res.output


def _anchor(db: Path, tmp_path: Path, *extra: str) -> Path:
    path = tmp_path / "anchor.json"
    res = RUNNER.invoke(
        app, ["audit", "anchor", "-o", str(path), "--ledger", f"sqlite:///{db}", *extra]
    )
    assert res.exit_code == 0, res.output
    return path


def _downgrade(db: Path) -> None:
    """What an attacker with write access and no key does: mark the ledger unkeyed and
    rehash every event as a plain SHA-256 chain."""
    with sqlite3.connect(db) as c:
        rows = c.execute("SELECT seq, body, subjects_digest FROM events ORDER BY seq").fetchall()
        prev = "0" * 64
        for seq, body, digest in rows:
            h = link_hash_text(prev, seq, body, digest, None)
            c.execute("UPDATE events SET prev_hash = ?, hash = ? WHERE seq = ?", (prev, h, seq))
            prev = h
        c.execute("UPDATE meta SET value = '0' WHERE key = 'keyed'")
        c.execute("UPDATE meta SET value = '' WHERE key = 'key_check'")
        c.execute("UPDATE meta SET value = ? WHERE key = 'head_hash'", (prev,))


def test_downgrade_is_tampering_with_keys_and_with_an_anchor(tmp_path: Path) -> None:
    db = _ledger(tmp_path, 5)
    keys = _keys(tmp_path)
    anchor = _anchor(db, tmp_path, "--keys", str(keys))
    assert _verify(db, "--keys", str(keys), "--anchor", str(anchor))[0] == 0
    _downgrade(db)
    code, output = _verify(db, "--keys", str(keys))
    assert code == 8 and "downgrade" in output, output
    code, output = _verify(db, "--anchor", str(anchor))  # no key at hand: the anchor tells
    assert code == 8 and "downgraded" in output, output


def test_truncation_is_caught_by_an_anchor(tmp_path: Path) -> None:
    db = _ledger(tmp_path, 6)
    keys = _keys(tmp_path)
    anchor = _anchor(db, tmp_path, "--keys", str(keys))
    with sqlite3.connect(db) as c:  # cut the last two events and move the recorded head
        c.execute("DELETE FROM event_subjects WHERE event_id IN"
                  " (SELECT event_id FROM events WHERE seq > 4)")  # fmt: skip
        c.execute("DELETE FROM events WHERE seq > 4")
        (h,) = c.execute("SELECT hash FROM events WHERE seq = 4").fetchone()
        c.execute("UPDATE meta SET value = '4' WHERE key = 'head_seq'")
        c.execute("UPDATE meta SET value = ? WHERE key = 'head_hash'", (h,))
    assert _verify(db, "--keys", str(keys))[0] == 0  # the file alone cannot tell
    code, output = _verify(db, "--keys", str(keys), "--anchor", str(anchor))
    assert code == 8 and "missing" in output, output
