"""The ``veil`` Typer application and its command groups; commands register on import."""

from __future__ import annotations

import typer

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="veil: field-level, purpose-aware data sharing with a disclosure ledger.",
)
policy_app = typer.Typer(no_args_is_help=True, help="Validate, explain and test policy bundles.")
audit_app = typer.Typer(no_args_is_help=True, help="Verify and query the disclosure ledger.")
app.add_typer(policy_app, name="policy")
app.add_typer(audit_app, name="audit")
