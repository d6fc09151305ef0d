"""Adversarial notes through scan_text: what leaks, per identifier type and per evasion.

    python benchmarks/bench_evasions.py [--notes 10000] [--seed 2026] [--regions US,GB,DE,FR,IN]
                                        [--engine default]

Notes come from :mod:`veil.samples.evasions` (valid identifiers written with random
combinations of evasions, each with its exact span). Every note goes through
``scan_text`` (every pattern entity type replaced by a mark), and what survived is read
from the output and the generator's spans, not from veil's detector:

  leak rate   share of the identifiers' letters and digits (any script; separators and
              invisible characters do not count) still in the output
  recall      share of identifiers with none of their letters or digits left

The phone regions are the ones the rule declares (``phone_regions``), and the
generator's phone numbers are of those regions. The seed differs from the test's
(tests/text/test_evasions.py runs 1,000 notes of seed 16).
"""

from __future__ import annotations

import argparse
import time
from collections import Counter

from veil import transforms
from veil.keys import Keyring
from veil.samples import evasions as ev
from veil.text.engine import NER_ENTITIES, PATTERN_ENTITIES
from veil.transforms import BindContext, FieldType


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--notes", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--regions", default=",".join(ev.DEFAULT_REGIONS))
    ap.add_argument("--engine", default="default", choices=["default", "ner"])
    args = ap.parse_args()
    regions = tuple(args.regions.split(","))
    kinds = PATTERN_ENTITIES | (NER_ENTITIES if args.engine == "ner" else frozenset())
    spec = transforms.get("scan_text")
    params = spec.parse_params(
        {
            "engine": args.engine,
            "phone_regions": list(regions),
            "entities": {e: {"transform": "replace", "params": {"value": ev.MARK}} for e in kinds},
        }
    )
    ctx = BindContext("notes", "note", FieldType.STRING, "bench", Keyring(keys={}, use_env=False))
    op = spec.bind(params, ctx)

    chars: Counter[str] = Counter()
    kept: Counter[str] = Counter()
    ids: Counter[str] = Counter()
    whole: Counter[str] = Counter()
    by_evasion: Counter[str] = Counter()
    by_evasion_ok: Counter[str] = Counter()
    leaks: list[tuple[str, str]] = []
    started = time.perf_counter()
    for note in ev.notes(args.notes, seed=args.seed, regions=regions):
        for p, count, survived in ev.leaked(note, op(note.text, "bench")):
            chars[p.entity] += count
            kept[p.entity] += survived
            ids[p.entity] += 1
            whole[p.entity] += survived == 0
            for name in p.evasions or ("none",):
                by_evasion[name] += 1
                by_evasion_ok[name] += survived == 0
            if survived and len(leaks) < 20:
                leaks.append((p.kind, repr(note.text[p.start : p.end])))
    elapsed = time.perf_counter() - started

    total = sum(ids.values())
    print(
        f"== {args.notes} adversarial notes (seed {args.seed}), {total} identifiers, engine "
        f"{args.engine}, phone regions {', '.join(regions)}: {elapsed:.1f} s"
    )
    print(f"{'entity':<15}{'identifiers':>12}{'characters':>12}{'leak rate':>11}{'recall':>9}")
    for e in ev.ENTITIES:
        print(
            f"{e:<15}{ids[e]:>12}{chars[e]:>12}{kept[e] / max(chars[e], 1):>11.4f}"
            f"{whole[e] / max(ids[e], 1):>9.4f}"
        )
    print(f"{'all':<15}{total:>12}{sum(chars.values()):>12}"
          f"{sum(kept.values()) / max(sum(chars.values()), 1):>11.4f}"
          f"{sum(whole.values()) / max(total, 1):>9.4f}")  # fmt: skip
    print("\nrecall per evasion (an identifier counts under each evasion it carries)")
    for name in sorted(by_evasion):
        print(f"  {name:<14}{by_evasion[name]:>8}{by_evasion_ok[name] / by_evasion[name]:>9.4f}")
    for kind, text in leaks:
        print(f"LEAK {kind}: {text}")


if __name__ == "__main__":
    main()
