"""Service settings: one YAML file plus ``VEIL_*`` environment variables.

Built once by the entry point (``veil serve``) and passed to :func:`create_app`; nothing
reads the environment at import time. A bad setting is an error at start-up, never a
silent default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from ..errors import ConfigError


class Limits(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    max_body_bytes: int = Field(default=16 * 1024 * 1024, ge=1024)
    max_records: int = Field(default=10_000, ge=1)
    max_depth: int = Field(default=16, ge=2)
    max_string: int = Field(default=65_536, ge=16)


class ServiceSettings(BaseSettings):
    """Every setting of ``veil serve``; env vars are ``VEIL_<NAME>`` (nested: ``__``)."""

    model_config = SettingsConfigDict(
        env_prefix="VEIL_", env_nested_delimiter="__", extra="forbid", frozen=True
    )

    policies: Path = Path("policies/health")
    ledger: str = "sqlite:///veil-ledger.db"
    key_file: Path | None = None
    api_keys_file: Path | None = None
    jwks_file: Path | None = None
    jwt_issuer: str | None = None
    jwt_audience: str | None = None
    jwt_leeway: int = Field(default=30, ge=0, le=300)
    claims_map: dict[str, str] = Field(default_factory=dict)
    #: subject ids allowed to call POST /v1/admin/reload
    admins: list[str] = Field(default_factory=list)
    #: dataset names in the bundle that expose the ledger through policy
    audit_events_dataset: str = "ledger_events"
    accounting_dataset: str = "ledger_disclosures"
    limits: Limits = Field(default_factory=Limits)
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)


def load_settings(config: Path | None = None, **overrides: Any) -> ServiceSettings:
    """Settings from a YAML file (if given), then the environment, then explicit overrides."""
    data: dict[str, Any] = {}
    if config is not None:
        try:
            loaded = yaml.safe_load(config.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(
                f"cannot read service config {config}: {type(exc).__name__}",
                hint="pass a readable YAML file with --config",
            ) from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"service config {config} must be a mapping")
        data.update(loaded)
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        # Values given explicitly win over the environment (pydantic-settings init kwargs).
        return ServiceSettings(**data)
    except ValidationError as err:
        first = err.errors(include_url=False, include_input=False)[0]
        where = ".".join(map(str, first["loc"]))
        raise ConfigError(
            f"invalid service setting '{where}': {first['msg']}",
            hint="see the README's 'veil serve' settings table",
        ) from None
