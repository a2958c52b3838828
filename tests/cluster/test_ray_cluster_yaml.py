"""ray-cluster.yaml is a valid Ray cluster launcher config for an on-premise cluster."""

from __future__ import annotations

from pathlib import Path

import yaml
from ray.autoscaler._private.util import fillout_defaults, validate_config

from cluster.head import SERVE_ENVIRONMENT

CONFIG = Path(__file__).resolve().parents[2] / "ray-cluster.yaml"


def test_ray_cluster_yaml_validates_against_rays_schema():
    config = yaml.safe_load(CONFIG.read_text())
    validate_config(fillout_defaults(config))
    assert config["provider"]["type"] == "local"
    head = " ".join(config["head_start_ray_commands"])
    assert "--port=6380" in head and "--metrics-export-port" in head and "qbt up" in head
    assert "--dashboard-host=127.0.0.1" in head
    assert all(f"{name}={value}" in head for name, value in SERVE_ENVIRONMENT.items())  # as qbt up
    assert any("pip install" in c for c in config["setup_commands"])
    workers = " ".join(config["worker_start_ray_commands"])
    assert "$RAY_HEAD_IP:6380" in workers
    proxy = "RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH"
    assert f"{proxy}={SERVE_ENVIRONMENT[proxy]}" in workers  # every node's proxy answers JSON
