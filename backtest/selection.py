"""What to hold on each rebalance day: eligibility, filters, score, top_n, weights.

Pure numpy over the [n_rebalance_days, n_stocks] grid, in blocks of rebalance days; no
Python loop over stocks or days. The selection depends on the data only, not
on the portfolio, so the engine plans all rebalance days before it simulates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from backtest.ranking import percentile_pass, ranked_percentiles
from backtest.spec import (
    AVG_TRADING_VALUE,
    EARNINGS,
    KIND_EXCLUSIONS,
    MARKET_CAP,
    STATUS_EXCLUSIONS,
    VOLATILITY,
    PercentileFilter,
    RangeFilter,
    StrategySpec,
    Universe,
)
from dataprep.panel import STATUS_BITS, delisting_days

if TYPE_CHECKING:  # no runtime import: dataprep's package imports the database stack
    from dataprep.panel import FactorPanel

CHUNK_ROWS = 32  # rebalance days per vectorised block (bounds temporary memory)
SCORE_DECIMALS = 12  # normalised scores equal to 12 decimals tie (float noise)


@dataclass(frozen=True)
class Selection:
    """One rebalance day's targets: panel stock columns, best first, and their weights as
    fractions of the budget (sum <= 1; below 1 only when `max_weight` caps).

    With a holding buffer the portfolio decides among `ranked`: the eligible stocks ranked
    within top_n + hold_buffer, best first, with their weighting `sizes` (None: equal);
    without one `ranked` is `stocks`. `scores` are the normalised scores of `ranked`;
    `n_eligible` counts the eligible stocks.
    """

    stocks: np.ndarray
    weights: np.ndarray
    ranked: np.ndarray
    scores: np.ndarray
    sizes: np.ndarray | None = None
    n_eligible: int = 0

    @classmethod
    def nothing(cls) -> Selection:
        """No target (a rebalance while market timing is off buys nothing)."""
        none = np.zeros(0, dtype=np.intp)
        return cls(stocks=none, weights=np.zeros(0), ranked=none, scores=np.zeros(0))


def static_mask(
    universe: Universe, *, market: np.ndarray, sector: np.ndarray, kind: np.ndarray
) -> np.ndarray:
    """Bool [n_stocks]: in the chosen markets, not in an excluded sector, not of an excluded
    kind (preferred, spac, reit)."""
    keep = np.ones(len(market), dtype=bool)
    if universe.markets != "both":
        keep &= np.asarray(market) == universe.markets
    if universe.exclude_sectors:
        keep &= ~np.isin(np.asarray(sector), universe.exclude_sectors)
    kinds = [k for k in KIND_EXCLUSIONS if k in universe.exclusions()]
    if kinds:
        keep &= ~np.isin(np.asarray(kind), kinds)
    return keep


def status_bits(universe: Universe) -> int:
    """The STATUS_BITS a stock must not carry on the signal day."""
    return sum(STATUS_BITS[s] for s in STATUS_EXCLUSIONS if s in universe.exclusions())


def signal_values(panel: FactorPanel, *, names: list[str], signal_rows: np.ndarray) -> dict:
    """Factor name -> its values on each of `signal_rows` ([n_rows, n_stocks])."""
    return {name: panel.factor(name)[signal_rows] for name in names}


def trading_mask(panel: FactorPanel, rows: np.ndarray) -> np.ndarray:
    """Bool [n_rows, n_stocks]: can be traded on rebalance row d: tradable on d and d-1 and
    not on its last trading day."""
    trading = panel.tradable[rows] & panel.tradable[rows - 1]
    trading &= ~delisting_days(panel.close, rows)
    return trading


def _bound(value: float, like: np.ndarray) -> np.floating:
    return like.dtype.type(value)  # compare in the factor's own precision (float32)


def eligibility(
    spec: StrategySpec,
    *,
    panel: FactorPanel,
    signal_rows: np.ndarray,
    signals: dict,
    trading: np.ndarray,
) -> np.ndarray:
    """Bool [n_rows, n_stocks]: eligible on the rebalance day after each of `signal_rows`
    (DESIGN.md): chosen markets, sectors and kinds, no excluded designation on the signal
    day, `trading` (see `trading_mask`), every factor used non-NaN on the signal day,
    universe minimums, not loss-making when excluded, and filters; percentile filters are
    computed among the stocks passing everything else, each independently, and all must
    pass.

    Weighting factors count as used: market_cap needs MARKET_CAP > 0 and inverse_vol needs
    VOL_60D > 0 on d-1.
    """
    universe = spec.universe
    keep = static_mask(universe, market=panel.market, sector=panel.sector, kind=panel.kind)
    keep = keep[None, :] & trading
    barred = status_bits(universe)
    if barred:
        keep &= (panel.status[signal_rows] & np.uint8(barred)) == 0
    for values in signals.values():
        keep &= ~np.isnan(values)
    if "loss_making" in universe.exclusions():
        keep &= signals[EARNINGS] > 0
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
    ranking terms, divided by the sum of weights (same order, in [0, 1]); -inf where not
    eligible."""
    total = np.zeros(eligible.shape)
    count = eligible.sum(axis=1)
    for term in spec.ranking:
        p = ranked_percentiles(signals[term.factor], eligible, count=count)
        p *= term.weight
        if term.ascending:
            total -= p
            total += term.weight
        else:
            total += p
    total *= 1.0 / sum(term.weight for term in spec.ranking)
    np.copyto(total, -np.inf, where=~eligible)
    return total


def pick_top(
    score: np.ndarray, *, eligible: np.ndarray, code_rank: np.ndarray, top_n: int
) -> tuple[np.ndarray, np.ndarray]:
    """(rows, columns) of each row's `top_n` highest scores, grouped by row and best first
    within it. Scores equal to `SCORE_DECIMALS` decimals (float noise) tie, and ties go to
    the lower stock code. Fewer eligible than top_n: all of them."""
    width = score.shape[1]
    candidates = eligible
    if width > top_n:  # about the top_n-th highest score per row bounds the candidates
        threshold = np.partition(score, width - top_n, axis=1)[:, width - top_n]
        candidates = eligible & (score >= threshold[:, None] - 2 * 10.0**-SCORE_DECIMALS)
    rows, columns = np.nonzero(candidates)
    rounded = np.round(score[rows, columns], SCORE_DECIMALS)
    order = np.lexsort((code_rank[columns], -rounded, rows))
    rows, columns = rows[order], columns[order]
    place = np.arange(len(rows)) - np.searchsorted(rows, rows, side="left")
    keep = place < top_n
    return rows[keep], columns[keep]


def target_weights(
    rows: np.ndarray, *, size: np.ndarray | None, n_rows: int, max_weight: float | None
) -> np.ndarray:
    """Fractions of the budget for picks in `rows` (grouped by row): equal, or proportional
    to `size` (market cap, 1/volatility; one value per pick), each capped at `max_weight`
    (the excess stays in cash)."""
    if size is None:
        weights = 1.0 / np.bincount(rows, minlength=n_rows)[rows]
    else:
        weights = size / np.bincount(rows, weights=size, minlength=n_rows)[rows]
    if max_weight is not None:
        weights = np.minimum(weights, max_weight)
    return weights


def _sizes(spec: StrategySpec, signals: dict) -> np.ndarray | None:
    if spec.weighting == "market_cap":
        return signals[MARKET_CAP]
    if spec.weighting == "inverse_vol":
        volatility = signals[VOLATILITY].astype(np.float64)
        inverse = np.zeros_like(volatility)  # 0 where not eligible (VOL_60D NaN or <= 0)
        return np.divide(1.0, volatility, out=inverse, where=volatility > 0)
    return None


def plan_selections(spec: StrategySpec, *, panel: FactorPanel, rows: np.ndarray) -> list[Selection]:
    """One Selection per rebalance row (`rows`: panel row indices, each >= 1)."""
    plans: list[Selection] = []
    for begin in range(0, len(rows), CHUNK_ROWS):
        block = rows[begin : begin + CHUNK_ROWS]
        plans += select(spec, panel=panel, signal_rows=block - 1,
                        trading=trading_mask(panel, block))
    return plans


def select(
    spec: StrategySpec, *, panel: FactorPanel, signal_rows: np.ndarray, trading: np.ndarray
) -> list[Selection]:
    """One Selection for the day after each of `signal_rows`, `trading` [n_rows, n_stocks]
    saying which stocks can trade that day."""
    names = list(spec.factors_used())
    code_rank = np.argsort(np.argsort(panel.codes, kind="stable"), kind="stable")
    n_rows = len(signal_rows)
    signals = signal_values(panel, names=names, signal_rows=signal_rows)
    eligible = eligibility(spec, panel=panel, signal_rows=signal_rows, signals=signals,
                           trading=trading)
    score = scores(spec, signals=signals, eligible=eligible)
    depth = spec.top_n + spec.hold_buffer
    rows, ranked = pick_top(score, eligible=eligible, code_rank=code_rank, top_n=depth)
    bounds = np.searchsorted(rows, np.arange(n_rows + 1))
    top = np.arange(len(rows)) - bounds[rows] < spec.top_n  # the first top_n of each row
    sizes = _sizes(spec, signals)
    size = None if sizes is None else sizes[rows, ranked].astype(np.float64)
    weights = target_weights(rows[top], size=None if size is None else size[top],
                             n_rows=n_rows, max_weight=spec.max_weight)
    ranked_score = score[rows, ranked]
    top_bounds = np.searchsorted(rows[top], np.arange(n_rows + 1))
    stocks = ranked[top]
    counts = eligible.sum(axis=1).tolist()
    return [
        Selection(
            stocks=stocks[top_bounds[r] : top_bounds[r + 1]],
            weights=weights[top_bounds[r] : top_bounds[r + 1]],
            ranked=ranked[bounds[r] : bounds[r + 1]],
            scores=ranked_score[bounds[r] : bounds[r + 1]],
            sizes=None if size is None else size[bounds[r] : bounds[r + 1]],
            n_eligible=counts[r],
        )
        for r in range(n_rows)
    ]


def buffered(
    selection: Selection, *, held: np.ndarray, top_n: int, max_weight: float | None
) -> tuple[np.ndarray, np.ndarray]:
    """(stocks, weights) with a holding buffer: the held stocks among `selection.ranked`
    (ranked within top_n + hold_buffer) are kept, at most top_n of them, best first; the
    remaining slots go to the best-ranked stocks not held; weights are then computed for
    the kept and new stocks alike (in rank order)."""
    ranked = selection.ranked
    mine = held[ranked]
    kept = np.flatnonzero(mine)[:top_n]
    new = np.flatnonzero(~mine)[: top_n - len(kept)]
    chosen = np.sort(np.concatenate((kept, new)))  # positions in rank order
    sizes = None if selection.sizes is None else selection.sizes[chosen]
    rows = np.zeros(len(chosen), dtype=np.intp)
    weights = target_weights(rows, size=sizes, n_rows=1, max_weight=max_weight)
    return ranked[chosen], weights
