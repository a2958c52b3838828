"""SQL of the HTTP side: submit, read, list and cancel runs; submit and read sweeps.

Every statement is parameterised and scoped to the owner: a run or sweep of someone else reads
as "not found". The dispatcher's SQL (claims, leases, results) lives in `serve.queue`.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from datetime import datetime
from typing import Any

from psycopg.types.json import Jsonb

from serve.database import RUNS_CHANNEL, Conn
from serve.errors import (
    ConflictError,
    IdempotencyConflictError,
    InvalidInputError,
    NotFoundError,
    QuotaExceededError,
)

SUMMARY_COLUMNS = (
    "id, status, created_at, finished_at, data_version, engine_version, error, statistics"
)
RUN_COLUMNS = SUMMARY_COLUMNS + ", spec, sweep_id, variant, attempts, started_at"
# pg_advisory_xact_lock(space, hashtext(owner)): one sweep submit of an owner at a time counts
# the owner's unfinished sweeps and inserts. (Single runs lock in their own space, 20919,
# inside qbt_submit_run: a long sweep COPY does not hold up the owner's single runs.)
SWEEPS_LOCK_SPACE = 0x51B8
RETRY_AFTER_S = 5


def check_storable(document: Any, *, path: str = "") -> None:
    """PostgreSQL text and jsonb hold neither NUL characters nor unpaired surrogates (valid
    JSON can carry both): refuse them with a 422 naming the field, not a failed INSERT."""
    if isinstance(document, dict):
        for key, value in document.items():
            name = (f"{path}.{key}" if path else key) if key.isidentifier() else f"{path}[{key!r}]"
            check_storable(key, path=name)
            check_storable(value, path=name)
    elif isinstance(document, list):
        for index, value in enumerate(document):
            check_storable(value, path=f"{path}[{index}]")
    elif isinstance(document, str):
        try:
            document.encode("utf-8")
            ok = "\x00" not in document
        except UnicodeEncodeError:
            ok = False
        if not ok:
            shown = ascii(document[:60])[1:-1]
            raise InvalidInputError(
                f'Got "{shown}" for {path or "the body"}: text may not hold NUL characters '
                "or unpaired surrogates",
                field=path or None,
            )


async def _lock_owner_sweeps(conn: Conn, owner: str) -> None:
    await conn.execute(
        "SELECT pg_advisory_xact_lock(%s, hashtext(%s))", (SWEEPS_LOCK_SPACE, owner)
    )


async def _replayed(
    conn: Conn, *, table: str, columns: str, owner: str, key: str, spec: Any
) -> dict[str, Any] | None:
    """The row an Idempotency-Key already created (same body), else None."""
    cur = await conn.execute(
        f"SELECT {columns}, spec = %s AS same_body FROM {table}"  # fixed names, not input
        " WHERE owner = %s AND idempotency_key = %s",
        (Jsonb(spec), owner, key),
    )
    row = await cur.fetchone()
    if row is not None and not row.pop("same_body"):
        raise IdempotencyConflictError(key)
    return row


# dataprep/migrations/003_submit_run.sql: under the owner's lock, count the owner's unfinished
# runs, insert unless that count reached the limit or the Idempotency-Key exists, notify the
# dispatcher; one round trip.
INSERT_RUN = """SELECT active, id, status, data_version FROM qbt_submit_run(
    %(id)s, %(owner)s, %(spec)s, %(data_version)s, %(key)s, %(limit)s)"""


async def insert_run(
    conn: Conn,
    *,
    owner: str,
    spec: dict[str, Any],
    data_version: str,
    idempotency_key: str | None,
    limit: int,
) -> tuple[dict[str, Any], bool]:
    """Queue a run, committed before this returns; (row, replayed). A reused Idempotency-Key
    answers the run it created; `limit` unfinished runs raise QuotaExceededError."""
    check_storable(spec)
    replay = {"table": "runs", "columns": "id, status, data_version", "owner": owner}
    if idempotency_key is not None:
        row = await _replayed(conn, **replay, key=idempotency_key, spec=spec)
        if row is not None:
            return row, True
    cur = await conn.execute(
        INSERT_RUN,
        {
            "id": uuid.uuid4(),
            "owner": owner,
            "spec": Jsonb(spec),
            "data_version": data_version,
            "key": idempotency_key,
            "limit": limit,
        },
    )
    row = await cur.fetchone()
    assert row is not None
    if row["id"] is not None:
        return {k: row[k] for k in ("id", "status", "data_version")}, False
    if idempotency_key is not None and row["active"] < limit:  # a concurrent twin won
        existing = await _replayed(conn, **replay, key=idempotency_key, spec=spec)
        if existing is not None:
            return existing, True
    raise QuotaExceededError(
        f"{owner} has {row['active']} runs queued or running, the limit is {limit}; "
        "retry when some have finished",
        retry_after_s=RETRY_AFTER_S,
    )


async def get_run(
    conn: Conn, *, owner: str, run_id: uuid.UUID, with_result: bool = True
) -> dict[str, Any]:
    """The run's row; `result` is its JSON text (passed through to the answer unparsed)."""
    columns = RUN_COLUMNS + (", result::text AS result" if with_result else ", NULL AS result")
    cur = await conn.execute(
        f"SELECT {columns} FROM runs WHERE id = %s AND owner = %s", (run_id, owner)
    )
    row = await cur.fetchone()
    if row is None:
        raise NotFoundError("backtest", str(run_id))
    return row


async def run_status(conn: Conn, *, owner: str, run_id: uuid.UUID) -> str:
    cur = await conn.execute(
        "SELECT status FROM runs WHERE id = %s AND owner = %s", (run_id, owner)
    )
    row = await cur.fetchone()
    if row is None:
        raise NotFoundError("backtest", str(run_id))
    return str(row["status"])


def encode_cursor(row: dict[str, Any]) -> str:
    text = f"{row['created_at'].isoformat()}|{row['id']}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        created, ident = text.split("|")
        return datetime.fromisoformat(created), uuid.UUID(ident)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidInputError(
            f'Got "{cursor[:60]}" for cursor: not a cursor this API gave out', field="cursor"
        ) from None


async def list_runs(
    conn: Conn,
    *,
    owner: str,
    limit: int,
    cursor: str | None,
    status: str | None,
) -> tuple[list[dict[str, Any]], str | None]:
    """The owner's single runs, newest first, one keyset page; (rows, next cursor)."""
    where, params = ["owner = %s", "sweep_id IS NULL"], [owner]
    if cursor is not None:
        created, ident = decode_cursor(cursor)
        where.append("(created_at, id) < (%s, %s)")
        params += [created, ident]  # type: ignore[list-item]
    if status is not None:
        where.append("status = %s")
        params.append(status)
    cur = await conn.execute(
        f"SELECT {SUMMARY_COLUMNS} FROM runs WHERE {' AND '.join(where)}"
        " ORDER BY created_at DESC, id DESC LIMIT %s",
        (*params, limit + 1),
    )
    rows = await cur.fetchall()
    next_cursor = encode_cursor(rows[limit - 1]) if len(rows) > limit else None
    return rows[:limit], next_cursor


async def cancel_run(
    conn: Conn, *, owner: str, run_id: uuid.UUID
) -> None:
    """Cancel a queued or running run; the dispatcher writes nothing to it afterwards."""
    async with conn.transaction():
        cur = await conn.execute(
            "UPDATE runs SET status = 'cancelled', finished_at = now(), lease_until = NULL,"
            " error = 'cancelled by its owner'"
            " WHERE id = %s AND owner = %s AND status IN ('queued', 'running') RETURNING id",
            (run_id, owner),
        )
        if await cur.fetchone() is None:
            status = await run_status(conn, owner=owner, run_id=run_id)
            raise ConflictError(
                f'Backtest "{run_id}" is {status}: only queued or running runs can be cancelled',
                field="id",
            )


async def insert_sweep(
    conn: Conn,
    *,
    owner: str,
    sweep: dict[str, Any],
    variants: list[dict[str, Any]],
    data_version: str,
    idempotency_key: str | None,
    limit: int,
) -> tuple[dict[str, Any], bool]:
    """Queue a sweep (one runs row per variant), committed before this returns."""
    check_storable(sweep)
    async with conn.transaction():
        await _lock_owner_sweeps(conn, owner)
        if idempotency_key is not None:
            row = await _replayed(
                conn, table="sweeps", columns="id, n_variants, data_version", owner=owner,
                key=idempotency_key, spec=sweep,
            )
            if row is not None:
                return row, True
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
        sweep_id = uuid.uuid4()
        cur = await conn.execute(
            "INSERT INTO sweeps (id, owner, spec, n_variants, idempotency_key, data_version)"
            " VALUES (%s, %s, %s, %s, %s, %s) RETURNING id, n_variants, data_version",
            (sweep_id, owner, Jsonb(sweep), len(variants), idempotency_key, data_version),
        )
        row = await cur.fetchone()
        async with conn.cursor().copy(
            "COPY runs (id, owner, sweep_id, variant, spec, data_version) FROM STDIN"
        ) as copy:
            for number, spec in enumerate(variants):
                await copy.write_row(
                    (uuid.uuid4(), owner, sweep_id, number, Jsonb(spec), data_version)
                )
        await conn.execute(f"NOTIFY {RUNS_CHANNEL}")
    return row, False  # type: ignore[return-value]


async def cancel_sweep(conn: Conn, *, owner: str, sweep_id: uuid.UUID) -> None:
    """Cancel every queued or running variant of the sweep."""
    async with conn.transaction():
        cur = await conn.execute(
            "SELECT 1 FROM sweeps WHERE id = %s AND owner = %s", (sweep_id, owner)
        )
        if await cur.fetchone() is None:
            raise NotFoundError("sweep", str(sweep_id))
        cur = await conn.execute(
            "UPDATE runs SET status = 'cancelled', finished_at = now(), lease_until = NULL,"
            " error = 'cancelled by its owner'"
            " WHERE sweep_id = %s AND status IN ('queued', 'running')",
            (sweep_id,),
        )
        if cur.rowcount == 0:
            raise ConflictError(
                f'Sweep "{sweep_id}" has ended: nothing left to cancel', field="id"
            )


async def get_sweep(
    conn: Conn, *, owner: str, sweep_id: uuid.UUID
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The sweep row with status counts, and its variants that ran (done or failed)."""
    cur = await conn.execute(
        "SELECT s.id, s.spec, s.n_variants, s.data_version, s.created_at,"
        " count(*) FILTER (WHERE r.status = 'queued') AS n_queued,"
        " count(*) FILTER (WHERE r.status = 'running') AS n_running,"
        " count(*) FILTER (WHERE r.status = 'done') AS n_ok,"
        " count(*) FILTER (WHERE r.status = 'failed') AS n_failed,"
        " count(*) FILTER (WHERE r.status = 'cancelled') AS n_cancelled,"
        " max(r.finished_at) AS last_finished_at"
        " FROM sweeps s JOIN runs r ON r.sweep_id = s.id"
        " WHERE s.id = %s AND s.owner = %s GROUP BY s.id",
        (sweep_id, owner),
    )
    sweep = await cur.fetchone()
    if sweep is None:
        raise NotFoundError("sweep", str(sweep_id))
    cur = await conn.execute(
        "SELECT variant, id AS run_id, status, statistics, error FROM runs"
        " WHERE sweep_id = %s AND status IN ('done', 'failed') ORDER BY variant",
        (sweep_id,),
    )
    return sweep, await cur.fetchall()
