"""``veil policy validate|explain|test``: check a bundle, explain a request, run its cases."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from .app import policy_app
from .options import (
    Action,
    Attr,
    Ctx,
    Dataset,
    KeysFile,
    Policies,
    Purpose,
    Reason,
    Recipient,
    SubjectId,
    keyring_from,
    out,
    request_from,
    run,
)


@policy_app.command("validate")
def policy_validate(directory: Annotated[Path, typer.Argument(help="Bundle directory.")]) -> None:
    """Check a bundle; list every problem with file, line and hint; prove its profile
    views and assertions over every request it declares (counterexamples on failure)."""

    def body() -> None:
        from ..errors import PolicyError
        from ..policy.proofs import issues_of, prove
        from ..policy.validate import load_bundle

        b = load_bundle(str(directory))
        report = prove(b)
        if not report.ok:
            raise PolicyError(issues_of(b, report))
        out.print(
            f"[green]ok[/]: bundle '{b.name}' {b.short_version}: {len(b.datasets)} datasets,"
            f" {len(b.rules)} rules, {len(b.tests)} tests",
            highlight=False,
        )
        if b.views or b.assertions:
            out.print(
                f"request space: {report.requests:,} requests, {report.planned:,} that "
                "policy lets through",
                highlight=False,
            )
        for v in b.views:
            out.print(
                f"[green]proved[/]: view '{v.name}' meets {v.profile.ref} "
                f"({v.profile.title}) on all {report.scoped.get(v.name, 0):,} requests it governs",
                highlight=False,
            )
        for a in b.assertions:
            out.print(
                f"[green]proved[/]: assertion '{a.id}' on all "
                f"{report.scoped.get(a.id, 0):,} requests it governs",
                highlight=False,
            )

    run(body)


@policy_app.command("explain")
def policy_explain(
    policies: Policies,
    dataset: Dataset,
    subject_id: SubjectId,
    purpose: Purpose,
    attr: Attr = None,
    context: Ctx = None,
    recipient: Recipient = None,
    action: Action = "read",
    reason: Reason = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Show, per field, the outcome for a requester and the rules that produced it."""

    def body() -> None:
        from ..policy.explain import explain
        from ..policy.plan import build_plan
        from ..policy.validate import load_bundle

        bundle = load_bundle(str(policies))
        req = request_from(subject_id, attr, purpose, dataset, action, recipient, context, reason)
        ex = explain(build_plan(bundle, req))
        if as_json:
            print(json.dumps(ex.as_dict(), indent=2))
            return
        t = Table(
            title=f"{bundle.name}/{dataset} for {subject_id} ({purpose}) "
            f"- bundle {bundle.short_version}"
        )
        for col in ("field", "outcome", "rules", "overridden", "why / when record matches"):
            t.add_column(col)
        for f in ex.fields:
            style = "green" if f.label == "clear" else "red" if f.label == "redacted" else "yellow"
            cond = "; ".join(f"{r} -> {o}" for r, o in f.conditional)
            t.add_row(
                f.path,
                f"[{style}]{f.outcome}[/]",
                ", ".join(f.rules),
                ", ".join(f.overridden),
                cond or f.reason,
            )
        out.print(t)
        for rule, when in ex.row_filters:
            out.print(f"row filter [bold]{rule}[/]: records excluded {when}", highlight=False)
        for note in ex.notes:
            out.print(f"[yellow]note[/]: {note}", highlight=False)
        if ex.refused:
            out.print(f"[bold red]refused[/]: {ex.refused}", highlight=False)

    run(body)


@policy_app.command("test")
def policy_test(
    directory: Annotated[Path, typer.Argument(help="Bundle directory.")],
    keys: KeysFile = None,
) -> None:
    """Run the bundle's YAML test cases (requester + record -> expected outcomes)."""

    def body() -> None:
        from ..policy.testing import run_tests
        from ..policy.validate import load_bundle

        bundle = load_bundle(str(directory))
        passed = failed = 0
        for case in run_tests(bundle, keyring_from(keys) if keys else None):
            if case.ok:
                passed += 1
                out.print(f"[green]PASS[/] {case.name}", highlight=False)
            else:
                failed += 1
                out.print(f"[red]FAIL[/] {case.name} ({case.location})", highlight=False)
                for f in case.failures:
                    out.print(f"     {f}", highlight=False)
        out.print(f"{passed} passed, {failed} failed")
        if failed or not passed:
            raise typer.Exit(1)

    run(body)
