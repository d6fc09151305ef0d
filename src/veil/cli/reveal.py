"""``veil reveal``: a key holder turns FF1 tokens or random codes back into values; each
reveal is logged, and says on stderr which key version it used."""

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
    key_version: Annotated[
        int | None,
        typer.Option(
            "--key-version",
            min=1,
            help="Key version the FF1 codes were made with (their disclosure's ledger event "
            "names it); needed when the key has several. Random codes carry theirs.",
        ),
    ] = None,
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
            history=led,
            key_version=key_version,
        )
        k = done.key
        sys.stderr.write(
            f"revealed {len(done.values)} value(s) with key '{k.key}' version {k.version} "
            f"(fingerprint {k.fingerprint}); logged as reveal event {done.event.event_id}\n"
        )
        for value in done.values:
            sys.stdout.write(value + "\n")

    run(body)
