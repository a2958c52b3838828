"""QBT's metrics on the Ray dashboard (and the Prometheus export port), via ray.util.metrics.

Metric objects belong to the process that records them: each actor or Serve replica calls
`qbt_metrics()` once (created lazily, never at import time) and records through it. A
process without Ray (a test of the FastAPI app, a script) records nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

RUN_SECONDS_BOUNDARIES = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 120, 300]
SUBMIT_SECONDS_BOUNDARIES = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]


@dataclass(frozen=True)
class QbtMetrics:
    runs_submitted: object
    runs_finished: object
    run_seconds: object
    queue_depth: object
    runs_in_flight: object
    panel_bytes: object
    panel_build_seconds: object
    data_version_refreshes: object
    runs_failed: object
    submit_seconds: object
    last_claim: object
    panel_versions: object

    def submitted(
        self, n: int = 1, *, kind: str = "backtest", seconds: float | None = None
    ) -> None:
        """`n` runs accepted by one submit of `kind` (backtest, sweep), which took `seconds`
        in the ingress."""
        self.runs_submitted.inc(n)  # type: ignore[attr-defined]
        if seconds is not None:
            self.submit_seconds.observe(seconds, tags={"kind": kind})  # type: ignore[attr-defined]

    def finished(self, *, status: str, seconds: float | None, reason: str | None = None) -> None:
        self.runs_finished.inc(1, tags={"status": status})  # type: ignore[attr-defined]
        if seconds is not None:
            self.run_seconds.observe(seconds, tags={"status": status})  # type: ignore[attr-defined]
        if reason is not None:
            self.runs_failed.inc(1, tags={"reason": reason})  # type: ignore[attr-defined]

    def claimed(self, *, at: float) -> None:
        self.last_claim.set(at)  # type: ignore[attr-defined]

    def queue(self, *, depth: int, in_flight: int) -> None:
        self.queue_depth.set(depth)  # type: ignore[attr-defined]
        self.runs_in_flight.set(in_flight)  # type: ignore[attr-defined]

    def built(self, *, seconds: float) -> None:
        self.panel_build_seconds.observe(seconds)  # type: ignore[attr-defined]

    def held(self, *, nbytes: int, versions: int) -> None:
        self.panel_bytes.set(nbytes)  # type: ignore[attr-defined]
        self.panel_versions.set(versions)  # type: ignore[attr-defined]

    def refreshed(self) -> None:
        self.data_version_refreshes.inc(1)  # type: ignore[attr-defined]


class _Nothing:
    """Stands in for a metric where no Ray worker runs."""

    def inc(self, *_args: object, **_kwargs: object) -> None: ...
    def set(self, *_args: object, **_kwargs: object) -> None: ...
    def observe(self, *_args: object, **_kwargs: object) -> None: ...


def qbt_metrics() -> QbtMetrics:
    import ray

    if not ray.is_initialized():
        nothing = _Nothing()
        return QbtMetrics(*(nothing for _ in QbtMetrics.__dataclass_fields__))
    return _ray_metrics()


@lru_cache(maxsize=1)
def _ray_metrics() -> QbtMetrics:
    from ray.util.metrics import Counter, Gauge, Histogram

    return QbtMetrics(
        runs_submitted=Counter("qbt_runs_submitted", description="Backtest runs accepted."),
        runs_finished=Counter(
            "qbt_runs_finished", description="Runs that ended, by status.", tag_keys=("status",)
        ),
        run_seconds=Histogram(
            "qbt_run_seconds",
            description="Seconds from claim to end of a run.",
            boundaries=RUN_SECONDS_BOUNDARIES,
            tag_keys=("status",),
        ),
        queue_depth=Gauge("qbt_queue_depth", description="Runs queued, not yet claimed."),
        runs_in_flight=Gauge("qbt_runs_in_flight", description="Runs executing as Ray tasks."),
        panel_bytes=Gauge("qbt_panel_bytes", description="Bytes of panels in the object store."),
        panel_build_seconds=Histogram(
            "qbt_panel_build_seconds",
            description="Seconds to build a panel from PostgreSQL and put it.",
            boundaries=[1, 2, 5, 10, 20, 30, 60, 120],
        ),
        data_version_refreshes=Counter(
            "qbt_data_version_refreshes", description="New data versions made current."
        ),
        runs_failed=Counter(
            "qbt_runs_failed", tag_keys=("reason",),
            description="Runs that failed for good, by reason: run (its own error), "
            "infrastructure (worker or panel lost every attempt), lease (leases expired).",
        ),
        submit_seconds=Histogram(
            "qbt_submit_seconds", boundaries=SUBMIT_SECONDS_BOUNDARIES, tag_keys=("kind",),
            description="Seconds an ingress replica took to accept a submit, by kind.",
        ),
        last_claim=Gauge(
            "qbt_last_claim_timestamp_seconds",
            description="Unix time of the dispatcher's last claim of queued runs.",
        ),
        panel_versions=Gauge(
            "qbt_panel_versions", description="Data versions the registry holds in memory."
        ),
    )


def metric_names() -> list[str]:
    """The names QBT's metrics are recorded under (Prometheus adds Ray's `ray_` prefix)."""
    return [m._name for m in vars(_ray_metrics()).values()]
