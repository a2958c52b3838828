"""What to hold on each rebalance day: eligibility, filters, score, top_n, weights.

Pure numpy over the [n_rebalance_days, n_stocks] grid; the only Python loop runs over
rebalance days (`pick_top`, `target_weights`). The selection depends on the data only, not
on the portfolio, so the engine plans all rebalance days before it simulates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from backtest.ranking import percentile_pass, percentiles
from backtest.spec import (
    AVG_TRADING_VALUE,
    MARKET_CAP,
    VOLATILITY,
    PercentileFilter,
    RangeFilter,
    StrategySpec,
    Universe,
)
from dataprep.panel import FactorPanel

CHUNK_ROWS = 128  # rebalance days per vectorised block (bounds temporary memory)
SCORE_DECIMALS = 12  # normalised scores equal to 1e-12 count as tied (float noise)


@dataclass(frozen=True)
class Selection:
    """One rebalance day's targets: panel stock columns, best first, and their weights as
    fractions of the budget (sum <= 1; below 1 only when `max_weight` caps)."""

    stocks: np.ndarray
    weights: np.ndarray


def static_mask(universe: Universe, *, market: np.ndarray, sector: np.ndarray) -> np.ndarray:
    """Bool [n_stocks]: in the chosen markets and not in an excluded sector."""
    keep = np.ones(len(market), dtype=bool)
    if universe.markets != "both":
        keep &= np.asarray(market) == universe.markets
    if universe.exclude_sectors:
        keep &= ~np.isin(np.asarray(sector), universe.exclude_sectors)
    return keep


def signal_values(panel: FactorPanel, *, names: list[str], rows: np.ndarray) -> dict:
    """Factor name -> its values on the day before each of `rows` ([n_rows, n_stocks])."""
    return {name: panel.factor(name)[rows - 1] for name in names}


def _bound(value: float, like: np.ndarray) -> np.floating:
    return like.dtype.type(value)  # compare in the factor's own precision (float32)


def eligibility(
    spec: StrategySpec,
    *,
    panel: FactorPanel,
    rows: np.ndarray,
    last_day: np.ndarray,
    signals: dict,
) -> np.ndarray:
    """Bool [n_rows, n_stocks]: eligible on each rebalance row (DESIGN.md): chosen markets
    and sectors, tradable on d and d-1, not on its last trading day, every factor used
    non-NaN on d-1, universe minimums and filters; percentile filters are computed among
    the stocks passing everything else, each independently, and all must pass.

    Weighting factors count as used: market_cap needs MARKET_CAP > 0 and inverse_vol needs
    VOL_60D > 0 on d-1.
    """
    keep = static_mask(spec.universe, market=panel.market, sector=panel.sector)[None, :]
    keep = keep & panel.tradable[rows] & panel.tradable[rows - 1]
    keep &= last_day[None, :] != rows[:, None]
    for values in signals.values():
        keep &= ~np.isnan(values)
    universe = spec.universe
    if universe.min_market_cap is not None:
        cap = signals[MARKET_CAP]
        keep &= cap >= _bound(universe.min_market_cap, cap)
    if universe.min_avg_trading_value is not None:
        value = signals[AVG_TRADING_VALUE]
        keep &= value >= _bound(universe.min_avg_trading_value, value)
    if spec.weighting == "market_cap":
        keep &= signals[MARKET_CAP] > 0
    elif spec.weighting == "inverse_vol":
        keep &= signals[VOLATILITY] > 0
    for item in spec.filters:
        if isinstance(item, RangeFilter):
            values = signals[item.factor]
            if item.min is not None:
                keep &= values >= _bound(item.min, values)
            if item.max is not None:
                keep &= values <= _bound(item.max, values)
    base = keep
    for item in spec.filters:
        if isinstance(item, PercentileFilter):
            keep = keep & percentile_pass(
                signals[item.factor], base, top_pct=item.top_pct, bottom_pct=item.bottom_pct
            )
    return keep


def scores(spec: StrategySpec, *, signals: dict, eligible: np.ndarray) -> np.ndarray:
    """Float64 [n_rows, n_stocks]: sum of weight x p (1 - p when ascending) over the
    ranking terms, divided by the sum of weights (same order, fewer float ties); -inf
    where not eligible."""
    total = np.zeros(eligible.shape)
    for term in spec.ranking:
        p = percentiles(signals[term.factor], eligible)
        total += term.weight * (1.0 - p if term.ascending else p)
    total /= sum(term.weight for term in spec.ranking)
    total = np.round(total, SCORE_DECIMALS)
    return np.where(eligible, total, -np.inf)


def pick_top(score: np.ndarray, *, eligible: np.ndarray, code_rank: np.ndarray, top_n: int):
    """Columns of the `top_n` highest scores of one row, best first; equal scores go to the
    lower stock code. Fewer eligible than top_n: all of them."""
    stocks = np.flatnonzero(eligible)
    values = score[stocks]
    if len(stocks) > top_n:
        cut = len(stocks) - top_n
        threshold = np.partition(values, cut)[cut]  # the top_n-th highest score
        near = values >= threshold
        stocks, values = stocks[near], values[near]
    order = np.lexsort((code_rank[stocks], -values))
    return stocks[order[:top_n]]


def target_weights(
    spec: StrategySpec, *, stocks: np.ndarray, size: np.ndarray | None
) -> np.ndarray:
    """Fractions of the budget for `stocks`: equal, or proportional to `size` (market cap,
    1/volatility), each capped at `max_weight` (the excess stays in cash)."""
    if len(stocks) == 0:
        return np.zeros(0)
    if size is None:
        weights = np.full(len(stocks), 1.0 / len(stocks))
    else:
        chosen = size[stocks].astype(np.float64)
        weights = chosen / chosen.sum()
    if spec.max_weight is not None:
        weights = np.minimum(weights, spec.max_weight)
    return weights


def _sizes(spec: StrategySpec, signals: dict) -> np.ndarray | None:
    if spec.weighting == "market_cap":
        return signals[MARKET_CAP]
    if spec.weighting == "inverse_vol":
        volatility = signals[VOLATILITY].astype(np.float64)
        inverse = np.zeros_like(volatility)  # 0 where not eligible (VOL_60D NaN or <= 0)
        return np.divide(1.0, volatility, out=inverse, where=volatility > 0)
    return None


def plan_selections(
    spec: StrategySpec, *, panel: FactorPanel, rows: np.ndarray, last_day: np.ndarray
) -> list[Selection]:
    """One Selection per rebalance row (`rows`: panel row indices, each >= 1).

    `last_day[s]` is stock s's last trading row if it delists, else -1.
    """
    names = list(spec.factors_used())
    code_rank = np.argsort(np.argsort(panel.codes, kind="stable"), kind="stable")
    plans: list[Selection] = []
    for begin in range(0, len(rows), CHUNK_ROWS):
        block = rows[begin : begin + CHUNK_ROWS]
        signals = signal_values(panel, names=names, rows=block)
        eligible = eligibility(spec, panel=panel, rows=block, last_day=last_day, signals=signals)
        score = scores(spec, signals=signals, eligible=eligible)
        sizes = _sizes(spec, signals)
        for i in range(len(block)):
            stocks = pick_top(score[i], eligible=eligible[i], code_rank=code_rank, top_n=spec.top_n)
            size = None if sizes is None else sizes[i]
            plans.append(Selection(stocks, target_weights(spec, stocks=stocks, size=size)))
    return plans
