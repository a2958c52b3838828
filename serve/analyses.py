"""The analyses of finished sweeps (overfitting statistics, walk-forward), run by the
dispatcher: when every variant of a sweep has ended, its variants' rank_by and daily returns
are read from PostgreSQL and `analyse` (a Ray task, or in tests a plain function) computes
`backtest.sweep_analysis.analyse_sweep` against the panel; the result is stored once in
`sweeps.summary`, and only then does the sweep read as done. A dispatcher that dies
mid-analysis leaves the summary unwritten, and its successor computes it again.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from serve.database import connection
from serve.store import sweeps as store
from serve.store.records import AnalysisInputs

log = logging.getLogger(__name__)

# (inputs) -> the SweepAnalysis as JSON text; raising AnalysisFailed stores the failure.
Analyse = Callable[[AnalysisInputs], Awaitable[str]]


class AnalysisFailed(Exception):
    """The analysis itself failed (not the database): stored as the sweep's analysis error."""


class Analyses:
    """The analyses in flight, at most one per sweep."""

    def __init__(self, analyse: Analyse) -> None:
        self._analyse = analyse
        self._running: dict[uuid.UUID, asyncio.Task[None]] = {}
        self.counts = {"analysed": 0, "analysis_failed": 0}

    def __len__(self) -> int:
        return len(self._running)

    async def start_pending(self, pool: Any) -> None:
        """Start the analysis of every sweep that needs one and is not in flight."""
        async with connection(pool) as conn:
            pending = await store.unanalysed(conn)
        for sweep_id in pending:
            if sweep_id not in self._running:
                self._running[sweep_id] = asyncio.ensure_future(self._run(pool, sweep_id))

    async def wait(self) -> None:
        """Until every analysis in flight has ended (tests)."""
        while self._running:
            await asyncio.gather(*self._running.values(), return_exceptions=True)

    async def _run(self, pool: Any, sweep_id: uuid.UUID) -> None:
        try:
            started = time.perf_counter()
            async with connection(pool) as conn:
                inputs = await store.analysis_inputs(conn, sweep_id=sweep_id)
            read = time.perf_counter()
            try:
                summary = json.loads(await self._analyse(inputs))
                outcome = "analysed"
            except AnalysisFailed as err:
                summary = {"overfitting": None, "walk_forward": None,
                           "errors": [f"the analysis failed: {err}"]}
                outcome = "analysis_failed"
            computed = time.perf_counter()
            async with connection(pool) as conn:
                if await store.write_summary(conn, sweep_id=sweep_id, summary=summary):
                    self.counts[outcome] += 1
            log.info("sweep %s analysed (%d variants): read %.2f s, computed %.2f s, "
                     "written %.2f s", sweep_id, len(inputs.values), read - started,
                     computed - read, time.perf_counter() - computed)
        except Exception as err:  # the database went away: the next poll tries again
            log.warning("analysis of sweep %s: %s: %s", sweep_id, type(err).__name__, err)
        finally:
            del self._running[sweep_id]
