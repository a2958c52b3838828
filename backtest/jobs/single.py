"""One backtest as a Ray task against a shared panel ObjectRef."""

from __future__ import annotations

from typing import Any

import ray

from dataprep.panel import FactorPanel


@ray.remote(max_retries=3)
def run_remote(panel: FactorPanel, spec_document: dict[str, Any]) -> dict[str, Any]:
    """Validate the spec against the panel, run it, answer the JSON-ready result."""
    from backtest.engine import run_backtest
    from backtest.spec import StrategySpec

    spec = StrategySpec.model_validate(spec_document)
    return run_backtest(spec, panel).model_dump(mode="json")
