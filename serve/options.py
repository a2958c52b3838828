"""ServiceOptions: the knobs of the HTTP service and its dispatcher, built once at an entry point.

Cluster-wide values live in `runtime.config.Settings` only (HTTP address, sweep cap, batch
size, from `QBT_*`); these have defaults that `serve-config.yaml` (`args:`) or a test may
override.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class ServiceOptions(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    owner_run_limit: int = Field(
        default=200, ge=1, description="Queued + running single runs per owner (429 above)."
    )
    owner_sweep_limit: int = Field(
        default=4, ge=1, description="Unfinished sweeps per owner (429 above)."
    )
    owner_report_limit: int = Field(
        default=4, ge=1, description="Queued + running factor reports per owner (429 above)."
    )
    max_wait_s: float = Field(default=60.0, ge=0, description="Largest ?wait= of a submit.")
    max_span_days: int = Field(
        default=7305, ge=1, description="Longest start..end window of one run, in days."
    )
    max_body_bytes: int = Field(default=1_000_000, ge=1024, description="Request body cap.")
    page_limit: int = Field(default=100, ge=1, description="Largest page of GET /v1/backtests.")

    lease_s: float = Field(
        default=60.0, gt=0, description="A claimed run's lease; renewed while it runs."
    )
    max_attempts: int = Field(
        default=3, ge=1, description="Claims of one run before it fails for good."
    )
    max_in_flight: int = Field(
        default=64, ge=1, description="Single runs the dispatcher keeps in Ray tasks at once."
    )
    max_sweep_in_flight: int = Field(
        default=8000, ge=1, description="Sweep variants the dispatcher keeps in Ray tasks at once."
    )
    task_retries: int = Field(default=2, ge=0, description="Ray retries of a crashed task.")
    poll_s: float = Field(
        default=1.0, gt=0, description="Dispatcher's fallback poll when no NOTIFY arrives."
    )

    db_pool_size: int = Field(default=20, ge=1, description="Connections per ingress replica.")
    db_timeout_s: float = Field(
        default=2.0, gt=0, description="Wait for a connection or a connect before 503."
    )
    statement_timeout_ms: int = Field(default=10_000, ge=100, description="Per SQL statement.")
    key_cache_s: float = Field(
        default=60.0, ge=0,
        description="Verified API keys kept this long (a revoked one is dropped at once).",
    )
    panel_check_s: float = Field(
        default=2.0, ge=0, description="Ingress asks the registry for the current version so often."
    )
    replicas: int = Field(default=2, ge=1, description="Ingress replicas.")
    # The ingress is async and a `?wait=` long poll costs it an idle task; at 256, 1,000 users
    # waiting on their runs filled the replica and the proxy's queue (503 storm, then 408s).
    max_ongoing_requests: int = Field(default=2048, ge=1, description="Per ingress replica.")
    max_queued_requests: int = Field(
        default=512, ge=1, description="Requests waiting at the proxy before 503."
    )
    request_timeout_s: float = Field(default=90.0, gt=0, description="End-to-end HTTP timeout.")
    access_log: bool = Field(
        default=False, description="Serve's per-request log lines (proxy and replica)."
    )
