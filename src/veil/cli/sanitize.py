"""``veil sanitize``: one requester's view of a file, the ledger event written before output.

JSON, JSONL and CSV go through the record engine in batches (free text analyzed
together); Parquet, CSV and Arrow IPC through the columnar engine (:mod:`veil.bulk`).
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Annotated, Any

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from ..errors import RequestError
from .app import app
from .options import (
    DEFAULT_LEDGER,
    Action,
    Attr,
    Ctx,
    Dataset,
    KeysFile,
    LedgerUrl,
    Policies,
    Purpose,
    Reason,
    Recipient,
    SubjectId,
    err,
    keyring_from,
    ledger_from,
    request_from,
    run,
)


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
    create: Annotated[
        bool, typer.Option("--create", help="Create the ledger if it does not exist yet.")
    ] = False,
    keys: KeysFile = None,
) -> None:
    """Sanitize records for one requester; the ledger event is written before any output."""

    def body() -> None:
        from ..core import Veil
        from ..formats.records import detect_format
        from ..policy.validate import load_bundle

        bundle = load_bundle(str(policies))
        keyring = keyring_from(keys)
        req = request_from(subject_id, attr, purpose, dataset, action, recipient, context, reason)
        in_fmt = detect_format(input, fmt)
        out_fmt = detect_format(output, fmt) if output else in_fmt
        columnar = _pick_engine(engine, in_fmt, out_fmt)
        if columnar:
            from ..extras import installed, require

            text_only = in_fmt in _TEXT_FORMATS and out_fmt in _TEXT_FORMATS
            if engine == "auto" and text_only and not installed("bulk"):
                columnar = False  # CSV to CSV: the record engine does it, more slowly
            else:
                require("bulk", f"sanitizing {in_fmt} into {out_fmt}")
        veil = Veil(
            bundle, ledger_from(ledger, keyring, create=create), keyring, text_workers=text_workers
        )
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
    from ..formats.records import Writer, read_records
    from ..formats.spool import spooled_output

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
    from ..bulk import sanitize_file

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
        u = event.event.undeclared
        err.print(
            f"[yellow]{u.get('values', 0)} undeclared value(s) in {u.get('fields', 0)} "
            "undeclared field(s) dropped[/] (names are not shown: they can carry data)",
            highlight=False,
        )
