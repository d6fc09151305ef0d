"""Records/s sanitizing synthetic health records (JSONL), ledger included, vs a plain loop.

The baseline is the cheapest honest program doing the same work: read JSONL, apply the
same transform ops (bound once, no policy at all) to the same fields, write JSONL. veil
adds request planning, type checks, row filters, counting, the data-subject index and
one SQLite ledger event. Both run in this process, on the same data, in the same run.

    python benchmarks/bench_core.py [--records 100000] [--requester researcher]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import results
from veil import transforms
from veil.core import Veil
from veil.formats.records import Writer, read_jsonl
from veil.keys import Keyring
from veil.ledger import open_ledger
from veil.ledger.vault import vault_for
from veil.policy.validate import load_bundle
from veil.request import Request
from veil.samples.synth import patients
from veil.transforms.base import BindContext

ROOT = Path(__file__).resolve().parent.parent
REQUESTERS = {
    "researcher": Request(
        subject_id="r.chen",
        subject={"role": "researcher", "org": "university"},
        purpose="HRESCH",
        dataset="patients",
        recipient="study-42",
    ),
    "billing": Request(
        subject_id="b.okafor",
        subject={"role": "billing_clerk", "org": "payer-co"},
        purpose="HPAYMT",
        dataset="patients",
    ),
}


def plain_loop(src: Path, dst: Path, ops: dict[str, Any], subject_key: str) -> int:
    """No policy: apply fixed per-field functions; drop fields without one."""
    n = 0
    with src.open() as fin, dst.open("w") as fout:
        for line in fin:
            rec = json.loads(line)
            subj = rec[subject_key]
            out = {}
            for k, v in rec.items():
                op = ops.get(k)
                if op is None:
                    continue
                out[k] = v if op is True or v is None else op(v, subj)
            fout.write(json.dumps(out) + "\n")
            n += 1
    return n


def veil_run(src: Path, dst: Path, veil: Veil, req: Request) -> int:
    job = veil.start(req)
    with src.open() as fin, dst.open("w") as fout:
        w = Writer(fout, "jsonl", [])
        for line, rec in read_jsonl(fin):
            r = job.apply(rec, line=line)
            if r is not None:
                w.write(r)
    job.commit()
    return job.read


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--requester", choices=sorted(REQUESTERS), default="researcher")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", help="append results for benchmarks/report.py to this file")
    args = ap.parse_args()
    bundle = load_bundle(str(ROOT / "policies" / "health"))
    keys = Keyring.demo()
    req = REQUESTERS[args.requester]
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "patients.jsonl"
        t0 = time.perf_counter()
        with src.open("w") as f:
            for r in patients(args.records, seed=42):
                # everyone consents so both programs handle every record
                f.write(json.dumps({**r, "consent_research": True}) + "\n")
        print(f"generated {args.records} records in {time.perf_counter() - t0:.1f}s")
        ledger = open_ledger(f"sqlite:///{tmp}/ledger.db", None)
        veil = Veil(bundle, ledger, keys)
        plan = veil.plan(req)
        # the plain loop's random tokens come from a vault of their own, as veil's do
        plain_vault = vault_for(open_ledger(f"sqlite:///{tmp}/plain-vault.db", None))
        ops: dict[str, Any] = {}
        for path, d in plan.decide(0).items():
            if d.outcome.verdict == "allow":
                ops[path] = True
            elif d.outcome.verdict == "transform":
                spec = transforms.get(d.outcome.transform or "")
                info = plan.fields[path].info
                ops[path] = spec.bind(
                    d.outcome.params,
                    BindContext(
                        "patients",
                        path,
                        info.value_type,
                        req.effective_recipient,
                        keys,
                        vault=plain_vault,
                    ),
                )
        best: dict[str, float] = {"plain": 0.0, "veil": 0.0}
        rounds: list[float] = []
        for _ in range(args.repeat):
            rates = {}
            for name in ("plain", "veil"):
                t = time.perf_counter()
                if name == "plain":
                    n = plain_loop(src, Path(tmp) / "a.jsonl", ops, "patient_id")
                else:
                    n = veil_run(src, Path(tmp) / "b.jsonl", veil, req)
                rate = n / (time.perf_counter() - t)
                rates[name] = rate
                best[name] = max(best[name], rate)
            rounds.append(rates["veil"] / rates["plain"])
        ratio = best["veil"] / best["plain"]
        results.record(
            args.json, "core", f"record engine, {args.requester} (JSONL, ledger)",
            veil=best["veil"], baseline=best["plain"], unit="records/s", rounds=rounds,
            target=0.5, note="baseline: a plain loop applying the same transforms",
        )  # fmt: skip
        print(f"requester={args.requester} records={args.records} (best of {args.repeat})")
        print(f"  plain loop (same transforms, no policy): {best['plain']:>10,.0f} records/s")
        print(f"  veil (plan + engine + SQLite ledger):     {best['veil']:>10,.0f} records/s")
        print(f"  ratio veil/plain: {ratio:.2f}x  (target >= 0.5x)")


if __name__ == "__main__":
    main()
