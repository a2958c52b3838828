"""Settings from `QBT_*` environment variables, built once at an entry point and passed down."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from runtime.names import MAX_SWEEP_VARIANTS

ENV_PREFIX = "QBT_"


class SettingsError(ValueError):
    """A `QBT_*` environment variable holds a value that cannot be used."""


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    database_url: str | None = Field(
        default=None,
        description="PostgreSQL URL; unset means the embedded server under `home`/postgres.",
    )
    ray_address: str | None = Field(
        default=None, description="Address of a running Ray cluster; unset starts a local head."
    )
    home: Path = Field(default=Path(".qbt"), description="Folder for embedded state.")
    ray_gcs_port: int = Field(default=6380, description="GCS port of a head started by `qbt up`.")
    dashboard_host: str = Field(default="127.0.0.1", description="Dashboard bind address.")
    dashboard_port: int = Field(default=8265, description="Ray dashboard port.")
    metrics_port: int = Field(default=8090, description="Ray metrics export port.")
    dashboard_agent_port: int = Field(
        default=52365,
        description="HTTP port of the head's dashboard agent (the dashboard reads logs there).",
    )
    http_host: str = Field(default="127.0.0.1", description="Serve HTTP proxy bind address.")
    http_port: int = Field(default=8000, description="Serve HTTP proxy port.")
    object_store_memory: int | None = Field(
        default=None, description="Object store bytes for a local Ray head (None: Ray's default)."
    )
    panel_memory_budget: int = Field(
        default=8 * 1024**3,
        description="Bytes of panels the DatasetRegistry keeps before evicting unused versions.",
    )
    refresh_interval_s: float | None = Field(
        default=None, description="Seconds between automatic data-version checks (None: off)."
    )
    max_sweep_variants: int = Field(
        default=MAX_SWEEP_VARIANTS, ge=1, description="Hard cap of variants per sweep."
    )
    sweep_batch_size: int = Field(
        default=1000, ge=1, description="Sweep variants per Ray task at most (run together)."
    )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read every field from `QBT_<FIELD>`; an empty variable counts as unset."""
        env = os.environ if environ is None else environ
        raw = {
            name: env[ENV_PREFIX + name.upper()]
            for name in cls.model_fields
            if env.get(ENV_PREFIX + name.upper(), "") != ""
        }
        try:
            return cls.model_validate(raw)
        except ValidationError as err:
            problems = "; ".join(
                f"{ENV_PREFIX}{str(e['loc'][0]).upper()}: {e['msg']}" for e in err.errors()
            )
            raise SettingsError(f"Bad environment: {problems}") from None
