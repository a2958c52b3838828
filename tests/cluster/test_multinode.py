"""A sweep over a head and two worker nodes (ray.cluster_utils.Cluster on one machine)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def scenario(mode: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-m", "tests.cluster.multinode_scenario", mode],
        cwd=REPO, capture_output=True, text=True, timeout=400,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def _objects_in_plasma(summary: str) -> int:
    return int(re.search(r"(\d+) objects", summary).group(1))


def test_sweep_spreads_over_three_nodes_each_holding_the_panel_once():
    report = scenario("spread")
    assert report["nodes"] == 3
    assert len(report["task_nodes"]) == 3  # tasks landed on every node
    assert report["errors"] == [None] * len(report["statistics"])
    assert report["statistics"] == report["direct"]  # identical to a run without Ray
    # 120 tasks, one panel: one copy per node in the object stores, not one per task
    assert _objects_in_plasma(report["memory_summary"]) == 3


def test_removing_a_worker_node_mid_sweep_loses_no_variant():
    report = scenario("remove-node")
    assert report["alive_nodes"] == 2
    assert report["removed_after"] and report["removed_after"][0] < len(report["statistics"])
    assert report["errors"] == [None] * len(report["statistics"])
    assert report["statistics"] == report["direct"]
