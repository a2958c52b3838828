"""Sweeps for their owner: submit (one runs row per variant, through the same queue), read
with progress, cancel. Scoped to the owner like `serve.store.runs`."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from runtime.names import SWEEP_SUBMIT_LOCK_SPACE
from serve.database import RUNS_CHANNEL, Conn, notify_done
from serve.errors import ConflictError, NotFoundError, QuotaExceededError
from serve.store.records import AnalysisInputs, QueuedSweep, SweepRecord, VariantRecord
from serve.store.runs import RETRY_AFTER_S, check_storable, replayed, spec_hash


async def insert_sweep(
    conn: Conn,
    *,
    owner: str,
    sweep: dict[str, Any],
    variants: list[str],
    plan_groups: list[int] | None = None,
    data_version: str,
    idempotency_key: str | None,
    limit: int,
    new_id: uuid.UUID | None = None,
) -> tuple[QueuedSweep, bool]:
    """Queue a sweep (one runs row per variant, `variants` their specs' JSON text, in grid
    order, with their plan groups), committed before this returns; (sweep, replayed). At
    most `limit` unfinished sweeps per owner; `new_id` the new sweep's id (fresh by default)."""
    check_storable(sweep)
    async with conn.transaction():
        await conn.execute(
            "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (SWEEP_SUBMIT_LOCK_SPACE, owner)
        )
        if idempotency_key is not None:
            row = await replayed(
                conn, table="sweeps", columns="id, n_variants, data_version", owner=owner,
                key=idempotency_key, spec=sweep,
            )
            if row is not None:
                return QueuedSweep(**row), True
        cur = await conn.execute(
            "SELECT count(*) AS n FROM sweeps s WHERE s.owner = %s AND EXISTS ("
            " SELECT 1 FROM runs r WHERE r.sweep_id = s.id AND r.status IN ('queued', 'running'))",
            (owner,),
        )
        active = (await cur.fetchone())["n"]  # type: ignore[index]
        if active >= limit:
            raise QuotaExceededError(
                f"{owner} has {active} unfinished sweeps, the limit is {limit}; "
                "retry when one has finished",
                retry_after_s=RETRY_AFTER_S * 6,
            )
        sweep_id = new_id or uuid.uuid4()
        cur = await conn.execute(
            "INSERT INTO sweeps (id, owner, spec, n_variants, idempotency_key, data_version)"
            " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id, n_variants, data_version",
            (sweep_id, owner, Jsonb(sweep), len(variants), idempotency_key, data_version),
        )
        row = await cur.fetchone()
        async with conn.cursor().copy(
            "COPY runs (id, owner, sweep_id, variant, spec, data_version, spec_hash, plan_group)"
            " FROM STDIN"
        ) as copy:
            groups = plan_groups if plan_groups is not None else [0] * len(variants)
            for number, (text, group) in enumerate(zip(variants, groups, strict=True)):
                await copy.write_row((uuid.uuid4(), owner, sweep_id, number, text,
                                      data_version, spec_hash(text), group))
        await conn.execute(f"NOTIFY {RUNS_CHANNEL}")
    return QueuedSweep(**row), False  # type: ignore[arg-type]


async def cancel_sweep(conn: Conn, *, owner: str, sweep_id: uuid.UUID) -> None:
    """Cancel every queued or running variant of the sweep (waiters hear of each at commit)."""
    async with conn.transaction():
        cur = await conn.execute(
            "SELECT 1 FROM sweeps WHERE id = %s AND owner = %s", (sweep_id, owner)
        )
        if await cur.fetchone() is None:
            raise NotFoundError("sweep", str(sweep_id))
        cur = await conn.execute(
            "UPDATE runs SET status = 'cancelled', finished_at = now(), lease_until = NULL,"
            " error = 'cancelled by its owner'"
            " WHERE sweep_id = %s AND status IN ('queued', 'running') RETURNING id",
            (sweep_id,),
        )
        cancelled = [str(row["id"]) for row in await cur.fetchall()]
        if not cancelled:
            raise ConflictError(
                f'Sweep "{sweep_id}" has ended: nothing left to cancel', field="id"
            )
        await notify_done(conn, cancelled)


SWEEP_WITH_COUNTS = (
    "SELECT s.id, s.spec, s.n_variants, s.data_version, s.created_at,"
    " count(*) FILTER (WHERE r.status = 'queued') AS n_queued,"
    " count(*) FILTER (WHERE r.status = 'running') AS n_running,"
    " count(*) FILTER (WHERE r.status = 'done') AS n_ok,"
    " count(*) FILTER (WHERE r.status = 'failed') AS n_failed,"
    " count(*) FILTER (WHERE r.status = 'cancelled') AS n_cancelled,"
    " max(r.finished_at) AS last_finished_at, s.summary IS NOT NULL AS analysed"
)


async def list_sweeps(
    conn: Conn, *, owner: str, limit: int, before: tuple[datetime, uuid.UUID] | None
) -> list[SweepRecord]:
    """The owner's sweeps, newest first, `limit` + 1 of them after the keyset `before`."""
    where, params = "s.owner = %s", [owner]
    if before is not None:
        where += " AND (s.created_at, s.id) < (%s, %s)"
        params += list(before)  # type: ignore[arg-type]
    cur = conn.cursor(row_factory=class_row(SweepRecord))
    await cur.execute(
        f"{SWEEP_WITH_COUNTS} FROM sweeps s JOIN runs r ON r.sweep_id = s.id WHERE {where}"
        " GROUP BY s.id ORDER BY s.created_at DESC, s.id DESC LIMIT %s",
        (*params, limit + 1),
    )
    return await cur.fetchall()


async def variant_values(
    conn: Conn, *, sweep_id: uuid.UUID, statistic: str
) -> tuple[list[Any], list[float | None]]:
    """(status, `statistic`) of every variant of a sweep the caller owns, in grid order."""
    cur = await conn.execute(
        "SELECT status, (statistics ->> %s)::float8 AS value FROM runs"
        " WHERE sweep_id = %s ORDER BY variant", (statistic, sweep_id),
    )
    rows = await cur.fetchall()
    return [row["status"] for row in rows], [row["value"] for row in rows]


async def sweep_spec(conn: Conn, *, owner: str, sweep_id: uuid.UUID) -> dict[str, Any]:
    """The SweepSpec document of the owner's sweep."""
    cur = await conn.execute("SELECT spec FROM sweeps WHERE id = %s AND owner = %s",
                             (sweep_id, owner))
    row = await cur.fetchone()
    if row is None:
        raise NotFoundError("sweep", str(sweep_id))
    return row["spec"]  # type: ignore[no-any-return]


async def get_sweep(
    conn: Conn, *, owner: str, sweep_id: uuid.UUID, rank_by: str | None = None,
    lower_is_better: bool = False, top: int = 0,
) -> tuple[SweepRecord, list[VariantRecord]]:
    """The sweep with its counts by status, and its `top` best finished variants by the
    statistic `rank_by` (largest first unless `lower_is_better`; ties by variant), then its
    failed ones, so that a poll of a 100,000-variant sweep reads a page, not the sweep."""
    cur = conn.cursor(row_factory=class_row(SweepRecord))
    await cur.execute(
        SWEEP_WITH_COUNTS +
        " FROM sweeps s JOIN runs r ON r.sweep_id = s.id"
        " WHERE s.id = %s AND s.owner = %s GROUP BY s.id",
        (sweep_id, owner),
    )
    sweep = await cur.fetchone()
    if sweep is None:
        raise NotFoundError("sweep", str(sweep_id))
    if rank_by is None or top <= 0:
        return sweep, []
    direction = "ASC" if lower_is_better else "DESC"
    variants = conn.cursor(row_factory=class_row(VariantRecord))
    await variants.execute(
        "(SELECT variant, id AS run_id, status, statistics, error FROM runs"
        " WHERE sweep_id = %(id)s AND status = 'done'"
        f" ORDER BY (statistics ->> %(rank_by)s)::float8 {direction} NULLS LAST, variant"
        " LIMIT %(top)s)"
        " UNION ALL (SELECT variant, id AS run_id, status, statistics, error FROM runs"
        " WHERE sweep_id = %(id)s AND status = 'failed' ORDER BY variant LIMIT %(top)s)",
        {"id": sweep_id, "rank_by": rank_by, "top": top},
    )
    return sweep, await variants.fetchall()


async def sweep_summary(conn: Conn, *, sweep_id: uuid.UUID) -> dict[str, Any] | None:
    """The stored analysis of a sweep (None until it is written)."""
    cur = await conn.execute("SELECT summary FROM sweeps WHERE id = %s", (sweep_id,))
    row = await cur.fetchone()
    return None if row is None else row["summary"]


async def unanalysed(conn: Conn, *, limit: int = 8) -> list[uuid.UUID]:
    """Sweeps every variant of which has ended but whose analysis is not written, oldest
    first (runs_sweep_open_idx answers the "ended" part)."""
    cur = await conn.execute(
        "SELECT s.id FROM sweeps s WHERE s.summary IS NULL AND NOT EXISTS ("
        " SELECT 1 FROM runs r WHERE r.sweep_id = s.id AND r.status IN ('queued', 'running'))"
        " ORDER BY s.created_at LIMIT %s", (limit,),
    )
    return [row["id"] for row in await cur.fetchall()]


async def analysis_inputs(conn: Conn, *, sweep_id: uuid.UUID) -> AnalysisInputs:
    """What a sweep's analysis reads: every variant's rank_by (None where it has none) and
    the daily returns of the variants that have them, in grid order."""
    cur = await conn.execute(
        "SELECT spec, data_version FROM sweeps WHERE id = %s", (sweep_id,))
    sweep = await cur.fetchone()
    if sweep is None:
        raise NotFoundError("sweep", str(sweep_id))
    cur = await conn.execute(
        "SELECT (r.statistics ->> (s.spec ->> 'rank_by'))::float8 AS value"
        " FROM runs r JOIN sweeps s ON s.id = r.sweep_id WHERE r.sweep_id = %s"
        " ORDER BY r.variant", (sweep_id,),
    )
    values = [row["value"] for row in await cur.fetchall()]
    cur = await conn.execute(
        "SELECT variant, daily_returns FROM runs WHERE sweep_id = %s AND status = 'done'"
        " AND daily_returns IS NOT NULL ORDER BY variant", (sweep_id,),
    )
    rows = await cur.fetchall()
    return AnalysisInputs(sweep_id=sweep_id, spec=sweep["spec"], data_version=sweep["data_version"],
                          values=values, variants=[row["variant"] for row in rows],
                          returns=[bytes(row["daily_returns"]) for row in rows])


async def write_summary(conn: Conn, *, sweep_id: uuid.UUID, summary: dict[str, Any]) -> bool:
    """Store a sweep's analysis once, with the time it ended (`analysed_at`); a second
    writer changes nothing. Whether it wrote."""
    cur = await conn.execute(
        "UPDATE sweeps SET summary = %s || jsonb_build_object('analysed_at', now())"
        " WHERE id = %s AND summary IS NULL RETURNING id",
        (Jsonb(summary), sweep_id),
    )
    return await cur.fetchone() is not None
