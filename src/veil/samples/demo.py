"""``veil demo``: the bundled bundles and sample data, end to end, for several requesters.

Uses the PUBLIC DEMO KEYS (derived from a published string): fine for synthetic data,
never for real data. Every run writes a fresh ledger under the work directory, verifies
it, and prints an accounting of disclosures for one patient.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.panel import Panel
from rich.table import Table

from ..core import Veil
from ..errors import AccessDenied, ConfigError, PolicyError
from ..keys import Keyring
from ..ledger import hipaa
from ..ledger.events import Event
from ..policy.bundle import Bundle
from ..policy.proofs import issues_of, prove
from ..policy.validate import load_bundle
from ..request import Request


@dataclass(frozen=True)
class Scenario:
    title: str
    request: Request
    #: output file name part (default: the requester's role)
    slug: str = ""

    @property
    def name(self) -> str:
        return self.slug or str(self.request.subject["role"])


HEALTH = [
    Scenario(
        "Treating clinician (org-north)",
        Request(
            subject_id="dr.alvarez",
            subject={"role": "clinician", "org": "org-north"},
            purpose="TREAT",
            dataset="patients",
        ),
    ),
    Scenario(
        "Researcher, Safe Harbor",
        Request(
            subject_id="r.chen",
            subject={"role": "researcher", "org": "university"},
            purpose="HRESCH",
            dataset="patients",
            recipient="outcomes-registry",
        ),
        "researcher.safe-harbor",
    ),
    Scenario(
        "Researcher, limited data set (study-42, DUA)",
        Request(
            subject_id="r.chen",
            subject={"role": "researcher", "org": "university"},
            purpose="HRESCH",
            dataset="patients",
            recipient="study-42",
        ),
        "researcher.limited-data-set",
    ),
    Scenario(
        "Public health report",
        Request(
            subject_id="reg.okafor",
            subject={"role": "registry_clerk", "org": "state-dph"},
            purpose="PUBHLTH",
            dataset="patients",
            recipient="state-dph",
        ),
    ),
    Scenario(
        "Billing clerk",
        Request(
            subject_id="b.okafor",
            subject={"role": "billing_clerk", "org": "payer-co"},
            purpose="HPAYMT",
            dataset="patients",
        ),
    ),
    Scenario(
        "ER nurse, break-glass",
        Request(
            subject_id="n.kowalski",
            subject={"role": "nurse", "org": "org-south"},
            purpose="ETREAT",
            dataset="patients",
            reason="unconscious patient admitted via ER, no chart at this site",
        ),
    ),
]

FINANCE = [
    Scenario(
        "Fraud analyst (bank-a)",
        Request(
            subject_id="f.meyer",
            subject={"role": "fraud_analyst", "org": "bank-a"},
            purpose="FRAUD",
            dataset="accounts",
        ),
    ),
    Scenario(
        "Support agent (bank-a)",
        Request(
            subject_id="s.dubois",
            subject={"role": "support_agent", "org": "bank-a"},
            purpose="SUPPORT",
            dataset="accounts",
        ),
    ),
    Scenario(
        "Analytics vendor",
        Request(
            subject_id="vendor-etl",
            subject={"role": "analytics_vendor", "org": "vendor-insight", "client": "bank-a"},
            purpose="ANALYTICS",
            dataset="accounts",
            recipient="insight-analytics-ltd",
        ),
    ),
]


def _read_jsonl(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _cell(v: Any) -> str:
    if v is None:
        return "[dim]null[/]"
    text = v if isinstance(v, str) else json.dumps(v)
    return text if len(text) <= 34 else text[:31] + "..."


def _side_by_side(
    console: Console,
    title: str,
    original: dict[str, Any],
    views: list[tuple[str, dict[str, Any] | None]],
) -> None:
    t = Table(title=title, show_lines=False, expand=False)
    t.add_column("field", style="bold")
    t.add_column("original", style="dim")
    for name, _ in views:
        t.add_column(name)
    for key, value in original.items():
        row = [key, _cell(value)]
        for _, view in views:
            if view is None:
                row.append("[dim]- filtered -[/]")
            elif key not in view:
                row.append("[red]redacted[/]")
            else:
                v = view[key]
                row.append(_cell(v) if v == value else f"[yellow]{_cell(v)}[/]")
        t.add_row(*row)
    console.print(t)


def _run_bundle(
    console: Console,
    veil: Veil,
    scenarios: list[Scenario],
    records: list[dict[str, Any]],
    outdir: Path,
) -> None:
    per_scenario: list[tuple[str, list[dict[str, Any] | None]]] = []
    events: list[Event] = []
    for sc in scenarios:
        try:
            job = veil.start(sc.request)
        except AccessDenied as exc:
            console.print(f"[red]{sc.title}: refused[/] - {exc.message}")
            continue
        # Outputs are held back until the ledger event is durable, as in `veil sanitize`;
        # one batch, so free text is analyzed together.
        outputs = job.apply_batch([(rec, i) for i, rec in enumerate(records, 1)])
        stored = job.commit()
        out = outdir / f"{sc.request.dataset}.{sc.name}.jsonl"
        with out.open("w", encoding="utf-8") as f:
            for r in outputs:
                if r is not None:
                    f.write(json.dumps(r) + "\n")
        per_scenario.append((sc.title, outputs))
        events.append(stored.event)
        e = stored.event
        flag = " [bold yellow]BREAK-GLASS[/]" if e.break_glass.used else ""
        console.print(
            f"  {sc.title}: {e.records.returned}/{e.records.read} records disclosed "
            f"({e.records.filtered} filtered) -> {out}  ledger #{stored.seq}{flag}",
            highlight=False,
        )
    if not per_scenario:
        return
    # Show the record that the most requesters receive, so the differences are visible.
    best = max(
        range(len(records)),
        key=lambda i: (sum(o[i] is not None for _, o in per_scenario), -i),
    )
    views = [(title, outputs[best]) for title, outputs in per_scenario]
    _side_by_side(
        console,
        f"One {scenarios[0].request.dataset} record, as each requester receives it",
        records[best],
        views,
    )
    _free_text(console, veil, scenarios[0].request.dataset, records, per_scenario, events)


def _free_text(
    console: Console,
    veil: Veil,
    dataset: str,
    records: list[dict[str, Any]],
    per_scenario: list[tuple[str, list[dict[str, Any] | None]]],
    events: list[Event],
) -> None:
    """Free-text fields in full, for the richest note some requester got scanned: the
    original, each requester's version, and the entity counts the ledger recorded for that
    requester's whole extract (types and counts, no values)."""
    for path, info in veil.bundle.datasets[dataset].fields.items():
        if "free_text" not in info.tags:
            continue

        def scanned(i: int, path: str = path) -> bool:
            orig = records[i].get(path)
            return isinstance(orig, str) and any(
                (v := outs[i]) is not None and path in v and v[path] != orig
                for _, outs in per_scenario
            )

        shown = [i for i in range(len(records)) if scanned(i)]
        if not shown:
            continue
        i = max(shown, key=lambda i: (len(records[i][path]), -i))
        lines = [f"[dim]original:[/] {records[i][path]}"]
        for (title, outs), event in zip(per_scenario, events, strict=True):
            view = outs[i]
            if view is None or path not in view:
                why = "[dim]- record filtered -[/]" if view is None else "[red]redacted[/]"
                lines.append(f"[bold]{title}:[/] {why}")
                continue
            fd = event.fields.get(path)
            counts = ", ".join(f"{k} x{n}" for k, n in (fd.entities if fd else {}).items())
            lines.append(f"[bold]{title}:[/] {view[path]}")
            if counts:
                lines.append(f"  [dim]ledger for the whole extract: {counts}[/]")
        console.print(Panel("\n".join(lines), title=f"free text: {path}", expand=False))


def _proofs(console: Console, bundle: Bundle) -> None:
    """What ``veil policy validate`` proves of the bundle's views, before anything leaves."""
    report = prove(bundle)
    if not report.ok:
        raise PolicyError(issues_of(bundle, report))
    for v in bundle.views:
        console.print(
            f"  [green]proved[/] view [bold]{v.name}[/]: {v.profile.title} "
            f"({v.profile.ref}) on all {report.scoped.get(v.name, 0):,} requests it governs",
            highlight=False,
        )


def run_demo(root: Path, workdir: Path, console: Console) -> None:
    policies = root / "policies"
    data = root / "examples" / "data"
    if not (policies / "health").is_dir() or not (data / "patients.jsonl").is_file():
        raise ConfigError(
            f"demo data not found under {root.resolve()}",
            hint="run 'veil demo' from the repository root, or pass --root",
        )
    console.print(
        Panel(
            "[bold]veil demo[/] - synthetic data, [bold red]PUBLIC DEMO KEYS[/] "
            "(never use them for real data)",
            expand=False,
        )
    )
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    from ..ledger import open_ledger

    keys = Keyring.demo()
    ledger = open_ledger(f"sqlite:///{workdir / 'ledger.db'}", None)
    for name, scenarios, file in (
        ("health", HEALTH, "patients.jsonl"),
        ("finance", FINANCE, "accounts.jsonl"),
    ):
        if not (policies / name).is_dir():
            continue
        bundle = load_bundle(str(policies / name))
        console.rule(
            f"bundle [bold]{bundle.name}[/] ({bundle.short_version}): {len(bundle.rules)} rules"
        )
        _proofs(console, bundle)
        veil = Veil(bundle, ledger, keys)
        _run_bundle(console, veil, scenarios, _read_jsonl(data / file), workdir)
    report = ledger.verify()
    console.rule("ledger")
    console.print(
        f"ledger verify: {'[green]ok[/]' if report.ok else '[red]FAILED[/]'} - "
        f"{report.checked} events, head {report.head_hash[:20]}...",
        highlight=False,
    )
    patients = _read_jsonl(data / "patients.jsonl")
    reported = [p for p in patients if p.get("consent_research") is not None]
    patient = (reported or patients)[0]["patient_id"]
    accounting = hipaa.account(ledger, patient)
    ledger.append(hipaa.provided_event(accounting, "veil demo", "table"))
    t = Table(title=f"Accounting of disclosures for {patient} (45 CFR 164.528)")
    for col in ("date", "recipient", "purpose", "what was disclosed", "disclosures"):
        t.add_column(col)
    for row in hipaa.render_table_rows(accounting):
        t.add_row(*row)
    console.print(t)
    left = ", ".join(f"{n} {basis}" for basis, n in sorted(accounting.exempt.items()))
    console.print(f"[dim]not listed (164.528(a)(1)): {left or 'none'}[/]", highlight=False)
    console.print(f"Try: veil audit tail --ledger sqlite:///{workdir / 'ledger.db'}")
    _console_hint(console, policies / "health", workdir)


#: who the demo console sign-ins are (synthetic people of the health bundle)
DEMO_CONSOLE_USERS = {
    "privacy officer": ("po.singh", {"role": "privacy_officer", "org": "org-north"}),
    "researcher (gets 403 pages)": ("r.chen", {"role": "researcher", "org": "university"}),
}


def _console_hint(console: Console, health: Path, workdir: Path) -> None:
    """Write a keyset and demo API keys for ``veil serve`` (mode 0600, under ``workdir``)
    and print how to open the console on the demo's ledger."""
    from ..extras import installed

    if not health.is_dir() or not installed("service"):
        return
    from ..keyset.file import Keyset, write
    from ..keyset.manage import new_key, required_keys
    from ..secretfiles import write_private
    from ..service.auth import veil_keygen_api_key

    bundle = load_bundle(str(health))
    ks = Keyset(source=str(workdir / "keys.yaml"))
    for name, users in sorted(required_keys(bundle).items()):
        ks, _ = new_key(ks, name, "aes" if "fpe" in users else "hmac")
    write(workdir / "keys.yaml", ks)
    table: dict[str, Any] = {}
    secrets = []
    for label, (sid, attrs) in DEMO_CONSOLE_USERS.items():
        secret, entry = veil_keygen_api_key(sid, attrs)
        table.update(entry)
        secrets.append((label, secret))
    import yaml

    write_private(workdir / "api_keys.yaml", yaml.safe_dump({"api_keys": table}))
    console.rule("console")
    console.print(
        "See it in a browser (policy preview, matrix, ledger, accounting, break-glass review):\n"
        f"  VEIL_KEY_FILE={workdir / 'keys.yaml'} "
        f"VEIL_API_KEYS_FILE={workdir / 'api_keys.yaml'} \\\n"
        f"    veil serve -p {health} --ledger sqlite:///{workdir / 'ledger.db'}\n"
        "  then open http://127.0.0.1:8000/console and sign in with a demo API key "
        "(made for this demo, in "
        f"{workdir / 'api_keys.yaml'}):",
        highlight=False,
    )
    for label, secret in secrets:
        console.print(f"    {label}: {secret}", highlight=False)
