"""``veil keys new|rotate|list|check|encrypt|decrypt``: the keyset file, never its material.

No command prints key material: ``new`` and ``rotate`` write it to the file (mode 0600)
or make it inside a PKCS#11 token, and report the version and fingerprint.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from .app import keys_app
from .options import out, run

if TYPE_CHECKING:
    from ..keyset.file import Keyset
    from ..keyset.model import KeyKind, KeyVersion

KeysetFile = Annotated[
    Path,
    typer.Option("--file", "-f", envvar="VEIL_KEY_FILE", help="Keyset file (default keys.yaml)."),
]
Kind = Annotated[
    str | None,
    typer.Option("--kind", help="hmac (hash, tokenize, date_shift, ledger) or aes (fpe)."),
]
Pkcs11 = Annotated[
    str | None,
    typer.Option(
        "--pkcs11",
        help="The token: pkcs11:token=LABEL?module-path=/path/module.so[&pin-source=env:VAR]"
        " (recorded in the keyset; $VEIL_PKCS11 overrides it per host).",
    ),
]
DEFAULT_FILE = Path("keys.yaml")
#: messages as written: no highlighting, no wrapping at the terminal's width (scripts read them)
PLAIN: dict[str, Any] = {"highlight": False, "soft_wrap": True}


def _kind(kind: str | None, default: KeyKind | None) -> KeyKind | None:
    from ..errors import ConfigError
    from ..keyset.model import KINDS

    if kind is None:
        return default
    for known in KINDS:
        if kind == known:
            return known
    raise ConfigError(f"unknown key kind '{kind}'", hint="use --kind hmac or --kind aes")


def _open(path: Path, *, create: bool = False) -> Keyset:
    from ..errors import ConfigError
    from ..keyset.file import Keyset, read

    if path.exists():
        return read(path)
    if create:
        return Keyset(source=str(path))
    raise ConfigError(
        f"keyset file {path} does not exist", hint="create a key first: veil keys new NAME"
    )


def _where(v: KeyVersion) -> str:
    return f"in token '{v.token.config.token}' as '{v.token.label}'" if v.token else "in the file"


@keys_app.command("new")
def keys_new(
    key_id: Annotated[
        str | None, typer.Argument(help="Key id, as policies name it (or use --for).")
    ] = None,
    kind: Kind = None,
    nbytes: Annotated[
        int | None, typer.Option("--bytes", help="Key size: hmac 32-64, aes 16/24/32.")
    ] = None,
    hsm: Annotated[
        bool, typer.Option("--hsm", help="Make the key inside the PKCS#11 token (hmac only).")
    ] = False,
    pkcs11: Pkcs11 = None,
    file: KeysetFile = DEFAULT_FILE,
    for_bundle: Annotated[
        Path | None,
        typer.Option(
            "--for",
            help="Create every key this bundle names that the keyset lacks, each of the kind "
            "its transforms need (one command for a new installation).",
        ),
    ] = None,
) -> None:
    """Create a key (version 1) with 32 random bytes, in the keyset file or a token."""

    def body() -> None:
        from ..errors import ConfigError
        from ..keyset.file import write
        from ..keyset.manage import new_key, required_keys, with_token

        ks = with_token(_open(file, create=True), pkcs11)
        wanted: list[tuple[str, str]]
        if for_bundle is not None:
            if key_id is not None:
                raise ConfigError(
                    "give a key id or --for, not both", hint="veil keys new --for policies/health"
                )
            from ..policy.validate import load_bundle

            bundle = load_bundle(str(for_bundle))
            wanted = [
                (name, "aes" if "fpe" in users else "hmac")
                for name, users in sorted(required_keys(bundle).items())
                if name not in ks.keys
            ]
            if not wanted:
                out.print(f"{file} already holds every key bundle '{bundle.name}' names", **PLAIN)
                return
        elif key_id is None:
            raise ConfigError("no key id", hint="veil keys new NAME, or veil keys new --for DIR")
        else:
            wanted = [(key_id, _kind(kind, "hmac") or "hmac")]
        made = []
        for name, kind_of in wanted:
            k = _kind(kind_of, "hmac") or "hmac"
            ks, v = new_key(ks, name, k, nbytes if key_id else None, in_token=hsm and k == "hmac")
            made.append((name, v))
        write(file, ks)
        for name, v in made:
            out.print(
                f"created key '{name}' v1 ({v.kind}, {v.size} bytes, fingerprint "
                f"{v.stated_fingerprint}) {_where(v)}; keyset {file}",
                **PLAIN,
            )

    run(body)


@keys_app.command("rotate")
def keys_rotate(
    key_id: Annotated[str, typer.Argument(help="Key id.")],
    kind: Kind = None,
    file: KeysetFile = DEFAULT_FILE,
) -> None:
    """Add a version of a key and make it primary; older versions stay to reveal."""

    def body() -> None:
        from ..keyset.file import write
        from ..keyset.manage import rotate

        ks, old, new = rotate(_open(file), key_id, _kind(kind, None))
        write(file, ks)
        out.print(
            f"rotated '{key_id}': v{new.version} is primary (fingerprint "
            f"{new.stated_fingerprint}) {_where(new)}; v{old.version} is kept to reveal what "
            "it made. Processes that loaded the keyset use the new version once restarted.",
            **PLAIN,
        )

    run(body)


@keys_app.command("list")
def keys_list(
    file: KeysetFile = DEFAULT_FILE,
    as_json: Annotated[bool, typer.Option("--json", help="JSON, one object per version.")] = False,
) -> None:
    """Keys, versions, creation times, the primary and fingerprints (never key material)."""

    def body() -> None:
        from ..keyset.manage import rows

        ks = _open(file)
        items = rows(ks)
        if as_json:
            out.print_json(json.dumps(items))
            return
        sealed = f", encrypted under {ks.master}" if ks.master else ""
        table = Table(title=f"{file}{sealed}")
        for col in ("id", "kind", "version", "status", "created", "fingerprint", "where"):
            table.add_column(col)
        for r in items:
            status = "primary" if r["primary"] else r["status"]
            table.add_row(
                r["id"],
                r["kind"] or "?",
                f"v{r['version']}",
                status,
                r["created"],
                r["fingerprint"],
                r["where"],
            )
        out.print(table)

    run(body)


@keys_app.command("check")
def keys_check(
    file: KeysetFile = DEFAULT_FILE,
    policies: Annotated[
        Path | None,
        typer.Option("--policies", "-p", help="Also check the keys this bundle names."),
    ] = None,
) -> None:
    """Check the keyset: mode 0600, valid, a primary per key, token keys reachable, and
    (with --policies) every key the bundle names present and of the right kind."""

    def body() -> None:
        from ..errors import ConfigError
        from ..keyset.manage import check

        bundle = None
        if policies is not None:
            from ..policy.validate import load_bundle

            bundle = load_bundle(str(policies))
        ks, findings = check(file, bundle)
        for f in findings:
            out.print(f"[red]problem[/] {escape(f'[{f.code}]')} {escape(f.message)}", **PLAIN)
            if f.hint:
                out.print(f"    hint: {escape(f.hint)}", **PLAIN)
        if findings:
            n = len(findings)
            raise ConfigError(f"{n} problem{'s' if n != 1 else ''} in {file}")
        assert ks is not None
        named = f", every key bundle '{bundle.name}' names" if bundle is not None else ""
        out.print(f"[green]ok[/]: {file}: {len(ks.keys)} keys, mode 0600{named}", **PLAIN)

    run(body)


@keys_app.command("encrypt")
def keys_encrypt(
    master: Annotated[
        str,
        typer.Option(
            "--master",
            help="env (the key in $VEIL_MASTER_KEY), env:VAR, pkcs11 (AES key 'veil-master' "
            "in the token, made if missing) or pkcs11:object=LABEL.",
        ),
    ] = "env",
    pkcs11: Pkcs11 = None,
    file: KeysetFile = DEFAULT_FILE,
) -> None:
    """Encrypt the keyset under a master key (AES-256-GCM); commands keep it encrypted."""

    def body() -> None:
        from ..keyset.file import write
        from ..keyset.manage import encrypt, with_token

        ks = encrypt(with_token(_open(file), pkcs11), master)
        write(file, ks)
        out.print(f"{file} is encrypted under {ks.master}", **PLAIN)

    run(body)


@keys_app.command("decrypt")
def keys_decrypt(file: KeysetFile = DEFAULT_FILE) -> None:
    """Write the keyset back in the clear (mode 0600)."""

    def body() -> None:
        from dataclasses import replace

        from ..keyset.file import write

        write(file, replace(_open(file), master=None))
        out.print(f"{file} is no longer encrypted", **PLAIN)

    run(body)
