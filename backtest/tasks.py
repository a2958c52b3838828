"""The one Ray task that runs backtests (`run_specs_task`, around `backtest.batch.run_specs`),
how callers submit it, a driver-side loop for many batches (`run_on_ray`), the small task
that answers picks (`picks_task`, around `backtest.picks.compute_picks`) and the one that
analyses a finished sweep (`analyse_task`, around `backtest.sweep_analysis.analyse_sweep`).

The panel argument is an ObjectRef: Ray resolves it from the node's object store (fetched
there once for all of that node's tasks), zero-copy. The task runs at the lowest CPU
priority, so the serving processes of a node keep answering while it computes.
"""

from __future__ import annotations

import dataclasses
import functools
import os
from collections.abc import Callable, Sequence

import numpy as np
import ray

from backtest.batch import RunOutcome, RunRequest, run_specs
from backtest.picks import compute_picks
from backtest.spec import StrategySpec
from dataprep.panel import FactorPanel

TASK_NICENESS = 19
TASK_NAME = "run_specs_task"


def yield_cpu_to_serving(niceness: int = TASK_NICENESS) -> None:
    """Run this worker below the HTTP proxy, ingress and dispatcher (Ray starts every worker
    at niceness 15): on a busy node, submits and answers stay fast and backtests take the
    CPU that is left. Once per worker process; niceness can only go up."""
    current = os.nice(0)
    if current < niceness:
        os.nice(niceness - current)


@functools.cache
def warm_sweep_analysis() -> None:
    """Load the sweep analysis and its compiled CSCV loop once per worker that runs sweep
    variants: the analysis that follows a sweep (`analyse_task`, often in such a worker)
    then starts warm, about a second sooner."""
    import backtest.sweep_analysis  # noqa: F401 (what analyse_task imports)
    from backtest.overfitting import pbo

    pbo(np.ones((32, 2)), n_blocks=16)


@ray.remote(num_cpus=1)
def run_specs_task(panel: FactorPanel, requests: Sequence[RunRequest]) -> list[RunOutcome]:
    yield_cpu_to_serving()
    node = ray.get_runtime_context().get_node_id()
    outcomes = [dataclasses.replace(o, node=node) for o in run_specs(panel, requests)]
    if any(not request.keep_result for request in requests):
        warm_sweep_analysis()
    return outcomes


def submit(
    panel_ref: ray.ObjectRef,
    requests: Sequence[RunRequest],
    *,
    retries: int,
    name: str | None = None,
    spread: bool = False,
) -> ray.ObjectRef:
    """One batch as a Ray task, named `run_specs_task (NAME)` on the dashboard and in the
    worker's process title; `spread` places batches over every node (sweeps) instead of
    where resources are found first."""
    options: dict[str, object] = {
        "max_retries": retries, "name": f"{TASK_NAME} ({name})" if name else TASK_NAME,
    }
    if spread:
        options["scheduling_strategy"] = "SPREAD"
    return run_specs_task.options(**options).remote(panel_ref, list(requests))


@ray.remote(num_cpus=0)  # milliseconds of work: never queued behind a sweep's backtests
def picks_task(panel: FactorPanel, spec: dict) -> str:
    """The picks of `spec` (a StrategySpec document) as JSON text."""
    return compute_picks(StrategySpec.model_validate(spec), panel).model_dump_json()


@ray.remote(num_cpus=1)
def analyse_task(
    panel: FactorPanel, sweep: dict, values: list[float | None], variants: list[int],
    returns: list[bytes],
) -> str:
    """The analysis of a finished sweep (`backtest.sweep_analysis`) as JSON text: `values`
    every variant's rank_by, `returns` the daily returns (float32 bytes) of `variants`."""
    from backtest.sweep import SweepSpec
    from backtest.sweep_analysis import analyse_sweep, returns_matrix

    yield_cpu_to_serving()
    numbers, matrix = returns_matrix(variants, returns)
    column = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
    return analyse_sweep(SweepSpec.model_validate(sweep), panel, values=column,
                         variants=numbers, returns=matrix).model_dump_json()


@ray.remote(num_cpus=1)
def factor_report_task(panel: FactorPanel, spec: dict) -> str:
    """The factor report (`backtest.research`) of a FactorReportSpec document, as JSON text,
    on as many threads as the task has CPUs."""
    from backtest.research import FactorReportSpec, run_factor_report

    yield_cpu_to_serving()
    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1)
    return run_factor_report(FactorReportSpec.model_validate(spec), panel,
                             threads=max(1, int(cpus))).model_dump_json()


def batches(n_items: int, *, batch_size: int) -> list[range]:
    return [range(i, min(i + batch_size, n_items)) for i in range(0, n_items, batch_size)]


def run_on_ray(
    panel_ref: ray.ObjectRef,
    requests: Sequence[RunRequest],
    *,
    batch_size: int,
    retries: int = 3,
    label: str = "sweep",
    on_progress: Callable[[int, int], None] | None = None,
) -> list[RunOutcome]:
    """Every request in batches of at most `batch_size` (two a CPU when fewer: every core
    busy), spread over the cluster; outcomes in request order."""
    cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
    size = max(1, min(batch_size, -(-len(requests) // (2 * cpus))))
    parts = batches(len(requests), batch_size=size)
    pending = {
        submit(panel_ref, [requests[i] for i in part], retries=retries, spread=True,
               name=f"{label} variants {part.start}-{part.stop - 1} of {len(requests)}"): part
        for part in parts
    }
    outcomes: list[RunOutcome | None] = [None] * len(requests)
    done = 0
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=1.0)
        if not ready:
            continue
        for ref, answer in zip(ready, ray.get(ready), strict=True):
            part = pending.pop(ref)
            for index, outcome in zip(part, answer, strict=True):
                outcomes[index] = outcome
            done += len(part)
        if on_progress is not None:
            on_progress(done, len(requests))
    return [outcome for outcome in outcomes if outcome is not None]
