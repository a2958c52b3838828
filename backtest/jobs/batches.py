"""Run many backtests as Ray tasks: batches of variants against one shared panel ObjectRef."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import ray

from backtest.spec import StrategySpec
from backtest.sweep import batches
from dataprep.panel import FactorPanel


def run_variants(panel: FactorPanel, specs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Run each spec against the panel; a variant that fails reports its error, not the batch."""
    from backtest.engine import run_backtest

    rows: list[dict[str, Any]] = []
    for spec_document in specs:
        started = time.perf_counter()
        try:
            result = run_backtest(StrategySpec.model_validate(spec_document), panel)
            statistics = result.statistics.model_dump(mode="json")
            rows.append({"statistics": statistics, "error": None})
        except ValueError as err:
            rows.append({"statistics": None, "error": str(err)})
        rows[-1]["seconds"] = time.perf_counter() - started
    return rows


@ray.remote(max_retries=3, scheduling_strategy="SPREAD")
def run_batch(panel: FactorPanel, specs: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """One batch on whichever node Ray picks (spread over the cluster); the panel argument
    is resolved from that node's object store, fetched there once for all its tasks."""
    node = ray.get_runtime_context().get_node_id()
    return [{**row, "node": node} for row in run_variants(panel, specs)]


def run_on_ray(
    panel_ref: ray.ObjectRef,
    specs: Sequence[StrategySpec],
    *,
    batch_size: int,
    on_progress: Callable[[int, int], None] | None = None,
) -> list[dict[str, Any]]:
    """Run every spec in batches of `batch_size` as Ray tasks; rows come back in spec order,
    each with `variant`, `statistics` (or `error`), `seconds` and the `node` it ran on."""
    documents = [spec.model_dump(mode="json") for spec in specs]
    pending = {
        run_batch.remote(panel_ref, documents[part.start : part.stop]): part
        for part in batches(len(documents), batch_size=batch_size)
    }
    rows: list[dict[str, Any] | None] = [None] * len(documents)
    done = 0
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=len(pending), timeout=1.0)
        if not ready:
            continue
        for ref, answer in zip(ready, ray.get(ready), strict=True):
            part = pending.pop(ref)
            for index, row in zip(part, answer, strict=True):
                rows[index] = {"variant": index, **row}
            done += len(part)
        if on_progress is not None:
            on_progress(done, len(documents))
    return [row for row in rows if row is not None]
