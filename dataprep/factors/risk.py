"""Risk: volatility, downside, market beta and drawdown of daily close-to-close returns."""

from __future__ import annotations

import polars as pl

from dataprep.factors.ops import ANNUALISE, col, covariance, max_drawdown, mean, std
from dataprep.factors.registry import FactorSpec


def _volatility(days: int) -> FactorSpec:
    return FactorSpec(
        name=f"VOL_{days}D",
        category="risk",
        formula=f"standard deviation (ddof=1) of the last {days} daily returns x sqrt(252)",
        lookback=days + 1,
        inputs=("returns",),
        expr=lambda: std(col("returns"), days) * ANNUALISE,
    )


def _beta(days: int) -> pl.Expr:
    variance = std(col("market_return"), days) ** 2
    return pl.when(variance > 0).then(covariance("returns", "market_return", n=days) / variance)


SPECS: tuple[FactorSpec, ...] = (
    _volatility(20),
    _volatility(60),
    _volatility(120),
    FactorSpec(
        name="DOWNSIDE_VOL_60D",
        category="risk",
        formula="sqrt(mean of min(return, 0)^2 over the last 60 days) x sqrt(252)",
        lookback=61,
        inputs=("returns",),
        expr=lambda: mean(col("returns").clip(upper_bound=0.0) ** 2, 60).sqrt() * ANNUALISE,
    ),
    FactorSpec(
        name="BETA_252D",
        category="risk",
        formula="cov(return, market index return) / var(market index return) over 252 days",
        lookback=253,
        inputs=("returns", "market_return"),
        expr=lambda: _beta(252),
    ),
    FactorSpec(
        name="MAX_DD_252D",
        category="risk",
        formula="worst close / running peak close - 1 within the last 252 days (<= 0)",
        lookback=252,
        inputs=("close", "day"),
        expr=lambda: max_drawdown(252),
    ),
)
