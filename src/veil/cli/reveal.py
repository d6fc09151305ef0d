"""``veil reveal``: a key holder turns FF1 tokens back into values; each reveal is logged."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from ..errors import RequestError
from .app import app
from .options import (
    DEFAULT_LEDGER,
    Attr,
    KeysFile,
    LedgerUrl,
    Policies,
    Purpose,
    SubjectId,
    keyring_from,
    ledger_from,
    request_from,
    run,
)


@app.command()
def reveal(
    values: Annotated[
        list[str] | None, typer.Argument(help="Codes to reveal (or - / stdin).")
    ] = None,
    policies: Policies = Path("policies"),
    rule: Annotated[str, typer.Option("--rule", help="Id of the rule that made the codes.")] = "",
    subject_id: SubjectId = "",
    purpose: Purpose = "",
    attr: Attr = None,
    recipient: Annotated[
        str | None,
        typer.Option(
            "--recipient", help="Who received the codes (random codes are per recipient)."
        ),
    ] = None,
    ledger: LedgerUrl = DEFAULT_LEDGER,
    keys: KeysFile = None,
) -> None:
    """Turn FF1 ciphertexts or random re-identification codes back into values.

    Only for a requester the bundle allows (a rule naming the reveal action); the reveal
    is recorded in the ledger before any value is printed.
    """

    def body() -> None:
        from ..ledger.vault import vault_for
        from ..policy.validate import load_bundle
        from ..reidentify import reveal as do_reveal

        if not rule or not subject_id or not purpose:
            raise RequestError(
                "reveal needs --rule, --subject-id and --purpose",
                hint="every re-identification is recorded with who and why",
            )
        bundle = load_bundle(str(policies))
        keyring = keyring_from(keys)
        req = request_from(subject_id, attr, purpose, "-", "reveal", None, None, None)
        items = values or ["-"]
        if items == ["-"]:
            items = [line.strip() for line in sys.stdin if line.strip()]
        led = ledger_from(ledger, keyring)
        done = do_reveal(
            bundle,
            rule,
            req,
            items,
            keyring,
            recipient=recipient,
            vault=vault_for(led),
            append=led.append,
        )
        for value in done.values:
            sys.stdout.write(value + "\n")

    run(body)
