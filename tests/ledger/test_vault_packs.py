"""The token vault's packs: the in-memory index against a dict model, the packed format,
and vaults written one row per code by earlier versions, packed on first use (SQLite) or
by ledger migration 5 (PostgreSQL)."""

from __future__ import annotations

import hashlib
import itertools
import sqlite3
from pathlib import Path
from typing import Any

import numpy as np
import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from ledger_factory import KEY
from psycopg import sql

from veil.ledger import PostgresLedger, SQLiteLedger, packs
from veil.ledger.vault import vault_for

#: The one-row-per-code table of veil before packs (SQLite), as it was created.
OLD_SQLITE = """
CREATE TABLE token_vault (
    key BLOB PRIMARY KEY, ns BLOB NOT NULL, token TEXT NOT NULL, sealed BLOB NOT NULL
) WITHOUT ROWID;
CREATE UNIQUE INDEX token_vault_token ON token_vault (ns, token);
"""


def _old_row(namespace: str, lookup: str, token: str, sealed: bytes) -> tuple[Any, ...]:
    """A row as earlier versions wrote it, from hashlib (not from veil's code)."""
    key = hashlib.sha256(f"{namespace}\0{lookup}".encode()).digest()[:16]
    return key, hashlib.sha256(namespace.encode()).digest()[:8], token, sealed


def _counter(prefix: str) -> Any:
    it = itertools.count()
    return lambda: f"{prefix}{next(it):06d}"


def test_sqlite_rows_of_earlier_versions_are_packed_on_first_use(tmp_path: Path) -> None:
    db = tmp_path / "l.db"
    SQLiteLedger(db, KEY).close()
    rows = [_old_row("ns-a", f"lk{i}", f"old_{i}", f"s{i}".encode()) for i in range(300)]
    rows.append(_old_row("ns-b", "lk0", "old_b", b"sb"))
    with sqlite3.connect(db) as c:
        c.executescript(OLD_SQLITE)
        c.executemany("INSERT INTO token_vault VALUES (?, ?, ?, ?)", rows)
    led = SQLiteLedger(db, KEY)
    try:
        vault = vault_for(led)
        assert vault is not None
        got = vault.issue("ns-a", [(f"lk{i}", b"new") for i in range(310)], _counter("new_"))
        assert got[:300] == [f"old_{i}" for i in range(300)]  # kept, not drawn again
        assert len(set(got)) == 310 and all(t.startswith("new_") for t in got[300:])
        assert vault.find("ns-a", "old_7") == b"s7"  # the sealed value moved with its code
        assert vault.find("ns-b", "old_b") == b"sb"
        assert vault.find("ns-a", "old_b") is None
    finally:
        led.close()
    with sqlite3.connect(db) as c:
        assert c.execute("SELECT count(*) FROM token_vault").fetchone() == (0,)


def test_postgres_rows_of_earlier_versions_are_packed_by_migration_5(
    pg_url: str, pg_schema: str
) -> None:
    PostgresLedger(pg_url, KEY, schema=pg_schema).close()
    # a schema at version 4: codes one row each, no packs
    rows = [_old_row("ns-a", f"lk{i}", f"old_{i}", bytes([i % 256]) * 40) for i in range(70_000)]
    rows.append(_old_row("ns-b", "lk0", "old_b", b"sb"))
    with psycopg.connect(pg_url, autocommit=True) as c:
        c.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(pg_schema)))
        c.execute("DROP TABLE token_vault_pack")
        c.execute("DROP TABLE token_vault_meta")
        c.execute("DELETE FROM schema_migrations WHERE version = 5")
        with c.cursor() as cur:
            cur.executemany("INSERT INTO token_vault VALUES (%s, %s, %s, %s)", rows)
    led = PostgresLedger(pg_url, KEY, schema=pg_schema)
    try:
        vault = vault_for(led)
        assert vault is not None
        lookups = ["lk0", "lk65535", "lk65536", "lk69999", "fresh"]
        got = vault.issue("ns-a", [(lk, b"new") for lk in lookups], _counter("new_"))
        assert got == ["old_0", "old_65535", "old_65536", "old_69999", "new_000000"]
        assert vault.find("ns-a", "old_69999") == bytes([69999 % 256]) * 40
        assert vault.find("ns-b", "old_b") == b"sb"
        with psycopg.connect(pg_url, autocommit=True) as c:
            c.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(pg_schema)))
            assert c.execute("SELECT count(*) FROM token_vault").fetchone() == (0,)
            # 70,000 codes of ns-a in packs of at most 65,536, one of ns-b, one new
            assert c.execute("SELECT count(*) FROM token_vault_pack").fetchone() == (4,)
    finally:
        led.close()


calls = st.lists(
    st.tuples(
        st.integers(0, 1),  # which of two vault objects (two connections)
        st.sampled_from(["ns-a", "ns-b"]),
        st.lists(st.integers(0, 40), min_size=1, max_size=12),  # lookups
        st.sampled_from([1, 5000]),  # repeat factor: small calls and merged ones
    ),
    min_size=1,
    max_size=12,
)


@settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(calls)
def test_vaults_behave_like_one_dict(tmp_path_factory: Any, script: list[Any]) -> None:
    """Two vaults on one SQLite file against a dict: a value keeps its first code, codes
    are unique per namespace, find returns the first sealed value (small additions wait
    in the index's dicts, large ones are merged into its arrays: both are exercised)."""
    led = SQLiteLedger(tmp_path_factory.mktemp("v") / "l.db", KEY)
    try:
        vaults = [vault_for(led), led.token_vault()]
        model: dict[tuple[str, str], tuple[str, bytes]] = {}
        draws = itertools.count()
        for which, ns, ints, times in script:
            lookups = [f"v{i}" for i in ints]
            if times > 1:  # many fresh values at once besides
                lookups += [f"bulk{next(draws)}" for _ in range(times)]
            items = [(lk, f"sealed-{lk}-{next(draws)}".encode()) for lk in lookups]
            vault = vaults[which]
            assert vault is not None
            got = vault.issue(ns, items, lambda: f"t{next(draws)}")
            for (lk, sealed), token in zip(items, got, strict=True):
                model.setdefault((ns, lk), (token, sealed))
                assert model[(ns, lk)][0] == token
        for ns in ("ns-a", "ns-b"):
            tokens = [t for (n, _), (t, _) in model.items() if n == ns]
            assert len(tokens) == len(set(tokens))
        for (ns, _), (token, sealed) in list(model.items())[:50]:
            for vault in vaults:
                assert vault is not None
                first = [s for (n, _), (t, s) in model.items() if n == ns and t == token]
                assert vault.find(ns, token) == first[0] == sealed
    finally:
        led.close()


def test_token_hashes_ignore_the_array_width() -> None:
    tokens = [b"pt_abc", b"x", b"pt_abcdefgh"]
    narrow = packs.token_hashes(np.array(tokens, dtype="S11"))
    wide = packs.token_hashes(np.array(tokens, dtype="S40"))
    assert narrow.tolist() == wide.tolist()
    assert len(set(narrow.tolist())) == 3


def test_keys_sharing_their_first_8_bytes_are_told_apart() -> None:
    """The index sorts by the first 8 key bytes; keys equal there must still find their
    own codes (the run of equal prefixes is searched)."""
    head = b"\x01" * 8
    keys = [head + bytes([i]) * 8 for i in range(6)] + [b"\x02" * 16]
    index = packs.Index()
    toks = np.array([f"t{i}".encode() for i in range(7)], dtype=np.bytes_)
    index.add(1, b"".join(keys[:3]), toks[:3])  # small: the dicts
    index.add(2, b"".join(keys[3:]) * 1, toks[3:])
    index._flush()  # everything into the arrays
    big = [bytes([9, i % 256, i // 256]) + b"\0" * 13 for i in range(5000)]
    index.add(3, b"".join(big), np.array([f"b{i}".encode() for i in range(5000)]))
    found = index.lookup([*keys, head + b"\xff" * 8, *big[:3]])
    assert found == {
        **{k: f"t{i}" for i, k in enumerate(keys)},
        **{k: f"b{i}" for i, k in enumerate(big[:3])},
    }
    assert index.packs_of("t4") == [2] and index.packs_of("b7") == [3]
    assert index.taken(["t0", "b4999", "nope"]) == [True, True, False]


def test_packed_columns_round_trip() -> None:
    tokens, sealed = ["pt_é", "", "x" * 300], [b"", b"\0\1", b"abc" * 1000]
    tb, ts, sb, ss = packs.encode(tokens, sealed)
    assert [t.decode() for t in packs.split(tb, ts)] == tokens
    assert packs.split(sb, ss) == sealed
    assert packs.token_array(*packs.encode(["ab", "cd"], [b"", b""])[:2]).tolist() == [
        b"ab",
        b"cd",
    ]


def test_a_code_drawn_twice_in_one_call_is_drawn_again(tmp_path: Path) -> None:
    led = SQLiteLedger(tmp_path / "l.db", KEY)
    try:
        vault = vault_for(led)
        assert vault is not None
        draws = iter(["pt_same", "pt_same", "pt_other"])
        got = vault.issue("ns", [("lk1", b"1"), ("lk2", b"2")], lambda: next(draws))
        assert sorted(got) == ["pt_other", "pt_same"]
    finally:
        led.close()


def test_codes_are_found_in_every_run_of_the_index() -> None:
    """Each run stays at least twice the next (a run that breaks that is merged into
    the one before, in a cascade), the smallest packs wait in a dict; every code is
    found wherever it went."""
    sizes = [4000, 1000, 300, 50, 260]
    index = packs.Index()
    expected: dict[bytes, str] = {}
    for pack, n in enumerate(sizes, 1):
        keys = [hashlib.sha256(f"{pack}/{i}".encode()).digest()[:16] for i in range(n)]
        toks = [f"c{pack}_{i}" for i in range(n)]
        index.add(pack, b"".join(keys), np.array([t.encode() for t in toks]))
        expected.update(zip(keys, toks, strict=True))
    # 300 + 260 merged, then that with 1000; 4000 is more than twice 1560
    assert [len(r) for r in index._runs] == [4000, 1560] and len(index._recent) == 50
    absent = [hashlib.sha256(f"absent{i}".encode()).digest()[:16] for i in range(20)]
    assert index.lookup([*expected, *absent]) == expected
    assert index.packs_of("c2_999") == [2] and index.packs_of("c4_7") == [4]
    assert index.packs_of("c5_0") == [5] and index.packs_of("nope") == []
    assert index.taken(["c1_0", "c3_299", "c4_49", "c5_1", "zz"]) == [True] * 4 + [False]
    assert len(index) == sum(sizes) and index.last == 5


def _issue_in_child(where: tuple[str, str], seed: int, barrier: Any, results: Any) -> None:
    """A separate process's vault (its own index), issuing the values the others issue,
    each round started at the same moment as theirs."""
    kind, place = where
    if kind == "sqlite":
        led: Any = SQLiteLedger(place, KEY)
    else:
        url, schema = place.split("#")
        led = PostgresLedger(url, KEY, schema=schema)
    try:
        vault = vault_for(led)
        assert vault is not None
        out: list[str] = []
        for r in range(6):
            # 2000 new values per round, the same in every process, in its own order
            values = [f"v{r}_{(i * (2 * seed + 3)) % 2000}" for i in range(2000)]
            barrier.wait(timeout=60)
            got = vault.issue("ns", [(v, v.encode()) for v in values], _counter(f"p{seed}r{r}_"))
            out.extend(f"{v}={t}" for v, t in zip(values, got, strict=True))
        results.put(out)
    finally:
        led.close()


def _three_processes_agree(where: tuple[str, str]) -> None:
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(3), ctx.Queue()
    procs = [
        ctx.Process(target=_issue_in_child, args=(where, s, barrier, results)) for s in range(3)
    ]
    for p in procs:
        p.start()
    runs = [results.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    codes: dict[str, set[str]] = {}
    for run in runs:
        for pair in run:
            v, t = pair.split("=")
            codes.setdefault(v, set()).add(t)
    assert len(codes) == 12_000 and all(len(ts) == 1 for ts in codes.values())
    assert len({next(iter(ts)) for ts in codes.values()}) == 12_000


def test_processes_issuing_at_once_agree_on_each_code(tmp_path: Path) -> None:
    """First writer wins across processes (each with its own in-memory index): every
    value gets one code, whichever process drew it, and the codes are unique."""
    path = str(tmp_path / "l.db")
    SQLiteLedger(path, KEY).close()
    _three_processes_agree(("sqlite", path))


def test_processes_agree_on_postgres_too(pg_url: str, pg_schema: str) -> None:
    """The same on PostgreSQL, where the write lock is an advisory lock per namespace."""
    PostgresLedger(pg_url, KEY, schema=pg_schema).close()
    _three_processes_agree(("postgres", f"{pg_url}#{pg_schema}"))


def test_a_database_made_anew_or_restored_is_read_anew(tmp_path: Path) -> None:
    """The process's index is shared by vaults on one database; a database replaced at
    the same path (a new vault id) or restored from a copy (behind the index) must not
    be answered from codes it does not hold."""
    db = tmp_path / "l.db"

    def copy(src: Path, dst: Path) -> None:  # SQLite's online backup: WAL included
        with sqlite3.connect(src) as a, sqlite3.connect(dst) as b:
            a.backup(b)
        b.close()
        a.close()

    def issue(values: list[str], prefix: str) -> list[str]:
        led = SQLiteLedger(db, KEY)
        try:
            vault = vault_for(led)
            assert vault is not None
            return vault.issue("ns", [(v, v.encode()) for v in values], _counter(prefix))
        finally:
            led.close()

    def find(token: str) -> bytes | None:
        led = SQLiteLedger(db, KEY)
        try:
            vault = vault_for(led)
            assert vault is not None
            return vault.find("ns", token)
        finally:
            led.close()

    first = issue(["a", "b"], "one_")
    copy(db, tmp_path / "backup.db")
    later = issue(["c"], "two_")
    assert issue(["c"], "unused_") == later  # the same database: the code stays
    copy(tmp_path / "backup.db", db)  # restored: "c" was never issued here
    again = issue(["a", "c"], "three_")
    assert again[0] == first[0] and again[1] == "three_000000"
    assert find(again[1]) == b"c" and find(later[0]) is None
    for suffix in ("", "-wal", "-shm"):
        Path(f"{db}{suffix}").unlink(missing_ok=True)
    assert issue(["a"], "four_") == ["four_000000"]  # a new database, a new vault


def test_without_numpy_the_index_is_dicts(tmp_path: Path, monkeypatch: Any) -> None:
    """A core install (no `bulk` extra, no numpy): the same codes, found from dicts."""
    monkeypatch.setattr(packs, "HAVE_NUMPY", False)
    led = SQLiteLedger(tmp_path / "l.db", KEY)
    try:
        vault, other = vault_for(led), led.token_vault()
        assert vault is not None
        first = vault.issue("ns", [(f"v{i}", b"s") for i in range(5000)], _counter("a_"))
        assert packs.token_array(*packs.encode(["x", "y"], [b"", b""])[:2]) == [b"x", b"y"]
        again = other.issue("ns", [(f"v{i}", b"s") for i in range(4990, 5010)], _counter("b_"))
        assert again[:10] == first[4990:] and again[10:] == [f"b_{i:06d}" for i in range(10)]
        assert other.known("ns", ["v7", "nope"]) == [first[7], None]
        assert vault.find("ns", first[123]) == b"s"
    finally:
        led.close()


def test_the_shared_indexes_are_bounded_by_codes_held(tmp_path: Path, monkeypatch: Any) -> None:
    """Namespaces per recipient, each with many codes: the least recently used indexes
    are dropped past the budget (and read again, with the same codes, when asked for)."""
    from veil.ledger.vault import _INDEXES
    from veil.ledger.vault import _ns as _ns_id

    monkeypatch.setattr(type(_INDEXES), "CODES", 1000)
    led = SQLiteLedger(tmp_path / "l.db", KEY)
    try:
        vault = vault_for(led)
        assert vault is not None
        first = {
            ns: vault.issue(ns, [(f"v{i}", b"s") for i in range(600)], _counter(ns + "_"))
            for ns in ("r1", "r2", "r3")
        }
        held = [k[1] for k in _INDEXES._by if k[0] == vault._id]  # type: ignore[attr-defined]
        # checked as each index is taken: r1 went when r3 came (1200 codes > 1000)
        assert sorted(held) == sorted(_ns_id(ns) for ns in ("r2", "r3"))
        for ns, codes in first.items():  # evicted ones are read back from the packs
            assert vault.issue(ns, [(f"v{i}", b"s") for i in range(600)], _counter("x")) == codes
    finally:
        led.close()


class _Scripted:
    """A ``make`` with ``many``, as tokenize's: scripted codes, then fresh ones."""

    def __init__(self, codes: list[str]) -> None:
        self.codes, self.calls = list(codes), 0

    def many(self, n: int) -> list[str]:
        out, self.codes = self.codes[:n], self.codes[n:]
        return out + [self() for _ in range(n - len(out))]

    def __call__(self) -> str:
        self.calls += 1
        return self.codes.pop(0) if self.codes else f"pt_fresh{self.calls}"


def test_codes_drawn_at_once_are_still_drawn_again_on_a_collision(tmp_path: Path) -> None:
    """``make.many`` gives the first codes in one call; one taken by another value of the
    namespace, or drawn twice, is replaced by single draws."""
    led = SQLiteLedger(tmp_path / "l.db", KEY)
    try:
        vault = vault_for(led)
        assert vault is not None
        [taken] = vault.issue("ns", [("lk0", b"0")], _Scripted(["pt_a"]))
        make = _Scripted(["pt_a", "pt_b", "pt_b", "pt_c"])
        got = vault.issue("ns", [(f"lk{i}", b"x") for i in (1, 2, 3, 4)], make)
        assert taken == "pt_a" and len(set([taken, *got])) == 5
        assert got[1] == "pt_b" and got[3] == "pt_c"
        assert make.calls == 2  # the taken one and the repeat, drawn again one by one
    finally:
        led.close()


def test_tokenize_draws_a_batch_of_codes_in_one_call() -> None:
    from veil.transforms.crypto import _Drawn

    d = _Drawn("pt_", 16, 3)
    first = d.many(2)
    rest = [d(), d(), *d.many(2)]  # the third drawn code, then fresh ones
    codes = first + rest
    assert len(set(codes)) == 6 and all(c.startswith("pt_") and len(c) == 19 for c in codes)


@given(
    st.lists(
        st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\0"), min_size=1),
        max_size=30,
    )
)
def test_token_texts_give_back_each_token(tokens: list[str]) -> None:
    """One decode of the array's buffer where the tokens share a width and are ASCII;
    token by token otherwise (shorter ones padded with NULs, or UTF-8 of several bytes)."""
    arr = np.array([t.encode() for t in tokens], dtype=np.bytes_)
    assert packs.token_texts(arr) == tokens


@given(
    held=st.sampled_from([0, 300, 700]).flatmap(
        lambda n: st.builds(lambda start: list(range(start, start + n)), st.integers(0, 400))
    ),
    small=st.lists(st.integers(0, 1200), max_size=20, unique=True),
    asked=st.lists(st.integers(0, 1200), max_size=50),
)
def test_fresh_codes_are_neither_held_nor_repeated(
    held: list[int], small: list[int], asked: list[int]
) -> None:
    """``fresh`` may answer "look closer" for any reason, but a yes is a promise: no
    asked code is held (in a sorted run or among the recent few) and none is asked
    twice."""
    index = packs.Index()
    if held:
        keys = b"".join(hashlib.sha256(b"%d" % i).digest()[:16] for i in held)
        toks = np.array([b"pt_%d" % i for i in held], dtype=np.bytes_)
        index.add(1, keys, toks)  # 256 or more: a run of its own; fewer: the dicts
    if small:
        keys = b"".join(hashlib.sha256(b"s%d" % i).digest()[:16] for i in small)
        index.add(2, keys, np.array([b"pt_%d" % (i + 5000) for i in small], dtype=np.bytes_))
    tokens = [f"pt_{i}" for i in asked] + [f"pt_{i + 5000}" for i in asked[:2]]
    in_use = {f"pt_{i}" for i in held} | {f"pt_{i + 5000}" for i in small}
    if index.fresh(tokens):
        assert not in_use & set(tokens)
        assert len(set(tokens)) == len(tokens)
    if not in_use & set(tokens) and len(set(tokens)) == len(tokens) and not held:
        assert index.fresh(tokens)  # with nothing in a run, the answer is exact


@settings(max_examples=50, deadline=None)
@given(
    stored=st.lists(st.integers(0, 2000), unique=True, max_size=700),
    small=st.lists(st.integers(0, 2000), unique=True, max_size=20),
    asked=st.lists(st.integers(0, 2200), max_size=100),
)
def test_find_many_and_find_codes_give_the_codes_added(
    stored: list[int], small: list[int], asked: list[int]
) -> None:
    """Both forms of a lookup give the code each key was added with (from runs and the
    small dicts alike), None or b"" where there is none."""
    import hashlib

    def key(i: int) -> bytes:
        return hashlib.sha256(str(i).encode()).digest()[:16]

    index = packs.Index()
    big = [i for i in stored if i not in small]
    if big:
        index.add(1, b"".join(map(key, big)), np.array([f"pt_{i}".encode() for i in big]))
    small_new = [i for i in small if i not in big]
    if small_new:
        index.add(2, b"".join(map(key, small_new)), [f"x{i}".encode() for i in small_new])
    added = {i: f"pt_{i}" for i in big} | {i: f"x{i}" for i in small_new}
    keys = b"".join(map(key, asked))
    want = [added.get(i) for i in asked]
    assert index.find_many(keys) == want
    assert [t.decode() or None for t in index.find_codes(keys).tolist()] == want
