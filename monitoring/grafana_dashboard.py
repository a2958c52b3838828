"""QBT's Grafana dashboard, built with Grafana's own typed SDK (grafana-foundation-sdk,
generated from Grafana's dashboard schema) and written to `cluster/grafana_dashboard.json`,
the file `qbt up` puts next to Ray's dashboards.

    python -m monitoring.grafana_dashboard      # rewrites cluster/grafana_dashboard.json

Every query reads a metric of `runtime.metrics` as Ray exports it to Prometheus: the name
prefixed `ray_`, counters suffixed `_total`, histograms as `_bucket`/`_sum`/`_count`; a
metric recorded by several processes (two ingress replicas) is summed or maxed over them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import common, dashboard, prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import (
    BigValueGraphMode,
    LegendDisplayMode,
    LegendPlacement,
)
from grafana_foundation_sdk.models.dashboard import DashboardCursorSync, DataSourceRef

OUTPUT = Path(__file__).resolve().parents[1] / "cluster" / "grafana_dashboard.json"
UID = "qbt-service"
DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")


def metric(name: str) -> str:
    """The Prometheus name of a QBT metric (`runtime.metrics`) as Ray exports it."""
    return f"ray_{name}"


def query(expr: str, legend: str, ref: str = "A") -> prometheus.Dataquery:
    return prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(ref).datasource(
        DATASOURCE)


def quantiles(name: str, *, by: str = "", window: str = "5m") -> list[prometheus.Dataquery]:
    group = f"le{', ' + by if by else ''}"
    suffix = f" {{{{{by}}}}}" if by else ""
    return [
        query(f"histogram_quantile({q}, sum by ({group}) "
              f"(rate({metric(name)}_bucket[{window}])))", f"p{round(q * 100)}{suffix}", ref)
        for q, ref in ((0.5, "A"), (0.9, "B"), (0.99, "C"))
    ]


def chart(title: str, description: str, unit: str, targets: list[prometheus.Dataquery],
          *, width: int = 12) -> timeseries.Panel:
    panel = (timeseries.Panel().title(title).description(description).unit(unit)
             .datasource(DATASOURCE).height(8).span(width).min(0)
             .legend(common.VizLegendOptions().show_legend(True).display_mode(
                 LegendDisplayMode.LIST).placement(LegendPlacement.BOTTOM)))
    for target in targets:
        panel = panel.with_target(target)
    return panel


def number(title: str, description: str, unit: str, expr: str) -> stat.Panel:
    return (stat.Panel().title(title).description(description).unit(unit)
            .datasource(DATASOURCE).height(4).span(6).with_target(query(expr, title))
            .graph_mode(BigValueGraphMode.AREA))


def build() -> dict[str, Any]:
    """The dashboard as Grafana's JSON model."""
    board = (
        dashboard.Dashboard("QBT")
        .uid(UID)
        .description("QBT's own metrics (runtime/metrics.py), next to Ray's dashboards.")
        .tags(["qbt", "ray"])
        .editable()
        .tooltip(DashboardCursorSync.CROSSHAIR)
        .time("now-30m", "now")
        .refresh("10s")
        .with_variable(dashboard.DatasourceVariable("datasource").label("Data source")
                       .type("prometheus"))
        .with_row(dashboard.Row("Now"))
        .with_panel(number("Queue depth", "Runs queued, not yet claimed.", "short",
                           f"max({metric('qbt_queue_depth')})"))
        .with_panel(number("Runs in flight", "Runs executing as Ray tasks.", "short",
                           f"max({metric('qbt_runs_in_flight')})"))
        .with_panel(number("Since the last claim", "Seconds since the dispatcher last "
                           "claimed queued runs.", "s",
                           f"time() - max({metric('qbt_last_claim_timestamp_seconds')})"))
        .with_panel(number("Panel memory", "Bytes of data panels in the object store.",
                           "bytes", f"max({metric('qbt_panel_bytes')})"))
        .with_row(dashboard.Row("Runs"))
        .with_panel(chart("Queue depth and runs in flight", "Queued runs against those "
                          "executing.", "short", [
                              query(f"max({metric('qbt_queue_depth')})", "queued", "A"),
                              query(f"max({metric('qbt_runs_in_flight')})", "in flight", "B"),
                          ]))
        .with_panel(chart("Throughput", "Runs accepted and runs ended, per second.", "reqps", [
            query(f"sum(rate({metric('qbt_runs_submitted')}_total[1m]))", "submitted", "A"),
            query(f"sum by (status) (rate({metric('qbt_runs_finished')}_total[1m]))",
                  "{{status}}", "B"),
        ]))
        .with_panel(chart("Run duration", "Seconds from claim to end of a run.", "s",
                          quantiles("qbt_run_seconds")))
        .with_panel(chart("Failures by reason", "Runs that failed for good: run (its own "
                          "error), infrastructure (worker or panel lost every attempt), lease "
                          "(leases expired).", "short", [
                              query(f"sum by (reason) (increase("
                                    f"{metric('qbt_runs_failed')}_total[5m]))", "{{reason}}"),
                          ]))
        .with_row(dashboard.Row("Service"))
        .with_panel(chart("Submit latency", "Seconds an ingress replica took to accept a "
                          "submit (the HTTP proxy's own time is in Ray's Serve dashboard).", "s",
                          quantiles("qbt_submit_seconds", by="kind")))
        .with_panel(chart("Panel memory over time", "Bytes of data panels in the object store.",
                          "bytes", [query(f"max({metric('qbt_panel_bytes')})", "bytes")],
                          width=6))
        .with_panel(chart("Panel build time", "Mean seconds to build a panel from "
                          "PostgreSQL and put it in the object store.", "s", [
                              query(f"sum(rate({metric('qbt_panel_build_seconds')}_sum[1h]))"
                                    f" / sum(rate({metric('qbt_panel_build_seconds')}_count"
                                    "[1h]))", "mean"),
                          ], width=6))
        .with_panel(number("Data versions held", "Data versions the registry holds in "
                           "memory.", "short", f"max({metric('qbt_panel_versions')})"))
        .with_panel(number("Submits accepted", "Runs accepted in the last hour.", "short",
                           f"sum(increase({metric('qbt_runs_submitted')}_total[1h]))"))
    )
    model = json.loads(json.dumps(board.build(), cls=JSONEncoder))
    for number_, panel in enumerate(model["panels"], start=1):  # unique ids, top to bottom
        panel["id"] = number_
    return model


def render() -> str:
    return json.dumps(build(), indent=2, sort_keys=True) + "\n"


def main() -> None:
    OUTPUT.write_text(render())
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main()
