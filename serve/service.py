"""Service: one ingress replica's parts and what they share.

- `keys` (serve.keycache): who is calling;
- `runs` (serve.runs), `sweeps` (serve.sweeps), `picks` (serve.picks) and `reports`
  (serve.reports): what the routes call;
- `datasets` (serve.datasets): the registry's current data version and its index;
- `waiters` (serve.waiters): callers of `?wait=`;
and the shared database pool and LISTEN connection, whose notices wake waiters and drop
revoked keys. The routes raise and receive only `serve.errors`.
"""

from __future__ import annotations

import asyncio
from contextlib import AbstractAsyncContextManager
from functools import cache
from typing import Any

from backtest.spec import statutory_sell_tax
from runtime.names import MAX_SWEEP_VARIANTS
from serve.database import DONE_CHANNEL, KEYS_CHANNEL, Conn, Listener, connection, open_pool
from serve.datasets import Datasets
from serve.errors import UnavailableError
from serve.keycache import KeyCache
from serve.options import ServiceOptions
from serve.picks import Picks
from serve.reports import Reports
from serve.runs import Runs
from serve.sweeps import Sweeps
from serve.waiters import Waiters

HEALTH_TIMEOUT_S = 0.6  # per check of /healthz, run side by side


class Service:
    def __init__(
        self,
        *,
        database_url: str,
        options: ServiceOptions,
        registry: Any,
        max_sweep_variants: int = MAX_SWEEP_VARIANTS,
    ) -> None:
        self.options = options
        self._url = database_url
        self._pool: Any = None
        self.keys = KeyCache(db=self.db, ttl_s=options.key_cache_s)
        self.waiters = Waiters(db=self.db, max_wait_s=options.max_wait_s)
        self.datasets = Datasets(registry, check_s=options.panel_check_s)
        self.runs = Runs(db=self.db, options=options, datasets=self.datasets,
                         waiters=self.waiters)
        self.picks = Picks(datasets=self.datasets)
        self.reports = Reports(db=self.db, options=options, datasets=self.datasets)
        self.sweeps = Sweeps(db=self.db, options=options, datasets=self.datasets,
                             max_variants=max_sweep_variants)
        self._listener = Listener(
            database_url,
            channels=[DONE_CHANNEL, KEYS_CHANNEL],
            on_notify=self._on_notify,
            on_connect=self._on_connect,
            timeout_s=options.db_timeout_s,
        )

    async def start(self) -> None:
        # The statutory sell-tax schedule comes from the XKRX calendar (~1.5 s, once per
        # process): pay it now, not in the first request that leaves `costs` out.
        await asyncio.to_thread(statutory_sell_tax)
        self._pool = await open_pool(
            self._url,
            max_size=self.options.db_pool_size,
            timeout_s=self.options.db_timeout_s,
            statement_timeout_ms=self.options.statement_timeout_ms,
            name="ingress",
        )
        self._listener.start()

    async def close(self) -> None:
        await self._listener.close()
        if self._pool is not None:
            await self._pool.close()

    def db(self) -> AbstractAsyncContextManager[Conn]:
        """`async with service.db() as conn`: a pooled connection, UnavailableError if none."""
        return connection(self._pool)

    async def database_ok(self) -> bool:
        try:
            async with self.db() as conn:
                await conn.execute("SELECT 1")
            return True
        except UnavailableError:
            return False

    async def health(self) -> dict[str, str]:
        """What answers, each asked at once and given HEALTH_TIMEOUT_S: /healthz answers
        within a second whatever is down."""

        async def answers(check: Any) -> str:
            try:
                await asyncio.wait_for(check(), timeout=HEALTH_TIMEOUT_S)
                return "ok"
            except Exception:  # down, refusing or too slow: all mean unavailable here
                return "unavailable"

        async def database() -> None:
            if not await self.database_ok():
                raise UnavailableError("database")

        parts = dict(zip(("database", "dataset"), await asyncio.gather(
            answers(database), answers(self.datasets.current)), strict=True))
        ok = all(v == "ok" for v in parts.values())
        return {"status": "ok" if ok else "degraded", **parts}

    def _on_notify(self, channel: str, payload: str) -> None:
        if channel == KEYS_CHANNEL:  # a key was revoked: forget it now, not at cache expiry
            self.keys.revoked(payload)
        else:  # DONE_CHANNEL: these runs ended
            self.waiters.ended(payload.split(","))

    def _on_connect(self) -> None:
        """Notices sent while the listener was away are lost: forget every cached key and let
        every waiter re-read its run."""
        self.keys.clear()
        self.waiters.wake_all()


@cache
def factor_catalog() -> list[dict[str, Any]]:
    from dataprep.factors import catalog_table

    return catalog_table()
