"""Momentum / technical: price paths over trading-day windows of the market calendar."""

from __future__ import annotations

import polars as pl

from dataprep.factors.ops import change, col, highest, lag, lowest, mean, total
from dataprep.factors.registry import FactorSpec


def _momentum(name: str, *, days: int, label: str) -> FactorSpec:
    return FactorSpec(
        name=name,
        category="momentum",
        formula=f"close(t) / close(t-{days}) - 1 ({label})",
        lookback=days + 1,
        inputs=("close",),
        expr=lambda: change(days),
    )


def _ma_ratio(days: int) -> FactorSpec:
    return FactorSpec(
        name=f"MA_RATIO_{days}",
        category="momentum",
        formula=f"close / mean close of the last {days} days - 1",
        lookback=days,
        inputs=("close",),
        expr=lambda: col("close") / mean(col("close"), days) - 1.0,
    )


def _rsi(days: int) -> pl.Expr:
    move = col("close") - lag(col("close"), 1)
    gains = total(move.clip(lower_bound=0.0), days)
    moves = total(move.abs(), days)
    return pl.when(moves > 0).then(100.0 * gains / moves)


SPECS: tuple[FactorSpec, ...] = (
    _momentum("MOM_1M", days=21, label="1 month"),
    _momentum("MOM_3M", days=63, label="3 months"),
    _momentum("MOM_6M", days=126, label="6 months"),
    _momentum("MOM_12M", days=252, label="12 months"),
    FactorSpec(
        name="MOM_12_1",
        category="momentum",
        formula="close(t-21) / close(t-252) - 1 (12 months, skipping the last month)",
        lookback=253,
        inputs=("close",),
        expr=lambda: lag(col("close"), 21) / lag(col("close"), 252) - 1.0,
    ),
    _momentum("REVERSAL_5D", days=5, label="1 week, short-term reversal"),
    FactorSpec(
        name="RSI_14",
        category="momentum",
        formula="100 x sum of up moves / sum of absolute moves of close over 14 days (Cutler)",
        lookback=15,
        inputs=("close",),
        expr=lambda: _rsi(14),
    ),
    _ma_ratio(20),
    _ma_ratio(60),
    FactorSpec(
        name="DIST_52W_HIGH",
        category="momentum",
        formula="close / highest close of the last 252 days - 1",
        lookback=252,
        inputs=("close",),
        expr=lambda: col("close") / highest(col("close"), 252) - 1.0,
    ),
    FactorSpec(
        name="DIST_52W_LOW",
        category="momentum",
        formula="close / lowest close of the last 252 days - 1",
        lookback=252,
        inputs=("close",),
        expr=lambda: col("close") / lowest(col("close"), 252) - 1.0,
    ),
)
