"""An operator's view of a running QBT, end to end on a real `qbt up`: its metrics read back
through a real Prometheus (Debian's; `.ci/run` installs it) that finds the targets in the
service-discovery file Ray writes, every query of the shipped Grafana dashboard accepted by
that Prometheus, and the Ray dashboard signed in to in headless Chromium with what `qbt up`
printed, its Actors view showing the registry and the dispatcher."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from cluster.monitoring import DASHBOARD_JSON
from serve.app import wait_healthy
from tests.ports import free_port
from tests.reliability.deployment import Deployment, start_deployment
from tests.serve.browser import browser, watched_page

pytestmark = [pytest.mark.slow]

GAUGES = ("ray_qbt_panel_bytes", "ray_qbt_panel_versions", "ray_qbt_last_claim_timestamp_seconds")
SPEC = {"start": "2022-01-03", "end": "2022-12-29", "rebalance": "monthly",
        "ranking": [{"factor": "PBR", "ascending": True}], "top_n": 5}


@pytest.fixture(scope="module")
def deployment() -> Iterator[Deployment]:
    deployed = start_deployment(Path(tempfile.mkdtemp(prefix="qbt-monitoring-")))
    try:
        yield deployed
    finally:
        deployed.stop_later()()


def printed(deployment: Deployment, pattern: str) -> str:
    match = re.search(pattern, deployment.up_output)
    assert match, f"`qbt up` did not print {pattern!r}:\n{deployment.up_output}"
    return match.group(1)


def query(prometheus: str, expr: str) -> list[dict[str, Any]]:
    answer = httpx.get(f"{prometheus}/api/v1/query", params={"query": expr}, timeout=10).json()
    assert answer["status"] == "success", (expr, answer)
    return answer["data"]["result"]  # type: ignore[no-any-return]


def total(prometheus: str, expr: str) -> float:
    return sum(float(series["value"][1]) for series in query(prometheus, expr))


@pytest.fixture(scope="module")
def prometheus(deployment: Deployment) -> Iterator[str]:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.fail("Prometheus is not installed: apt-get install prometheus (.ci/run does)")
    discovery = Path(printed(deployment, r"scrape the targets in (\S+) \(file_sd_configs\)"))
    targets = json.loads(discovery.read_text())
    assert any(t.endswith(f":{deployment.env['QBT_METRICS_PORT']}")
               for group in targets for t in group["targets"]), targets
    folder = deployment.folder / "prometheus"
    folder.mkdir()
    config = folder / "prometheus.yml"
    config.write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        "- job_name: ray\n"
        f"  file_sd_configs: [{{files: ['{discovery}'], refresh_interval: 5s}}]\n")
    port = free_port()
    process = subprocess.Popen(
        [binary, f"--config.file={config}", f"--storage.tsdb.path={folder / 'data'}",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=(folder / "prometheus.log").open("wb"))
    url = f"http://127.0.0.1:{port}"
    try:
        try:
            wait_healthy(url, path="/-/ready", timeout_s=30)
        except TimeoutError as err:
            raise AssertionError((folder / "prometheus.log").read_text()[-2000:]) from err
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_prometheus_reads_qbts_metrics_from_the_targets_ray_lists(
    deployment: Deployment, prometheus: str
):
    capital = 1e8 + time.time_ns() % 10**6
    with deployment.client("alice") as http:
        for n in range(3):
            answer = http.post("/v1/backtests", params={"wait": 60},
                               json={**SPEC, "initial_capital": capital + n})
            assert answer.status_code == 200 and answer.json()["status"] == "done", answer.text
    wanted = {
        "ray_qbt_runs_finished_total": 3,  # counters: `_total`, summed over processes
        "ray_qbt_runs_submitted_total": 3,
        "ray_qbt_submit_seconds_count": 3,  # histograms: `_bucket`, `_sum`, `_count`
        "ray_qbt_run_seconds_count": 3,
        "ray_qbt_panel_bytes": 1,  # gauges
        "ray_qbt_panel_versions": 1,
        "ray_qbt_last_claim_timestamp_seconds": 1,
    }
    seen: dict[str, float] = {}
    deadline = time.monotonic() + 120  # Ray exports every few seconds, Prometheus scrapes each 1 s
    while time.monotonic() < deadline:
        seen = {name: total(prometheus, f"{'max' if name in GAUGES else 'sum'}({name})")
                for name in wanted}
        if all(seen[name] >= least for name, least in wanted.items()):
            break
        time.sleep(2)
    assert all(seen[name] >= least for name, least in wanted.items()), seen
    assert query(prometheus, "ray_qbt_queue_depth")  # the dispatcher's gauge is there
    assert 0 < time.time() - seen["ray_qbt_last_claim_timestamp_seconds"] < 300


def test_every_query_of_the_grafana_dashboard_runs_on_that_prometheus(prometheus: str):
    board = json.loads(DASHBOARD_JSON.read_text())
    exprs = [t["expr"] for p in board["panels"] for t in p.get("targets", [])]
    assert len(exprs) >= 10
    for expr in exprs:
        query(prometheus, expr)  # PromQL that parses and evaluates


def test_qbt_up_puts_its_grafana_dashboard_next_to_rays(deployment: Deployment):
    placed = Path(printed(deployment, r"QBT's Grafana dashboard is in (\S+\.json)"))
    assert placed.read_text() == DASHBOARD_JSON.read_text()
    assert (placed.parent / "default_grafana_dashboard.json").exists()  # Ray's own, beside it
    grafana_ini = Path(printed(deployment, r"`grafana-server --config (\S+) web`"))
    assert grafana_ini.exists()


def test_a_newcomer_signs_in_to_the_dashboard_and_sees_qbts_actors_live_state(
    deployment: Deployment,
):
    where = printed(deployment, r"sign in with the Ray auth token \(in ([^;]+);")
    token = (os.environ["RAY_AUTH_TOKEN"] if where == "$RAY_AUTH_TOKEN"
             else Path(where).read_text().strip())
    with deployment.client("alice") as http:  # a claim and a built panel to report
        answer = http.post("/v1/backtests", params={"wait": 60}, json=SPEC)
        assert answer.status_code == 200, answer.text
    with browser() as launched, watched_page(launched) as ui:
        page = ui.page
        page.goto(deployment.dashboard)
        page.get_by_placeholder("Enter your authentication token").fill(token)
        page.get_by_role("button", name="Submit").click()
        page.wait_for_timeout(1000)
        page.goto(f"{deployment.dashboard}/#/actors")
        page.get_by_text("DatasetRegistry(budget").wait_for(timeout=30_000)
        page.get_by_text("Dispatcher(lease").wait_for(timeout=30_000)
        rows = [line for line in page.inner_text("body").splitlines()
                if "DatasetRegistry(" in line or "Dispatcher(" in line]
        ui.shot("ray-dashboard-actors")
        pages = {}
        for repr_start, live in (("DatasetRegistry(budget", r"state: data version \S+ is current"),
                                 ("Dispatcher(lease", r"state: queue \d+; in flight \d+")):
            page.goto(f"{deployment.dashboard}/#/actors")
            row = page.get_by_role("row").filter(has_text=repr_start)
            row.get_by_role("link").first.click()  # the actor's ID: its page, Logs open
            try:
                page.get_by_text(re.compile(live)).last.wait_for(timeout=60_000)
            finally:  # what the page showed, for the assertions below
                pages[repr_start] = page.inner_text("body")
                ui.shot(f"ray-dashboard-{repr_start.split('(')[0].lower()}")
    assert any("ALIVE" in row or "dataset_registry" in row for row in rows), rows
    assert any("this actor's Logs" in row for row in rows), rows  # where the live state is
    assert re.search(r"\d+ versions? held, [\d,.]+ of [\d,]+ MiB", pages["DatasetRegistry(budget"])
    assert re.search(r"last claim \d\d:\d\d:\d\d", pages["Dispatcher(lease"])
