"""Build hook: compile veil's one C extension, ``veil.transforms._cryptobatch``.

It loops the research path's per-value cryptography (HMAC lookups, the vault's row keys,
AES-GCM seals) over a batch in one call, with OpenSSL's libcrypto (the library hashlib
uses). It is optional: where there is no C compiler or no OpenSSL headers the wheel is
built without it, with a warning, and veil computes the same bytes in Python
(``veil.transforms.cryptobatch``), slower. ``VEIL_NATIVE=0`` builds without it on
purpose; ``VEIL_NATIVE=1`` makes a failed compile fail the build.

An editable install (``pip install -e .``, what ``make`` does) compiles the module in
place beside its source; a wheel gets it from a build directory.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sysconfig
import tempfile
from pathlib import Path
from typing import Any

from hatchling.builders.hooks.plugin.interface import BuildHookInterface

SOURCE = Path("src/veil/transforms/_cryptobatch.c")
MODULE = "veil/transforms/_cryptobatch"


def compile_module(root: Path, out: Path) -> str | None:
    """Compile the module to ``out``; None on success, else why it failed."""
    cc = os.environ.get("CC") or sysconfig.get_config_var("CC") or "cc"
    cmd = [
        *shlex.split(cc),
        "-O2",
        "-fPIC",
        "-shared",
        "-Wall",
        f"-I{sysconfig.get_paths()['include']}",
        str(root / SOURCE),
        "-lcrypto",
        "-o",
        str(out),
    ]
    try:
        done = subprocess.run(  # noqa: S603 - the compiler of this Python, on our own source
            cmd, capture_output=True, text=True, timeout=300, check=False
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return f"{cmd[0]}: {exc}"
    if done.returncode != 0:
        return (done.stderr or done.stdout).strip()[-2000:]
    return None


class NativeBuildHook(BuildHookInterface):  # type: ignore[type-arg]
    PLUGIN_NAME = "custom"

    def initialize(self, version: str, build_data: dict[str, Any]) -> None:
        if self.target_name != "wheel":
            return
        wanted = os.environ.get("VEIL_NATIVE", "")
        if wanted == "0":
            self.app.display_warning("VEIL_NATIVE=0: building veil without its C extension")
            return
        root = Path(self.root)
        suffix = sysconfig.get_config_var("EXT_SUFFIX") or ".so"
        if version == "editable":
            out = root / f"src/{MODULE}{suffix}"
        else:
            out = Path(tempfile.mkdtemp(prefix="veil-native-")) / f"_cryptobatch{suffix}"
        failed = compile_module(root, out)
        if failed is not None:
            message = (
                "veil's C extension (veil.transforms._cryptobatch) did not compile; veil "
                "works without it, slower on tokenize(mode=random). Install a C compiler "
                f"and OpenSSL's headers (Debian: gcc libssl-dev) to build it.\n{failed}"
            )
            if wanted == "1":
                raise RuntimeError(message)
            self.app.display_warning(message)
            return
        build_data["pure_python"] = False
        build_data["infer_tag"] = True
        if version != "editable":
            build_data["force_include"][str(out)] = f"{MODULE}{suffix}"
