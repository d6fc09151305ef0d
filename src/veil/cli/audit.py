"""``veil audit verify|anchor|accounting|tail``: check, anchor and query the disclosure ledger."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ..errors import RequestError, TamperDetected
from .app import audit_app
from .options import DEFAULT_LEDGER, KeysFile, LedgerUrl, keyring_from, ledger_from, out, run


@audit_app.command("verify")
def audit_verify(
    ledger: LedgerUrl = DEFAULT_LEDGER,
    keys: KeysFile = None,
    anchor: Annotated[
        Path | None,
        typer.Option(
            "--anchor",
            help="An anchor written earlier by `veil audit anchor`: the chain must still "
            "hold that head, keyed with the same key (catches truncation and downgrade).",
        ),
    ] = None,
) -> None:
    """Recompute the hash chain; name every modified, missing, reordered or unkeyed event."""

    def body() -> None:
        from ..ledger import anchor as anchors

        led = ledger_from(ledger, keyring_from(keys))
        pinned = anchors.load(anchor) if anchor is not None else None
        report = led.verify(anchor=(pinned.seq, pinned.hash) if pinned else None)
        if pinned is not None:
            anchors.check(pinned, led, report)
        if report.ok:
            out.print(
                f"[green]ok[/]: {report.checked} events verified "
                f"({'HMAC-keyed' if report.keyed else 'unkeyed SHA-256'} chain); "
                f"head {report.head_hash}"
                + (f"; holds anchor #{pinned.seq} of {pinned.time}" if pinned else ""),
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


@audit_app.command("anchor")
def audit_anchor(
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Write the anchor here (default stdout)."),
    ] = None,
    ledger: LedgerUrl = DEFAULT_LEDGER,
    keys: KeysFile = None,
) -> None:
    """Write the ledger's head (seq, hash, keyed, key fingerprint) for an external store.

    Keep anchors where the ledger's writer cannot change them; `veil audit verify
    --anchor FILE` later proves nothing was cut off, rewritten or stripped of its key.
    """

    def body() -> None:
        from ..ledger import anchor as anchors

        led = ledger_from(ledger, keyring_from(keys))
        where = str(getattr(led, "location", None) or getattr(led, "path", ""))
        text = anchors.take(led, where).to_json()
        if output is None:
            sys.stdout.write(text)
        else:
            output.write_text(text, encoding="utf-8")

    run(body)


@audit_app.command("accounting")
def audit_accounting(
    data_subject: Annotated[str, typer.Option("--data-subject", help="Whose disclosures.")],
    since: Annotated[
        str | None, typer.Option(help="ISO date/time, inclusive (default: six years ago).")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="ISO date/time, inclusive (default: now).")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="table, csv, json or html.")] = "table",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write it here (default stdout).")
    ] = None,
    produced_by: Annotated[
        str | None,
        typer.Option(
            "--produced-by",
            help="Who provides this accounting (recorded, 164.528(d)); default: the OS user.",
        ),
    ] = None,
    entity: Annotated[str, typer.Option(help="Covered entity name for the page.")] = "",
    summarize: Annotated[
        bool,
        typer.Option(
            "--summarize/--each",
            help="One entry per recipient and purpose for repeated disclosures (164.528(b)(3)).",
        ),
    ] = True,
    include_exempt: Annotated[
        bool,
        typer.Option("--all", help="Also list exempt disclosures (an audit, not for the patient)."),
    ] = False,
    ledger: LedgerUrl = DEFAULT_LEDGER,
    keys: KeysFile = None,
) -> None:
    """HIPAA 164.528 accounting of disclosures for one data subject.

    Lists the accountable disclosures of the six years before now (or --since/--until),
    with the recipient's name and address, what was disclosed and why; repeated
    disclosures to one recipient for one purpose as one entry. Providing it is recorded
    in the ledger before it is shown.
    """

    def body() -> None:
        import getpass

        from ..ledger import hipaa

        if fmt not in ("table", "csv", "json", "html"):
            raise RequestError(f"unknown format '{fmt}'", hint="use table, csv, json or html")
        led = ledger_from(ledger, keyring_from(keys))
        report = hipaa.account(
            led,
            data_subject,
            since=since,
            until=until,
            summarize=summarize,
            include_exempt=include_exempt,
        )
        who = produced_by or getpass.getuser()
        stored = led.append(hipaa.provided_event(report, who, fmt))
        if fmt == "table":
            t = Table(title=f"Accounting of disclosures for {data_subject}")
            for col in ("date", "recipient", "purpose", "what was disclosed", "disclosures"):
                t.add_column(col)
            for row in hipaa.render_table_rows(report):
                t.add_row(*row)
            out.print(t)
            left = sum(report.exempt.values())
            out.print(
                f"{report.disclosures} disclosure(s) from {report.since[:10]} to "
                f"{report.until[:10]}; {left} not accountable (164.528(a)(1)); "
                f"recorded as ledger event #{stored.seq}",
                highlight=False,
            )
            return
        if fmt == "csv":
            text = hipaa.render_csv(report)
        elif fmt == "json":
            text = hipaa.render_json(report)
        else:
            text = hipaa.render_html(report, entity=entity)
        if output is None:
            sys.stdout.write(text)
        else:
            output.write_text(text, encoding="utf-8")

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
