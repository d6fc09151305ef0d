"""Service settings: one YAML file plus ``VEIL_*`` environment variables.

Built once by the entry point (``veil serve``) and passed to :func:`create_app`; nothing
reads the environment at import time. A bad setting is an error at start-up, never a
silent default.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

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
    #: one NDJSON line (record) of /v1/sanitize/stream
    max_line_bytes: int = Field(default=4 * 1024 * 1024, ge=1024)


class TextSettings(BaseModel):
    """Where and for how long free text (``scan_text``) is analyzed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: worker processes analyzing free text (0: a thread of the server process, which
    #: shares its interpreter lock with the event loop)
    workers: int = Field(default=2, ge=0, le=256)
    #: longest one value's analysis may take; a value not done by then is withheld
    value_seconds: float = Field(default=3.0, gt=0, le=600)
    #: longest all of one request's values together may take (for a stream: each batch
    #: of lines it reads); the values not analyzed by then are withheld
    request_seconds: float = Field(default=60.0, gt=0, le=3600)


class ServerSettings(BaseModel):
    """Socket-level limits (uvicorn and the app's body reader)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: an idle keep-alive connection is closed after this long
    keep_alive_seconds: int = Field(default=5, ge=1, le=600)
    #: a request's line and headers must arrive within this long of its first byte (or
    #: of the connection, for its first request)
    header_seconds: float = Field(default=10.0, gt=0, le=600)
    #: request line and headers larger than this are refused (431)
    max_header_bytes: int = Field(default=64 * 1024, ge=1024, le=16 * 1024 * 1024)
    #: the body may pause this long between two reads before the request is cut (408)
    body_idle_seconds: float = Field(default=15.0, gt=0, le=3600)
    #: a whole body (but /v1/sanitize/stream's) must arrive within this long (408)
    body_seconds: float = Field(default=60.0, gt=0, le=3600)
    #: connections and requests in progress beyond which new ones get 503
    max_connections: int = Field(default=1024, ge=1)
    #: the interpreter's GIL switch interval while the app serves (ms; null: leave it).
    #: The ledger's writer thread gives the GIL up in every SQLite or PostgreSQL call and
    #: then waits for the event loop's thread to hand it back, which a busy loop does
    #: only once per interval: Python's 5 ms default held single-record requests at
    #: 0.43x and 100-record batches at 0.31x a bare FastAPI echo, 0.1 ms gives
    #: 0.56x and 0.40x (benchmarks/bench_http.py; docs/performance.md).
    gil_switch_interval_ms: float | None = Field(default=0.1, ge=0.01, le=100)


class ReadySettings(BaseModel):
    """When ``/readyz`` says the service cannot take disclosures (503)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: less free space than this on the SQLite ledger's volume
    min_free_bytes: int = Field(default=64 * 1024 * 1024, ge=0)
    #: a ledger that does not answer within this long
    ledger_seconds: float = Field(default=1.0, gt=0, le=60)


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
    text: TextSettings = Field(default_factory=TextSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    ready: ReadySettings = Field(default_factory=ReadySettings)
    #: "json": one object per line (access log, reloads, ledger errors), for log shippers
    log_format: Literal["json", "text"] = "json"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    #: a span per request (the ``otel`` extra; exporters come from the OTEL_* environment)
    otel: bool = False
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
