"""PostgreSQL for the service: a pool with short timeouts, one error translation, LISTEN.

Every way the database can fail to answer (no connection within `db_timeout_s`, a dropped
connection, a statement timeout) becomes `UnavailableError`, which the API answers with 503
and Retry-After instead of hanging or leaking a traceback.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import cast

import psycopg
from psycopg.rows import DictRow, dict_row
from psycopg_pool import AsyncConnectionPool, PoolTimeout

from serve.errors import UnavailableError

log = logging.getLogger(__name__)

Conn = psycopg.AsyncConnection[DictRow]  # what `connection()` yields: rows are dicts

RUNS_CHANNEL = "qbt_runs"  # payload: nothing; "there are queued runs" (also in qbt_submit_run)
DONE_CHANNEL = "qbt_done"  # payload: comma-separated ids of runs that reached an end state
KEYS_CHANNEL = "qbt_keys"  # payload: the key id of a key just revoked
NOTIFY_IDS_PER_MESSAGE = 200  # 37 bytes each: well under PostgreSQL's 8000-byte payload cap


def connect_kwargs(*, timeout_s: float, statement_timeout_ms: int) -> dict[str, object]:
    """Autocommit: a single statement is its own transaction (no extra COMMIT round trip);
    several statements that belong together use `conn.transaction()`."""
    return {
        "autocommit": True,
        "connect_timeout": max(1, round(timeout_s)),
        "options": f"-c statement_timeout={statement_timeout_ms}",
    }


async def open_pool(
    database_url: str,
    *,
    max_size: int,
    timeout_s: float,
    statement_timeout_ms: int,
    name: str,
) -> AsyncConnectionPool:
    """An open pool (not waiting for the database: a request finds out, and gets 503).

    Connections are not checked at checkout (a round trip each): one broken by a database
    restart fails its request with 503 and is then discarded by the pool."""
    pool = AsyncConnectionPool(
        database_url,
        min_size=1,
        max_size=max_size,
        timeout=timeout_s,
        kwargs=connect_kwargs(timeout_s=timeout_s, statement_timeout_ms=statement_timeout_ms),
        reconnect_timeout=3600 * 24 * 365,  # keep trying: the database may come back
        name=name,
        open=False,
    )
    await pool.open(wait=False)
    return pool


@asynccontextmanager
async def connection(pool: AsyncConnectionPool) -> AsyncIterator[Conn]:
    """A pooled connection (dict rows), with database failures turned into UnavailableError."""
    try:
        async with pool.connection() as conn:
            conn.row_factory = dict_row  # type: ignore[assignment]
            yield cast(Conn, conn)
    except PoolTimeout as err:
        raise UnavailableError("The database does not answer (no connection); retry later") from err
    except psycopg.OperationalError as err:
        log.warning("database error: %s", err)
        raise UnavailableError(
            "The database does not answer; retry later", outcome_unknown=True
        ) from err


@asynccontextmanager
async def connect_once(database_url: str, *, timeout_s: float = 10.0) -> AsyncIterator[Conn]:
    """One connection (dict rows, autocommit) for a script, a CLI command or the Ray job."""
    conn = await psycopg.AsyncConnection.connect(
        database_url, autocommit=True, row_factory=dict_row, connect_timeout=round(timeout_s)
    )
    async with conn:
        yield conn


async def notify_done(conn: Conn, ids: Sequence[str]) -> None:
    """Tell waiting ingress replicas that these runs ended (delivered at commit)."""
    for start in range(0, len(ids), NOTIFY_IDS_PER_MESSAGE):
        payload = ",".join(ids[start : start + NOTIFY_IDS_PER_MESSAGE])
        await conn.execute("SELECT pg_notify(%s, %s)", (DONE_CHANNEL, payload))


class Listener:
    """LISTEN on channels over one dedicated connection; reconnects after any failure.

    `on_notify(channel, payload)` runs for each notification; `on_connect()` after each
    (re)connect, since notifications sent while disconnected are lost.
    """

    def __init__(
        self,
        database_url: str,
        *,
        channels: Sequence[str],
        on_notify: Callable[[str, str], None],
        on_connect: Callable[[], None] = lambda: None,
        timeout_s: float = 2.0,
    ) -> None:
        self._url, self._channels = database_url, tuple(channels)
        self._on_notify, self._on_connect = on_notify, on_connect
        self._timeout_s = timeout_s
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.ensure_future(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        backoff = 0.2
        while True:
            try:
                conn = await psycopg.AsyncConnection.connect(
                    self._url, autocommit=True, connect_timeout=max(1, round(self._timeout_s))
                )
                async with conn:
                    for channel in self._channels:
                        await conn.execute(f"LISTEN {channel}")  # fixed names, not input
                    backoff = 0.2
                    self._on_connect()
                    async for note in conn.notifies():
                        self._on_notify(note.channel, note.payload)
            except asyncio.CancelledError:
                raise
            except Exception as err:  # the database went away: try again
                log.info("listener on %s: %s; reconnecting", self._channels, err)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 5.0)
