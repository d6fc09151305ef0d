"""The service as most tests run it: a copy of the health bundle, API keys for a set of
users, fixed test keys and a SQLite ledger, all in a temporary directory."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml

from veil.service.auth import veil_keygen_api_key
from veil.service.settings import ServiceSettings

ROOT = Path(__file__).resolve().parent.parent
TEST_KEYS = ("research-tokens", "research-dates", "audit-hash")


def health_settings(
    tmp_path: Path, users: dict[str, tuple[str, dict[str, Any]]], **extra: Any
) -> tuple[ServiceSettings, dict[str, str]]:
    """Settings for the health bundle and ``users`` (name -> (subject id, attributes)),
    and each user's API-key secret. Secret files are written 0600, as ``veil serve``
    requires."""
    bundle = tmp_path / "health"
    shutil.copytree(ROOT / "policies" / "health", bundle)
    secrets, table = {}, {}
    for name, (sid, attrs) in users.items():
        secret, entry = veil_keygen_api_key(sid, attrs)
        secrets[name] = secret
        table.update(entry)
    (tmp_path / "api_keys.yaml").write_text(yaml.safe_dump({"api_keys": table}))
    (tmp_path / "keys.yaml").write_text(
        "keys:\n" + "".join(f"  {k}: hex:{i:02x}{'ab' * 31}\n" for i, k in enumerate(TEST_KEYS))
    )
    for name in ("api_keys.yaml", "keys.yaml"):
        (tmp_path / name).chmod(0o600)
    settings = ServiceSettings(
        **{
            "policies": bundle,
            "ledger": f"sqlite:///{tmp_path / 'ledger.db'}",
            "key_file": tmp_path / "keys.yaml",
            "api_keys_file": tmp_path / "api_keys.yaml",
            "admins": ["ops.admin"],
            **extra,
        }
    )
    return settings, secrets
