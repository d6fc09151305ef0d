"""``veil audit verify|accounting|tail``: check and query the disclosure ledger."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
from rich.table import Table

from ..errors import RequestError, TamperDetected
from .app import audit_app
from .options import DEFAULT_LEDGER, KeysFile, LedgerUrl, keyring_from, ledger_from, out, run


@audit_app.command("verify")
def audit_verify(ledger: LedgerUrl = DEFAULT_LEDGER, keys: KeysFile = None) -> None:
    """Recompute the hash chain; name every modified, missing, reordered or unkeyed event."""

    def body() -> None:
        report = ledger_from(ledger, keyring_from(keys)).verify()
        if report.ok:
            out.print(
                f"[green]ok[/]: {report.checked} events verified "
                f"({'HMAC-keyed' if report.keyed else 'unkeyed SHA-256'} chain); "
                f"head {report.head_hash}",
                highlight=False,
            )
            return
        for p in report.problems:
            out.print(
                f"[red]{p.kind}[/] event #{p.seq} ({p.event_id}): {p.message}", highlight=False
            )
        raise TamperDetected(
            f"ledger verification failed: {len(report.problems)} problem(s) "
            f"in {report.checked} events"
        )

    run(body)


@audit_app.command("accounting")
def audit_accounting(
    data_subject: Annotated[str, typer.Option("--data-subject", help="Whose disclosures.")],
    since: Annotated[str | None, typer.Option(help="ISO date/time, inclusive.")] = None,
    until: Annotated[str | None, typer.Option(help="ISO date/time, exclusive.")] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv or json.")] = "table",
    ledger: LedgerUrl = DEFAULT_LEDGER,
    keys: KeysFile = None,
) -> None:
    """HIPAA 164.528-style accounting of disclosures for one data subject."""

    def body() -> None:
        from ..ledger.accounting import render_csv, render_json

        entries = ledger_from(ledger, keyring_from(keys)).accounting(
            data_subject, since=since, until=until
        )
        if fmt == "csv":
            sys.stdout.write(render_csv(entries))
        elif fmt == "json":
            sys.stdout.write(render_json(entries) + "\n")
        elif fmt == "table":
            t = Table(title=f"Accounting of disclosures for {data_subject}")
            for col in ("date", "recipient", "purpose", "what was disclosed", "requester"):
                t.add_column(col)
            for e in entries:
                t.add_row(
                    e.time[:19],
                    e.recipient,
                    e.purpose + (" [BREAK-GLASS]" if e.break_glass else ""),
                    e.description,
                    e.requester_id,
                )
            out.print(t)
            out.print(f"{len(entries)} disclosure(s)")
        else:
            raise RequestError(f"unknown format '{fmt}'", hint="use table, csv or json")

    run(body)


@audit_app.command("tail")
def audit_tail(
    n: Annotated[int, typer.Option("-n", help="How many events.")] = 10,
    ledger: LedgerUrl = DEFAULT_LEDGER,
    keys: KeysFile = None,
) -> None:
    """Show the latest ledger events."""

    def body() -> None:
        led = ledger_from(ledger, keyring_from(keys))
        t = Table(title="latest ledger events")
        for col in (
            "#",
            "time",
            "kind",
            "requester",
            "recipient",
            "purpose",
            "dataset",
            "records",
            "break-glass",
        ):
            t.add_column(col)
        for s in led.events(limit=n, descending=True):
            e = s.event
            t.add_row(
                str(s.seq),
                e.time[:19],
                e.kind,
                e.requester.id,
                e.recipient,
                e.purpose,
                e.dataset,
                f"{e.records.returned}/{e.records.read}",
                "yes" if e.break_glass.used else "",
            )
        out.print(t)

    run(body)
