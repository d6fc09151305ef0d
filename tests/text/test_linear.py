"""Patterns translated for RE2 must mean what they mean in Python's engines.

Checked on Presidio's own test strings (tests/text/data/presidio_test_strings.json:
the texts of the parametrized cases of its recognizer tests), on veil's synthetic notes,
on random text mixing the characters where the engines' Unicode rules differ, and,
for character classes, on every code point."""

from __future__ import annotations

import json
import re
import string
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import re2
import regex
from hypothesis import given, settings
from hypothesis import strategies as st

from veil.text import budget
from veil.text.engine import EngineConfig, analyzer_for
from veil.text.linear import (
    CASE_TRAPS,
    LinearSearch,
    Matcher,
    NotLinear,
    Prefilter,
    compile_linear,
    relax,
    translate,
)

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))
from notes_synth import notes

DATA = json.loads((Path(__file__).parent / "data" / "presidio_test_strings.json").read_text())
PRESIDIO_STRINGS = [s for strings in DATA["strings"].values() for s in strings]
#: characters where Unicode rules of RE2 and Python differ (case folding, \w, \s, \d)
TRICKY = (
    "\u017f\u212akK\u0130\u0131\u00df\u1e9e\u00e9\u00c9\u0663\u07c0\u00a0\x0b\x1c"
    "\u2028\u0345\u03b9\u0399\ufb00\u200d_"
)


def _patterns() -> list[tuple[str, int, str]]:
    from veil.policy.validate import load_bundle
    from veil.transforms.text import engine_config

    bundle = load_bundle(str(Path(__file__).resolve().parents[2] / "policies" / "health"))
    configs = [EngineConfig(phone_regions=("US", "GB"))]
    for rule in bundle.rules:
        o = rule.outcome
        if o is not None and o.transform == "scan_text":
            configs.append(engine_config(o.params))
    out = {}
    for config in configs:
        plain = EngineConfig("default", config.model, config.phone_regions, config.recognizers)
        for r in analyzer_for(plain).presidio.registry.recognizers:
            for p in getattr(r, "patterns", None) or []:
                out[(p.regex, r.global_regex_flags)] = f"{r.name}/{p.name}"
    return [(rx, flags, name) for (rx, flags), name in out.items()]


PATTERNS = _patterns()


def _spans(matches: Any) -> list[tuple[tuple[int, int], ...]]:
    return [
        tuple(m.span(i) for i in range(len(m.groups()) + 1)) for m in matches if m.end() > m.start()
    ]


def _same_everywhere(texts: list[str]) -> None:
    for rx, flags, name in PATTERNS:
        m = Matcher(rx, flags)
        python = regex.compile(rx, flags=flags)
        for text in texts:
            assert _spans(m.finditer(text)) == _spans(python.finditer(text)), (name, text)


def test_most_presidio_patterns_run_in_re2() -> None:
    linear = [name for rx, flags, name in PATTERNS if Matcher(rx, flags).linear]
    assert len(linear) >= 0.75 * len(PATTERNS)
    for name in ("UrlRecognizer/Non schema URL", "UrlRecognizer/Standard Url"):
        assert name in linear
    assert "bundle:mrn/mrn-prefixed" in linear


def test_same_matches_on_presidios_own_test_strings() -> None:
    assert len(PRESIDIO_STRINGS) > 500
    variants = [s.replace("a", "é") for s in PRESIDIO_STRINGS[::7]]
    variants += [f"\u0130 {s} \u0131" for s in PRESIDIO_STRINGS[::11]]
    _same_everywhere(PRESIDIO_STRINGS + variants)


def test_same_matches_on_synthetic_notes() -> None:
    _same_everywhere([n.text for n in notes(150, seed=3)])


pieces = st.sampled_from(
    [" ", "-", "/", ".", "@", "4111", "1111", "2024", "12", "03", "x.org", "mail", "192.168.",
     "Mar", "+1 ", "(555) ", "SSN ", "\n", "http://", "www.", ".com", "DE89", "MRN-", "::", "ff"]
)  # fmt: skip
soup = st.lists(pieces | st.text(alphabet=TRICKY + string.printable, max_size=4), max_size=14)


@settings(max_examples=300, deadline=None)
@given(parts=soup)
def test_same_matches_on_random_text(parts: list[str]) -> None:
    _same_everywhere(["".join(parts)])


def _prefilters() -> list[tuple[list[str], Prefilter, list[Any]]]:
    """Every pattern above, grouped by flags: one prefilter per group, with Python's
    engine's compiled patterns to check it against."""
    groups: dict[int, list[str]] = {}
    for rx, flags, _ in PATTERNS:
        groups.setdefault(flags, []).append(rx)
    return [
        (
            rxs,
            Prefilter([Matcher(rx, flags) for rx in rxs]),
            [regex.compile(rx, flags=flags) for rx in rxs],
        )
        for flags, rxs in groups.items()
    ]


PREFILTERS = _prefilters()


def _prefiltered_keeps_every_match(texts: list[str]) -> int:
    """Asserts that every pattern with a match in a text (by Python's engine, which the
    prefilter does not use) is among those the prefilter runs; returns how many
    (text, pattern) pairs it left out."""
    skipped = 0
    for rxs, pre, python in PREFILTERS:
        for text in texts:
            run = pre.which(text)
            for i, compiled in enumerate(python):
                if run is not None and i not in run:
                    skipped += 1
                    assert not any(m.end() > m.start() for m in compiled.finditer(text)), (
                        rxs[i],
                        text,
                    )
    return skipped


def test_the_prefilter_leaves_out_only_patterns_without_a_match() -> None:
    texts = PRESIDIO_STRINGS + [n.text for n in notes(150, seed=4)]
    # it does leave patterns out (else this test would check nothing)
    assert _prefiltered_keeps_every_match(texts) > len(texts)


@settings(max_examples=300, deadline=None)
@given(parts=soup)
def test_the_prefilter_leaves_out_only_patterns_without_a_match_on_random_text(
    parts: list[str],
) -> None:
    _prefiltered_keeps_every_match(["".join(parts)])


def _regexes() -> st.SearchStrategy[str]:
    """Small patterns with lookarounds, atomic groups and the syntax around them."""
    atoms = st.sampled_from(
        ["a", "b", "1", "\\d", "[ab]", "[^a]", "[]a]", "[(]", "\\(", ".", " ", "\\b"]
    )

    def wrap(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        groups = ["(?:{})", "({})", "(?={})", "(?!{})", "(?<={})", "(?<!{})", "(?>{})", "{}|a"]
        quantifiers = ["", "", "*", "+", "?", "{1,2}"]
        return st.builds(
            lambda g, q, x: g.format(x) + (q if not g.startswith("(?=") else ""),
            st.sampled_from(groups),
            st.sampled_from(quantifiers),
            inner,
        )

    return st.lists(st.recursive(atoms, wrap, max_leaves=6), min_size=1, max_size=4).map("".join)


@settings(max_examples=400, deadline=None)
@given(pattern=_regexes(), text=st.text(alphabet="ab1 (]\n", max_size=12))
def test_a_relaxed_pattern_matches_wherever_the_pattern_does(pattern: str, text: str) -> None:
    try:
        compiled = regex.compile(pattern)
    except regex.error:
        return
    loose = relax(pattern)
    if loose is None:
        return
    assert ("(?=" not in loose and "(?!" not in loose and "(?>" not in loose) or "[" in loose
    if compiled.search(text) is not None:
        assert regex.compile(loose).search(text) is not None, loose
    # and through the prefilter: a pattern it leaves out has no match
    run = Prefilter([Matcher(pattern, 0), Matcher("zz", 0)]).which(text)
    if run is not None and 0 not in run:
        assert compiled.search(text) is None


def test_a_prefilter_that_fails_runs_every_pattern() -> None:
    """RE2's set search answers "no match" when its DFA gives up; the prefilter must
    then run everything, not nothing."""

    class GaveUp:
        def Match(self, text: bytes) -> list[int]:
            return []

    rxs = [r"\d{3}-\d{2}-\d{4}", r"\b\d{9}\b", r"(?<!\d)\d{4}", r"(\d)\1"]
    pre = Prefilter([Matcher(rx, 0) for rx in rxs])
    # a backreference has no RE2 form, relaxed or not: always run; the lookbehind's
    # relaxed form has no match here
    assert pre.which("no digits at all") == {3}
    assert pre.which("SSN 078-05-1120") == {0, 2, 3}
    pre._set = GaveUp()
    assert pre.which("no digits at all") is None
    # non-ASCII text: finditer may not use RE2 there, so neither does the prefilter
    assert Prefilter([Matcher(rx, 0) for rx in rxs]).which("caf\u00e9 123-45-6789") is None


ALL = "".join(chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF)


def _differ(flavor: str, pattern: str, flags: int) -> set[str]:
    """Code points that ``pattern`` (one character wide) matches in exactly one engine.
    Compared as maximal runs (few matches, where single characters would be a million)."""
    engine: Any = re if flavor == "re" else regex
    runs = f"(?:{pattern})+"
    python = [m.span() for m in engine.finditer(runs, ALL, flags=flags)]
    linear = [m.span() for m in compile_linear(translate(runs, flags, flavor)).finditer(ALL)]  # type: ignore[arg-type]
    if python == linear:
        return set()

    def chars(spans: list[tuple[int, int]]) -> set[str]:
        return {ALL[i] for a, b in spans for i in range(a, b)}

    return chars(python) ^ chars(linear)


@pytest.mark.parametrize("flavor", ["re", "regex"])
def test_classes_are_python_s_on_every_code_point(flavor: str) -> None:
    for pattern in (r"\d", r"\D", r"\w", r"\W", r"\s", r"\S", r"[\w.\-]", r"[^\s]", r"[^\W\d]"):
        for flags in (0, re.IGNORECASE):
            differ = _differ(flavor, pattern, flags)
            assert differ <= set(CASE_TRAPS), (flavor, pattern, flags, sorted(differ))


@pytest.mark.parametrize("flavor", ["re", "regex"])
def test_case_folding_differs_only_on_the_traps(flavor: str) -> None:
    for pattern in [*string.ascii_letters, "[a-z]", "[A-Z]", "[^a-z]", "[g-z]"]:
        assert _differ(flavor, pattern, re.IGNORECASE) <= set(CASE_TRAPS), pattern


@pytest.mark.parametrize(
    "pattern",
    [r"(?=a)b", r"(?<!x)y", r"(a)\1", r"a++", r"(?>a)", r"\p{L}", "(?x) a", r"[\b]", r"a(?i)b"],
)
def test_what_re2_cannot_mean_is_not_translated(pattern: str) -> None:
    with pytest.raises(NotLinear):
        translate(pattern, 0, "regex")


def test_a_catastrophic_presidio_input_is_linear() -> None:
    url = next(Matcher(rx, fl) for rx, fl, name in PATTERNS if name.endswith("Non schema URL"))
    text = "portal.example.com/u/jsmith-1234 " + "." * 60_000
    start = time.monotonic()
    assert _spans(url.finditer(text)) == [((0, 32), (0, 32), (-1, -1))]
    assert time.monotonic() - start < 0.5


def test_a_backtracking_fallback_runs_out_of_time_and_says_so() -> None:
    slow = Matcher(r"(?=a)(a|aa)+$", re.IGNORECASE)
    assert not slow.linear
    b = budget.Budget(value_seconds=0.05)
    start = time.monotonic()
    with budget.scope(b), b.value(), pytest.raises(budget.AnalysisIncomplete):
        list(slow.finditer("a" * 40 + "!"))
    assert time.monotonic() - start < 1


SEARCH_TEXTS = ["", "a", "onc-123", "onc-123\n", "onc-123\n\n", "x onc-123", "ONC-123", "é1",
                "a\nb", "\u0663\u0663", "\u00a0", "abc_9", "Stra\u00dfe", "\u017f"]  # fmt: skip


@pytest.mark.parametrize(
    "pattern",
    [r"^onc-[0-9]{3}$", r"^onc-\d{3}$|^x", "(?i)^onc", r"\w+$", r"^\s$", r"(?s)a.b", "a.b",
     r"^$", r"\d\d", r"(?m)^b$", r"^(a+)+$", r"[^\W\d]+", r"x{,2}y?$", r"\Aa"],
)  # fmt: skip
def test_regexmatch_search_is_re_search(pattern: str) -> None:
    s = LinearSearch(pattern)
    for text in SEARCH_TEXTS:
        assert s.search(text) is (re.search(pattern, text) is not None), (pattern, text)


def test_regexmatch_refuses_what_it_cannot_decide_exactly() -> None:
    with pytest.raises(NotLinear):
        LinearSearch(r"\bonc\b")  # RE2's \b is ASCII-only
    with pytest.raises(NotLinear):
        LinearSearch(r"a$b")  # '$' before the end
    s = LinearSearch("(?i)^i")
    assert s.search("I") and not s.search("x")
    with pytest.raises(ValueError, match="Turkish"):
        s.search("İstanbul")


def test_re2_module_is_the_linear_engine() -> None:
    assert re2.compile("a").search("ba") is not None
