"""The ``veil`` Typer application and its command groups; commands register on import."""

from __future__ import annotations

import typer

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="veil: field-level, purpose-aware data sharing with a disclosure ledger.",
)


def _version(value: bool) -> None:
    if value:
        from ..provenance import veil_version

        typer.echo(f"veil {veil_version()}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """veil: field-level, purpose-aware data sharing with a disclosure ledger."""


policy_app = typer.Typer(no_args_is_help=True, help="Validate, explain and test policy bundles.")
audit_app = typer.Typer(no_args_is_help=True, help="Verify and query the disclosure ledger.")
keys_app = typer.Typer(
    no_args_is_help=True,
    help="Create, rotate, list and check keys (a keyset file, optionally encrypted or in an HSM).",
)
app.add_typer(policy_app, name="policy")
app.add_typer(audit_app, name="audit")
app.add_typer(keys_app, name="keys")
