"""BacktestResult: the JSON-serialisable, NaN-free output of one run."""

from __future__ import annotations

import datetime as dt

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from backtest.spec import StrategySpec
from backtest.statistics import Statistics, finite, returns_from_equity


class _Output(BaseModel):
    model_config = ConfigDict(frozen=True, allow_inf_nan=False)


class Holding(_Output):
    code: str = Field(description="Stock code.")
    weight: float = Field(description="Position value / equity before that day's trading.")


class Rebalance(_Output):
    date: dt.date = Field(description="Rebalance day (trades at its close).")
    holdings: list[Holding] = Field(
        description=(
            "Positions after trading, best score first, then halted holdings (kept at their "
            "value). The traded weights sum to at most 1 minus the halted ones."
        )
    )
    turnover: float = Field(description="Traded value (buys + sells) / equity before trading.")
    costs: float = Field(description="Costs paid for this rebalance's trades (KRW).")


class Stock(_Output):
    name: str = Field(description="The stock's name.")
    market: str = Field(description="KOSPI or KOSDAQ.")
    sector: str = Field(description="Its sector.")


class BacktestResult(_Output):
    engine_version: str = Field(description="backtest.ENGINE_VERSION that produced this.")
    data_version: str = Field(description="FactorPanel.version the run read.")
    spec: StrategySpec = Field(description="The strategy that ran.")
    dates: list[dt.date] = Field(description="The run's trading days.")
    equity: list[float] = Field(description="Equity at each close (KRW), after trading.")
    benchmark_equity: list[float | None] = Field(
        description="initial_capital x index(t) / index(first day); null where no index."
    )
    returns: list[float | None] = Field(
        description="Daily returns; the first is against the initial capital."
    )
    rebalances: list[Rebalance] = Field(description="Every rebalance, in date order.")
    stocks: dict[str, Stock] = Field(
        default_factory=dict, description="Name, market and sector of every stock held."
    )
    statistics: Statistics = Field(description="Summary statistics.")


def nan_free(values: np.ndarray) -> list[float | None]:
    """A float list with None in place of NaN / inf."""
    out: list[float | None] = values.tolist()
    if not np.isfinite(values).all():
        out = [finite(v) for v in out]  # type: ignore[arg-type]
    return out


def rebalance_record(
    *,
    day: dt.date,
    codes: list[str],
    values: np.ndarray,
    equity_before: float,
    turnover: float,
    costs: float,
) -> dict:
    """One rebalance as plain data; BacktestResult validates it (fast, in pydantic-core)."""
    scale = 1.0 / equity_before if equity_before > 0 else 0.0
    weights = (values * scale).tolist()
    return {
        "date": day,
        "holdings": [{"code": c, "weight": w} for c, w in zip(codes, weights, strict=True)],
        "turnover": turnover,
        "costs": costs,
    }


def equity_returns(equity: np.ndarray, *, initial: float) -> list[float | None]:
    return nan_free(returns_from_equity(equity, initial=initial))
