"""Shared by every command: option types, the error-to-exit-code wrapper, and how a
request, keyring and ledger are built from command-line options.

Every VeilError becomes a one-paragraph message on stderr and the error class's exit
code; no traceback is shown unless ``VEIL_DEBUG=1``.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from ..errors import RequestError, VeilError
from ..keys import Keyring

err = Console(stderr=True)
out = Console()
T = TypeVar("T")

#: Empty: the default ledger (``$VEIL_HOME/ledger.db`` or the user's data directory).
DEFAULT_LEDGER = ""
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
        "--ledger",
        envvar="VEIL_LEDGER",
        help="Ledger URL, e.g. sqlite:///path/ledger.db or postgresql://... "
        "(default: $VEIL_HOME/ledger.db or ~/.local/share/veil/ledger.db).",
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
        print_error(exc)
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


def print_error(exc: VeilError) -> None:
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


def keyring_from(keys: Path | None) -> Keyring:
    return Keyring.from_file(keys) if keys else Keyring.from_environment()


def ledger_from(url: str, keyring: Keyring, *, create: bool = False) -> Any:
    """The ledger at ``url`` (the default ledger when empty); created only with ``create``."""
    from ..ledger import default_ledger_url, open_ledger

    key = keyring.get("ledger") if keyring.has("ledger") else None
    return open_ledger(url or default_ledger_url(), key, create=create)


def request_from(
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

    from ..request import Request

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
