"""Pure numpy backtest engine: StrategySpec + FactorPanel -> BacktestResult (no Ray, no I/O)."""

from __future__ import annotations

from backtest.engine import run_backtest
from backtest.result import BacktestResult, Holding, Rebalance
from backtest.spec import StrategySpec
from backtest.statistics import Statistics
from backtest.validation import SpecError, validate_against
from backtest.version import ENGINE_VERSION

__all__ = [
    "ENGINE_VERSION",
    "BacktestResult",
    "Holding",
    "Rebalance",
    "SpecError",
    "Statistics",
    "StrategySpec",
    "run_backtest",
    "validate_against",
]
