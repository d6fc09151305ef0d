"""The ``veil`` command: a thin shell over :mod:`veil.core`, one function per command.

Every VeilError becomes a one-paragraph message on stderr and the error class's exit
code; no traceback is shown unless ``VEIL_DEBUG=1``.
"""

from __future__ import annotations

import io
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .errors import RequestError, TamperDetected, VeilError
from .keys import Keyring

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="veil: field-level, purpose-aware data sharing with a disclosure ledger.",
)
policy_app = typer.Typer(no_args_is_help=True, help="Validate, explain and test policy bundles.")
audit_app = typer.Typer(no_args_is_help=True, help="Verify and query the disclosure ledger.")
app.add_typer(policy_app, name="policy")
app.add_typer(audit_app, name="audit")

err = Console(stderr=True)
out = Console()
T = TypeVar("T")

DEFAULT_LEDGER = "sqlite:///veil-ledger.db"
Policies = Annotated[Path, typer.Option("--policies", "-p", help="Policy bundle directory.")]
Dataset = Annotated[str, typer.Option("--dataset", "-d", help="Dataset name in the bundle.")]
SubjectId = Annotated[str, typer.Option("--subject-id", help="Who is asking (requester id).")]
Attr = Annotated[
    list[str] | None,
    typer.Option("--attr", "-a", help="Requester attribute key=value (repeatable)."),
]
Ctx = Annotated[
    list[str] | None,
    typer.Option("--context", "-c", help="Context attribute key=value (repeatable)."),
]
Purpose = Annotated[str, typer.Option("--purpose", help="Purpose of use, e.g. TREAT, HRESCH.")]
Recipient = Annotated[
    str | None, typer.Option("--recipient", help="Who receives the data (default: the requester).")
]
Action = Annotated[str, typer.Option("--action", help="Action (default read).")]
Reason = Annotated[str | None, typer.Option("--reason", help="Break-glass justification.")]
LedgerUrl = Annotated[
    str,
    typer.Option(
        "--ledger", envvar="VEIL_LEDGER", help="Ledger URL, e.g. sqlite:///veil-ledger.db."
    ),
]
KeysFile = Annotated[
    Path | None,
    typer.Option("--keys", envvar="VEIL_KEY_FILE", help="Key file (YAML: keys: {name: hex:...})."),
]


def run(fn: Callable[[], T]) -> T:
    """Run a command body, turning errors into messages and exit codes."""
    try:
        return fn()
    except VeilError as exc:
        _print_error(exc)
        raise typer.Exit(exc.exit_code) from None
    except (typer.Exit, typer.Abort):
        raise
    except KeyboardInterrupt:
        err.print("interrupted: no output was published")
        raise typer.Exit(130) from None
    except Exception as exc:
        if os.environ.get("VEIL_DEBUG") == "1":
            raise
        err.print(
            f"internal error ({type(exc).__name__}); nothing was disclosed. "
            "Re-run with VEIL_DEBUG=1 for details.",
            highlight=False,
        )
        raise typer.Exit(70) from None


def _print_error(exc: VeilError) -> None:
    sys.stderr.write(f"error ({exc.code}): {exc.render()}\n")


def parse_pairs(pairs: list[str] | None, what: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs or []:
        if "=" not in pair:
            raise RequestError(
                f"{what} '{pair}' is not key=value", hint=f"e.g. --{what} role=clinician"
            )
        key, raw = pair.split("=", 1)
        try:
            value: Any = json.loads(raw)
            if not isinstance(value, bool | int | float | list):
                value = raw
        except json.JSONDecodeError:
            value = raw
        out[key.strip()] = value
    return out


def _keyring(keys: Path | None) -> Keyring:
    return Keyring.from_file(keys) if keys else Keyring.from_environment()


def _ledger(url: str, keyring: Keyring) -> Any:
    from .ledger import open_ledger

    key = keyring.get("ledger") if keyring.has("ledger") else None
    return open_ledger(url, key)


def _request(
    subject_id: str,
    attrs: list[str] | None,
    purpose: str,
    dataset: str,
    action: str,
    recipient: str | None,
    context: list[str] | None,
    reason: str | None,
) -> Any:
    from pydantic import ValidationError

    from .request import Request

    try:
        return Request(
            subject_id=subject_id,
            subject=parse_pairs(attrs, "attr"),
            purpose=purpose,
            dataset=dataset,
            action=action,
            recipient=recipient,
            context=parse_pairs(context, "context"),
            reason=reason,
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        raise RequestError(
            f"invalid request: {'.'.join(map(str, first['loc']))}: {first['msg']}"
        ) from None


class _CountingReader(io.RawIOBase):
    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.bytes = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        n = self.raw.readinto(b)  # type: ignore[attr-defined]
        self.bytes += n or 0
        return n or 0


def _open_input(path: str, stack: ExitStack) -> tuple[IO[str], _CountingReader | None, int]:
    if path == "-":
        return sys.stdin, None, 0
    p = Path(path)
    try:
        raw = stack.enter_context(p.open("rb"))
    except OSError as exc:
        raise RequestError(f"cannot read input '{path}': {exc.strerror}") from None
    counter = _CountingReader(raw)
    text = io.TextIOWrapper(io.BufferedReader(counter), encoding="utf-8", newline="")
    return text, counter, p.stat().st_size


def _progress_records(
    records: Iterator[tuple[int, Any]],
    counter: _CountingReader | None,
    total: int,
    stack: ExitStack,
) -> Iterator[tuple[int, Any]]:
    if counter is None or total < 1_000_000 or not err.is_terminal:
        yield from records
        return
    progress = stack.enter_context(
        Progress(
            TextColumn("sanitizing"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TextColumn("{task.fields[n]} records"),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        )
    )
    task = progress.add_task("sanitize", total=total, n=0)
    for n, (line, rec) in enumerate(records, 1):
        if n % 2000 == 0:
            progress.update(task, completed=counter.bytes, n=n)
        yield line, rec


@app.command()
def sanitize(
    input: Annotated[
        str,
        typer.Argument(help="Input file (JSONL, JSON, CSV, Parquet or Arrow IPC), or - for stdin."),
    ],
    policies: Policies,
    dataset: Dataset,
    subject_id: SubjectId,
    purpose: Purpose,
    output: Annotated[
        str | None, typer.Option("--output", "-o", help="Output file (default stdout).")
    ] = None,
    attr: Attr = None,
    context: Ctx = None,
    recipient: Recipient = None,
    action: Action = "read",
    reason: Reason = None,
    fmt: Annotated[
        str | None, typer.Option("--format", help="jsonl, json, csv, parquet or arrow.")
    ] = None,
    engine: Annotated[
        str,
        typer.Option(
            "--engine",
            help="auto (columnar for Parquet/CSV/Arrow in and out, record for JSON), "
            "record or columnar.",
        ),
    ] = "auto",
    drop_undeclared: Annotated[
        bool,
        typer.Option(
            "--drop-undeclared",
            help="Columnar engine: drop (and count) columns the dataset does not declare "
            "instead of refusing the input.",
        ),
    ] = False,
    text_workers: Annotated[
        int,
        typer.Option(
            "--text-workers",
            min=0,
            help="Worker processes that analyze free text (scan_text) beside this one; "
            "worth it for thousands of notes (each worker loads the analyzer once).",
        ),
    ] = 0,
    ledger: LedgerUrl = DEFAULT_LEDGER,
    keys: KeysFile = None,
) -> None:
    """Sanitize records for one requester; the ledger event is written before any output."""

    def body() -> None:
        from .core import Veil
        from .io import detect_format
        from .validate import load_bundle

        bundle = load_bundle(str(policies))
        keyring = _keyring(keys)
        req = _request(subject_id, attr, purpose, dataset, action, recipient, context, reason)
        in_fmt = detect_format(input, fmt)
        out_fmt = detect_format(output, fmt) if output else in_fmt
        columnar = _pick_engine(engine, in_fmt, out_fmt)
        veil = Veil(bundle, _ledger(ledger, keyring), keyring, text_workers=text_workers)
        if columnar:
            event = _sanitize_columnar(veil, req, input, in_fmt, output, out_fmt, drop_undeclared)
        else:
            event = _sanitize_records(veil, req, input, in_fmt, output, out_fmt)
        _report(event, req)

    run(body)


_TEXT_FORMATS = ("jsonl", "json", "csv")
_RECORD_BATCH = 1024
_BULK = ("parquet", "csv", "arrow")


def _pick_engine(engine: str, in_fmt: str, out_fmt: str) -> bool:
    """True for the columnar engine. JSON keeps the record engine (nested records)."""
    if engine not in ("auto", "record", "columnar"):
        raise RequestError(f"unknown engine '{engine}'", hint="use auto, record or columnar")
    bulk = in_fmt in _BULK and out_fmt in _BULK
    text = in_fmt in _TEXT_FORMATS and out_fmt in _TEXT_FORMATS
    if engine == "columnar" and not bulk:
        raise RequestError(
            f"the columnar engine reads and writes Parquet, CSV or Arrow, not {in_fmt} -> "
            f"{out_fmt}",
            hint="use --engine record for JSON or JSONL",
        )
    if engine == "record" and not text:
        raise RequestError(
            f"the record engine reads and writes JSONL, JSON or CSV, not {in_fmt} -> {out_fmt}",
            hint="use --engine columnar (or auto) for Parquet and Arrow",
        )
    if not bulk and not text:
        raise RequestError(
            f"cannot sanitize {in_fmt} into {out_fmt}",
            hint="Parquet and Arrow pair with Parquet, CSV or Arrow; JSON and JSONL with "
            "JSON, JSONL or CSV",
        )
    return engine == "columnar" or (engine == "auto" and bulk)


def _sanitize_records(
    veil: Any, req: Any, input: str, in_fmt: str, output: str | None, out_fmt: str
) -> Any:
    from .io import Writer, read_records, spooled_output

    job = veil.start(req)
    columns = [
        p
        for p, d in job.plan.decide(0).items()
        if d.outcome.discloses and not job.plan.fields[p].info.is_container
    ]
    with ExitStack() as stack:
        stream, counter, total = _open_input(input, stack)
        spool, publish = stack.enter_context(spooled_output(output))
        writer = Writer(spool, out_fmt, columns)
        batch: list[tuple[Any, int | None]] = []

        def flush() -> None:
            # Batches let free text be analyzed together (and in the text workers).
            for result in job.apply_batch(batch):
                if result is not None:
                    writer.write(result)
            batch.clear()

        try:
            for line, rec in _progress_records(
                read_records(stream, in_fmt, job.plan.dataset), counter, total, stack
            ):
                batch.append((rec, line))
                if len(batch) >= _RECORD_BATCH:
                    flush()
            flush()
        except UnicodeDecodeError:
            raise RequestError("input is not UTF-8 text") from None
        writer.close()
        event = job.commit()
        publish()
    return event


def _sanitize_columnar(
    veil: Any,
    req: Any,
    input: str,
    in_fmt: str,
    output: str | None,
    out_fmt: str,
    drop_undeclared: bool,
) -> Any:
    from .bulk import sanitize_file

    if input != "-" and not Path(input).is_file():
        raise RequestError(f"cannot read input '{input}': no such file")
    with ExitStack() as stack:
        on_batch = _bulk_progress(stack)
        result = sanitize_file(
            veil,
            req,
            input,
            in_fmt,
            output,
            out_fmt,
            drop_undeclared=drop_undeclared,
            on_batch=on_batch,
        )
    if len(result.events) > 1:
        first, last = result.events[0], result.events[-1]
        err.print(
            f"{len(result.events)} ledger events (#{first.seq}..#{last.seq}), one per "
            "million input rows",
            highlight=False,
        )
    return result.event


def _bulk_progress(stack: ExitStack) -> Callable[[int, int | None], None] | None:
    """A rich progress bar with rows/s on stderr, when stderr is a terminal."""
    if not err.is_terminal:
        return None
    progress = stack.enter_context(
        Progress(
            TextColumn("sanitizing"),
            BarColumn(),
            TextColumn("{task.completed:,.0f} rows"),
            TextColumn("{task.fields[rate]} rows/s"),
            TimeElapsedColumn(),
            console=err,
            transient=True,
        )
    )
    task = progress.add_task("sanitize", total=None, rate="-")
    clock = progress.get_time

    start = clock()

    def on_batch(done: int, total: int | None) -> None:
        elapsed = max(clock() - start, 1e-9)
        progress.update(task, completed=done, total=total, rate=f"{done / elapsed:,.0f}")

    return on_batch


def _report(event: Any, req: Any) -> None:
    r = event.event.records
    err.print(
        f"[green]disclosed[/] {r.returned} of {r.read} records "
        f"({r.filtered} filtered) to {req.effective_recipient} for {req.purpose}; "
        f"ledger event {event.event.event_id} (#{event.seq})",
        highlight=False,
    )
    if event.event.break_glass.used:
        err.print("[bold yellow]break-glass access recorded[/]")
    if event.event.undeclared:
        n = sum(event.event.undeclared.values())
        err.print(
            f"[yellow]{n} undeclared value(s) dropped[/] "
            f"({', '.join(sorted(event.event.undeclared))})",
            highlight=False,
        )


@policy_app.command("validate")
def policy_validate(directory: Annotated[Path, typer.Argument(help="Bundle directory.")]) -> None:
    """Check a bundle; list every problem with file, line and hint."""

    def body() -> None:
        from .validate import load_bundle

        b = load_bundle(str(directory))
        out.print(
            f"[green]ok[/]: bundle '{b.name}' {b.short_version}: {len(b.datasets)} datasets,"
            f" {len(b.rules)} rules, {len(b.tests)} tests",
            highlight=False,
        )

    run(body)


@policy_app.command("explain")
def policy_explain(
    policies: Policies,
    dataset: Dataset,
    subject_id: SubjectId,
    purpose: Purpose,
    attr: Attr = None,
    context: Ctx = None,
    recipient: Recipient = None,
    action: Action = "read",
    reason: Reason = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show, per field, the outcome for a requester and the rules that produced it."""

    def body() -> None:
        from .explain import explain
        from .plan import build_plan
        from .validate import load_bundle

        bundle = load_bundle(str(policies))
        req = _request(subject_id, attr, purpose, dataset, action, recipient, context, reason)
        ex = explain(build_plan(bundle, req))
        if as_json:
            print(json.dumps(ex.as_dict(), indent=2))
            return
        t = Table(
            title=f"{bundle.name}/{dataset} for {subject_id} ({purpose}) "
            f"- bundle {bundle.short_version}"
        )
        for col in ("field", "outcome", "rules", "overridden", "why / when record matches"):
            t.add_column(col)
        for f in ex.fields:
            style = "green" if f.label == "clear" else "red" if f.label == "redacted" else "yellow"
            cond = "; ".join(f"{r} -> {o}" for r, o in f.conditional)
            t.add_row(
                f.path,
                f"[{style}]{f.outcome}[/]",
                ", ".join(f.rules),
                ", ".join(f.overridden),
                cond or f.reason,
            )
        out.print(t)
        for rule, when in ex.row_filters:
            out.print(f"row filter [bold]{rule}[/]: records excluded {when}", highlight=False)
        for note in ex.notes:
            out.print(f"[yellow]note[/]: {note}", highlight=False)
        if ex.refused:
            out.print(f"[bold red]refused[/]: {ex.refused}", highlight=False)

    run(body)


@policy_app.command("test")
def policy_test(
    directory: Annotated[Path, typer.Argument(help="Bundle directory.")],
    keys: KeysFile = None,
) -> None:
    """Run the bundle's YAML test cases (requester + record -> expected outcomes)."""

    def body() -> None:
        from .policytest import run_tests
        from .validate import load_bundle

        bundle = load_bundle(str(directory))
        passed = failed = 0
        for case in run_tests(bundle, _keyring(keys) if keys else None):
            if case.ok:
                passed += 1
                out.print(f"[green]PASS[/] {case.name}", highlight=False)
            else:
                failed += 1
                out.print(f"[red]FAIL[/] {case.name} ({case.location})", highlight=False)
                for f in case.failures:
                    out.print(f"     {f}", highlight=False)
        out.print(f"{passed} passed, {failed} failed")
        if failed or not passed:
            raise typer.Exit(1)

    run(body)


@audit_app.command("verify")
def audit_verify(ledger: LedgerUrl = DEFAULT_LEDGER, keys: KeysFile = None) -> None:
    """Recompute the hash chain; name every modified, missing, reordered or unkeyed event."""

    def body() -> None:
        report = _ledger(ledger, _keyring(keys)).verify()
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
        from .ledger.accounting import render_csv, render_json

        entries = _ledger(ledger, _keyring(keys)).accounting(data_subject, since=since, until=until)
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
        led = _ledger(ledger, _keyring(keys))
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


@app.command()
def reveal(
    values: Annotated[
        list[str] | None, typer.Argument(help="FPE tokens to reveal (or - / stdin).")
    ] = None,
    policies: Policies = Path("policies"),
    rule: Annotated[
        str, typer.Option("--rule", help="Id of the fpe rule that produced them.")
    ] = "",
    subject_id: SubjectId = "",
    purpose: Purpose = "",
    attr: Attr = None,
    ledger: LedgerUrl = DEFAULT_LEDGER,
    keys: KeysFile = None,
) -> None:
    """Invert FF1 format-preserving encryption for a key holder; the reveal is logged."""

    def body() -> None:
        from .ledger.events import Event, FieldDisclosure, Requester
        from .transforms.base import CannotApply
        from .transforms.crypto import FpeParams, fpe_reveal
        from .validate import load_bundle

        if not rule or not subject_id or not purpose:
            raise RequestError(
                "reveal needs --rule, --subject-id and --purpose",
                hint="every re-identification is recorded with who and why",
            )
        bundle = load_bundle(str(policies))
        if purpose not in bundle.vocabulary.purposes:
            raise RequestError(
                f"unknown purpose '{purpose}'",
                hint=f"purposes: {', '.join(sorted(bundle.vocabulary.purposes))}",
            )
        found = next((r for r in bundle.rules if r.id == rule), None)
        outcome = found.outcome if found else None
        if outcome is None or outcome.transform != "fpe" or outcome.params is None:
            raise RequestError(
                f"rule '{rule}' is not an fpe rule of bundle '{bundle.name}'",
                hint="pass the id of the rule whose output you want to reveal",
            )
        params = outcome.params
        assert isinstance(params, FpeParams)
        keyring = _keyring(keys)
        key = keyring.get(params.key)
        items = values or ["-"]
        if items == ["-"]:
            items = [line.strip() for line in sys.stdin if line.strip()]
        clear = []
        for n, token in enumerate(items, 1):
            try:
                clear.append(
                    fpe_reveal(token, key, params.alphabet, params.tweak, params.preserve_other)
                )
            except CannotApply:
                raise RequestError(
                    f"value {n} cannot be revealed with rule '{rule}'",
                    hint="check the rule and the key",
                ) from None
        target = found.rule.target if found else None
        event = Event(
            kind="reveal",
            requester=Requester(id=subject_id, attributes=parse_pairs(attr, "attr")),
            recipient=subject_id,
            purpose=purpose,
            action="reveal",
            dataset=(target.datasets or ["-"])[0] if target else "-",
            bundle=bundle.name,
            bundle_version=bundle.version,
            fields={
                f: FieldDisclosure(
                    outcomes={"revealed": len(clear)}, rules=[rule], treatment="fpe reveal"
                )
                for f in ((target.fields if target else None) or ["-"])
            },
            key_fingerprints={params.key: keyring.fingerprint(params.key)},
        )
        _ledger(ledger, keyring).append(event)
        for value in clear:
            sys.stdout.write(value + "\n")

    run(body)


@app.command()
def serve(
    config: Annotated[Path | None, typer.Option("--config", help="Service YAML config.")] = None,
    policies: Annotated[Path | None, typer.Option("--policies", "-p")] = None,
    ledger: Annotated[str | None, typer.Option("--ledger")] = None,
    host: Annotated[str | None, typer.Option("--host")] = None,
    port: Annotated[int | None, typer.Option("--port")] = None,
    workers: Annotated[int, typer.Option("--workers", help="Worker processes.")] = 1,
) -> None:
    """Run the HTTP service (FastAPI + uvicorn). SIGHUP reloads the policy bundle."""

    def body() -> None:
        import uvicorn

        from .service.app import create_app, install_sighup
        from .service.settings import load_settings

        settings = load_settings(config, policies=policies, ledger=ledger, host=host, port=port)
        if workers == 1:
            application = create_app(settings)
            install_sighup(application)
            uvicorn.run(
                application,
                host=settings.host,
                port=settings.port,
                log_level="info",
                access_log=False,
            )
            return
        # Several worker processes import the app by name; settings travel in a file.
        create_app(settings)  # fail here, once, on a bad bundle, key or ledger
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            f.write(settings.model_dump_json())
        os.environ["VEIL_SERVE_SETTINGS"] = f.name
        try:
            uvicorn.run(
                "veil.service.asgi:build",
                factory=True,
                host=settings.host,
                port=settings.port,
                workers=workers,
                log_level="info",
                access_log=False,
            )
        finally:
            os.unlink(f.name)

    run(body)


@app.command("api-key")
def api_key(
    subject_id: SubjectId,
    attr: Attr = None,
) -> None:
    """Create an API key: prints the secret once and the entry for the API keys file."""

    def body() -> None:
        import yaml

        from .service.auth import veil_keygen_api_key

        secret, entry = veil_keygen_api_key(subject_id, parse_pairs(attr, "attr"))
        err.print("[bold]secret (shown once, give it to the client):[/]")
        print(secret)
        err.print("[bold]add to your api_keys file under 'api_keys:':[/]")
        err.print(yaml.safe_dump(entry, sort_keys=False), highlight=False)

    run(body)


@app.command()
def demo(
    root: Annotated[
        Path, typer.Option(help="Repository root holding policies/ and examples/.")
    ] = Path("."),
    workdir: Annotated[Path, typer.Option(help="Where outputs and the demo ledger go.")] = Path(
        "out/demo"
    ),
) -> None:
    """Sanitize the bundled example data for several requesters and show before/after."""

    def body() -> None:
        from .demo import run_demo

        run_demo(root, workdir, out)

    run(body)


# `veil scan` lives in its own module (it loads Presidio lazily, only when it runs).
from .scan_cli import scan as _scan  # noqa: E402

app.command("scan")(_scan)


def main() -> None:
    app()
