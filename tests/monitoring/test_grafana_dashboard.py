"""The Grafana dashboard QBT ships (cluster/grafana_dashboard.json) is what
monitoring/grafana_dashboard.py builds, valid against Grafana's dashboard schema (its
typed model in grafana-foundation-sdk keeps every field), and reads only QBT's metrics."""

from __future__ import annotations

import json
import re

from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import Dashboard

from cluster.monitoring import DASHBOARD_JSON
from monitoring.grafana_dashboard import render
from runtime.metrics import metric_names

SHIPPED = json.loads(DASHBOARD_JSON.read_text())


def test_the_shipped_file_is_what_the_generator_builds():
    assert DASHBOARD_JSON.read_text() == render(), "run `python -m monitoring.grafana_dashboard`"


def test_the_dashboard_round_trips_through_grafanas_schema_model():
    model = Dashboard.from_json(SHIPPED)
    assert json.loads(json.dumps(model, cls=JSONEncoder)) == SHIPPED  # no field unknown or lost
    assert SHIPPED["schemaVersion"] >= 36 and SHIPPED["uid"] == "qbt-service"


def test_every_panel_has_a_unique_id_a_place_and_queries():
    panels = SHIPPED["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    for panel in panels:
        assert {"x", "y", "w", "h"} <= set(panel["gridPos"]), panel["title"]
        if panel["type"] != "row":
            assert panel["targets"] and panel["datasource"]["uid"] == "${datasource}"


def test_the_panels_cover_what_an_operator_watches():
    titles = {p["title"] for p in SHIPPED["panels"]}
    assert {"Queue depth and runs in flight", "Throughput", "Run duration", "Failures by reason",
            "Panel memory over time", "Panel build time", "Submit latency"} <= titles


def test_every_query_reads_a_metric_qbt_records():
    exported = {f"ray_{name}" for name in metric_names()}
    used = set()
    for panel in SHIPPED["panels"]:
        for target in panel.get("targets", []):
            for name in re.findall(r"\bray_qbt_[a-z_]+", target["expr"]):
                used.add(re.sub(r"_(total|bucket|sum|count)$", "", name))
    assert used and used <= exported, used - exported
    assert exported - used <= {"ray_qbt_data_version_refreshes"}, exported - used
