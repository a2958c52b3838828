"""Single runs through the service: validate against the current data version, queue
(committed before the answer), wait for the end if asked, read, list, cancel."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import timedelta

from backtest.spec import StrategySpec
from backtest.validation import PanelShape, SpecError, validate_against
from runtime.metrics import qbt_metrics
from runtime.names import FINISHED
from serve.database import Conn
from serve.datasets import Datasets
from serve.errors import InvalidInputError, creating
from serve.keys import Owner
from serve.options import ServiceOptions
from serve.store import runs as store
from serve.store.records import QueuedRun, RunRecord, RunSummary
from serve.waiters import Waiters


@dataclass(frozen=True)
class Submitted:
    """A submit's answer: the queued run, whether an Idempotency-Key replayed it, and the
    whole run when it ended within `?wait=`."""

    run: QueuedRun
    replayed: bool
    finished: RunRecord | None = None


def check_spec(
    spec: StrategySpec, index: PanelShape, *, max_span_days: int, prefix: str = ""
) -> None:
    """InvalidInputError (naming the field) when the spec cannot run on this data version."""
    span = spec.end - spec.start
    if span > timedelta(days=max_span_days):
        raise InvalidInputError(
            f'Got "{spec.start}" .. "{spec.end}" for {prefix}start .. {prefix}end: '
            f"{span.days} days, longer than the limit of {max_span_days}",
            field=f"{prefix}end",
        )
    try:
        validate_against(spec, index)
    except SpecError as err:
        raise InvalidInputError(str(err), field=prefix + err.field) from None


class Runs:
    def __init__(
        self,
        *,
        db: Callable[[], AbstractAsyncContextManager[Conn]],
        options: ServiceOptions,
        datasets: Datasets,
        waiters: Waiters,
    ) -> None:
        self._db, self._options = db, options
        self._datasets, self._waiters = datasets, waiters

    async def submit(
        self, owner: Owner, spec: StrategySpec, *, idempotency_key: str | None, wait_s: float
    ) -> Submitted:
        started = time.perf_counter()
        index = await self._datasets.current()
        check_spec(spec, index, max_span_days=self._options.max_span_days)
        document = spec.model_dump(mode="json")
        store.check_storable(document)  # before its canonical text: JSON may hold a lone
        new_id = uuid.uuid4()  # surrogate, which no UTF-8 text can
        with creating(kind="backtest", path="/v1/backtests", ident=new_id, key=idempotency_key):
            async with self._db() as conn:
                run, replayed = await store.insert_run(
                    conn,
                    owner=owner.name,
                    spec=document,
                    data_version=index.version,
                    idempotency_key=idempotency_key,
                    limit=self._options.owner_run_limit,
                    spec_text=spec.model_dump_json(),
                    new_id=new_id,
                )
        if not replayed:
            qbt_metrics().submitted(seconds=time.perf_counter() - started)
        if wait_s > 0:
            if await self._waiters.wait_for_end(owner.name, run.id, wait_s=wait_s) in FINISHED:
                return Submitted(run, replayed, finished=await self.get(owner, run.id))
        return Submitted(run, replayed)

    async def get(self, owner: Owner, run_id: uuid.UUID, *, wait_s: float = 0) -> RunRecord:
        if wait_s > 0:
            await self._waiters.wait_for_end(owner.name, run_id, wait_s=wait_s)
        async with self._db() as conn:
            return await store.get_run(conn, owner=owner.name, run_id=run_id)

    async def list(
        self, owner: Owner, *, limit: int, cursor: str | None, status: str | None
    ) -> tuple[list[RunSummary], str | None]:
        async with self._db() as conn:
            return await store.list_runs(
                conn, owner=owner.name, limit=min(limit, self._options.page_limit),
                cursor=cursor, status=status,
            )

    async def cancel(self, owner: Owner, run_id: uuid.UUID) -> RunRecord:
        async with self._db() as conn:
            await store.cancel_run(conn, owner=owner.name, run_id=run_id)
            return await store.get_run(conn, owner=owner.name, run_id=run_id)
