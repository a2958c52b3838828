"""Load: 1,000 submissions from 100 concurrent clients. Every accepted run completes; a
refusal is a 429 or 503 with Retry-After (and is retried after it), nothing else is a 5xx;
afterwards the Serve and worker processes hold no more memory, ObjectRefs or object-store
bytes than before (within a margin).

The clients honour Retry-After and submit again, so every one of the 1,000 is accepted in the
end. Memory is compared after a warm-up of 300 runs (pools, workers and allocators at their
steady size) and must grow by less than half of what keeping the runs' results would take.
ObjectRefs are released asynchronously: their counts are read once they settle.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import psycopg
import pytest
import ray
from ray._private.internal_api import global_gc

from benchmarks.http_load import spec_for
from serve.dispatcher import get_dispatcher
from serve.keys import create_key
from tests.reliability.clients import AnswerLog, client, wait_for
from tests.reliability.conftest import SERVICE_OPTIONS
from tests.reliability.ledger import Tally, account, wait_ended
from tests.reliability.processes import Proc, by_role, object_store_bytes, snapshot
from tests.serve.harness import Deployed

pytestmark = [pytest.mark.load, pytest.mark.ray, pytest.mark.slow]

CLIENTS, RUNS_PER_CLIENT, OWNERS = 100, 10, 2
WINDOW = {"start": "2021-06-01", "end": "2022-05-31"}  # inside the harness's demo market
MiB = 1024**2
GROWTH_LIMIT = 32 * MiB  # unique memory a process may keep after the load
SERVING = ("ingress", "proxy", "controller", "dispatcher")
HOLDS_RESULTS = ("ingress", "dispatcher", "worker")  # QBT's code: results pass through them


async def _client(
    base_url: str, key: str, numbers: range, log: AnswerLog, accepted: list[str]
) -> None:
    """Submit each run (waiting Retry-After on a refusal), then wait for each to end."""
    mine = []
    async with client(base_url, key, timeout_s=120) as http:
        for number in numbers:
            for _ in range(60):
                response = await http.post("/v1/backtests", json=spec_for(number, **WINDOW))
                log.note(response)
                if response.status_code != 429 and response.status_code != 503:
                    break
                await asyncio.sleep(int(response.headers.get("retry-after", "1")))
            if response.status_code == 202:
                mine.append(response.json()["id"])
        accepted.extend(mine)
        for ident in mine:
            while True:
                response = await http.get(f"/v1/backtests/{ident}", params={"wait": 30})
                log.note(response)
                if response.status_code == 200 and response.json()["status"] in (
                    "done", "failed", "cancelled"
                ):
                    break
                if response.status_code not in (200, 503):
                    break


async def _load(service: Deployed, keys: list[str], *, clients: int, per_client: int,
                first: int) -> tuple[AnswerLog, list[str], float]:
    log, accepted = AnswerLog(), []
    started = time.monotonic()
    await asyncio.gather(*(
        _client(service.url, keys[c % len(keys)],
                range(first + c * per_client, first + (c + 1) * per_client), log, accepted)
        for c in range(clients)
    ))
    return log, accepted, time.monotonic() - started


def _settle(database_url: str, ids: list[str], store_floor: int | None) -> None:
    """Wait until the dispatcher holds nothing and the object store is back down (or time
    out: the assertions that follow say what did not settle)."""
    wait_ended(database_url, ids, timeout_s=120)
    dispatcher = get_dispatcher()
    wait_for(lambda: ray.get(dispatcher.stats.remote())["batches"] == 0, timeout_s=30,
             every_s=0.2)
    global_gc()
    if store_floor is not None:
        wait_for(lambda: object_store_bytes() <= store_floor + MiB, timeout_s=15, every_s=0.5)


def _uss(procs: list[Proc]) -> int:
    return sum(p.uss for p in procs)


def _refs(procs: list[Proc]) -> int:
    return sum(p.refs_in_scope for p in procs)


def _settled_refs(before: dict[str, list[Proc]]) -> dict[str, list[Proc]]:
    """A snapshot once the serving processes' ObjectRefs are back near the baseline (they
    are released asynchronously), or the last one after 30 s."""
    latest: dict[str, list[Proc]] = {}

    def settled() -> bool:
        latest.clear()
        latest.update(by_role(snapshot()))
        return all(
            _refs(latest.get(role, [])) <= _refs(before.get(role, [])) + 5 for role in SERVING
        )

    wait_for(settled, timeout_s=30, every_s=1.0)
    return latest


def _result_bytes(database_url: str, ids: list[str]) -> int:
    with psycopg.connect(database_url) as conn:
        return int(conn.execute(
            "SELECT coalesce(sum(octet_length(result::text)), 0) FROM runs"
            " WHERE id = ANY(%s::uuid[])", (ids,),
        ).fetchone()[0])  # type: ignore[index]


def test_1000_submissions_from_100_clients(service: Deployed, tally: Tally):
    keys = [create_key(service.database_url, owner=f"load{n}") for n in range(OWNERS)]
    warm_log, warm_ids, _ = asyncio.run(_load(service, keys, clients=CLIENTS, per_client=3,
                                              first=50_000))
    _settle(service.database_url, warm_ids, None)
    store_before = object_store_bytes()
    before = by_role(snapshot())
    refs_before = ray.get(get_dispatcher().stats.remote())

    log, accepted, wall = asyncio.run(_load(service, keys, clients=CLIENTS,
                                            per_client=RUNS_PER_CLIENT, first=0))
    _settle(service.database_url, accepted, store_before)
    after = _settled_refs(before)
    store_after = object_store_bytes()
    result = account(service.database_url, accepted)
    results_bytes = _result_bytes(service.database_url, accepted)
    # QBT's processes may keep less than half of the results' bytes; Ray's proxy and
    # controller (whose allocators settle more slowly) less than all of them.
    limits = {role: min(GROWTH_LIMIT, results_bytes // (2 if role in HOLDS_RESULTS else 1))
              for role in (*SERVING, "worker")}

    tally.add_runs(result)
    tally.add_runs(account(service.database_url, warm_ids))
    tally.requests += log.requests + warm_log.requests
    tally.unavailable_503 += log.unavailable_503 + warm_log.unavailable_503
    tally.server_errors += len(log.server_errors) + len(warm_log.server_errors)
    memory: dict[str, Any] = {
        role: {"before_mib": round(_uss(before.get(role, [])) / MiB, 1),
               "after_mib": round(_uss(after.get(role, [])) / MiB, 1),
               "refs_before": sum(p.refs_in_scope for p in before.get(role, [])),
               "refs_after": sum(p.refs_in_scope for p in after.get(role, [])),
               "processes": [len(before.get(role, [])), len(after.get(role, []))]}
        for role in sorted(set(before) | set(after))
    }
    tally.notes.update(
        wall_s=round(wall, 1), runs_per_s=round(len(accepted) / wall, 1),
        statuses=dict(log.statuses), refusals=log.refusals, memory=memory,
        results_mib=round(results_bytes / MiB, 1),
        growth_limits_mib={role: round(value / MiB, 1) for role, value in limits.items()},
        object_store_mib=[round(store_before / MiB, 1), round(store_after / MiB, 1)],
        owner_run_limit=SERVICE_OPTIONS["owner_run_limit"], **result.summary(),
    )

    assert len(accepted) == CLIENTS * RUNS_PER_CLIENT  # every submit went through in the end
    assert set(log.statuses) <= {200, 202, 429, 503}, log.statuses
    assert not log.refusals_without_retry_after, log.refusals_without_retry_after[:5]
    assert not log.server_errors, log.server_errors[:5]
    assert result.done == len(accepted), result
    assert result.lost == 0 and result.ended_twice == 0 and result.written_twice == 0, result
    assert not warm_log.server_errors

    assert store_after <= store_before + MiB, (store_before, store_after)
    for role in SERVING:
        assert len(after[role]) == len(before[role]), (role, memory[role])
        assert _uss(after[role]) - _uss(before[role]) <= limits[role], (role, memory[role])
        assert _refs(after[role]) <= _refs(before[role]) + 5, (role, memory[role])
    workers_before = max((p.uss for p in before.get("worker", [])), default=0)
    for worker in after.get("worker", []):
        assert worker.uss <= workers_before + limits["worker"], memory["worker"]
    assert refs_before["in_flight"] == 0
