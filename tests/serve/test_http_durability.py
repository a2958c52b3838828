"""Durable runs: what was accepted ends, whatever dies on the way (short leases here)."""

from __future__ import annotations

import itertools
import json
import time
import uuid

import pytest
import ray

from serve.dispatcher import ensure_dispatcher, get_dispatcher
from serve.options import ServiceOptions
from tests.serve.harness import SPEC, Deployed, running_service, wait_all_ended

pytestmark = [pytest.mark.ray, pytest.mark.slow]

OPTIONS = {"lease_s": 2.0, "max_in_flight": 4, "max_attempts": 5, "sweep_batch_size": 2}
HEAVY = {**SPEC, "start": "2021-02-01", "end": "2022-12-28", "rebalance": "daily", "top_n": 20}


@pytest.fixture(scope="module")
def api(server_url, ray_session):
    with running_service(server_url, **OPTIONS) as deployed:
        yield deployed


_FRESH = itertools.count()


def _submit(api: Deployed, n: int) -> list[str]:
    """n runs no earlier run answers (each its own initial capital: nothing to reuse)."""
    with api.client("alice") as client:
        return [
            client.post("/v1/backtests", json={
                **HEAVY, "top_n": 10 + i, "initial_capital": 1e8 + next(_FRESH)}).json()["id"]
            for i in range(n)
        ]


def _wait_running(api: Deployed, ids: list[str], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not api.sql(
        "SELECT 1 FROM runs WHERE id = ANY(%s::uuid[]) AND status = 'running'", (ids,)
    ):
        assert time.monotonic() < deadline, "no run started"
        time.sleep(0.05)


def test_runs_survive_a_killed_dispatcher(api: Deployed):
    ids = _submit(api, 12)
    _wait_running(api, ids)
    ray.kill(get_dispatcher(), no_restart=False)  # Ray restarts it; its tasks are lost
    with api.client("alice") as client:
        ended = wait_all_ended(client, ids, timeout_s=90)
    assert {run["status"] for run in ended.values()} == {"done"}
    # The new dispatcher gave back what the dead one held at once, not counting the attempt.
    stats = ray.get(get_dispatcher().stats.remote(), timeout=30)
    assert stats["counts"].get("orphans_requeued", 0) >= 1, stats
    counted = api.sql("SELECT max(attempts - lost_attempts), max(lost_attempts) FROM runs"
                      " WHERE id = ANY(%s::uuid[])", (ids,))[0]
    assert counted == (1, 1), counted  # claimed again, the lost claim not counted
    assert all(run["result"] is not None for run in ended.values())


def test_runs_queued_while_no_dispatcher_runs_start_after_redeploy(api: Deployed):
    ids = _submit(api, 4)
    _wait_running(api, ids)
    ray.kill(get_dispatcher(), no_restart=True)  # the whole app down, as far as runs go
    ids += _submit(api, 4)  # accepted and committed while nothing dispatches
    time.sleep(0.5)
    assert api.sql(
        "SELECT count(*) FROM runs WHERE id = ANY(%s::uuid[]) AND status = 'queued'", (ids,)
    )[0][0] >= 4
    options = ServiceOptions.model_validate({k: v for k, v in OPTIONS.items()
                                             if k in ServiceOptions.model_fields})
    ensure_dispatcher(api.database_url, options=options,  # what a redeploy does
                      batch_size=OPTIONS["sweep_batch_size"])
    with api.client("alice") as client:
        ended = wait_all_ended(client, ids, timeout_s=90)
    assert {run["status"] for run in ended.values()} == {"done"}


def test_a_run_whose_lease_keeps_expiring_fails_with_a_reason(api: Deployed):
    run_id = str(uuid.uuid4())
    api.sql(
        "INSERT INTO runs (id, owner, spec, data_version, status, attempts, lease_until,"
        " started_at) VALUES (%s, 'alice', %s, 'v0', 'running', %s, now() - interval '1 s',"
        " now())",
        (run_id, json.dumps(SPEC), OPTIONS["max_attempts"]),
    )
    with api.client("alice") as client:
        run = wait_all_ended(client, [run_id], timeout_s=20)[run_id]
    assert run["status"] == "failed"
    assert run["error"].startswith(f"gave up after {OPTIONS['max_attempts']} attempts")
    assert run["result"] is None


def test_sweep_variants_run_in_batches_through_the_queue(api: Deployed):
    sweep = {"base": SPEC, "grid": {"top_n": [4, 6, 8], "weighting": ["equal", "market_cap"]}}
    with api.client("bob") as client:
        location = client.post("/v1/sweeps", json=sweep).headers["location"]
        deadline = time.monotonic() + 60
        while (body := client.get(location).json())["status"] != "done":
            assert time.monotonic() < deadline, body
            time.sleep(0.3)
    assert body["n_done"] == body["n_total"] == 6
    runs = api.sql(
        "SELECT status, result IS NULL, statistics IS NOT NULL FROM runs WHERE sweep_id = %s",
        (body["id"],),
    )
    assert runs == [("done", True, True)] * 6  # variants keep statistics, not whole results
