"""Service: what the HTTP routes call. Owns the replica's database pool, its view of the
current panel, the API-key cache and the waiters of `?wait=`; raises `serve.errors` only."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import defaultdict
from datetime import timedelta
from functools import cache
from typing import Any

from backtest.spec import StrategySpec
from backtest.sweep import SweepError, SweepSpec, expand, overrides_of, rank
from backtest.validation import SpecError, validate_against
from cluster.metrics import qbt_metrics
from dataprep.panel import FactorPanel
from serve import store
from serve.database import DONE_CHANNEL, KEYS_CHANNEL, Listener, connection, open_pool
from serve.errors import AuthenticationError, InvalidInputError, UnavailableError
from serve.keys import Owner, lookup_owner
from serve.models import FINISHED
from serve.options import ServiceOptions
from serve.panels import PanelCache

KEY_CACHE_MAX = 10_000
# A waiter re-reads its run's status this often, in case a NOTIFY was lost (a reconnect of the
# listener wakes every waiter anyway). Each read takes a pooled connection: at 2 s, 1,000
# waiting clients alone were 500 queries/s against a pool of 10.
WAIT_POLL_S = 10.0


class Service:
    def __init__(self, *, database_url: str, options: ServiceOptions, registry: Any) -> None:
        self.options = options
        self._url, self._registry = database_url, registry
        self.panels = PanelCache(registry, check_s=options.panel_check_s)
        self._keys: dict[str, tuple[Owner, float]] = {}
        self._waiters: dict[str, list[asyncio.Event]] = defaultdict(list)
        self._listener = Listener(
            database_url,
            channels=[DONE_CHANNEL, KEYS_CHANNEL],
            on_notify=self._on_notify,
            on_connect=self._on_connect,
            timeout_s=options.db_timeout_s,
        )
        self._pool: Any = None

    async def start(self) -> None:
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

    def db(self) -> Any:
        """`async with service.db() as conn`: a pooled connection, UnavailableError if none."""
        return connection(self._pool)

    async def database_ok(self) -> bool:
        try:
            async with self.db() as conn:
                await conn.execute("SELECT 1")
            return True
        except UnavailableError:
            return False

    async def authenticate(self, token: str | None) -> Owner:
        if not token:
            raise AuthenticationError("Send the API key as `Authorization: Bearer <key>`")
        cached = self._keys.get(token)
        if cached is not None and cached[1] > time.monotonic():
            return cached[0]
        async with self.db() as conn:
            owner = await lookup_owner(conn, token)
        if len(self._keys) >= KEY_CACHE_MAX:
            self._keys.clear()
        self._keys[token] = (owner, time.monotonic() + self.options.key_cache_s)
        return owner

    # -- single runs -------------------------------------------------------------------

    def _check_spec(self, spec: StrategySpec, panel: FactorPanel, *, prefix: str = "") -> None:
        span = spec.end - spec.start
        if span > timedelta(days=self.options.max_span_days):
            raise InvalidInputError(
                f'Got "{spec.start}" .. "{spec.end}" for {prefix}start .. {prefix}end: '
                f"{span.days} days, longer than the limit of {self.options.max_span_days}",
                field=f"{prefix}end",
            )
        try:
            validate_against(spec, panel)
        except SpecError as err:
            raise InvalidInputError(str(err), field=prefix + err.field) from None

    async def submit_run(
        self, owner: Owner, spec: StrategySpec, *, idempotency_key: str | None, wait_s: float
    ) -> tuple[dict[str, Any], bool]:
        """Validate, queue (committed) and optionally wait; (run row, replayed)."""
        version, panel = await self.panels.current()
        self._check_spec(spec, panel)
        async with self.db() as conn:
            row, replayed = await store.insert_run(
                conn,
                owner=owner.name,
                spec=spec.model_dump(mode="json"),
                data_version=version,
                idempotency_key=idempotency_key,
                limit=self.options.owner_run_limit,
            )
        if not replayed:
            qbt_metrics().submitted()
        if wait_s > 0:
            await self.wait_for_end(owner, row["id"], wait_s=wait_s)
        return row, replayed

    async def get_run(
        self, owner: Owner, run_id: uuid.UUID, *, wait_s: float = 0
    ) -> dict[str, Any]:
        if wait_s > 0:
            await self.wait_for_end(owner, run_id, wait_s=wait_s)
        async with self.db() as conn:
            return await store.get_run(conn, owner=owner.name, run_id=run_id)

    async def list_runs(
        self, owner: Owner, *, limit: int, cursor: str | None, status: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        async with self.db() as conn:
            return await store.list_runs(
                conn, owner=owner.name, limit=limit, cursor=cursor, status=status
            )

    async def cancel_run(self, owner: Owner, run_id: uuid.UUID) -> dict[str, Any]:
        async with self.db() as conn:
            await store.cancel_run(conn, owner=owner.name, run_id=run_id)
            return await store.get_run(conn, owner=owner.name, run_id=run_id)

    async def wait_for_end(self, owner: Owner, run_id: uuid.UUID, *, wait_s: float) -> str:
        """Wait (at most wait_s) until the run is done, failed or cancelled; its status."""
        deadline = time.monotonic() + min(wait_s, self.options.max_wait_s)
        key, event = str(run_id), asyncio.Event()
        self._waiters[key].append(event)
        try:
            while True:
                event.clear()
                async with self.db() as conn:
                    status = await store.run_status(conn, owner=owner.name, run_id=run_id)
                left = deadline - time.monotonic()
                if status in FINISHED or left <= 0:
                    return status
                try:
                    await asyncio.wait_for(event.wait(), timeout=min(left, WAIT_POLL_S))
                except TimeoutError:
                    pass
        finally:
            self._waiters[key].remove(event)
            if not self._waiters[key]:
                del self._waiters[key]

    def _on_notify(self, channel: str, payload: str) -> None:
        if channel == KEYS_CHANNEL:  # a key was revoked: forget it now, not at cache expiry
            self._keys = {t: c for t, c in self._keys.items() if c[0].key_id != payload}
            return
        for ident in payload.split(","):  # DONE_CHANNEL: these runs ended
            for event in self._waiters.get(ident, ()):
                event.set()

    def _on_connect(self) -> None:
        """Notifications sent while the listener was away are lost: forget every cached key
        and let every waiter re-read its run."""
        self._keys = {}
        for events in self._waiters.values():
            for event in events:
                event.set()

    # -- sweeps --------------------------------------------------------------------------

    def _expand(self, sweep: SweepSpec, panel: FactorPanel) -> list[dict[str, Any]]:
        try:
            variants = expand(sweep, max_variants=self.options.max_sweep_variants)
        except SweepError as err:
            raise InvalidInputError(str(err), field=err.field) from None
        checked: set[tuple[Any, ...]] = set()
        for number, variant in enumerate(variants):
            key = (variant.start, variant.end, variant.benchmark, *variant.factors_used())
            if key in checked:
                continue
            try:
                self._check_spec(variant, panel, prefix="base.")
            except InvalidInputError as err:
                overrides = overrides_of(sweep, number)
                raise InvalidInputError(
                    f"variant {number} {overrides}: {err.message}", field=err.field
                ) from None
            checked.add(key)
        return [variant.model_dump(mode="json") for variant in variants]

    async def submit_sweep(
        self, owner: Owner, sweep: SweepSpec, *, idempotency_key: str | None
    ) -> tuple[dict[str, Any], bool]:
        version, panel = await self.panels.current()
        variants = await asyncio.to_thread(self._expand, sweep, panel)
        async with self.db() as conn:
            row, replayed = await store.insert_sweep(
                conn,
                owner=owner.name,
                sweep=sweep.model_dump(mode="json"),
                variants=variants,
                data_version=version,
                idempotency_key=idempotency_key,
                limit=self.options.owner_sweep_limit,
            )
        if not replayed:
            qbt_metrics().submitted(len(variants))
        return row, replayed

    async def get_sweep(self, owner: Owner, sweep_id: uuid.UUID) -> dict[str, Any]:
        """The sweep's progress and its best variants so far, as SweepPublic fields."""
        async with self.db() as conn:
            row, ended = await store.get_sweep(conn, owner=owner.name, sweep_id=sweep_id)
        spec = SweepSpec.model_validate(row["spec"])
        best = rank(ended, rank_by=spec.rank_by)[: spec.top]
        n_ended = row["n_ok"] + row["n_failed"] + row["n_cancelled"]
        return {
            "id": row["id"],
            "status": sweep_status(row, n_ended=n_ended),
            "created_at": row["created_at"],
            "finished_at": row["last_finished_at"] if n_ended == row["n_variants"] else None,
            "data_version": row["data_version"],
            "rank_by": spec.rank_by,
            "n_total": row["n_variants"],
            "n_done": n_ended,
            "n_failed": row["n_failed"],
            "n_running": row["n_running"],
            "variants": [
                {**variant, "overrides": overrides_of(spec, variant["variant"])}
                for variant in best
            ],
        }

    async def cancel_sweep(self, owner: Owner, sweep_id: uuid.UUID) -> dict[str, Any]:
        async with self.db() as conn:
            await store.cancel_sweep(conn, owner=owner.name, sweep_id=sweep_id)
        return await self.get_sweep(owner, sweep_id)

    # -- datasets ------------------------------------------------------------------------

    async def datasets(self) -> list[dict[str, Any]]:
        return await self._ask_registry("versions")

    async def refresh(self) -> dict[str, Any]:
        return await self._ask_registry("refresh")

    async def _ask_registry(self, method: str) -> Any:
        try:
            return await getattr(self._registry, method).remote()
        except Exception as err:
            raise UnavailableError(
                f"The dataset registry does not answer ({type(err).__name__}); retry later"
            ) from err


def sweep_status(row: dict[str, Any], *, n_ended: int) -> str:
    """queued / running until every variant ended; then cancelled if any was, done if any
    succeeded, else failed."""
    if n_ended < row["n_variants"]:
        return "running" if row["n_running"] or n_ended else "queued"
    if row["n_cancelled"]:
        return "cancelled"
    return "done" if row["n_ok"] else "failed"


@cache
def factor_catalog() -> list[dict[str, Any]]:
    from dataprep.factors import catalog_table

    return catalog_table()
