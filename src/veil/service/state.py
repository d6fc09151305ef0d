"""The running service's policy state: one current bundle, swapped atomically on reload.

A request takes :meth:`PolicyState.current` once and uses that :class:`~veil.core.Veil`
throughout, so it sees exactly one bundle version — the one its ledger event records.
A reload that fails validation leaves the last good bundle serving.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from ..core import Appender, Veil
from ..errors import PolicyError
from ..keys import Keyring
from ..policy.validate import load_bundle

log = logging.getLogger("veil.service")


@dataclass(frozen=True)
class ReloadResult:
    ok: bool
    version: str
    problems: tuple[str, ...] = ()


class PolicyState:
    def __init__(self, policies: Path, ledger: Appender, keys: Keyring) -> None:
        self._policies = policies
        self._ledger = ledger
        self._keys = keys
        self._lock = threading.Lock()
        self._current = Veil(load_bundle(str(policies)), ledger, keys)
        self.reloads = 0
        self.failed_reloads = 0

    @property
    def current(self) -> Veil:
        return self._current

    def reload(self) -> ReloadResult:
        """Load and validate the bundle again; swap it in only if it is valid."""
        with self._lock:
            try:
                bundle = load_bundle(str(self._policies))
            except PolicyError as exc:
                self.failed_reloads += 1
                log.warning(
                    "policy reload rejected: %d problem(s); keeping %s",
                    len(exc.issues),
                    self._current.bundle.short_version,
                )
                return ReloadResult(
                    False, self._current.bundle.version, tuple(i.render() for i in exc.issues)
                )
            if bundle.version != self._current.bundle.version:
                self._current = Veil(bundle, self._ledger, self._keys)
                self.reloads += 1
                log.info("policy bundle reloaded: %s", bundle.short_version)
            return ReloadResult(True, bundle.version)
