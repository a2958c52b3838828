"""Sweeps through the service: expand and validate the grid, queue every variant (the same
durable queue as single runs), report progress and the best variants, cancel."""

from __future__ import annotations

import asyncio
import dataclasses
import time
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from typing import Any

from backtest.statistics import NUMERIC_STATISTICS
from backtest.sweep import (
    LOWER_IS_BETTER,
    SweepError,
    SweepSpec,
    iter_variants,
    overrides_of,
    plan_group,
    rank,
)
from backtest.validation import PanelShape
from runtime.metrics import qbt_metrics
from runtime.names import FINISHED
from serve.database import Conn
from serve.datasets import Datasets
from serve.errors import InvalidInputError, creating
from serve.keys import Owner
from serve.models import SweepPublic, SweepSummary, SweepVariants
from serve.options import ServiceOptions
from serve.runs import check_spec
from serve.store import sweeps as store
from serve.store.records import QueuedSweep, SweepRecord
from serve.store.runs import check_storable, decode_cursor, encode_cursor


def checked_variants(
    sweep: SweepSpec, index: PanelShape, *, max_variants: int, max_span_days: int
) -> list[str]:
    """Every variant as its spec's JSON text, each checked against the data version (once
    per distinct window, benchmark, timing index and factors); InvalidInputError naming the
    variant. One variant model at a time: 100,000 variants stay 100,000 short strings."""
    checked: set[tuple[Any, ...]] = set()
    texts = []
    try:
        for number, variant in enumerate(iter_variants(sweep, max_variants=max_variants)):
            timing = variant.timing.index if variant.timing is not None else None
            key = (variant.start, variant.end, variant.benchmark, timing,
                   *variant.factors_used())
            if key not in checked:
                try:
                    check_spec(variant, index, max_span_days=max_span_days, prefix="base.")
                except InvalidInputError as err:
                    overrides = overrides_of(sweep, number)
                    raise InvalidInputError(
                        f"variant {number} {overrides}: {err.message}", field=err.field
                    ) from None
                checked.add(key)
            texts.append(variant.model_dump_json())
    except SweepError as err:
        raise InvalidInputError(str(err), field=err.field) from None
    return texts


def _summary(sweep: SweepRecord) -> SweepSummary:
    spec = SweepSpec.model_validate(sweep.spec)
    return SweepSummary.model_validate({
        "id": sweep.id, "status": sweep_status(sweep), "created_at": sweep.created_at,
        "data_version": sweep.data_version, "rank_by": spec.rank_by, "grid": spec.grid,
        "n_total": sweep.n_variants, "n_done": sweep.n_ended, "n_failed": sweep.n_failed,
    })


def sweep_status(sweep: SweepRecord) -> str:
    """queued / running until every variant ended and (unless cancelled) the analysis is
    stored; then cancelled if any variant was, done if any succeeded, else failed."""
    if sweep.n_ended < sweep.n_variants:
        return "running" if sweep.n_running or sweep.n_ended else "queued"
    if sweep.n_cancelled:
        return "cancelled"
    if not sweep.analysed:
        return "running"  # the overfitting statistics and walk-forward are computed
    return "done" if sweep.n_ok else "failed"


class Sweeps:
    def __init__(
        self,
        *,
        db: Callable[[], AbstractAsyncContextManager[Conn]],
        options: ServiceOptions,
        datasets: Datasets,
        max_variants: int,
    ) -> None:
        self._db, self._options, self._datasets = db, options, datasets
        self._max_variants = max_variants

    async def submit(
        self, owner: Owner, sweep: SweepSpec, *, idempotency_key: str | None
    ) -> tuple[QueuedSweep, bool]:
        started = time.perf_counter()
        index = await self._datasets.current()
        check_storable(sweep.model_dump(mode="json"))  # before the variants' JSON texts
        variants = await asyncio.to_thread(
            checked_variants, sweep, index, max_variants=self._max_variants,
            max_span_days=self._options.max_span_days,
        )
        new_id = uuid.uuid4()
        with creating(kind="sweep", path="/v1/sweeps", ident=new_id, key=idempotency_key):
            async with self._db() as conn:
                queued, replayed = await store.insert_sweep(
                    conn,
                    owner=owner.name,
                    sweep=sweep.model_dump(mode="json"),
                    variants=variants,
                    plan_groups=[plan_group(sweep, n) for n in range(len(variants))],
                    data_version=index.version,
                    idempotency_key=idempotency_key,
                    limit=self._options.owner_sweep_limit,
                    new_id=new_id,
                )
        if not replayed:
            qbt_metrics().submitted(len(variants), kind="sweep",
                                    seconds=time.perf_counter() - started)
        return queued, replayed

    async def get(self, owner: Owner, sweep_id: uuid.UUID) -> SweepPublic:
        async with self._db() as conn:
            return await sweep_public(conn, owner=owner.name, sweep_id=sweep_id)

    async def list(
        self, owner: Owner, *, limit: int, cursor: str | None
    ) -> tuple[list[SweepSummary], str | None]:
        """The owner's sweeps, newest first, one keyset page."""
        before = decode_cursor(cursor) if cursor else None
        async with self._db() as conn:
            rows = await store.list_sweeps(conn, owner=owner.name, limit=limit, before=before)
        page = [_summary(row) for row in rows[:limit]]
        last = rows[limit - 1] if len(rows) > limit else None
        return page, (None if last is None else
                      encode_cursor(created_at=last.created_at, run_id=last.id))

    async def variants(
        self, owner: Owner, sweep_id: uuid.UUID, *, statistic: str | None = None
    ) -> SweepVariants:
        """One statistic (default rank_by) and the status of every variant, in grid order
        (for a heatmap of the grid)."""
        async with self._db() as conn:
            spec = SweepSpec.model_validate(
                await store.sweep_spec(conn, owner=owner.name, sweep_id=sweep_id))
            name = statistic or spec.rank_by
            if name not in NUMERIC_STATISTICS:
                raise InvalidInputError(
                    f'Got "{name}" for statistic: no such numeric statistic; known: '
                    + ", ".join(NUMERIC_STATISTICS), field="statistic")
            statuses, values = await store.variant_values(conn, sweep_id=sweep_id,
                                                          statistic=name)
        return SweepVariants(id=sweep_id, rank_by=spec.rank_by, grid=spec.grid, statistic=name,
                             values=values, status=statuses)

    async def cancel(self, owner: Owner, sweep_id: uuid.UUID) -> SweepPublic:
        async with self._db() as conn:
            await store.cancel_sweep(conn, owner=owner.name, sweep_id=sweep_id)
            return await sweep_public(conn, owner=owner.name, sweep_id=sweep_id)


async def sweep_public(conn: Conn, *, owner: str, sweep_id: uuid.UUID) -> SweepPublic:
    """The sweep's progress and its best variants so far (also what the Ray job follows)."""
    spec = SweepSpec.model_validate(await store.sweep_spec(conn, owner=owner,
                                                            sweep_id=sweep_id))
    sweep, ended = await store.get_sweep(
        conn, owner=owner, sweep_id=sweep_id, rank_by=spec.rank_by,
        lower_is_better=spec.rank_by in LOWER_IS_BETTER, top=spec.top,
    )
    best = rank([dataclasses.asdict(v) for v in ended], rank_by=spec.rank_by)[: spec.top]
    summary = (await store.sweep_summary(conn, sweep_id=sweep_id) if sweep.analysed else
               None) or {}
    status = sweep_status(sweep)
    return SweepPublic.model_validate({
        "overfitting": summary.get("overfitting"),
        "walk_forward": summary.get("walk_forward"),
        "analysis_errors": summary.get("errors", []),
        "id": sweep.id,
        "status": status,
        "created_at": sweep.created_at,
        "finished_at": (summary.get("analysed_at") or sweep.last_finished_at)
        if status in FINISHED else None,
        "data_version": sweep.data_version,
        "rank_by": spec.rank_by,
        "n_total": sweep.n_variants,
        "n_done": sweep.n_ended,
        "n_failed": sweep.n_failed,
        "n_running": sweep.n_running,
        "variants": [
            {**variant, "overrides": overrides_of(spec, variant["variant"])} for variant in best
        ],
    })
