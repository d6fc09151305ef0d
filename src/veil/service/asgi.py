"""ASGI entry point for process managers (``uvicorn --factory veil.service.asgi:build``).

Worker processes import this by name, so the settings travel as a JSON file named by
``VEIL_SERVE_SETTINGS`` (written by ``veil serve``) or, failing that, come from ``VEIL_*``
environment variables. Each worker reloads its policies on SIGHUP.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from fastapi import FastAPI

from .app import create_app, install_sighup
from .settings import ServiceSettings, load_settings


def build() -> FastAPI:
    path = os.environ.get("VEIL_SERVE_SETTINGS")
    if path:
        settings = ServiceSettings.model_validate(json.loads(Path(path).read_text("utf-8")))
    else:
        settings = load_settings(None)
    app = create_app(settings)
    install_sighup(app)
    return app
