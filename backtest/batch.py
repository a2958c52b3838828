"""run_specs: many strategies against one panel, one typed outcome each (pure, no Ray).

This is the one way QBT runs backtests: the dispatcher's Ray tasks, `qbt run`, `qbt sweep`
and the Ray job all come here through `backtest.tasks.run_specs_task`. A request that wants
the whole result runs alone (`run_backtest`); the others (sweep variants) run together,
grouped by selection plan (`backtest.variants`), and bring back their statistics and daily
returns only. A spec that fails (any exception: a bad spec, a bug, a numerical error) fails
alone with its error; the batch goes on.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from backtest.version import ENGINE_VERSION

if TYPE_CHECKING:
    from dataprep.panel import FactorPanel


@dataclass(frozen=True)
class RunRequest:
    """One backtest to run: a StrategySpec JSON document; `keep_result` asks for the whole
    BacktestResult (single runs) besides the statistics (always)."""

    spec: dict[str, Any]
    keep_result: bool = False


@dataclass(frozen=True)
class RunOutcome:
    """What one backtest ended in; statistics and result are JSON text, made where the run
    ran (in parallel, in the worker)."""

    status: Literal["done", "failed"]
    statistics: str | None = None
    result: str | None = None
    error: str | None = None
    engine_version: str = ENGINE_VERSION
    seconds: float = 0.0
    node: str | None = None  # the Ray node it ran on, when it ran on Ray
    returns: bytes | None = None  # daily returns, float32 little-endian

    def statistics_dict(self) -> dict[str, Any] | None:
        return None if self.statistics is None else json.loads(self.statistics)


def run_spec(panel: FactorPanel, request: RunRequest) -> RunOutcome:
    """One run alone: its statistics, daily returns and (if asked) its whole result."""
    import numpy as np

    from backtest.engine import run_backtest
    from backtest.spec import StrategySpec
    from backtest.statistics import returns_from_equity

    started = time.perf_counter()
    try:
        spec = StrategySpec.model_validate(request.spec)
        result = run_backtest(spec, panel)
    except Exception as err:  # the run's own failure: report it, keep the batch going
        return RunOutcome(status="failed", error=f"{type(err).__name__}: {err}",
                          seconds=time.perf_counter() - started)
    return RunOutcome(
        status="done",
        statistics=result.statistics.model_dump_json(),
        result=result.model_dump_json() if request.keep_result else None,
        engine_version=result.engine_version,
        seconds=time.perf_counter() - started,
        returns=returns_from_equity(np.array(result.equity), initial=spec.initial_capital)
        .astype("<f4").tobytes(),
    )


def run_specs(panel: FactorPanel, requests: Sequence[RunRequest]) -> list[RunOutcome]:
    """Run every request against the panel; outcomes in request order."""
    outcomes: list[RunOutcome | None] = [None] * len(requests)
    together: list[int] = []
    for index, request in enumerate(requests):
        if request.keep_result:
            outcomes[index] = run_spec(panel, request)
        else:
            together.append(index)
    for index, outcome in zip(together, run_together(panel, [requests[i] for i in together]),
                              strict=True):
        outcomes[index] = outcome
    return [outcome for outcome in outcomes if outcome is not None]


def run_together(panel: FactorPanel, requests: Sequence[RunRequest]) -> list[RunOutcome]:
    """Statistics and daily returns of every request, the variants sharing a selection plan
    run together; a spec that does not validate fails alone."""
    from backtest.spec import StrategySpec
    from backtest.variants import run_variants

    if not requests:
        return []
    started = time.perf_counter()
    outcomes: list[RunOutcome | None] = [None] * len(requests)
    specs, valid = [], []
    for index, request in enumerate(requests):
        try:
            specs.append(StrategySpec.model_validate(request.spec))
            valid.append(index)
        except Exception as err:  # the spec's own failure
            outcomes[index] = RunOutcome(status="failed", error=f"{type(err).__name__}: {err}")
    ran = run_variants(specs, panel)
    each = (time.perf_counter() - started) / len(requests)
    for index, variant in zip(valid, ran, strict=True):
        if variant.statistics is None or variant.returns is None:
            outcomes[index] = RunOutcome(status="failed", error=variant.error, seconds=each)
        else:
            outcomes[index] = RunOutcome(
                status="done",
                statistics=variant.statistics.model_dump_json(),
                returns=variant.returns.astype("<f4").tobytes(),
                seconds=each,
            )
    return [outcome for outcome in outcomes if outcome is not None]
