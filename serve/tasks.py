"""The Ray task the dispatcher submits: a batch of claimed runs against one panel ObjectRef.

Each run's outcome is JSON text, made here in the worker (in parallel) rather than in the
dispatcher: the statistics always, the whole BacktestResult only for single runs. A run that
raises fails alone, with its error; the batch goes on. The task runs at the lowest CPU
priority, so the serving processes of the node keep answering while it computes.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import ray

from dataprep.panel import FactorPanel
from serve.queue import Claim, Outcome

TASK_NICENESS = 19


def run_claims(panel: FactorPanel, claims: Sequence[Claim]) -> list[Outcome]:
    from backtest.engine import run_backtest
    from backtest.spec import StrategySpec

    outcomes = []
    for claim in claims:
        try:
            result = run_backtest(StrategySpec.model_validate(claim.spec), panel)
        except Exception as err:  # the run's own failure: report it, keep the batch going
            outcomes.append(
                Outcome(
                    id=claim.id,
                    attempt=claim.attempt,
                    status="failed",
                    error=f"{type(err).__name__}: {err}",
                )
            )
            continue
        outcomes.append(
            Outcome(
                id=claim.id,
                attempt=claim.attempt,
                status="done",
                statistics=result.statistics.model_dump_json(),
                result=result.model_dump_json() if claim.keep_result else None,
                engine_version=result.engine_version,
                data_version=claim.data_version,
            )
        )
    return outcomes


def yield_cpu_to_serving(niceness: int = TASK_NICENESS) -> None:
    """Run this worker below the HTTP proxy, ingress and dispatcher (Ray starts every worker
    at niceness 15): on a busy node, submits and answers stay fast and backtests take the
    CPU that is left. Once per worker process; niceness can only go up."""
    current = os.nice(0)
    if current < niceness:
        os.nice(niceness - current)


@ray.remote(num_cpus=1)
def run_claims_task(panel: FactorPanel, claims: Sequence[Claim]) -> list[Outcome]:
    yield_cpu_to_serving()
    return run_claims(panel, claims)
