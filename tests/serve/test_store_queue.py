"""serve/store/queue.py against a real PostgreSQL, without Ray: claims never overlap (SKIP
LOCKED), every write after a claim is fenced by (id, attempt) and `status = 'running'`, and
lost runs are re-queued or failed by the reaper. Rows are put in the states a test needs with
plain SQL UPDATEs (an expired lease, a cancelled run)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

import psycopg

from backtest.batch import RunOutcome
from serve.database import DONE_CHANNEL, Conn, connect_once
from serve.store.queue import (
    claim,
    counts_by_status,
    finish,
    outcome_of,
    queue_depth,
    reap,
    release,
    renew,
    requeue_orphans,
    requeue_unheld,
    reuse,
)
from serve.store.records import Claim
from serve.store.runs import insert_run
from serve.store.sweeps import insert_sweep

SPEC = {"start": "2021-06-01", "end": "2022-05-31", "ranking": [{"factor": "PBR"}], "top_n": 5}
LEASE_S = 60.0
DONE = RunOutcome(status="done", statistics='{"sharpe": 1.5}', result='{"equity": [1, 2]}',
                  engine_version="engine-7")


async def _queue(conn: Conn, n: int) -> list[str]:
    """n queued single runs, oldest first (created_at one second apart, in the past)."""
    ids = []
    for age in range(n, 0, -1):
        run, _ = await insert_run(conn, owner="alice", spec=SPEC, data_version="v1",
                                  idempotency_key=None, limit=1000)
        await conn.execute("UPDATE runs SET created_at = now() - make_interval(secs => %s)"
                           " WHERE id = %s", (age, run.id))
        ids.append(str(run.id))
    return ids


async def _row(conn: Conn, run_id: str) -> dict[str, Any]:
    cur = await conn.execute(
        "SELECT status, attempts, lost_attempts, error, statistics, result::text AS result,"
        " engine_version,"
        " data_version, finished_at, started_at, lease_until,"
        " extract(epoch FROM lease_until - now())::float8 AS lease_left_s"
        " FROM runs WHERE id = %s", (run_id,))
    row = await cur.fetchone()
    assert row is not None
    return row


async def _expire(conn: Conn, *ids: str) -> None:
    await conn.execute("UPDATE runs SET lease_until = now() - interval '1 second'"
                       " WHERE id = ANY(%s::uuid[])", (list(ids),))


async def _cancel(conn: Conn, run_id: str) -> None:
    await conn.execute("UPDATE runs SET status = 'cancelled', finished_at = now(),"
                       " lease_until = NULL WHERE id = %s", (run_id,))


async def _reclaim(conn: Conn, stale: Claim) -> Claim:
    """The run lost its lease, was reaped and claimed again: `stale` is now an old attempt."""
    await _expire(conn, stale.id)
    assert [e.status for e in await reap(conn, max_attempts=5)] == ["queued"]
    [again] = await claim(conn, limit=1, lease_s=LEASE_S)
    assert again.id == stale.id and again.attempt == stale.attempt + 1
    return again


async def _done_payloads(listener: psycopg.AsyncConnection[Any], *, expect: int) -> list[str]:
    return [n.payload async for n in listener.notifies(timeout=2.0, stop_after=expect)]


def test_claims_take_single_runs_oldest_first_and_sweep_variants_in_grid_order(database_url):
    async def scenario() -> None:
        async with connect_once(database_url) as conn:
            await insert_sweep(conn, owner="alice", sweep={"variants": 3},
                               variants=[json.dumps(SPEC)] * 3, data_version="v1",
                               idempotency_key=None, limit=10)
            await conn.execute("UPDATE runs SET created_at = now() - interval '1 hour'")
            singles = await _queue(conn, 3)
            first = await claim(conn, limit=2, lease_s=LEASE_S)
            assert [c.id for c in first] == singles[:2]
            assert all(c.keep_result and c.sweep_id is None and c.attempt == 1 for c in first)
            assert all(c.spec == SPEC and c.data_version == "v1" for c in first)
            rest = await claim(conn, limit=10, lease_s=LEASE_S)
            assert [c.id for c in rest] == singles[2:]  # single runs only
            variants = await claim(conn, limit=2, lease_s=LEASE_S, sweeps=True)
            assert [c.variant for c in variants] == [0, 1]
            assert all(not c.keep_result and c.sweep_id for c in variants)
            last = await claim(conn, limit=10, lease_s=LEASE_S, sweeps=True)
            assert [c.variant for c in last] == [2]
            assert await claim(conn, limit=10, lease_s=LEASE_S) == []
            assert await claim(conn, limit=10, lease_s=LEASE_S, sweeps=True) == []
            row = await _row(conn, singles[0])
            assert row["status"] == "running" and row["attempts"] == 1
            assert row["started_at"] is not None and LEASE_S - 5 < row["lease_left_s"] <= LEASE_S

    asyncio.run(scenario())


def test_a_claim_skips_runs_an_open_claim_holds_instead_of_waiting_or_taking_them(database_url):
    async def scenario() -> None:
        async with connect_once(database_url) as first, connect_once(database_url) as second:
            ids = await _queue(first, 5)
            await second.execute("SET lock_timeout = '2s'")  # without SKIP LOCKED: an error
            async with first.transaction():  # the first claim's locks stay held
                held = await claim(first, limit=2, lease_s=LEASE_S)
                other = await claim(second, limit=10, lease_s=LEASE_S)
            assert [c.id for c in held] == ids[:2] and [c.id for c in other] == ids[2:]

    asyncio.run(scenario())


def test_concurrent_claims_take_every_run_exactly_once(database_url):
    async def scenario() -> None:
        async with connect_once(database_url) as conn:
            ids = await _queue(conn, 12)
        start = asyncio.Event()

        async def claimer() -> list[Claim]:
            async with connect_once(database_url) as own:
                await start.wait()
                return await claim(own, limit=3, lease_s=LEASE_S)

        tasks = [asyncio.create_task(claimer()) for _ in range(4)]
        await asyncio.sleep(0.2)  # all four connected, waiting
        start.set()
        taken = [c.id for got in await asyncio.gather(*tasks) for c in got]
        assert sorted(taken) == sorted(ids)  # none twice, none left

    asyncio.run(scenario())


def test_renew_extends_only_claims_still_running_under_the_same_attempt(database_url):
    async def scenario() -> None:
        async with connect_once(database_url) as conn:
            await _queue(conn, 3)
            live, cancelled, lost = await claim(conn, limit=3, lease_s=LEASE_S)
            await _cancel(conn, cancelled.id)
            current = await _reclaim(conn, lost)
            before = (await _row(conn, current.id))["lease_until"]
            renewed = await renew(conn, [live, cancelled, lost], lease_s=600)
            assert renewed == {live.id}
            assert (await _row(conn, live.id))["lease_left_s"] > 590
            assert (await _row(conn, current.id))["lease_until"] == before
            assert (await _row(conn, cancelled.id))["status"] == "cancelled"
            assert await renew(conn, [], lease_s=600) == set()

    asyncio.run(scenario())


def test_finish_writes_the_outcome_clears_the_lease_and_notifies_done(database_url):
    async def scenario() -> None:
        async with connect_once(database_url) as conn, connect_once(database_url) as listener:
            await listener.execute(f"LISTEN {DONE_CHANNEL}")
            await _queue(conn, 1)
            [taken] = await claim(conn, limit=1, lease_s=LEASE_S)
            [ended] = await finish(conn, [outcome_of(taken, DONE)])
            assert (ended.id, ended.status) == (taken.id, "done") and ended.seconds >= 0
            row = await _row(conn, taken.id)
            assert row["status"] == "done" and row["statistics"] == {"sharpe": 1.5}
            assert json.loads(row["result"]) == {"equity": [1, 2]}
            assert (row["engine_version"], row["data_version"]) == ("engine-7", "v1")
            assert row["finished_at"] is not None and row["lease_until"] is None
            assert await _done_payloads(listener, expect=1) == [taken.id]

    asyncio.run(scenario())


def test_a_stale_attempts_finish_writes_nothing_and_notifies_nothing(database_url):
    async def scenario() -> None:
        async with connect_once(database_url) as conn, connect_once(database_url) as listener:
            await listener.execute(f"LISTEN {DONE_CHANNEL}")
            await _queue(conn, 3)
            lost, cancelled, live = await claim(conn, limit=3, lease_s=LEASE_S)
            current = await _reclaim(conn, lost)
            await _cancel(conn, cancelled.id)
            stale = [outcome_of(lost, DONE), outcome_of(cancelled, DONE)]
            assert await finish(conn, stale) == []
            row = await _row(conn, current.id)
            assert (row["status"], row["attempts"], row["statistics"]) == ("running", 2, None)
            assert row["finished_at"] is None and row["lease_left_s"] > 0
            row = await _row(conn, cancelled.id)
            assert (row["status"], row["statistics"], row["engine_version"]) == (
                "cancelled", None, None)
            await finish(conn, [outcome_of(live, DONE)])  # the only notification that comes
            assert await _done_payloads(listener, expect=1) == [live.id]

    asyncio.run(scenario())


def test_release_requeues_until_max_attempts_then_fails_with_the_reason(database_url):
    async def scenario() -> None:
        async with connect_once(database_url) as conn, connect_once(database_url) as listener:
            await listener.execute(f"LISTEN {DONE_CHANNEL}")
            [run_id] = await _queue(conn, 1)
            [first] = await claim(conn, limit=1, lease_s=LEASE_S)
            [ended] = await release(conn, [first], reason="worker died", max_attempts=2)
            assert ended.status == "queued"
            row = await _row(conn, run_id)
            assert (row["status"], row["attempts"]) == ("queued", 1)
            assert row["error"] == "attempt 1 failed, re-queued: worker died"
            assert row["lease_until"] is None and row["started_at"] is None
            [second] = await claim(conn, limit=1, lease_s=LEASE_S)
            [ended] = await release(conn, [second], reason="worker died", max_attempts=2)
            assert ended.status == "failed"
            row = await _row(conn, run_id)
            assert (row["status"], row["attempts"]) == ("failed", 2)
            assert row["error"] == "gave up after 2 attempts: worker died"
            assert row["finished_at"] is not None and row["lease_until"] is None
            assert await _done_payloads(listener, expect=1) == [run_id]

    asyncio.run(scenario())


def test_a_stale_attempts_release_writes_nothing(database_url):
    async def scenario() -> None:
        async with connect_once(database_url) as conn:
            await _queue(conn, 2)
            lost, cancelled = await claim(conn, limit=2, lease_s=LEASE_S)
            current = await _reclaim(conn, lost)
            await _cancel(conn, cancelled.id)
            stale = [lost, cancelled]
            assert await release(conn, stale, reason="stale worker", max_attempts=1) == []
            row = await _row(conn, current.id)
            assert (row["status"], row["attempts"], row["lease_left_s"] > 0) == ("running", 2, True)
            assert row["error"] == "the lease of attempt 1 expired; re-queued"  # the reaper's
            assert (await _row(conn, cancelled.id))["status"] == "cancelled"
            assert await release(conn, [], reason="x", max_attempts=1) == []

    asyncio.run(scenario())


def test_release_without_counting_the_attempt_gives_it_back(database_url):
    async def scenario() -> None:
        async with connect_once(database_url) as conn:
            [run_id] = await _queue(conn, 1)
            [taken] = await claim(conn, limit=1, lease_s=LEASE_S)
            [ended] = await release(conn, [taken], reason="registry down", max_attempts=1,
                                    count_attempt=False)
            assert ended.status == "queued"  # max_attempts=1 would have failed a counted one
            row = await _row(conn, run_id)
            assert (row["status"], row["attempts"], row["lost_attempts"], row["lease_until"]) == (
                "queued", 1, 1, None)
            [again] = await claim(conn, limit=1, lease_s=LEASE_S)
            assert again.attempt == 2  # the claim counter only grows: a stale write is fenced

    asyncio.run(scenario())


def test_reap_requeues_expired_leases_fails_runs_out_of_attempts_and_leaves_live_ones(
    database_url,
):
    async def scenario() -> None:
        async with connect_once(database_url) as conn, connect_once(database_url) as listener:
            await listener.execute(f"LISTEN {DONE_CHANNEL}")
            await _queue(conn, 3)
            lost, spent, live = await claim(conn, limit=3, lease_s=LEASE_S)
            await conn.execute("UPDATE runs SET attempts = 3 WHERE id = %s", (spent.id,))
            await _expire(conn, lost.id, spent.id)
            ended = await reap(conn, max_attempts=3)
            assert sorted((e.id, e.status) for e in ended) == sorted(
                [(lost.id, "queued"), (spent.id, "failed")])
            row = await _row(conn, lost.id)
            assert (row["status"], row["attempts"], row["lease_until"]) == ("queued", 1, None)
            assert row["error"] == "the lease of attempt 1 expired; re-queued"
            row = await _row(conn, spent.id)
            assert row["status"] == "failed" and row["finished_at"] is not None
            assert row["error"].startswith("gave up after 3 attempts: the lease expired")
            row = await _row(conn, live.id)
            assert (row["status"], row["attempts"], row["error"]) == ("running", 1, None)
            assert await reap(conn, max_attempts=3) == []
            assert await _done_payloads(listener, expect=1) == [spent.id]

    asyncio.run(scenario())


def test_counts_by_status_and_queue_depth(database_url):
    async def scenario() -> None:
        async with connect_once(database_url) as conn:
            assert await counts_by_status(conn) == {} and await queue_depth(conn) == 0
            await _queue(conn, 4)
            done, cancelled = await claim(conn, limit=2, lease_s=LEASE_S)
            await finish(conn, [outcome_of(done, DONE)])
            await _cancel(conn, cancelled.id)
            await claim(conn, limit=1, lease_s=LEASE_S)
            assert await counts_by_status(conn) == {
                "queued": 1, "running": 1, "done": 1, "cancelled": 1}
            assert await queue_depth(conn) == 1

    asyncio.run(scenario())


def test_reuse_finishes_claims_from_an_equal_finished_run_of_any_owner(database_url):
    text = json.dumps(SPEC)  # the canonical text (its hash is the reuse key)
    returns = bytes(range(12))

    async def reuse_row(conn: Conn, run_id: Any) -> dict[str, Any]:
        cur = await conn.execute(
            "SELECT owner, status, statistics, result::text AS result, daily_returns,"
            " engine_version, reused_from::text FROM runs WHERE id = %s", (run_id,))
        return await cur.fetchone()  # type: ignore[return-value]

    async def scenario() -> None:
        async with connect_once(database_url) as conn:
            submit = {"spec": SPEC, "idempotency_key": None, "limit": 10, "spec_text": text}
            first, _ = await insert_run(conn, owner="alice", data_version="v1", **submit)
            [taken] = await claim(conn, limit=1, lease_s=LEASE_S)
            assert await reuse(conn, [taken], engine_version="engine-7") == []  # none yet
            await finish(conn, [outcome_of(taken, dataclasses.replace(DONE, returns=returns))])
            twin, _ = await insert_run(conn, owner="bob", data_version="v1", **submit)
            elsewhere, _ = await insert_run(conn, owner="bob", data_version="v2", **submit)
            await insert_sweep(conn, owner="bob", sweep={"variants": 1}, variants=[text],
                               data_version="v1", idempotency_key=None, limit=10)
            claims = (await claim(conn, limit=10, lease_s=LEASE_S)
                      + await claim(conn, limit=10, lease_s=LEASE_S, sweeps=True))
            assert len(claims) == 3
            assert await reuse(conn, claims, engine_version="engine-8") == []  # another engine
            ended = await reuse(conn, claims, engine_version="engine-7")
            variant = next(c.id for c in claims if c.sweep_id is not None)
            assert {e.id for e in ended} == {str(twin.id), variant}
            assert all(e.status == "done" for e in ended)
            single = await reuse_row(conn, twin.id)
            assert single["owner"] == "bob" and single["reused_from"] == str(first.id)
            assert single["statistics"] == {"sharpe": 1.5}
            assert json.loads(single["result"]) == {"equity": [1, 2]}
            swept = await reuse_row(conn, variant)
            assert swept["reused_from"] == str(first.id) and swept["result"] is None
            assert bytes(swept["daily_returns"]) == returns
            assert (await reuse_row(conn, elsewhere.id))["status"] == "running"  # v2: no twin
            # A reuse of a reuse names the run first computed.
            again, _ = await insert_run(conn, owner="carol", data_version="v1", **submit)
            claimed = await claim(conn, limit=10, lease_s=LEASE_S)
            await reuse(conn, claimed, engine_version="engine-7")
            assert (await reuse_row(conn, again.id))["reused_from"] == str(first.id)

    asyncio.run(scenario())


def test_a_new_dispatcher_gives_back_what_its_dead_predecessor_held_uncounted(database_url):
    async def scenario() -> None:
        async with connect_once(database_url) as conn:
            ids = await _queue(conn, 3)
            taken = await claim(conn, limit=2, lease_s=LEASE_S)
            orphans = await requeue_orphans(conn)
            assert {o.id for o in orphans} == {c.id for c in taken}
            assert all(o.status == "queued" for o in orphans)
            rows = {i: await _row(conn, i) for i in ids}
            assert [r["status"] for r in rows.values()] == ["queued"] * 3
            for claimed in taken:  # the lost claim does not count against max_attempts
                assert (rows[claimed.id]["attempts"], rows[claimed.id]["lost_attempts"]) == (1, 1)
                assert "lost with its dispatcher" in rows[claimed.id]["error"]
            again = await claim(conn, limit=3, lease_s=LEASE_S)
            by_id = {c.id: c for c in again}
            assert {by_id[c.id].attempt for c in taken} == {2}  # fenced: a new claim number
            stale = [outcome_of(c, DONE) for c in taken]
            assert await finish(conn, stale) == []  # the dead dispatcher's late write: nothing
            # one counted attempt is left for runs at max_attempts 2: lost ones did not count
            await _expire(conn, *[c.id for c in taken])
            assert {e.status for e in await reap(conn, max_attempts=2)} == {"queued"}

    asyncio.run(scenario())


def test_requeue_unheld_gives_back_the_running_runs_a_live_dispatcher_does_not_hold(
    database_url: str,
):
    """A claim committed but its answer lost with the connection: the dispatcher gives back
    every running run it does not hold (uncounted), and keeps the ones it does."""

    async def go() -> None:
        async with connect_once(database_url) as conn:
            ids = await _queue(conn, 3)
            kept, lost = await claim(conn, limit=2, lease_s=LEASE_S)
            given_back = await requeue_unheld(conn, held=[kept.id])
            assert [(g.id, g.status) for g in given_back] == [(lost.id, "queued")]
            rows = {i: await _row(conn, i) for i in ids}
            assert rows[kept.id]["status"] == "running"
            assert (rows[lost.id]["attempts"], rows[lost.id]["lost_attempts"]) == (1, 1)
            assert "lost with a database connection" in rows[lost.id]["error"]
            assert await requeue_unheld(conn, held=[kept.id]) == []

    asyncio.run(go())
