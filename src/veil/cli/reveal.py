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
    parse_pairs,
    run,
)


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
        from ..ledger.events import Event, FieldDisclosure, Requester
        from ..policy.validate import load_bundle
        from ..transforms.base import CannotApply
        from ..transforms.crypto import FpeParams, fpe_reveal

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
        keyring = keyring_from(keys)
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
        ledger_from(ledger, keyring).append(event)
        for value in clear:
            sys.stdout.write(value + "\n")

    run(body)
