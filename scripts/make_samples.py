"""Write the demo data in examples/data/ from veil.synth, byte-for-byte reproducibly.

    python scripts/make_samples.py            # rewrite examples/data/
    python scripts/make_samples.py --out DIR  # write elsewhere (the tests compare)

Needs Faker (``pip install 'veil[synth]'``). Output depends only on the seeds below and
the Faker version, so a test can regenerate it and fail if the committed files drift.
"""

from __future__ import annotations

import argparse
import csv
import json
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from veil.samples import synth

DEFAULT_OUT = Path(__file__).resolve().parent.parent / "examples" / "data"

N_PATIENTS, N_FHIR, N_ACCOUNTS, N_TRANSACTIONS = 200, 30, 100, 400


def _jsonl(path: Path, records: Iterable[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        for rec in records:
            fh.write(json.dumps(rec, ensure_ascii=False) + "\n")


def _csv_cell(value: Any) -> str:
    """JSON spelling for booleans so CSV and JSONL readers agree on what a value is."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _csv(path: Path, records: Sequence[dict[str, Any]]) -> None:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(records[0].keys())
        for rec in records:
            writer.writerow(_csv_cell(v) for v in rec.values())


def write_samples(out: Path) -> list[Path]:
    """Write every sample file into ``out`` and return their paths."""
    out.mkdir(parents=True, exist_ok=True)
    patients = list(synth.patients(N_PATIENTS))
    accounts = list(synth.accounts(N_ACCOUNTS))
    paths = [
        out / "patients.jsonl",
        out / "patients.csv",
        out / "fhir_patients.json",
        out / "accounts.jsonl",
        out / "transactions.jsonl",
    ]
    _jsonl(paths[0], patients)
    _csv(paths[1], patients)
    fhir = json.dumps(list(synth.fhir_patients(N_FHIR)), ensure_ascii=False, indent=2)
    paths[2].write_text(fhir + "\n", encoding="utf-8", newline="\n")
    _jsonl(paths[3], accounts)
    _jsonl(paths[4], synth.transactions(N_TRANSACTIONS, accounts=accounts))
    return paths


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    args = parser.parse_args(argv)
    for path in write_samples(args.out):
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
