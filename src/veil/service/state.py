"""The running service's policy state: one current bundle, swapped atomically on reload.

A request takes :meth:`PolicyState.current` once and uses that :class:`~veil.core.Veil`
throughout, so it sees exactly one bundle version — the one its ledger event records.
A reload that fails validation or its proofs, or takes too long, leaves the last good
bundle serving.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from ..core import Appender, Veil
from ..errors import PolicyError
from ..keys import Keyring
from ..policy.bundle import Bundle
from ..policy.proofs import issues_of, prove
from ..policy.validate import load_bundle

log = logging.getLogger("veil.service")


@dataclass(frozen=True)
class ReloadResult:
    ok: bool
    version: str
    problems: tuple[str, ...] = ()


#: Longest a reload may take before it is given up (the running bundle keeps serving).
RELOAD_SECONDS = 30.0


def _load_and_prove(policies: Path) -> Bundle:
    """Load, validate and prove a bundle; PolicyError lists every problem."""
    bundle = load_bundle(str(policies))
    report = prove(bundle)
    if not report.ok:
        raise PolicyError(issues_of(bundle, report))
    return bundle


class PolicyState:
    def __init__(self, policies: Path, ledger: Appender, keys: Keyring) -> None:
        self._policies = policies
        self._ledger = ledger
        self._keys = keys
        self._lock = threading.Lock()
        self._current = Veil(_load_and_prove(policies), ledger, keys)
        self.reloads = 0
        self.failed_reloads = 0

    @property
    def current(self) -> Veil:
        return self._current

    def reload(self, timeout: float = RELOAD_SECONDS) -> ReloadResult:
        """Load, validate and prove the bundle again; swap it in only if it is valid.

        Loading runs in a worker thread given ``timeout`` seconds: a bundle that takes
        longer (a YAML bomb the loader's limits did not stop, a proof too large) is
        rejected and the running bundle keeps serving; the worker's result, when it
        finally comes, is discarded. One reload at a time: a second one while the first
        runs is rejected at once rather than queued.
        """
        if not self._lock.acquire(blocking=False):
            return self._rejected(("a reload is already running",))
        try:
            box: dict[str, Bundle | PolicyError] = {}

            def work() -> None:
                try:
                    box["bundle"] = _load_and_prove(self._policies)
                except PolicyError as exc:
                    box["error"] = exc

            worker = threading.Thread(target=work, name="veil-policy-reload", daemon=True)
            worker.start()
            worker.join(timeout)
            if worker.is_alive():
                return self._rejected(
                    (f"loading the bundle took longer than {timeout:g} s; it was not loaded",)
                )
            error = box.get("error")
            if isinstance(error, PolicyError):
                return self._rejected(tuple(i.render() for i in error.issues))
            bundle = box.get("bundle")
            if not isinstance(bundle, Bundle):  # the worker died of something unexpected
                return self._rejected(("the bundle could not be loaded (internal error)",))
            if bundle.version != self._current.bundle.version:
                self._current = Veil(bundle, self._ledger, self._keys)
                self.reloads += 1
                log.info("policy bundle reloaded: %s", bundle.short_version)
            return ReloadResult(True, bundle.version)
        finally:
            self._lock.release()

    def reload_in_background(self) -> threading.Thread:
        """:meth:`reload` on a thread of its own: what SIGHUP does, so a signal handler
        never blocks the event loop (nor delays SIGTERM) while a bundle loads."""
        t = threading.Thread(target=self.reload, name="veil-sighup-reload", daemon=True)
        t.start()
        return t

    def _rejected(self, problems: tuple[str, ...]) -> ReloadResult:
        self.failed_reloads += 1
        log.warning(
            "policy reload rejected: %d problem(s); keeping %s",
            len(problems),
            self._current.bundle.short_version,
        )
        return ReloadResult(False, self._current.bundle.version, problems)
