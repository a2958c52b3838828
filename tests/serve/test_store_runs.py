"""serve/store.py against a real PostgreSQL, without Ray: the per-owner run limit holds under
concurrent submits (qbt_submit_run, dataprep/migrations/003_submit_run.sql)."""

from __future__ import annotations

import asyncio

import psycopg
import pytest
from psycopg.rows import dict_row

from serve.database import RUNS_CHANNEL
from serve.errors import QuotaExceededError
from serve.store.runs import insert_run

SPEC = {"start": "2021-06-01", "end": "2022-05-31", "ranking": [{"factor": "PBR"}], "top_n": 5}


async def _submit_concurrently(database_url: str, *, owner: str, n: int, limit: int,
                               keys: list[str | None]) -> list[object]:
    connections = [
        await psycopg.AsyncConnection.connect(database_url, autocommit=True, row_factory=dict_row)
        for _ in range(n)
    ]
    start = asyncio.Event()

    async def submit(conn: psycopg.AsyncConnection, key: str | None) -> object:
        await start.wait()
        try:
            row, replayed = await insert_run(conn, owner=owner, spec=SPEC, data_version="v1",
                                             idempotency_key=key, limit=limit)
            return ("replayed" if replayed else "accepted", row.id)
        except QuotaExceededError as err:
            return err

    try:
        tasks = [asyncio.create_task(submit(c, k)) for c, k in zip(connections, keys, strict=True)]
        await asyncio.sleep(0.05)
        start.set()
        return await asyncio.gather(*tasks)
    finally:
        for conn in connections:
            await conn.close()


@pytest.mark.parametrize("limit", [1, 5])
def test_concurrent_submits_never_pass_the_owner_run_limit(database_url, limit):
    outcomes = asyncio.run(_submit_concurrently(database_url, owner="alice", n=20, limit=limit,
                                                keys=[None] * 20))
    accepted = [o for o in outcomes if isinstance(o, tuple)]
    refused = [o for o in outcomes if isinstance(o, QuotaExceededError)]
    assert len(accepted) == limit and len(refused) == 20 - limit
    assert all(f"the limit is {limit}" in str(err) and err.retry_after_s for err in refused)
    with psycopg.connect(database_url) as conn:
        queued = conn.execute("SELECT count(*) FROM runs WHERE owner = 'alice'").fetchone()[0]
    assert queued == limit


def test_concurrent_twins_with_one_idempotency_key_make_one_run(database_url):
    outcomes = asyncio.run(_submit_concurrently(database_url, owner="bob", n=10, limit=50,
                                                keys=["same"] * 10))
    assert sorted(o[0] for o in outcomes) == ["accepted"] + ["replayed"] * 9  # type: ignore[index]
    assert len({o[1] for o in outcomes}) == 1  # type: ignore[index]


def test_a_submit_wakes_the_dispatcher_and_a_refused_one_does_not(database_url):
    async def scenario() -> list[str]:
        listener = await psycopg.AsyncConnection.connect(database_url, autocommit=True)
        submitter = await psycopg.AsyncConnection.connect(database_url, autocommit=True,
                                                          row_factory=dict_row)
        try:
            await listener.execute(f"LISTEN {RUNS_CHANNEL}")
            await insert_run(submitter, owner="carol", spec=SPEC, data_version="v1",
                             idempotency_key=None, limit=1)
            with pytest.raises(QuotaExceededError):
                await insert_run(submitter, owner="carol", spec=SPEC, data_version="v1",
                                 idempotency_key=None, limit=1)
            return [notify.channel async for notify in listener.notifies(timeout=1.0)]
        finally:
            await listener.close()
            await submitter.close()

    assert asyncio.run(scenario()) == [RUNS_CHANNEL]
