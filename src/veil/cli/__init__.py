"""The ``veil`` command line: one module per command group over shared option types.

``app`` (``cli/app.py``) is the Typer application; ``options`` holds the option types and
the wrapper that turns a :class:`~veil.errors.VeilError` into a message and exit code.
Each command module registers its commands on import: ``sanitize``, ``policy``
(validate, explain, test), ``audit`` (verify, accounting, tail), ``reveal``, ``serve``
(serve, api-key), ``demo``, ``scan`` and ``keys`` (new, rotate, list, check, encrypt,
decrypt). Heavy imports happen inside the commands, so ``veil --help`` stays fast.
``main`` is the console-script entry point.
"""

from __future__ import annotations

import signal

from . import audit, demo, keys, policy, reveal, sanitize, scan, serve
from .app import app

__all__ = ["app", "main"]

_COMMANDS = (audit, demo, keys, policy, reveal, sanitize, scan, serve)  # imported to register


def _terminate(signum: int, frame: object) -> None:
    # SIGTERM unwinds like Ctrl-C: spools are discarded, nothing is published, exit 130.
    raise KeyboardInterrupt


def main() -> None:
    signal.signal(signal.SIGTERM, _terminate)
    app()
