"""Single runs for their owner: submit, read, list, cancel.

Every statement is parameterised and scoped to the owner: a run of someone else reads as
"not found". Rows come back as `serve.store.records`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import uuid
from datetime import datetime
from typing import Any

from psycopg.rows import class_row
from psycopg.types.json import Jsonb

from runtime.names import RUN_SUBMIT_LOCK_SPACE
from serve.database import Conn, notify_done
from serve.errors import (
    ConflictError,
    IdempotencyConflictError,
    InvalidInputError,
    NotFoundError,
    QuotaExceededError,
)
from serve.store.records import QueuedRun, RunRecord, RunSummary

SUMMARY_COLUMNS = (
    "id, status, created_at, finished_at, data_version, engine_version, error, statistics, spec"
)
RUN_COLUMNS = SUMMARY_COLUMNS + ", sweep_id, variant, attempts, started_at, reused_from"
RETRY_AFTER_S = 5


def _storable_at_once(document: Any) -> bool:
    try:
        text = json.dumps(document, ensure_ascii=False)
        text.encode("utf-8")  # an unpaired surrogate cannot be
    except (UnicodeEncodeError, TypeError, ValueError):
        return False
    return "\\u0000" not in text  # json.dumps writes a NUL as \u0000


def spec_hash(text: str) -> str:
    """The reuse key of a spec: SHA-256 of its canonical JSON text
    (`StrategySpec.model_dump_json()`: fields in model order, defaults filled in)."""
    return hashlib.sha256(text.encode()).hexdigest()


def check_storable(document: Any, *, path: str = "") -> None:
    """PostgreSQL text and jsonb hold neither NUL characters nor unpaired surrogates (valid
    JSON can carry both): refuse them with a 422 naming the field, not a failed INSERT.
    The whole document is tried at once first (its JSON text, in C); only a document that
    may hold one is walked, to name the field."""
    if not path and _storable_at_once(document):
        return
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


async def replayed(
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


# dataprep/migrations/004_submit_run_lock.sql: under the owner's advisory lock (space
# RUN_SUBMIT_LOCK_SPACE), count the owner's unfinished runs, insert unless that count reached
# the limit or the Idempotency-Key exists, notify the dispatcher; one round trip.
INSERT_RUN = """SELECT active, id, status, data_version FROM qbt_submit_run(
    %(lock)s, %(id)s, %(owner)s, %(spec)s, %(data_version)s, %(key)s, %(limit)s, %(hash)s)"""


async def insert_run(
    conn: Conn,
    *,
    owner: str,
    spec: dict[str, Any],
    data_version: str,
    idempotency_key: str | None,
    limit: int,
    spec_text: str | None = None,
    new_id: uuid.UUID | None = None,
) -> tuple[QueuedRun, bool]:
    """Queue a run, committed before this returns; (run, replayed). A reused Idempotency-Key
    answers the run it created (one round trip for a new run: the insert does nothing when
    the key exists, and only then is the key's run read); `limit` unfinished runs raise
    QuotaExceededError. `spec_text`: the spec's canonical JSON text, whose hash lets the run
    reuse an equal finished run's result. `new_id`: the id a new run gets (fresh by default)."""
    check_storable(spec)
    cur = await conn.execute(
        INSERT_RUN,
        {
            "lock": RUN_SUBMIT_LOCK_SPACE,
            "id": new_id or uuid.uuid4(),
            "owner": owner,
            "spec": Jsonb(spec),
            "data_version": data_version,
            "key": idempotency_key,
            "limit": limit,
            "hash": None if spec_text is None else spec_hash(spec_text),
        },
    )
    row = await cur.fetchone()
    assert row is not None
    if row["id"] is not None:
        queued = QueuedRun(id=row["id"], status=row["status"], data_version=row["data_version"])
        return queued, False
    if idempotency_key is not None:  # the key's run exists (inserted nothing), or the limit
        existing = await replayed(conn, table="runs", columns="id, status, data_version",
                                  owner=owner, key=idempotency_key, spec=spec)
        if existing is not None:
            return QueuedRun(**existing), True
    raise QuotaExceededError(
        f"{owner} has {row['active']} runs queued or running, the limit is {limit}; "
        "retry when some have finished",
        retry_after_s=RETRY_AFTER_S,
    )


async def get_run(
    conn: Conn, *, owner: str | None, run_id: uuid.UUID, with_result: bool = True
) -> RunRecord:
    """The run; its `result` is JSON text (passed through to the answer unparsed). `owner`
    None reads any owner's run: only for the operator's CLI (`qbt report`), never HTTP."""
    columns = RUN_COLUMNS + (", result::text AS result" if with_result else ", NULL AS result")
    cur = conn.cursor(row_factory=class_row(RunRecord))
    await cur.execute(
        f"SELECT {columns} FROM runs WHERE id = %s AND (%s::text IS NULL OR owner = %s)",
        (run_id, owner, owner),
    )
    record = await cur.fetchone()
    if record is None:
        raise NotFoundError("backtest", str(run_id))
    return record


async def run_status(conn: Conn, *, owner: str, run_id: uuid.UUID) -> str:
    cur = await conn.execute(
        "SELECT status FROM runs WHERE id = %s AND owner = %s", (run_id, owner)
    )
    row = await cur.fetchone()
    if row is None:
        raise NotFoundError("backtest", str(run_id))
    return str(row["status"])


def encode_cursor(*, created_at: datetime, run_id: uuid.UUID) -> str:
    """The keyset position after a run (newest first: created_at, then id)."""
    text = f"{created_at.isoformat()}|{run_id}"
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
) -> tuple[list[RunSummary], str | None]:
    """The owner's single runs, newest first, one keyset page; (runs, next cursor)."""
    where, params = ["owner = %s", "sweep_id IS NULL"], [owner]
    if cursor is not None:
        created, ident = decode_cursor(cursor)
        where.append("(created_at, id) < (%s, %s)")
        params += [created, ident]  # type: ignore[list-item]
    if status is not None:
        where.append("status = %s")
        params.append(status)
    cur = conn.cursor(row_factory=class_row(RunSummary))
    await cur.execute(
        f"SELECT {SUMMARY_COLUMNS} FROM runs WHERE {' AND '.join(where)}"
        " ORDER BY created_at DESC, id DESC LIMIT %s",
        (*params, limit + 1),
    )
    rows = await cur.fetchall()
    if len(rows) <= limit:
        return rows, None
    last = rows[limit - 1]
    return rows[:limit], encode_cursor(created_at=last.created_at, run_id=last.id)


async def cancel_run(
    conn: Conn, *, owner: str, run_id: uuid.UUID
) -> None:
    """Cancel a queued or running run; the dispatcher writes nothing to it afterwards.
    Waiters on it (`?wait=`, on every replica) hear of it at commit (DONE_CHANNEL)."""
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
        await notify_done(conn, [str(run_id)])
