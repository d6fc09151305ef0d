"""veil: field-level, purpose-aware data sharing with a tamper-evident disclosure ledger.

The data's path is the package layout:

* ``policy/``    the language: YAML bundle -> validated ``Bundle`` -> per-request ``Plan``
* ``transforms/`` the obligations a plan attaches to fields (mask, tokenize, generalize, ...)
* ``text/``      free-text detection (offline Presidio engines, worker pool)
* ``engines/``   a plan applied to records (``record``) or Arrow batches (``columnar``)
* ``ledger/``    the hash-chained disclosure ledger (SQLite and PostgreSQL over one core)
* ``core``       the façade every interface uses; ``bulk`` and ``spark`` for extracts
* ``cli/``, ``service/`` the interfaces; ``formats/`` reads and writes files;
  ``samples/`` holds the synthetic data and the demo

The names below are the public API, imported on first use so ``import veil`` stays cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .core import Job, Result, Veil
    from .errors import VeilError
    from .keys import Keyring
    from .ledger import open_ledger
    from .policy.bundle import Bundle
    from .policy.validate import load_bundle
    from .request import Request

__all__ = [
    "Bundle",
    "Job",
    "Keyring",
    "Request",
    "Result",
    "Veil",
    "VeilError",
    "load_bundle",
    "open_ledger",
]

_HOME = {
    "Bundle": "veil.policy.bundle",
    "Job": "veil.core",
    "Keyring": "veil.keys",
    "Request": "veil.request",
    "Result": "veil.core",
    "Veil": "veil.core",
    "VeilError": "veil.errors",
    "load_bundle": "veil.policy.validate",
    "open_ledger": "veil.ledger",
}


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'veil' has no attribute {name!r}")
    return getattr(import_module(home), name)
