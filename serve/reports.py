"""Factor reports through the service: check a FactorReportSpec against the current data
version, queue it (durable, like runs: the dispatcher computes it as a Ray task), read it."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager

import numpy as np

from backtest.research import FactorReportSpec
from backtest.validation import PanelShape
from serve.database import Conn
from serve.datasets import Datasets
from serve.errors import InvalidInputError, creating
from serve.keys import Owner
from serve.options import ServiceOptions
from serve.store import reports as store
from serve.store.reports import ReportRecord


def check_report(spec: FactorReportSpec, index: PanelShape) -> None:
    """InvalidInputError (naming the field) when the report cannot be made on this data."""
    unknown = [name for name in spec.factors or [] if name not in index.factor_names]
    if unknown:
        raise InvalidInputError(
            f"Got {', '.join(repr(n) for n in unknown)} in factors: no such factor; known: "
            + ", ".join(index.factor_names), field="factors")
    days = index.dates.astype("datetime64[D]")
    first = days[0] if spec.start is None else np.datetime64(spec.start, "D")
    last = days[-1] if spec.end is None else np.datetime64(spec.end, "D")
    if not ((days >= first) & (days <= last)).any():
        raise InvalidInputError(
            f'Got "{spec.start}" .. "{spec.end}" for start .. end: no trading day in it (the '
            f"data covers {days[0]} .. {days[-1]})", field="start")


class Reports:
    def __init__(
        self, *, db: Callable[[], AbstractAsyncContextManager[Conn]], options: ServiceOptions,
        datasets: Datasets,
    ) -> None:
        self._db, self._options, self._datasets = db, options, datasets

    async def submit(
        self, owner: Owner, spec: FactorReportSpec, *, idempotency_key: str | None
    ) -> tuple[uuid.UUID, str, bool]:
        """(id, data version, replayed)."""
        index = await self._datasets.current()
        check_report(spec, index)
        new_id = uuid.uuid4()
        with creating(kind="factor report", path="/v1/factor-reports", ident=new_id,
                      key=idempotency_key):
            async with self._db() as conn:
                report_id, replayed = await store.insert_report(
                    conn, owner=owner.name, spec=spec.model_dump(mode="json"),
                    data_version=index.version, idempotency_key=idempotency_key,
                    limit=self._options.owner_report_limit, new_id=new_id)
        return report_id, index.version, replayed

    async def get(self, owner: Owner, report_id: uuid.UUID) -> ReportRecord:
        async with self._db() as conn:
            return await store.get_report(conn, owner=owner.name, report_id=report_id)
