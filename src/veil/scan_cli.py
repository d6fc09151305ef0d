"""``veil scan``: draft a dataset schema from sample data (filled in by the free-text work)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def scan(
    input: Annotated[Path, typer.Argument(help="Sample data (JSON, JSONL or CSV).")],
    dataset: Annotated[str, typer.Option("--dataset", "-d", help="Name of the new dataset.")],
) -> None:
    """Sample each field of INPUT, detect entity types and draft a dataset schema."""
    typer.echo("veil scan is not available yet", err=True)
    raise typer.Exit(2)
