"""Every statement on `factor_reports`: queue one for its owner (at most `limit` unfinished),
read it, and the dispatcher's claim (under a lease), finish and reap. Fenced like runs: a
write after a claim names (id, attempt) and `status = 'running'`."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from serve.database import RUNS_CHANNEL, Conn
from serve.errors import NotFoundError, QuotaExceededError
from serve.store.runs import RETRY_AFTER_S, check_storable, replayed


@dataclass(frozen=True)
class ReportRecord:
    id: uuid.UUID
    status: str
    spec: dict[str, Any]
    data_version: str
    attempts: int
    error: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    result: str | None  # the FactorReport's JSON text, passed through unparsed


@dataclass(frozen=True)
class ReportClaim:
    id: str
    attempt: int
    spec: dict[str, Any]
    data_version: str


async def insert_report(
    conn: Conn, *, owner: str, spec: dict[str, Any], data_version: str,
    idempotency_key: str | None, limit: int, new_id: uuid.UUID | None = None,
) -> tuple[uuid.UUID, bool]:
    """Queue a factor report (committed before this returns); (id, replayed). `new_id`: the
    id a new report gets (a fresh one by default)."""
    check_storable(spec)
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('factor_reports'),"
                           " hashtext(%s))", (owner,))
        if idempotency_key is not None:
            row = await replayed(conn, table="factor_reports", columns="id", owner=owner,
                                 key=idempotency_key, spec=spec)
            if row is not None:
                return row["id"], True
        cur = await conn.execute(
            "SELECT count(*) AS n FROM factor_reports WHERE owner = %s"
            " AND status IN ('queued', 'running')", (owner,))
        active = (await cur.fetchone())["n"]  # type: ignore[index]
        if active >= limit:
            raise QuotaExceededError(
                f"{owner} has {active} factor reports queued or running, the limit is "
                f"{limit}; retry when one has finished", retry_after_s=RETRY_AFTER_S)
        report_id = new_id or uuid.uuid4()
        await conn.execute(
            "INSERT INTO factor_reports (id, owner, spec, data_version, idempotency_key)"
            " VALUES (%s, %s, %s, %s, %s)",
            (report_id, owner, Jsonb(spec), data_version, idempotency_key))
        await conn.execute(f"NOTIFY {RUNS_CHANNEL}")
    return report_id, False


async def get_report(conn: Conn, *, owner: str, report_id: uuid.UUID) -> ReportRecord:
    cur = conn.cursor(row_factory=class_row(ReportRecord))
    await cur.execute(
        "SELECT id, status, spec, data_version, attempts, error, created_at, started_at,"
        " finished_at, result::text AS result FROM factor_reports"
        " WHERE id = %s AND owner = %s", (report_id, owner))
    row = await cur.fetchone()
    if row is None:
        raise NotFoundError("factor report", str(report_id))
    return row


async def claim_reports(conn: Conn, *, limit: int, lease_s: float) -> list[ReportClaim]:
    """Take up to `limit` queued reports, oldest first, under a lease."""
    async with conn.transaction():
        cur = await conn.execute(
            "WITH picked AS (SELECT id FROM factor_reports WHERE status = 'queued'"
            " ORDER BY created_at LIMIT %s FOR UPDATE SKIP LOCKED)"
            " UPDATE factor_reports f SET status = 'running', attempts = f.attempts + 1,"
            " lease_until = now() + make_interval(secs => %s), started_at = now()"
            " FROM picked WHERE f.id = picked.id"
            " RETURNING f.id::text, f.attempts, f.spec, f.data_version", (limit, lease_s))
        rows = await cur.fetchall()
    return [ReportClaim(id=r["id"], attempt=r["attempts"], spec=r["spec"],
                        data_version=r["data_version"]) for r in rows]


async def renew_reports(conn: Conn, claims: list[ReportClaim], *, lease_s: float) -> None:
    if claims:
        await conn.execute(
            "UPDATE factor_reports f SET lease_until = now() + make_interval(secs => %s)"
            " FROM unnest(%s::uuid[], %s::int[]) AS c(id, attempt)"
            " WHERE f.id = c.id AND f.attempts = c.attempt AND f.status = 'running'",
            (lease_s, [c.id for c in claims], [c.attempt for c in claims]))


async def finish_report(
    conn: Conn, claim: ReportClaim, *, result: str | None, error: str | None,
    data_version: str,
) -> bool:
    """Write a claimed report's result (or its error); whether the claim still held."""
    cur = await conn.execute(
        "UPDATE factor_reports SET status = %s, result = %s::jsonb, error = %s,"
        " data_version = %s, finished_at = now(), lease_until = NULL"
        " WHERE id = %s AND attempts = %s AND status = 'running' RETURNING id",
        ("done" if error is None else "failed", result, error, data_version, claim.id,
         claim.attempt))
    return await cur.fetchone() is not None


async def reap_reports(conn: Conn, *, max_attempts: int) -> int:
    """Reports whose lease expired go back to the queue, or fail after `max_attempts`."""
    cur = await conn.execute(
        "UPDATE factor_reports SET"
        " status = CASE WHEN attempts - lost_attempts >= %(max)s THEN 'failed'"
        " ELSE 'queued' END,"
        " finished_at = CASE WHEN attempts - lost_attempts >= %(max)s THEN now() END,"
        " error = CASE WHEN attempts - lost_attempts >= %(max)s THEN 'gave up after ' ||"
        " attempts ||"
        " ' attempts: the lease expired each time' END,"
        " lease_until = NULL, started_at = NULL"
        " WHERE status = 'running' AND lease_until < now() RETURNING id", {"max": max_attempts})
    return len(await cur.fetchall())
