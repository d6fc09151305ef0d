"""The hash chain: how an event is linked to its predecessor, and how a chain is checked.

Each event's hash covers its predecessor's hash, its position (``seq``), its body and
the digest of its data-subject ids, so changing, removing, moving or inserting any of
these breaks the chain. With a key the link is an HMAC-SHA256 (prefix ``k:``); without
one a plain SHA-256 (prefix ``h:``). The prefix lets the verifier of a keyed ledger tell
an event written without the key from one whose content changed.

Known limit: without a key anyone who can write the file can rebuild the whole chain,
and nothing inside a ledger proves that events were not cut off its end. Record
:meth:`head` values elsewhere (``anchor``) to catch both.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from .base import Problem, VerifyReport
from .events import canonical_json

#: ``prev_hash`` of the first event.
GENESIS = "0" * 64
KEYED_PREFIX = "k:"
UNKEYED_PREFIX = "h:"
#: How far (in events) the verifier looks around a broken event to explain it.
WINDOW = 8

#: Problem kinds ``verify_chain`` reports.
MODIFIED = "modified"  # content no longer matches its hash, or a column differs from the body
MISSING = "missing"  # seq numbers absent: events were deleted
REORDERED = "reordered"  # an intact event sits at another position than it was written at
INSERTED = "inserted"  # an event that fits nowhere in an unkeyed chain
BAD_LINK = "bad_link"  # an intact event whose predecessor was rewritten or replaced
UNKEYED = "unkeyed"  # on a keyed ledger: an event written without the key
SUBJECTS = "subjects"  # data-subject rows added or removed after the event was written


def _link_message(prev_hash: str, seq: int, body_json: str, subjects_digest: str) -> bytes:
    # Equal to canonical_json({"body": body, "prev_hash": .., "seq": .., "subjects_digest": ..})
    # when body_json == canonical_json(body); built by hand so stored bodies are hashed as is.
    return (
        f'{{"body":{body_json},"prev_hash":{json.dumps(prev_hash, ensure_ascii=False)},'
        f'"seq":{int(seq)},"subjects_digest":{json.dumps(subjects_digest, ensure_ascii=False)}}}'
    ).encode()


def link_hash_text(
    prev_hash: str, seq: int, body_json: str, subjects_digest: str, key: bytes | None
) -> str:
    """:func:`link_hash` over a body already serialized with ``canonical_json``."""
    msg = _link_message(prev_hash, seq, body_json, subjects_digest)
    if key:
        return KEYED_PREFIX + hmac.new(key, msg, hashlib.sha256).hexdigest()
    return UNKEYED_PREFIX + hashlib.sha256(msg).hexdigest()


def link_hash(
    prev_hash: str, seq: int, body: dict[str, Any], subjects_digest: str, key: bytes | None
) -> str:
    """The hash of event ``seq``: HMAC-SHA256 with ``key`` (``k:``), else SHA-256 (``h:``).

    Computed over ``canonical_json({prev_hash, seq, body, subjects_digest})``.
    """
    return link_hash_text(prev_hash, seq, canonical_json(body), subjects_digest, key)


def key_check(key: bytes) -> str:
    """A value stored beside a keyed chain so a wrong key is refused on open, not at verify.

    It is an HMAC of a constant: it identifies the key without revealing it.
    """
    return hmac.new(key, b"veil ledger key check v1", hashlib.sha256).hexdigest()


def normalize_time(text: str, *, end_of_day: bool = False) -> str:
    """An ISO-8601 timestamp as UTC with microseconds, so stored times sort as text.

    Naive times are taken as UTC. With ``end_of_day`` a bare date means the start of the
    *next* day (callers compare with ``<``). Raises ``ValueError`` if ``text`` does not parse.
    """
    dt = datetime.fromisoformat(text.strip())
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    if end_of_day and len(text.strip()) == 10:
        dt += timedelta(days=1)
    return dt.astimezone(UTC).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class ChainRow:
    """One stored event as the verifier sees it.

    ``body`` is the stored canonical JSON text (hashed as stored: any byte change shows).
    ``subjects_digest`` is recomputed from the stored subject rows (``None``: not checked);
    ``stored_subjects_digest`` is the digest the event was hashed with. ``columns`` are
    copies of body fields kept for querying (``time``, ``purpose`` ...); each must match.
    """

    seq: int
    event_id: str
    body: str
    subjects_digest: str | None
    stored_subjects_digest: str
    prev_hash: str
    hash: str
    columns: Mapping[str, Any] = field(default_factory=dict)
    subject_count: int | None = None


@dataclass
class _Row:
    row: ChainRow
    parsed: dict[str, Any] | None
    self_ok: bool
    kind: str | None = None  # the diagnosis of this row, if any
    offset: int = 0  # for a moved row: seq written at minus seq now
    problem_index: int = -1  # for a moved row: the problem describing its block
    block_start: int = 0
    block_eid: str = ""

    @property
    def eid(self) -> str:
        """The id in the hashed body if readable (it moves with its content), else the column."""
        if self.parsed is not None and isinstance(self.parsed.get("event_id"), str):
            return str(self.parsed["event_id"])
        return self.row.event_id


def _parse(body: str) -> dict[str, Any] | None:
    try:
        value = json.loads(body)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _span(a: int, b: int) -> str:
    return f"seq {a}" if a == b else f"seq {a}-{b}"


class _Verifier:
    def __init__(self, key: bytes | None, anchor: tuple[int, str] | None, window: int) -> None:
        self.key = key
        self.anchor = anchor
        self.window = max(1, window)
        self.report = VerifyReport(keyed=key is not None)
        self.anchor_seen = False

    def add(self, st: _Row, kind: str, text: str) -> None:
        s, eid = st.row.seq, st.eid
        self.report.problems.append(Problem(s, eid, kind, f"seq {s} (event {eid}): {text}"))

    def load(self, row: ChainRow) -> _Row:
        expect = link_hash_text(
            row.prev_hash, row.seq, row.body, row.stored_subjects_digest, self.key
        )
        return _Row(row, _parse(row.body), hmac.compare_digest(expect, row.hash))

    def run(self, rows: Iterable[ChainRow]) -> VerifyReport:
        it = iter(rows)
        win: list[_Row] = []
        cur = 0
        exhausted = False
        while True:
            while not exhausted and len(win) - cur <= self.window:
                nxt = next(it, None)
                if nxt is None:
                    exhausted = True
                else:
                    win.append(self.load(nxt))
            if cur >= len(win):
                break
            self.check(win, cur)
            cur += 1
            if cur > self.window:
                del win[0]
                cur -= 1
        if win:
            last = win[-1].row
            self.report.head_hash = last.hash
            self.check_anchor_end(last.seq, win[-1])
        return self.report

    # -- one event ---------------------------------------------------------------------

    def check(self, win: list[_Row], i: int) -> None:
        st, r = win[i], win[i].row
        p = win[i - 1] if i > 0 else None
        n = win[i + 1] if i + 1 < len(win) else None
        self.report.checked += 1
        expected_seq = p.row.seq + 1 if p else 1
        gap = r.seq != expected_seq
        link_in = r.prev_hash == (p.row.hash if p else GENESIS)
        link_out = n is None or n.row.prev_hash == r.hash
        before = len(self.report.problems)

        if r.seq > expected_seq:
            lost = _span(expected_seq, r.seq - 1)
            where = f"after seq {p.row.seq}" if p else "at the start of the chain"
            self.add(st, MISSING, f"{lost} missing: events were deleted {where}")
        elif r.seq < expected_seq:
            self.add(st, REORDERED, f"seq numbers go backwards after seq {expected_seq - 1}")

        if not st.self_ok:
            self.diagnose(win, i, gap=gap, link_in=link_in, link_out=link_out)
        elif not link_in and not gap and not (p and p.kind in (REORDERED, UNKEYED, INSERTED)):
            j = next((w for w in win if w is not st and w.row.hash == r.prev_hash), None)
            if j is not None:
                self.add(
                    st,
                    REORDERED,
                    f"links to seq {j.row.seq} (event {j.eid}), not to the event "
                    "before it: events were reordered",
                )
            elif p is None:
                self.add(st, BAD_LINK, "the first event does not link to the start of the chain")
            else:
                self.add(
                    st,
                    BAD_LINK,
                    f"its link does not match the hash of seq {p.row.seq} "
                    f"(event {p.eid}): that event was rewritten or replaced after this one "
                    "was written",
                )

        if r.subjects_digest is not None and r.subjects_digest != r.stored_subjects_digest:
            count = "" if r.subject_count is None else f" (now {r.subject_count})"
            self.add(
                st,
                SUBJECTS,
                f"its data-subject rows{count} do not match the digest it was "
                "hashed with: rows were added or removed",
            )

        if st.self_ok and len(self.report.problems) == before:
            self.check_columns(st)
        if self.anchor and r.seq == self.anchor[0]:
            self.anchor_seen = True
            if r.hash != self.anchor[1] and len(self.report.problems) == before:
                self.add(
                    st,
                    MODIFIED,
                    "its hash differs from the recorded head for this seq: "
                    "the chain was rewritten from here on (or the head belongs to another ledger)",
                )

    def check_columns(self, st: _Row) -> None:
        if st.parsed is None:
            self.add(st, MODIFIED, "its stored body is not a JSON object")
            return
        cols = {"event_id": st.row.event_id, **st.row.columns}
        for name, value in cols.items():
            got = st.parsed.get(name)
            if name == "time" and isinstance(got, str) and isinstance(value, str):
                try:
                    same = normalize_time(got) == normalize_time(value)
                except ValueError:
                    same = False
            else:
                same = got == value
            if not same:
                self.add(
                    st,
                    MODIFIED,
                    f"column {name!r} differs from the hashed event body: the table was edited",
                )
                return

    def diagnose(
        self, win: list[_Row], i: int, *, gap: bool, link_in: bool, link_out: bool
    ) -> None:
        st, r = win[i], win[i].row
        p = win[i - 1] if i > 0 else None
        if self.key is not None and r.hash.startswith(UNKEYED_PREFIX):
            plain = link_hash_text(r.prev_hash, r.seq, r.body, r.stored_subjects_digest, None)
            extra = "" if plain == r.hash else ", and its content does not match even that"
            st.kind = UNKEYED
            self.add(
                st,
                UNKEYED,
                "written without the ledger key: it carries a plain SHA-256 link "
                f"in a keyed chain{extra}",
            )
            return
        if self.key is None and r.hash.startswith(KEYED_PREFIX):
            st.kind = UNKEYED
            self.add(st, UNKEYED, "carries a keyed (HMAC) link, but no key was given to check it")
            return
        orig = self.placement(win, i, wide=gap or not link_in or not link_out)
        if orig == r.seq:
            st.kind = MODIFIED
            self.add(st, MODIFIED, "its link (prev_hash) was changed after it was written")
            return
        if orig is not None:
            st.kind, st.offset = REORDERED, orig - r.seq
            if p is not None and p.kind == REORDERED and p.offset == st.offset and link_in:
                # Same shift as its predecessor: one renumbered block, reported once.
                st.problem_index, st.block_start, st.block_eid = (
                    p.problem_index,
                    p.block_start,
                    p.block_eid,
                )
                a, b, d = st.block_start, r.seq, st.offset
                self.report.problems[st.problem_index] = Problem(
                    a,
                    st.block_eid,
                    REORDERED,
                    f"{_span(a, b)} (event {st.block_eid} and {b - a} after it): were written "
                    f"at {_span(a + d, b + d)}: they were renumbered (an event was deleted or "
                    "inserted before them)",
                )
                return
            st.problem_index, st.block_start, st.block_eid = (
                len(self.report.problems),
                r.seq,
                st.eid,
            )
            self.add(st, REORDERED, f"was written at seq {orig}: events were swapped or moved")
            return
        if link_in and link_out and not gap:
            st.kind = MODIFIED
            tail = (
                " (or, as the last event, appended without the ledger key)"
                if self.key is not None and i + 1 == len(win)
                else ""
            )
            self.add(
                st,
                MODIFIED,
                f"its content does not match its hash: it was changed after it was written{tail}",
            )
            return
        st.kind = UNKEYED if self.key is not None else INSERTED
        how = "without the ledger key" if self.key is not None else "by hand"
        self.add(
            st,
            st.kind,
            f"it does not match its hash and does not fit the chain: it was "
            f"inserted or rewritten {how}",
        )

    def placement(self, win: list[_Row], i: int, *, wide: bool) -> int | None:
        """The seq this event's content was written at, if it is intact but has moved."""
        r = win[i].row
        lo = max(1, r.seq - self.window)
        seqs = [s for s in range(lo, r.seq + self.window + 1) if s != r.seq]
        prevs = [r.prev_hash]
        if wide:
            prevs += [w.row.hash for w in win if w.row.hash != r.prev_hash] + [GENESIS]
        for prev in prevs:
            for s in seqs if prev == r.prev_hash else [*seqs, r.seq]:
                h = link_hash_text(prev, s, r.body, r.stored_subjects_digest, self.key)
                if hmac.compare_digest(h, r.hash):
                    return s
        return None

    def check_anchor_end(self, last_seq: int, last: _Row) -> None:
        if self.anchor is None or self.anchor_seen or self.anchor[0] <= 0:
            return
        aseq = self.anchor[0]
        if last_seq < aseq:
            self.report.problems.append(
                Problem(
                    last_seq + 1,
                    "",
                    MISSING,
                    f"{_span(last_seq + 1, aseq)} missing: the chain ends at seq {last_seq} "
                    f"(event {last.eid}) but seq {aseq} was recorded as its head: the newest "
                    "events were deleted",
                )
            )


def verify_chain(
    rows: Iterable[ChainRow],
    key: bytes | None,
    *,
    anchor: tuple[int, str] | None = None,
    window: int = WINDOW,
) -> VerifyReport:
    """Check an ordered stream of stored events; list every problem, naming seq and event.

    Rows must come in ``seq`` order. Each event is checked against its *own* stored
    ``prev_hash``, so one broken link yields one problem, not one per later event; a
    broken event is explained by looking ``window`` events around it (moved? inserted?).
    ``anchor`` is a ``(seq, hash)`` head recorded earlier: the chain must still hold it.
    Memory use is bounded by ``window``, not by the length of the chain.
    """
    v = _Verifier(key, anchor, window)
    report = v.run(rows)
    if anchor is not None and anchor[0] > 0 and report.checked == 0:
        report.problems.append(
            Problem(
                1,
                "",
                MISSING,
                f"{_span(1, anchor[0])} missing: the ledger is empty but seq {anchor[0]} was "
                "recorded as its head",
            )
        )
    return report
