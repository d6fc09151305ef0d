"""``veil serve`` and ``veil api-key``: the HTTP service and its credentials."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import ConfigError
from .app import app
from .options import Attr, SubjectId, err, parse_pairs, run

if TYPE_CHECKING:
    from ..service.settings import ServiceSettings


@app.command()
def serve(
    config: Annotated[Path | None, typer.Option("--config", help="Service YAML config.")] = None,
    policies: Annotated[Path | None, typer.Option("--policies", "-p")] = None,
    ledger: Annotated[str | None, typer.Option("--ledger")] = None,
    host: Annotated[str | None, typer.Option("--host")] = None,
    port: Annotated[int | None, typer.Option("--port")] = None,
    workers: Annotated[int, typer.Option("--workers", help="Worker processes.")] = 1,
) -> None:
    """Run the HTTP service (FastAPI + uvicorn). SIGHUP reloads the policy bundle."""

    def body() -> None:
        from ..extras import require

        require("service", "veil serve")
        import uvicorn

        from ..service.app import create_app, install_sighup
        from ..service.asgi import uvicorn_options
        from ..service.observe import configure_logging
        from ..service.settings import load_settings

        settings = load_settings(config, policies=policies, ledger=ledger, host=host, port=port)
        check_secret_files(settings)
        configure_logging(settings.log_format, settings.log_level)
        # header and keep-alive timeouts, header size, connection limit
        limits = uvicorn_options(settings.server)
        if workers == 1:
            application = create_app(settings)
            install_sighup(application)
            uvicorn.run(
                application,
                host=settings.host,
                port=settings.port,
                log_level=settings.log_level,
                log_config=None,  # configure_logging's handlers, not uvicorn's
                access_log=False,
                **limits,
            )
            return
        # Several worker processes import the app by name; settings travel in a file.
        create_app(settings)  # fail here, once, on a bad bundle, key or ledger
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            f.write(settings.model_dump_json())
        os.environ["VEIL_SERVE_SETTINGS"] = f.name
        try:
            uvicorn.run(
                "veil.service.asgi:build",
                factory=True,
                host=settings.host,
                port=settings.port,
                workers=workers,
                log_level=settings.log_level,
                log_config=None,  # configure_logging's handlers, not uvicorn's
                access_log=False,
                **limits,
            )
        finally:
            os.unlink(f.name)

    run(body)


def check_secret_files(settings: ServiceSettings) -> None:
    """Refuse to serve with a keyset or API-keys file that group or others can read or
    write (see :mod:`veil.secretfiles`): ConfigError naming the file and the chmod."""
    from ..secretfiles import exposure

    candidates = [settings.key_file, settings.api_keys_file]
    if settings.key_file is None and os.environ.get("VEIL_KEY_FILE"):
        candidates.append(Path(os.environ["VEIL_KEY_FILE"]))
    for path in candidates:
        if path is None:
            continue
        problem = exposure(path)
        if problem is not None:
            raise ConfigError(
                f"refusing to serve: {problem}",
                hint=f"chmod 600 {path} (in Kubernetes: defaultMode 0400 on the secret volume)",
            )


@app.command("api-key")
def api_key(
    subject_id: SubjectId,
    attr: Attr = None,
    write: Annotated[
        Path | None,
        typer.Option(
            "--write",
            help="Add the entry to this API-keys file (created with mode 0600 if missing).",
        ),
    ] = None,
) -> None:
    """Create an API key: prints the secret once; the hashed entry goes into the API-keys
    file with --write, or is printed to paste by hand."""

    def body() -> None:
        import yaml

        from ..service.auth import veil_keygen_api_key

        secret, entry = veil_keygen_api_key(subject_id, parse_pairs(attr, "attr"))
        if write is not None:
            add_api_key(write, entry)
            err.print(f"[bold]added API key '{next(iter(entry))}' to {write}[/]", highlight=False)
        err.print("[bold]secret (shown once, give it to the client):[/]")
        print(secret)
        if write is None:
            err.print("[bold]add to your api_keys file under 'api_keys:':[/]")
            err.print(yaml.safe_dump(entry, sort_keys=False), highlight=False)

    run(body)


def add_api_key(path: Path, entry: dict[str, Any]) -> None:
    """Add ``entry`` (``{key_id: {...}}``) under ``api_keys:`` in ``path``, atomically,
    mode 0600. The entry is appended as text when that keeps the file's comments and
    parses to exactly the old keys plus the new one; otherwise the file is rewritten.
    Refuses a file that others can read (fix it first) or one that is not an API-keys
    file, so a typo cannot clobber some other YAML."""
    import yaml

    from ..secretfiles import exposure, write_private

    key_id = next(iter(entry))
    if not path.exists():
        write_private(path, "api_keys:\n" + _indent(yaml.safe_dump(entry, sort_keys=False)))
        return
    problem = exposure(path)
    if problem is not None:
        raise ConfigError(problem, hint=f"chmod 600 {path}, then run the command again")
    try:
        old_text = path.read_text(encoding="utf-8")
        data = yaml.safe_load(old_text) or {}
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(
            f"cannot read API keys file {path}: {type(exc).__name__}",
            hint="fix the file, or --write a new one",
        ) from None
    if not old_text.strip():
        data = {"api_keys": {}}
    if (
        not isinstance(data, dict)
        or "api_keys" not in data
        or not isinstance(data["api_keys"] or {}, dict)
    ):
        raise ConfigError(
            f"{path} is not an API keys file (no top-level 'api_keys' mapping)",
            hint="name an API keys file, or a new file to create",
        )
    keys = dict(data.get("api_keys") or {})
    if key_id in keys:  # 64 random bits: a clash means something else is wrong
        raise ConfigError(f"API key id '{key_id}' is already in {path}")
    expected = {**data, "api_keys": {**keys, **entry}}
    text = old_text if old_text.endswith("\n") or not old_text else old_text + "\n"
    text += _indent(yaml.safe_dump(entry, sort_keys=False))
    try:
        appended_ok = yaml.safe_load(text) == expected
    except yaml.YAMLError:
        appended_ok = False
    if not appended_ok:
        text = yaml.safe_dump(expected, sort_keys=False)
    write_private(path, text)


def _indent(text: str) -> str:
    return "".join(f"  {line}\n" for line in text.splitlines())
