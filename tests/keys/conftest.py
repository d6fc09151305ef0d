"""A real SoftHSM2 token for the HSM tests, in a temporary directory.

``SOFTHSM2_CONF`` points at a configuration whose token directory is under pytest's
temporary directory, set before the PKCS#11 module is first loaded in this process, so the
system's token directory is never read or written. Without SoftHSM2 (``make test``
installs it: ``apt-get install softhsm2``) or python-pkcs11 the HSM tests skip and say
so; nothing is mocked.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

MODULES = (
    "/usr/lib/softhsm/libsofthsm2.so",
    "/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
    "/usr/local/lib/softhsm/libsofthsm2.so",
)
LABEL = "veil-test"
PIN = "246810"


@dataclass(frozen=True)
class SoftHSM:
    module: str
    token: str
    pin: str
    tokendir: Path

    @property
    def uri(self) -> str:
        """The token, as `veil keys --pkcs11` takes it (the PIN comes from $VEIL_HSM_PIN)."""
        return f"pkcs11:token={self.token}?module-path={self.module}"

    @property
    def env(self) -> dict[str, str]:
        return {"VEIL_HSM_PIN": self.pin}


@pytest.fixture(scope="session")
def softhsm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoftHSM]:
    util = shutil.which("softhsm2-util")
    module = next((m for m in MODULES if os.path.exists(m)), None)
    if util is None or module is None:
        pytest.skip(
            "SoftHSM2 is not installed (apt-get install softhsm2; `make test` installs it): "
            "the HSM tests need a real PKCS#11 token"
        )
    try:
        import pkcs11  # noqa: F401
    except ImportError:
        pytest.skip("python-pkcs11 is not installed (pip install -e '.[dev]' installs it)")
    root = tmp_path_factory.mktemp("softhsm")
    tokens = root / "tokens"
    tokens.mkdir()
    conf = root / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {tokens}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    saved = os.environ.get("SOFTHSM2_CONF")
    os.environ["SOFTHSM2_CONF"] = str(conf)
    try:
        subprocess.run(
            [util, "--init-token", "--free", "--label", LABEL, "--pin", PIN, "--so-pin", PIN],
            check=True,
            capture_output=True,
            env={**os.environ, "SOFTHSM2_CONF": str(conf)},
        )
        yield SoftHSM(module, LABEL, PIN, tokens)
    finally:
        from veil.keyset.pkcs11 import forget_sessions

        forget_sessions()
        if saved is None:
            os.environ.pop("SOFTHSM2_CONF", None)
        else:
            os.environ["SOFTHSM2_CONF"] = saved
