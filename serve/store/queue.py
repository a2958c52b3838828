"""The dispatcher's statements: claim queued runs, renew leases, write outcomes, reap lost runs;
and the counts `qbt status` shows.

A claim is (run id, attempt number); every later write names both, so an outcome from an
attempt that lost its lease (and was re-queued or claimed again) changes nothing, and neither
does one for a run cancelled meanwhile (`WHERE status = 'running'`).
"""

from __future__ import annotations

from collections.abc import Sequence

from backtest.batch import RunOutcome
from serve.database import Conn, notify_done
from serve.store.records import Claim, Ended, Outcome


async def claim(conn: Conn, *, limit: int, lease_s: float, sweeps: bool = False) -> list[Claim]:
    """Take up to `limit` queued runs, set them running: single runs (oldest first), or
    with `sweeps` sweep variants (oldest sweep first, plan group by plan group, so that a
    batch holds variants sharing a selection plan)."""
    async with conn.transaction():
        cur = await conn.execute(
            "WITH picked AS ("
            " SELECT id FROM runs WHERE status = 'queued' AND (sweep_id IS NOT NULL) = %s"
            " ORDER BY (sweep_id IS NOT NULL), created_at, plan_group, variant"
            " LIMIT %s FOR UPDATE SKIP LOCKED)"
            " UPDATE runs r SET status = 'running', attempts = r.attempts + 1,"
            " lease_until = now() + make_interval(secs => %s), started_at = now()"
            " FROM picked WHERE r.id = picked.id"
            " RETURNING r.id::text, r.attempts, r.spec, r.data_version,"
            " r.sweep_id IS NULL AS keep_result, r.sweep_id::text, r.variant, r.plan_group",
            (sweeps, limit, lease_s),
        )
        rows = await cur.fetchall()
    return [
        Claim(
            id=row["id"],
            attempt=row["attempts"],
            spec=row["spec"],
            data_version=row["data_version"],
            keep_result=row["keep_result"],
            sweep_id=row["sweep_id"],
            variant=row["variant"],
        )
        for row in sorted(rows, key=lambda row: (row["sweep_id"] or "", row["plan_group"] or 0,
                                                 row["variant"] or 0))
    ]


async def reuse(conn: Conn, claims: Sequence[Claim], *, engine_version: str) -> list[Ended]:
    """Finish the claimed runs that an equal finished run answers (any owner's: the same
    spec hash, data version and engine version, with what the claim needs: the whole result
    for a single run, daily returns for a sweep variant), copying its outcome and naming it
    in `reused_from` (the run first computed, through a chain of reuses); answer the rows
    finished, and notify waiters."""
    if not claims:
        return []
    async with conn.transaction():
        cur = await conn.execute(
            "WITH source AS (SELECT DISTINCT ON (r.id) r.id, c.attempt, s.statistics, s.result,"
            " s.daily_returns, s.engine_version, coalesce(s.reused_from, s.id) AS origin"
            " FROM unnest(%(ids)s::uuid[], %(attempts)s::int[]) AS c(id, attempt)"
            " JOIN runs r ON r.id = c.id AND r.attempts = c.attempt AND r.status = 'running'"
            " JOIN runs s ON s.spec_hash = r.spec_hash AND s.status = 'done' AND s.id <> r.id"
            " AND s.data_version = r.data_version AND s.engine_version = %(engine)s"
            " AND CASE WHEN r.sweep_id IS NULL THEN s.result IS NOT NULL"
            " ELSE s.daily_returns IS NOT NULL END"
            " ORDER BY r.id, s.finished_at)"
            " UPDATE runs r SET status = 'done', statistics = source.statistics,"
            " result = CASE WHEN r.sweep_id IS NULL THEN source.result END,"
            " daily_returns = source.daily_returns, engine_version = source.engine_version,"
            " reused_from = source.origin, error = NULL, finished_at = now(),"
            " lease_until = NULL"
            # the fence again here: a cancel committed meanwhile is seen (READ COMMITTED
            # re-checks the UPDATE's own WHERE, not the CTE's)
            " FROM source WHERE r.id = source.id AND r.attempts = source.attempt"
            " AND r.status = 'running'"
            " RETURNING r.id::text, r.status,"
            " extract(epoch FROM r.finished_at - r.started_at)::float8 AS seconds",
            {"ids": [c.id for c in claims], "attempts": [c.attempt for c in claims],
             "engine": engine_version},
        )
        rows = [Ended(**row) for row in await cur.fetchall()]
        await notify_done(conn, [row.id for row in rows])
    return rows


def outcome_of(claim: Claim, ran: RunOutcome) -> Outcome:
    """What to write for a claim, from what its run ended in."""
    return Outcome(
        id=claim.id, attempt=claim.attempt, status=ran.status, statistics=ran.statistics,
        result=ran.result, error=ran.error,
        engine_version=ran.engine_version if ran.status == "done" else None,
        data_version=claim.data_version if ran.status == "done" else None,
        returns=ran.returns,
    )


async def renew(
    conn: Conn, claims: Sequence[Claim], *, lease_s: float
) -> set[str]:
    """Extend the leases of claims still running; answer their ids (the rest were cancelled
    or lost their lease)."""
    if not claims:
        return set()
    async with conn.transaction():
        cur = await conn.execute(
            "UPDATE runs r SET lease_until = now() + make_interval(secs => %s)"
            " FROM unnest(%s::uuid[], %s::int[]) AS c(id, attempt)"
            " WHERE r.id = c.id AND r.attempts = c.attempt AND r.status = 'running'"
            " RETURNING r.id::text",
            (lease_s, [c.id for c in claims], [c.attempt for c in claims]),
        )
        return {row["id"] for row in await cur.fetchall()}


async def finish(conn: Conn, outcomes: Sequence[Outcome]) -> list[Ended]:
    """Write outcomes of runs still running under the same attempt; answer the rows written
    (id, status, run seconds) and notify waiters. The arrays go in binary (`%b`): the text
    format would escape every character of every result, in Python."""
    if not outcomes:
        return []
    columns = {
        name: [getattr(o, name) for o in outcomes]
        for name in (
            "id", "attempt", "status", "statistics", "result", "error",
            "engine_version", "data_version", "returns",
        )
    }
    async with conn.transaction():
        cur = await conn.execute(
            "UPDATE runs r SET status = o.status, statistics = o.statistics::jsonb,"
            " result = o.result::jsonb, error = o.error, engine_version = o.engine_version,"
            " data_version = coalesce(o.data_version, r.data_version),"
            " daily_returns = o.returns,"
            " finished_at = now(), lease_until = NULL"
            " FROM unnest(%(id)b::uuid[], %(attempt)b::int[], %(status)b::text[],"
            " %(statistics)b::text[], %(result)b::text[], %(error)b::text[],"
            " %(engine_version)b::text[], %(data_version)b::text[], %(returns)b::bytea[])"
            " AS o(id, attempt, status, statistics, result, error, engine_version, data_version,"
            " returns)"
            " WHERE r.id = o.id AND r.attempts = o.attempt AND r.status = 'running'"
            " RETURNING r.id::text, r.status,"
            " extract(epoch FROM r.finished_at - r.started_at)::float8 AS seconds,"
            " 'run' AS reason",
            columns,
        )
        written = [Ended(**row) for row in await cur.fetchall()]
        await notify_done(conn, [ended.id for ended in written])
    return written


async def release(
    conn: Conn,
    claims: Sequence[Claim],
    *,
    reason: str,
    max_attempts: int,
    count_attempt: bool = True,
) -> list[Ended]:
    """Give claims back to the queue after a failure that is not the run's own (a crashed
    worker, a lost panel); a run out of attempts fails with `reason`. With
    `count_attempt=False` (the registry could not answer) the attempt does not count."""
    if not claims:
        return []
    async with conn.transaction():
        cur = await conn.execute(
            "UPDATE runs r SET lost_attempts = r.lost_attempts + %(uncount)s,"
            " status = CASE WHEN r.attempts - r.lost_attempts - %(uncount)s >= %(max)s"
            "   THEN 'failed' ELSE 'queued' END,"
            " finished_at = CASE WHEN r.attempts - r.lost_attempts - %(uncount)s >= %(max)s"
            " THEN now() END,"
            " error = CASE WHEN r.attempts - r.lost_attempts - %(uncount)s >= %(max)s"
            "   THEN 'gave up after ' || r.attempts || ' attempts: ' || %(reason)s"
            "   ELSE 'attempt ' || r.attempts || ' failed, re-queued: ' || %(reason)s END,"
            " lease_until = NULL, started_at = NULL"
            " FROM unnest(%(ids)s::uuid[], %(attempts)s::int[]) AS c(id, attempt)"
            " WHERE r.id = c.id AND r.attempts = c.attempt AND r.status = 'running'"
            " RETURNING r.id::text, r.status, 'infrastructure' AS reason",
            {
                "uncount": 0 if count_attempt else 1,
                "max": max_attempts,
                "reason": reason,
                "ids": [c.id for c in claims],
                "attempts": [c.attempt for c in claims],
            },
        )
        rows = [Ended(**row) for row in await cur.fetchall()]
        await notify_done(conn, [row.id for row in rows if row.status == "failed"])
    return rows


async def requeue_orphans(conn: Conn) -> list[Ended]:
    """Give back every running run and factor report at once, the claim not counted against
    max_attempts (`lost_attempts`): a dispatcher starting knows its predecessor is dead
    (there is one per cluster, and Ray starts it again only after the old one died), so
    those leases would only run out. The claim counter itself only grows (the fence)."""
    async with conn.transaction():
        cur = await conn.execute(
            "UPDATE runs SET status = 'queued', lost_attempts = lost_attempts + 1,"
            " error = 'attempt ' || attempts || ' lost with its dispatcher; re-queued',"
            " lease_until = NULL, started_at = NULL"
            " WHERE status = 'running' RETURNING id::text, status")
        rows = [Ended(**row) for row in await cur.fetchall()]
        await conn.execute(
            "UPDATE factor_reports SET status = 'queued', lost_attempts = lost_attempts + 1,"
            " lease_until = NULL, started_at = NULL WHERE status = 'running'")
    return rows


async def requeue_unheld(conn: Conn, *, held: Sequence[str]) -> list[Ended]:
    """Give back every running run but those in `held`, the claim not counted: the live
    dispatcher (one per cluster) lost the answer to a claim with its database connection,
    so rows it set running may be held by no one (they would wait out their lease)."""
    async with conn.transaction():
        cur = await conn.execute(
            "UPDATE runs SET status = 'queued', lost_attempts = lost_attempts + 1,"
            " error = 'attempt ' || attempts || ' lost with a database connection; re-queued',"
            " lease_until = NULL, started_at = NULL"
            " WHERE status = 'running' AND NOT (id = ANY(%s::uuid[]))"
            " RETURNING id::text, status", (list(held),))
        return [Ended(**row) for row in await cur.fetchall()]


async def reap(conn: Conn, *, max_attempts: int) -> list[Ended]:
    """Runs whose lease expired (their worker, dispatcher or cluster died): back to queued,
    or failed once they used `max_attempts` claims."""
    async with conn.transaction():
        cur = await conn.execute(
            "UPDATE runs SET"
            " status = CASE WHEN attempts - lost_attempts >= %(max)s THEN 'failed'"
            " ELSE 'queued' END,"
            " finished_at = CASE WHEN attempts - lost_attempts >= %(max)s THEN now() END,"
            " error = CASE WHEN attempts - lost_attempts >= %(max)s"
            "   THEN 'gave up after ' || attempts || ' attempts: the lease expired each time"
            " (worker, dispatcher or cluster lost)'"
            "   ELSE 'the lease of attempt ' || attempts || ' expired; re-queued' END,"
            " lease_until = NULL, started_at = NULL"
            " WHERE status = 'running' AND lease_until < now()"
            " RETURNING id::text, status, 'lease' AS reason",
            {"max": max_attempts},
        )
        rows = [Ended(**row) for row in await cur.fetchall()]
        await notify_done(conn, [row.id for row in rows if row.status == "failed"])
    return rows


async def queue_depth(conn: Conn) -> int:
    cur = await conn.execute("SELECT count(*) AS n FROM runs WHERE status = 'queued'")
    return int((await cur.fetchone())["n"])  # type: ignore[index]


async def counts_by_status(conn: Conn) -> dict[str, int]:
    """Runs per status (single runs and sweep variants)."""
    cur = await conn.execute("SELECT status, count(*) AS n FROM runs GROUP BY status")
    return {row["status"]: int(row["n"]) for row in await cur.fetchall()}
