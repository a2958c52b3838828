"""Factor reports in the dispatcher: claimed from `factor_reports` under a lease (renewed
while they run), computed by `compute` (a Ray task against the data version's panel, or in
tests a plain function), written once. A report whose own computation fails is stored as
failed with the reason; one whose worker or dispatcher dies is re-queued when its lease
expires (`reap_reports`), at most `max_attempts` times.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from serve.database import connection
from serve.store import reports as store
from serve.store.reports import ReportClaim

log = logging.getLogger(__name__)

# (claim) -> (FactorReport JSON text, the data version it used); ReportFailed: its own error.
Compute = Callable[[ReportClaim], Awaitable[tuple[str, str]]]


class ReportFailed(Exception):
    """The report's own failure (bad factors for the data, ...): stored as its error."""


class ReportRunner:
    def __init__(self, compute: Compute, *, lease_s: float, max_attempts: int,
                 max_in_flight: int = 1) -> None:
        self._compute, self._lease_s = compute, lease_s
        self._max_attempts, self._max_in_flight = max_attempts, max_in_flight
        self._running: dict[str, tuple[ReportClaim, asyncio.Task[None]]] = {}
        self.counts = {"reports_done": 0, "reports_failed": 0}

    def __len__(self) -> int:
        return len(self._running)

    async def tick(self, pool: Any, *, reap: bool, renew: bool) -> None:
        async with connection(pool) as conn:
            if reap:
                await store.reap_reports(conn, max_attempts=self._max_attempts)
            if renew:
                await store.renew_reports(conn, [c for c, _ in self._running.values()],
                                          lease_s=self._lease_s)
            room = self._max_in_flight - len(self._running)
            claims = (await store.claim_reports(conn, limit=room, lease_s=self._lease_s)
                      if room > 0 else [])
        for claim in claims:
            self._running[claim.id] = (claim, asyncio.ensure_future(self._run(pool, claim)))

    async def wait(self) -> None:
        """Until every report in flight has ended (tests)."""
        while self._running:
            await asyncio.gather(*(task for _, task in self._running.values()),
                                 return_exceptions=True)

    async def _run(self, pool: Any, claim: ReportClaim) -> None:
        try:
            try:
                result, version = await self._compute(claim)
                error = None
            except ReportFailed as err:
                result, version, error = None, claim.data_version, str(err)
            async with connection(pool) as conn:
                written = await store.finish_report(conn, claim, result=result, error=error,
                                                    data_version=version)
            if written:  # else its lease was lost meanwhile: the next claim writes it
                self.counts["reports_done" if error is None else "reports_failed"] += 1
        except Exception as err:  # worker lost, database away: the lease decides
            log.warning("factor report %s: %s: %s", claim.id, type(err).__name__, err)
        finally:
            del self._running[claim.id]
