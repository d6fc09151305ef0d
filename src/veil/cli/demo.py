"""``veil demo``: the bundled example data as each requester receives it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from .app import app
from .options import out, run


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
        from ..samples.demo import run_demo

        run_demo(root, workdir, out)

    run(body)
