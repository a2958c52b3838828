"""Where a `qbt up` head's metrics go: the Prometheus service-discovery file Ray writes, the
metrics export port, and QBT's Grafana dashboard put next to the ones Ray generates."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from runtime.config import Settings

# written by monitoring/grafana_dashboard.py
DASHBOARD_JSON = Path(__file__).with_name("grafana_dashboard.json")
# ray._private.ray_constants.PROMETHEUS_SERVICE_DISCOVERY_FILE, in the session folder
SERVICE_DISCOVERY = "prom_metrics_service_discovery.json"


@dataclass(frozen=True)
class MetricsSetup:
    session_dir: Path
    service_discovery: Path  # Prometheus `file_sd_configs` targets: every node's export port
    grafana_ini: Path  # Ray's generated Grafana config (provisions its dashboards and QBT's)
    dashboard: Path | None  # QBT's dashboard where Grafana provisions it, None if no folder

    def lines(self, settings: Settings) -> list[str]:
        where = (f"QBT's Grafana dashboard is in {self.dashboard}" if self.dashboard
                 else f"import {DASHBOARD_JSON} into Grafana")
        return [
            f"metrics: Prometheus text on port {settings.metrics_port} of every node; "
            f"scrape the targets in {self.service_discovery} (file_sd_configs)",
            f"         `grafana-server --config {self.grafana_ini} web` shows Ray's dashboards "
            f"and QBT's; {where}",
        ]


def session_dir() -> Path:
    """The session folder of the Ray cluster this driver is connected to (on its head);
    Ray's default folder when the driver has no node of its own (a Ray client)."""
    import ray

    node = getattr(ray._private.worker.global_worker, "node", None)
    if node is None:
        return Path("/tmp/ray/session_latest")
    return Path(node.get_session_dir_path())


def install_dashboard(session: Path) -> MetricsSetup:
    """Copy QBT's dashboard into the folder Ray's Grafana config provisions dashboards
    from (Ray's dashboard process creates it as it starts; skipped if it is not there)."""
    folder = session / "metrics" / "grafana" / "dashboards"
    target: Path | None = None
    if folder.is_dir():
        target = folder / "qbt_grafana_dashboard.json"
        shutil.copyfile(DASHBOARD_JSON, target)
    return MetricsSetup(session_dir=session, service_discovery=session / SERVICE_DISCOVERY,
                        grafana_ini=session / "metrics" / "grafana" / "grafana.ini",
                        dashboard=target)
