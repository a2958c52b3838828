"""Liquidity: trading value, volume, turnover and price impact over recent days."""

from __future__ import annotations

import polars as pl

from dataprep.factors.ops import col, full_window, mean, total
from dataprep.factors.registry import FactorSpec


def _amihud(days: int) -> pl.Expr:
    impact = pl.when(col("trading_value") > 0).then(col("returns").abs() / col("trading_value"))
    per_day = impact.rolling_mean(days, min_samples=1)  # the days with a trade
    return pl.when(full_window(days + 1)).then(per_day * 1e9)


SPECS: tuple[FactorSpec, ...] = (
    FactorSpec(
        name="AVG_TRADING_VALUE_20D",
        category="liquidity",
        formula="mean trading_value (KRW) of the last 20 trading days",
        lookback=20,
        inputs=("trading_value",),
        expr=lambda: mean(col("trading_value"), 20),
    ),
    FactorSpec(
        name="AVG_TRADING_VALUE_60D",
        category="liquidity",
        formula="mean trading_value (KRW) of the last 60 trading days",
        lookback=60,
        inputs=("trading_value",),
        expr=lambda: mean(col("trading_value"), 60),
    ),
    FactorSpec(
        name="AVG_VOLUME_20D",
        category="liquidity",
        formula="mean volume (shares) of the last 20 trading days",
        lookback=20,
        inputs=("volume",),
        expr=lambda: mean(col("volume"), 20),
    ),
    FactorSpec(
        name="TURNOVER_20D",
        category="liquidity",
        formula="mean of volume / shares_outstanding over the last 20 trading days",
        lookback=20,
        inputs=("volume", "shares_outstanding"),
        expr=lambda: mean(col("volume") / col("shares_outstanding"), 20),
    ),
    FactorSpec(
        name="AMIHUD_ILLIQ_20D",
        category="liquidity",
        formula="mean of |return| / trading_value x 1e9 over the traded days of the last 20",
        lookback=21,
        inputs=("returns", "trading_value", "close"),
        expr=lambda: _amihud(20),
    ),
    FactorSpec(
        name="ZERO_VOLUME_DAYS_60D",
        category="liquidity",
        formula="number of days with volume 0 (halted or no row) among the last 60",
        lookback=60,
        inputs=("volume",),
        expr=lambda: total((col("volume") == 0).cast(pl.Float64), 60),
    ),
)
