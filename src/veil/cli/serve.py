"""``veil serve`` and ``veil api-key``: the HTTP service and its credentials."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Annotated

import typer

from .app import app
from .options import Attr, SubjectId, err, parse_pairs, run


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
        import uvicorn

        from ..service.app import create_app, install_sighup
        from ..service.asgi import uvicorn_options
        from ..service.settings import load_settings

        settings = load_settings(config, policies=policies, ledger=ledger, host=host, port=port)
        # header and keep-alive timeouts, header size, connection limit
        limits = uvicorn_options(settings.server)
        if workers == 1:
            application = create_app(settings)
            install_sighup(application)
            uvicorn.run(
                application,
                host=settings.host,
                port=settings.port,
                log_level="info",
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
                log_level="info",
                access_log=False,
                **limits,
            )
        finally:
            os.unlink(f.name)

    run(body)


@app.command("api-key")
def api_key(
    subject_id: SubjectId,
    attr: Attr = None,
) -> None:
    """Create an API key: prints the secret once and the entry for the API keys file."""

    def body() -> None:
        import yaml

        from ..service.auth import veil_keygen_api_key

        secret, entry = veil_keygen_api_key(subject_id, parse_pairs(attr, "attr"))
        err.print("[bold]secret (shown once, give it to the client):[/]")
        print(secret)
        err.print("[bold]add to your api_keys file under 'api_keys:':[/]")
        err.print(yaml.safe_dump(entry, sort_keys=False), highlight=False)

    run(body)
