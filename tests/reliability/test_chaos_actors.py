"""Chaos: QBT's detached actors die while runs are queued and running; every accepted run
still ends once (done, or failed with a reason), and none twice.

The service has a 5 s lease: the runs a dead dispatcher held come back when it expires.
"""

from __future__ import annotations

import itertools
import os
import time
from typing import Any

import psycopg
import pytest
import ray

from dataprep.registry import get_registry
from serve.dispatcher import get_dispatcher
from tests.reliability.clients import DAILY_1Y, submit_all, wait_for
from tests.reliability.ledger import Tally, account, status_counts, wait_ended
from tests.serve.harness import Deployed

pytestmark = [pytest.mark.chaos, pytest.mark.ray, pytest.mark.slow]


def _pid(actor: Any) -> int:
    return int(ray.get(actor.__ray_call__.remote(lambda _self: os.getpid()), timeout=60))


def _specs(n: int) -> list[dict[str, Any]]:
    """n specs no earlier run answers (a fresh initial capital each call: nothing to reuse)."""
    capital = 1e8 + next(_FRESH) * 1000 + time.time_ns() % 997
    return [{**DAILY_1Y, "top_n": 5 + i % 40, "initial_capital": capital} for i in range(n)]


_FRESH = itertools.count(1)


def _running(database_url: str, ids: list[str]) -> bool:
    return status_counts(database_url, ids).get("running", 0) > 0


def _results_written(database_url: str, ids: list[str]) -> int:
    with psycopg.connect(database_url) as conn:
        return conn.execute(
            "SELECT count(*) FROM runs WHERE id = ANY(%s::uuid[]) AND status = 'done'"
            " AND statistics IS NOT NULL AND result IS NOT NULL",
            (ids,),
        ).fetchone()[0]  # type: ignore[index]


def test_dispatcher_killed_with_50_runs_in_flight(service: Deployed, tally: Tally):
    dispatcher = get_dispatcher()
    old_pid = _pid(dispatcher)
    ids = submit_all(service.url, service.keys["alice"], _specs(50))
    assert wait_for(lambda: _running(service.database_url, ids), timeout_s=30)
    at_kill = status_counts(service.database_url, ids)
    ray.kill(dispatcher, no_restart=False)  # Ray restarts it; its tasks and state are lost
    tally.faults += 1
    assert at_kill.get("queued", 0) + at_kill.get("running", 0) >= 25, at_kill

    seconds = wait_ended(service.database_url, ids, timeout_s=120)
    result = account(service.database_url, ids)
    tally.add_runs(result)
    tally.notes.update(at_kill=at_kill, recovered_s=round(seconds, 1), **result.summary())

    assert _pid(get_dispatcher()) != old_pid  # a new dispatcher process took over
    assert result.unfinished == 0, result  # none stays running (or queued)
    assert result.lost == 0, result
    assert result.done + result.failed_with_reason == len(ids), result
    assert result.ended_twice == 0 and result.written_twice == 0, result
    assert result.requeued >= 1, result  # the runs the dead dispatcher held were re-queued
    with psycopg.connect(service.database_url) as conn:  # by its successor, uncounted
        counted = conn.execute("SELECT max(attempts - lost_attempts) FROM runs"
                               " WHERE id = ANY(%s::uuid[])", (ids,)).fetchone()[0]
    assert counted == 1, counted
    assert _results_written(service.database_url, ids) == result.done


def test_registry_killed_rebuilds_the_panel_from_postgres(service: Deployed, tally: Tally):
    registry = get_registry()
    old = ray.get(registry.get.remote(), timeout=60)
    old_pid = _pid(registry)
    ids = submit_all(service.url, service.keys["bob"], _specs(24))
    assert wait_for(lambda: _running(service.database_url, ids), timeout_s=30)
    killed_at = time.time()
    ray.kill(registry, no_restart=False)
    tally.faults += 1

    seconds = wait_ended(service.database_url, ids, timeout_s=120)
    new = ray.get(registry.get.remote(), timeout=60)
    stats = ray.get(registry.stats.remote(), timeout=60)
    result = account(service.database_url, ids)
    tally.add_runs(result)
    tally.notes.update(recovered_s=round(seconds, 1), registry=stats, **result.summary())

    assert _pid(registry) != old_pid
    assert stats["builds"] == 1 and stats["last_error"] is None, stats  # built anew, once
    assert new.built_at > killed_at and new.ref.hex() != old.ref.hex()
    assert new.version == old.version and new.shape == old.shape  # same data, same panel
    assert result.done == len(ids), result  # the queued runs complete
    assert result.lost == 0 and result.ended_twice == 0 and result.written_twice == 0, result

    with service.client("bob") as http:  # and the service takes new runs on the new panel
        after = http.post("/v1/backtests", params={"wait": 30}, json=_specs(1)[0])
    assert after.status_code == 200 and after.json()["status"] == "done", after.text
    tally.add_runs(account(service.database_url, [after.json()["id"]]))


def test_dispatcher_killed_mid_sweep_every_variant_ends_once(service: Deployed, tally: Tally):
    # 120 variants in 40 plan groups (minimum market caps no stock is below, each planned on
    # its own), a fresh initial capital so that none is reused from an earlier run.
    capital = 1e8 + time.time_ns() % 10**6
    sweep = {"base": {**DAILY_1Y, "initial_capital": capital},
             "grid": {"universe.min_market_cap": list(range(40)), "top_n": [5, 10, 20]}}
    with service.client("alice") as http:
        accepted = http.post("/v1/sweeps", json=sweep)
    assert accepted.status_code == 202, accepted.text
    sweep_id = accepted.json()["id"]
    with psycopg.connect(service.database_url) as conn:
        ids = [row[0] for row in conn.execute(
            "SELECT id::text FROM runs WHERE sweep_id = %s", (sweep_id,)).fetchall()]
    assert wait_for(lambda: _running(service.database_url, ids), timeout_s=30)
    at_kill = status_counts(service.database_url, ids)
    ray.kill(get_dispatcher(), no_restart=False)
    tally.faults += 1

    seconds = wait_ended(service.database_url, ids, timeout_s=120)
    result = account(service.database_url, ids)
    tally.add_runs(result)
    tally.notes.update(at_kill=at_kill, recovered_s=round(seconds, 1), **result.summary())
    assert result.done == len(ids) == 120, result
    assert result.lost == 0 and result.ended_twice == 0 and result.written_twice == 0, result
    with service.client("alice") as http:  # the new dispatcher analyses it
        assert wait_for(lambda: http.get(f"/v1/sweeps/{sweep_id}").json()["status"] == "done",
                        timeout_s=60, every_s=0.5)
        ended = http.get(f"/v1/sweeps/{sweep_id}").json()
    assert ended["n_done"] == 120 and ended["overfitting"]["n_trials"] == 120, ended
