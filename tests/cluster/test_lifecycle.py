"""`qbt up` / `qbt status` / `qbt down` for real, and QBT's metrics on the export port."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import httpx
import pytest

from dataprep.warehouse import load_demo
from tests.ports import free_port

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow
METRICS = ("qbt_runs_submitted", "qbt_runs_finished", "qbt_run_seconds", "qbt_queue_depth",
           "qbt_runs_in_flight", "qbt_panel_bytes", "qbt_panel_build_seconds")


def qbt(*args: str, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cluster.cli", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


def scrape(port: int, names: tuple[str, ...], *, timeout_s: float = 90) -> dict[str, float]:
    """Wait until every metric has a sample on the export port; the sum of each one's samples."""
    deadline = time.monotonic() + timeout_s
    found: dict[str, float] = {}
    while time.monotonic() < deadline:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).text
        found = {}
        for name in names:
            samples = re.findall(rf"^ray_{name}(?:_sum|_total)?(?:{{[^}}]*}})? (\S+)$", text,
                                 flags=re.M)
            if samples:
                found[name] = sum(float(v) for v in samples)
        if len(found) == len(names):
            break
        time.sleep(3)
    return found


def test_up_status_metrics_down(database_url, tmp_path):
    load_demo(database_url, n_stocks=40, start=date(2021, 1, 1), end=date(2023, 12, 31), seed=5)
    metrics_port = free_port()
    env = {**os.environ, "QBT_DATABASE_URL": database_url, "QBT_HOME": str(tmp_path / "home"),
           "QBT_RAY_GCS_PORT": str(free_port()), "QBT_DASHBOARD_PORT": str(free_port()),
           "QBT_METRICS_PORT": str(metrics_port), "QBT_HTTP_PORT": str(free_port()),
           "QBT_DASHBOARD_AGENT_PORT": str(free_port()),
           "QBT_OBJECT_STORE_MEMORY": str(200 * 1024**2)}
    env.pop("QBT_RAY_ADDRESS", None)
    try:
        up = qbt("up", env=env)
        assert up.returncode == 0, up.stdout[-2000:] + up.stderr[-3000:]
        assert "QBT is up" in up.stdout and "curl -s -H 'Authorization: Bearer qbt_" in up.stdout
        assert "dashboard: sign in with the Ray auth token (in " in up.stdout
        assert "`ray get-auth-token` prints it" in up.stdout
        assert re.search(r"run \S+: done in", up.stdout), up.stdout[-2000:]
        assert "sharpe" in up.stdout

        spec = tmp_path / "spec.json"
        spec.write_text(json.dumps({
            "start": "2022-01-03", "end": "2023-06-30", "top_n": 5, "hold_buffer": 2,
            "ranking": [{"factor": "PBR", "ascending": True}], "universe": {"preset": "standard"},
        }))
        picks = qbt("picks", str(spec), env=env, timeout=120)
        assert picks.returncode == 0, picks.stderr[-2000:]
        assert "signal 2023-12-28 (trades at the next close)" in picks.stdout, picks.stdout
        table = picks.stdout.splitlines()[2:]
        assert [line.split()[0] for line in table] == ["1", "2", "3", "4", "5"], picks.stdout
        answer = json.loads(qbt("picks", str(spec), "--json", env=env, timeout=120).stdout)
        assert [p["code"] for p in answer["picks"]] == [line.split()[1] for line in table]
        assert all(p["weight"] == 0.2 and "PBR" in p["factors"] for p in answer["picks"])

        status = qbt("status", env=env, timeout=120)
        assert status.returncode == 0, status.stderr[-2000:]
        assert "(current): ready, shape [54," in status.stdout
        assert "queue depth 0, runs in flight 0" in status.stdout
        alive = r"dispatcher: alive since \S+ \S+ \(pid \d+\), holds 0 runs"
        assert re.search(alive, status.stdout), status.stdout
        assert "held by no live dispatcher" not in status.stdout

        values = scrape(metrics_port, METRICS)
        assert set(values) == set(METRICS), f"missing: {set(METRICS) - set(values)}"
        assert values["qbt_runs_submitted"] >= 1 and values["qbt_runs_finished"] >= 1
        assert values["qbt_panel_bytes"] > 1e6 and values["qbt_run_seconds"] > 0
    finally:
        down = qbt("down", env=env, timeout=120)
    assert down.returncode == 0, down.stderr[-2000:]
    assert "ray head" in down.stdout and "embedded" not in down.stdout  # not ours to stop
    with pytest.raises(httpx.HTTPError):
        httpx.get(f"http://127.0.0.1:{env['QBT_HTTP_PORT']}/healthz", timeout=3)
    assert qbt("status", env=env, timeout=60).returncode == 1
