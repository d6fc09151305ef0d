"""Free-text detection: accuracy per entity type and throughput, both engines, one run.

    python benchmarks/bench_text.py [--notes 400] [--timing 300]

Accuracy: labelled synthetic notes (notes_synth.py), scored per entity type.
Throughput (notes/s, same analyzer for every row of an engine):
  presidio loop   AnalyzerEngine.analyze + AnonymizerEngine.anonymize, one text at a time
  veil one-by-one Job.apply per record (scan_text analyzes each value)
  veil batch      Veil.sanitize (records in batches, spaCy via nlp.pipe)
  veil pool(N)    Veil.sanitize(workers=N) (analysis in N worker processes)
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from notes_synth import ENTITIES, notes, score
from veil.core import Veil
from veil.keys import Keyring
from veil.policytest import MemoryLedger
from veil.request import Request
from veil.text.engine import EngineConfig, Query, analyzer_for, ner_model_installed
from veil.validate import load_bundle

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


def bench_veil(
    engine: str, entities: tuple[str, ...], texts: list[str], workers: int
) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as d:
        ents = "".join(
            f"          {e}: {{transform: replace, params: {{value: '<{e}>'}}}}\n" for e in entities
        )
        (Path(d) / "b.yaml").write_text(
            BUNDLE.format(engine=engine, regions=REGIONS, entities=ents)
        )
        veil = Veil(load_bundle(d), MemoryLedger(), Keyring.demo())
    req = Request(subject_id="b", purpose="R", dataset="notes")
    records = [{"id": str(i), "note": t} for i, t in enumerate(texts)]
    out: dict[str, float] = {}
    job = veil.start(req)
    t0 = time.perf_counter()
    one = [job.apply(r) for r in records]
    out["veil one-by-one"] = len(texts) / (time.perf_counter() - t0)
    t0 = time.perf_counter()
    batch = veil.sanitize(req, records).records
    out["veil batch"] = len(texts) / (time.perf_counter() - t0)
    assert batch == one, "batch output differs from one-by-one"
    veil.sanitize(req, records[: workers * 64], workers=workers)  # not timed: start-up
    t0 = time.perf_counter()
    pooled = veil.sanitize(req, records, workers=workers).records
    out[f"veil pool({workers}) incl. start-up"] = len(texts) / (time.perf_counter() - t0)
    assert pooled == one, "pool output differs from one-by-one"
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--notes", type=int, default=400)
    ap.add_argument("--timing", type=int, default=300)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 2)
    args = ap.parse_args()
    from presidio_anonymizer import AnonymizerEngine
    from presidio_anonymizer.entities import OperatorConfig

    gold = notes(args.notes, seed=1234)
    timing = [n.text for n in notes(args.timing, seed=99)]
    engines = ["default"] + (["ner"] if ner_model_installed() else [])
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
        anonymizer = AnonymizerEngine()
        ops = {e: OperatorConfig("replace", {"new_value": f"<{e}>"}) for e in asked}
        presidio = analyzer.presidio
        t0 = time.perf_counter()
        for t in timing:
            res = presidio.analyze(t, language="en", entities=list(asked), score_threshold=0.4)
            anonymizer.anonymize(t, res, ops)
        rates = {"presidio loop": len(timing) / (time.perf_counter() - t0)}
        rates.update(bench_veil(engine, asked, timing, args.workers))
        print(f"-- engine {engine}: throughput on {len(timing)} notes ({os.cpu_count()} CPUs)")
        base = rates["presidio loop"]
        for name, r in rates.items():
            print(f"{name:<32}{r:>9.1f} notes/s  {r / base:>5.2f}x")


if __name__ == "__main__":
    main()
