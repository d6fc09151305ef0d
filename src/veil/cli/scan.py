"""``veil scan``: draft a dataset schema from sample data (see :mod:`veil.text.scan`).

Presidio and spaCy load only when the command runs, so ``veil --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .app import app


@app.command("scan")
def scan(
    input: Annotated[Path, typer.Argument(help="Sample data (JSON, JSONL or CSV).")],
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="Name of the new dataset.")],
    policies: Annotated[
        Path | None,
        typer.Option("--policies", "-p", help="Bundle whose tag vocabulary to suggest from."),
    ] = None,
    sample: Annotated[int, typer.Option("--sample", help="Records to sample.", min=1)] = 500,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the draft here (default stdout).")
    ] = None,
) -> None:
    """Sample each field of INPUT, detect entity types and draft a dataset schema."""
    import re

    from ..errors import VeilError

    if not re.fullmatch(r"[A-Za-z0-9_.\-]{1,64}", dataset):
        typer.echo("error: --dataset must be a simple name (letters, digits, _ . -)", err=True)
        raise typer.Exit(2)
    from ..extras import require

    try:
        require("text", "veil scan")
    except VeilError as exc:
        typer.echo(f"error ({exc.code}): {exc.render()}", err=True)
        raise typer.Exit(exc.exit_code) from None
    try:
        from ..text.scan import COMMON_TAGS, ScanInputError, scan_file

        vocabulary: tuple[str, ...] = COMMON_TAGS
        if policies is not None:
            from ..policy.validate import load_bundle

            vocabulary = tuple(load_bundle(str(policies)).vocabulary.tags)
        text, fields = scan_file(input, dataset, limit=sample, vocabulary=vocabulary)
    except ScanInputError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    except VeilError as exc:
        typer.echo(f"error ({exc.code}): {exc.message}", err=True)
        raise typer.Exit(exc.exit_code) from None
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
    tagged = sum(1 for f in fields.values() if f.tags)
    typer.echo(f"drafted {len(fields)} fields ({tagged} with suggested tags)", err=True)
