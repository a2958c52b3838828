"""Chaos: QBT's detached actors die while runs are queued and running; every accepted run
still ends once (done, or failed with a reason), and none twice.

The service has a 5 s lease: the runs a dead dispatcher held come back when it expires.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import time
from collections.abc import Callable
from typing import Any

import httpx
import psycopg
import pytest
import ray

from dataprep.registry import get_registry
from serve.dispatcher import get_dispatcher
from tests.reliability.clients import DAILY_1Y, AnswerLog, client, submit_all, wait_for
from tests.reliability.ledger import (
    MAX_STALL_S,
    Tally,
    account,
    longest_stall_s,
    status_counts,
    wait_ended,
)
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
    killed_at = time.time()
    ray.kill(dispatcher, no_restart=False)  # Ray restarts it; its tasks and state are lost
    tally.faults += 1
    assert at_kill.get("queued", 0) + at_kill.get("running", 0) >= 25, at_kill

    seconds = wait_ended(service.database_url, ids, timeout_s=120)
    result = account(service.database_url, ids)
    tally.add_runs(result)
    stall = longest_stall_s(service.database_url, ids, since=killed_at)
    tally.notes.update(at_kill=at_kill, recovered_s=round(seconds, 1),
                       longest_stall_s=round(stall, 1), **result.summary())

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
    assert stall <= MAX_STALL_S, stall  # re-queued by the successor, not at lease expiry


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
    stall = longest_stall_s(service.database_url, ids, since=killed_at)
    tally.notes.update(recovered_s=round(seconds, 1), registry=stats,
                       longest_stall_s=round(stall, 1), **result.summary())

    assert _pid(registry) != old_pid
    assert stats["builds"] == 1 and stats["last_error"] is None, stats  # built anew, once
    assert new.built_at > killed_at and new.ref.hex() != old.ref.hex()
    assert new.version == old.version and new.shape == old.shape  # same data, same panel
    assert result.done == len(ids), result  # the queued runs complete
    assert result.lost == 0 and result.ended_twice == 0 and result.written_twice == 0, result
    assert stall <= MAX_STALL_S, stall

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
    killed_at = time.time()
    ray.kill(get_dispatcher(), no_restart=False)
    tally.faults += 1

    seconds = wait_ended(service.database_url, ids, timeout_s=120)
    result = account(service.database_url, ids)
    tally.add_runs(result)
    stall = longest_stall_s(service.database_url, ids, since=killed_at)
    tally.notes.update(at_kill=at_kill, recovered_s=round(seconds, 1),
                       longest_stall_s=round(stall, 1), **result.summary())
    assert result.done == len(ids) == 120, result
    assert stall <= MAX_STALL_S, stall
    assert result.lost == 0 and result.ended_twice == 0 and result.written_twice == 0, result
    with service.client("alice") as http:  # the new dispatcher analyses it
        assert wait_for(lambda: http.get(f"/v1/sweeps/{sweep_id}").json()["status"] == "done",
                        timeout_s=60, every_s=0.5)
        ended = http.get(f"/v1/sweeps/{sweep_id}").json()
    assert ended["n_done"] == 120 and ended["overfitting"]["n_trials"] == 120, ended


def _replica_pids() -> list[int]:
    """The ingress replicas' processes, by the title Ray gives them."""
    import psutil

    pids = []
    for process in psutil.process_iter(["cmdline"]):
        title = (process.info["cmdline"] or [""])[0]
        if title.startswith("ray::ServeReplica:") and "qbt_ingress" in title:
            pids.append(process.pid)
    return pids


async def _submit_through_a_replica_kill(
    url: str, key: str, specs: list[dict[str, Any]], *, log: AnswerLog, kill: Callable[[], None]
) -> tuple[dict[int, str], list[float], list[str]]:
    """POST every spec (half with the client's own Idempotency-Key, half without), 40 at a
    time; SIGKILL one ingress replica after 20 answers; a 503 is retried with the key its
    body names until accepted. Meanwhile /healthz every 0.1 s. (run id per spec, health
    answer times, health answers that were not 200 or a JSON 503 with Retry-After)."""
    accepted: dict[int, str] = {}
    health_s: list[float] = []
    bad_health: list[str] = []
    queue = list(enumerate(specs))
    answered = asyncio.Event()
    done = False

    async def submitter(http: httpx.AsyncClient) -> None:
        while queue:
            number, spec = queue.pop()
            headers = {"Idempotency-Key": f"own-{number}"} if number % 2 else {}
            for _ in range(30):
                response = await http.post("/v1/backtests", json=spec, headers=headers)
                log.note(response)
                if len(log.statuses) and log.requests >= 20:
                    answered.set()
                if response.status_code == 202:
                    accepted[number] = response.json()["id"]
                    break
                assert response.status_code == 503, response.text
                headers = {"Idempotency-Key": response.json()["error"]["idempotency_key"]}
                await asyncio.sleep(float(response.headers["retry-after"]) / 4)

    async def health(http: httpx.AsyncClient) -> None:
        while not done:
            started = time.monotonic()
            response = await http.get("/healthz", timeout=5.0)
            health_s.append(time.monotonic() - started)
            ok = response.status_code == 200 or (
                response.status_code == 503 and response.headers.get("retry-after", "").isdigit()
                and "error" in response.json())
            if not ok:
                bad_health.append(f"{response.status_code} {response.text[:200]}")
            await asyncio.sleep(0.1)

    clients = [client(url, key) for _ in range(40)]
    watcher = asyncio.create_task(health(client(url, key)))
    workers = [asyncio.create_task(submitter(c)) for c in clients]
    await answered.wait()
    kill()
    await asyncio.gather(*workers)
    done = True
    await watcher
    for c in clients:
        await c.aclose()
    return accepted, health_s, bad_health


def test_serve_replica_killed_with_submits_in_flight(service: Deployed, tally: Tally):
    """A SIGKILLed ingress replica: its in-flight requests answer a JSON 503 with Retry-After
    naming an Idempotency-Key (never a bare 500); retried with that key, every spec ends as
    exactly one run, done; the other replica keeps /healthz answering within a second."""
    pids = _replica_pids()
    assert len(pids) >= 2, pids  # the default: one replica's death leaves one serving
    capital = _specs(1)[0]["initial_capital"]
    specs = [{**DAILY_1Y, "rebalance": "monthly", "initial_capital": capital + i}
             for i in range(160)]  # each its own: nothing another could answer
    log = AnswerLog()

    killed_at: list[float] = []

    def kill() -> None:
        killed_at.append(time.time())
        os.kill(pids[0], signal.SIGKILL)
        tally.faults += 1

    accepted, health_s, bad_health = asyncio.run(_submit_through_a_replica_kill(
        service.url, service.keys["alice"], specs, log=log, kill=kill))
    ids = list(accepted.values())
    wait_ended(service.database_url, ids, timeout_s=180)
    result = account(service.database_url, ids)
    tally.add_runs(result)
    tally.requests += log.requests + len(health_s)
    tally.unavailable_503 += log.unavailable_503
    tally.server_errors += len(log.server_errors)
    with psycopg.connect(service.database_url) as conn:
        per_spec = conn.execute(
            "SELECT spec->>'initial_capital', count(*) FROM runs WHERE owner = 'alice'"
            " AND (spec->>'initial_capital')::float8 BETWEEN %s AND %s GROUP BY 1",
            (capital, capital + len(specs) - 1)).fetchall()
    stall = longest_stall_s(service.database_url, ids, since=killed_at[0])
    tally.notes.update(answers=dict(log.statuses), slowest_health_s=round(max(health_s), 2),
                       longest_stall_s=round(stall, 1), **result.summary())

    assert wait_for(lambda: len(_replica_pids()) >= 2, timeout_s=60)  # Serve replaced it
    assert pids[0] not in _replica_pids()
    assert not log.server_errors, log.server_errors  # no 5xx but 503s
    assert not log.refusals_without_retry_after, log.refusals_without_retry_after
    assert log.unavailable_503 >= 1, log.statuses  # the kill did hit requests in flight
    assert len(accepted) == len(specs)
    assert sorted(n for _, n in per_spec) == [1] * len(specs)  # no spec ran twice
    assert result.done == len(specs) and result.lost == 0, result
    assert not bad_health, bad_health
    assert max(health_s) <= 1.0, sorted(health_s)[-5:]
    assert stall <= MAX_STALL_S, stall
