"""Trading costs: commission + slippage on every trade, sell tax by day and market."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from backtest.spec import Costs, SellTax
from runtime.names import MARKETS  # the column order of `sell_tax_rates`

BPS = 1e-4


def trade_rate(costs: Costs) -> float:
    """Fraction of the traded value paid on every buy and every sell."""
    return (costs.commission_bps + costs.slippage_bps) * BPS


def sell_tax_rates(schedule: Sequence[SellTax], *, dates: np.ndarray) -> np.ndarray:
    """Float64 [n_days, 2]: the sell tax (a fraction) in force on each day, per market.

    On day d a market's rate is that of its entry with the latest `effective` <= d, or 0
    before its first entry. Columns follow `MARKETS`.
    """
    days = dates.astype("datetime64[D]")
    rates = np.zeros((len(days), len(MARKETS)))
    for column, market in enumerate(MARKETS):
        entries = sorted((e.effective, e.bps) for e in schedule if e.market == market)
        if not entries:
            continue
        effective = np.array([day for day, _ in entries], dtype="datetime64[D]")
        bps = np.array([value for _, value in entries], dtype=np.float64)
        index = np.searchsorted(effective, days, side="right") - 1
        rates[:, column] = np.where(index >= 0, bps[np.maximum(index, 0)], 0.0) * BPS
    return rates


def market_columns(market: np.ndarray) -> np.ndarray:
    """Per stock, its column in `sell_tax_rates` (KOSPI 0, KOSDAQ 1)."""
    return (np.asarray(market) == MARKETS[1]).astype(np.intp)


def sell_costs(
    sold: np.ndarray, *, columns: np.ndarray, tax_today: np.ndarray, rate: float
) -> float:
    """Costs of selling values `sold` (>= 0) of the stocks whose tax columns are `columns`."""
    return float(sold.sum() * rate + sold @ tax_today[columns])
