"""Optional parts of veil, installed as pip extras, and the error for a missing one.

``pip install veil`` is the lean core: policies, the record engine, the CLI, keys and
the SQLite ledger. The rest comes with an extra (``pip install 'veil[service,text]'``),
so that a batch job on a locked-down host does not carry a web server, a spaCy pipeline
and a columnar engine it never runs. Each entry point that needs an extra asks for it
here first: a missing extra is a :class:`~veil.errors.ConfigError` that names it — at
the start of the command, before any record is read or any output written — never an
``ImportError`` traceback from deep inside, and never a silently degraded result.
"""

from __future__ import annotations

import importlib.util

from .errors import ConfigError

#: extra -> (the module that proves it is installed, what it adds)
EXTRAS: dict[str, tuple[str, str]] = {
    "service": ("fastapi", "the HTTP service and console (veil serve)"),
    "text": ("presidio_analyzer", "free-text detection (scan_text, veil scan)"),
    "bulk": ("pyarrow", "the columnar engine and Parquet/Arrow files"),
    "spark": ("pyspark", "the PySpark integration (veil.spark)"),
    "postgres": ("psycopg", "the PostgreSQL ledger"),
    "hsm": ("pkcs11", "keys in a PKCS#11 token"),
    "otel": ("opentelemetry", "OpenTelemetry tracing"),
}


def installed(extra: str) -> bool:
    """Whether ``extra``'s packages can be imported here."""
    module = EXTRAS[extra][0]
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def require(extra: str, needed_for: str) -> None:
    """Raise ConfigError unless ``extra`` is installed; ``needed_for`` says by what."""
    if not installed(extra):
        raise ConfigError(
            f"{needed_for} needs veil's '{extra}' extra ({EXTRAS[extra][1]}), "
            "which is not installed",
            hint=f"pip install 'veil[{extra}]' (or 'veil[all]')",
        )
