"""`ray job submit ... python -m backtest.jobs.sweep` against a real head with token auth."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from datetime import date
from pathlib import Path

import psycopg
import pytest

from cluster.head import head_environment, ray_executable, start_head, stop_head
from dataprep.schema import migrate
from dataprep.warehouse import load_demo
from runtime.config import Settings
from tests.conftest import create_database, drop_database
from tests.ports import free_port

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def head(tmp_path_factory):
    home = tmp_path_factory.mktemp("head")
    settings = Settings(home=home, ray_gcs_port=free_port(), dashboard_port=free_port(),
                        metrics_port=free_port(), object_store_memory=200 * 1024**2)
    # Own agent ports: another Ray on this machine (the test session's) may hold the defaults.
    ports = ("--dashboard-agent-listen-port", "--dashboard-agent-grpc-port",
             "--runtime-env-agent-port")
    address, pgid = start_head(settings, log_path=home / "head.log",
                               extra_args=tuple(f"{p}={free_port()}" for p in ports))
    yield settings, address
    stop_head(pgid)


@pytest.fixture(scope="module")
def market(head, server_url):
    """A demo market in a database of the module's own, and the head's registry and
    dispatcher over it (what `qbt up` leaves running)."""
    _, address = head
    database_url = create_database(server_url)
    migrate(database_url)
    load_demo(database_url, n_stocks=40, start=date(2021, 1, 1), end=date(2022, 6, 30), seed=3)
    _in_cluster(address, f"""
        import ray
        from runtime.config import Settings
        from runtime.names import NAMESPACE
        from serve.app import ensure_service_actors
        from serve.options import ServiceOptions
        ray.init(address="{address}", namespace=NAMESPACE)
        registry = ensure_service_actors(
            {database_url!r}, settings=Settings(panel_memory_budget=10**9),
            options=ServiceOptions())
        print(ray.get(registry.get.remote()).version)
    """)
    yield database_url
    drop_database(server_url, database_url)


def _wait_for_job_agent(dashboard: str, *, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        listing = subprocess.run([ray_executable(), "job", "list", "--address", dashboard],
                                 env=head_environment(), capture_output=True, text=True)
        if listing.returncode == 0:
            return
        time.sleep(2)
    raise AssertionError(f"the job API at {dashboard} did not answer: {listing.stderr[-500:]}")


def _in_cluster(address: str, code: str) -> str:
    done = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=REPO,
                          env={**head_environment(), "RAY_ADDRESS": address},
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


# With `--working-dir .` (DESIGN.md's form) the job runs the code Ray uploaded (unpacked under
# the session's runtime_resources/working_dir_files); without it, the installed package.
@pytest.mark.parametrize("working_dir", [[], ["--working-dir", "."]], ids=["installed", "uploaded"])
def test_sweep_job_uses_the_registry_panel_and_stores_results(
    head, market, tmp_path, working_dir
):
    settings, _ = head
    owner = f"job-test-{len(working_dir)}"
    sweep = tmp_path / "sweep.json"
    sweep.write_text(json.dumps({
        "base": {"start": "2022-01-03", "end": "2022-06-30",
                 "ranking": [{"factor": "PBR", "ascending": True}, {"factor": "MOM_3M"}],
                 "top_n": 5, "universe": {"preset": "standard"},
                 "timing": {"index": "KOSPI", "ma_days": 20}},
        "grid": {"hold_buffer": [0, 3], "rebalance": ["monthly", {"months": [2, 4], "day": 2}]},
        "rank_by": "sharpe", "top": 3,
        "validation": {"walk_forward": {"train_days": 60, "test_days": 30}},
    }))
    dashboard = f"http://127.0.0.1:{settings.dashboard_port}"
    _wait_for_job_agent(dashboard)
    submit = subprocess.run(
        [ray_executable(), "job", "submit", "--address", dashboard, *working_dir,
         "--", "python", "-m", "backtest.jobs.sweep", str(sweep), "--owner", owner],
        env=head_environment(), capture_output=True, text=True, timeout=300, cwd=REPO,
    )
    assert submit.returncode == 0, submit.stdout[-3000:] + submit.stderr[-3000:]
    assert "shared from the object store" in submit.stdout
    code_from = f"from {REPO}\n" if not working_dir else "/working_dir_files/_ray_pkg_"
    assert code_from in submit.stdout, submit.stdout[-3000:]
    assert "progress 4/4 variants" in submit.stdout
    assert "queued sweep" in submit.stdout and " done: 4 variants (0 failed)" in submit.stdout
    assert "top 3 by sharpe" in submit.stdout
    assert "overfitting: best variant" in submit.stdout and "deflated Sharpe ratio" in submit.stdout
    assert "walk-forward (60 days in sample, 30 out)" in submit.stdout
    assert "  fold 1: " in submit.stdout and "not computed" not in submit.stdout
    with psycopg.connect(market) as conn:
        sweeps = conn.execute("SELECT id, n_variants FROM sweeps WHERE owner = %s",
                              (owner,)).fetchall()
        statuses = conn.execute(
            "SELECT status, count(*) FROM runs WHERE sweep_id=%s GROUP BY status", (sweeps[0][0],)
        ).fetchall()
    assert sweeps[0][1] == 4 and statuses == [("done", 4)]
    with psycopg.connect(market) as conn:  # the KRX rules travelled with every variant
        specs = [row[0] for row in conn.execute(
            "SELECT spec FROM runs WHERE sweep_id = %s", (sweeps[0][0],))]
    assert all(s["universe"]["preset"] == "standard" and s["timing"]["ma_days"] == 20
               for s in specs)
    rules = [s["rebalance"] for s in specs if s["hold_buffer"] == 3]
    assert sorted(rules, key=json.dumps) == ["monthly", {"months": [2, 4], "day": 2}]


def test_a_client_without_the_token_is_refused(head, tmp_path):
    settings, _ = head
    environment = {k: v for k, v in os.environ.items() if not k.startswith("RAY_AUTH")}
    environment.update(RAY_AUTH_MODE="token", RAY_AUTH_TOKEN_PATH=str(tmp_path / "missing"),
                       HOME=str(tmp_path))
    listing = subprocess.run(
        [ray_executable(), "job", "list", "--address",
         f"http://127.0.0.1:{settings.dashboard_port}"],
        env=environment, capture_output=True, text=True, timeout=60,
    )
    assert listing.returncode != 0
    assert "token" in (listing.stdout + listing.stderr).lower()


def test_qbt_sweep_prints_the_ranking_the_overfitting_statistics_and_the_folds(
    head, market, tmp_path
):
    _, address = head
    sweep = tmp_path / "sweep.json"
    sweep.write_text(json.dumps({
        "base": {"start": "2021-03-02", "end": "2022-06-30",
                 "ranking": [{"factor": "PBR", "ascending": True}], "top_n": 5},
        "grid": {"top_n": [3, 5, 8], "rebalance": ["monthly", "quarterly"]},
        "rank_by": "cagr", "top": 2,
        "validation": {"walk_forward": {"train_days": 120, "test_days": 60}},
    }))
    environment = {**head_environment(), "QBT_RAY_ADDRESS": address,
                   "QBT_DATABASE_URL": market, "QBT_HOME": str(tmp_path / "home")}
    command = [sys.executable, "-m", "cluster.cli", "sweep", str(sweep)]
    done = subprocess.run(command, env=environment, capture_output=True, text=True,
                          timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "6 variants in" in done.stdout and "best by cagr" in done.stdout
    assert "overfitting: best variant" in done.stdout and "PBO 0." in done.stdout
    assert "robust choice: variant" in done.stdout
    assert "walk-forward (120 days in sample, 60 out)" in done.stdout
    assert "  fold 2: " in done.stdout
    as_json = subprocess.run([*command, "--json"], env=environment, capture_output=True,
                             text=True, timeout=300, cwd=REPO)
    analysis = json.loads(as_json.stdout)["analysis"]
    folds = analysis["walk_forward"]["folds"]
    assert analysis["errors"] == [] and analysis["overfitting"]["n_trials"] == 6
    assert folds[0]["start_equity"] == 1e8
    assert all(a["end_equity"] == b["start_equity"] for a, b in zip(folds, folds[1:],
                                                                    strict=False))


def test_qbt_factors_report_prints_the_ic_table(head, market, tmp_path):
    _, address = head
    environment = {**head_environment(), "QBT_RAY_ADDRESS": address,
                   "QBT_DATABASE_URL": market, "QBT_HOME": str(tmp_path / "home")}
    command = [sys.executable, "-m", "cluster.cli", "factors", "report", "--factors",
               "PBR,MOM_3M,ROE", "--horizons", "1,5", "--start", "2021-06-01"]
    done = subprocess.run(command, env=environment, capture_output=True, text=True,
                          timeout=300, cwd=REPO)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    lines = done.stdout.splitlines()
    assert lines[0].startswith("3 factors x 2 horizons on data version")
    assert "IC 1d" in lines[1] and "IR 5d" in lines[1]
    assert sorted(line.split()[0] for line in lines[2:5]) == ["MOM_3M", "PBR", "ROE"]
    wrong = subprocess.run([*command[:6], "NOPE"], env=environment, capture_output=True,
                           text=True, timeout=300, cwd=REPO)
    assert wrong.returncode == 2 and "NOPE" in wrong.stderr and "no such factor" in wrong.stderr
