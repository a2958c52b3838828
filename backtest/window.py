"""The run window: the panel rows a run covers, and the per-window arrays the engine needs
(views of the panel where possible, never a copy of `values`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class RunWindow:
    """The run's trading days as panel row indices `first` .. `last` (inclusive);
    `first` >= 1 so that the signal day of the first rebalance exists."""

    first: int
    last: int

    @property
    def rows(self) -> slice:
        return slice(self.first, self.last + 1)

    @property
    def n_days(self) -> int:
        return self.last - self.first + 1


def price_relatives(close: np.ndarray, window: RunWindow) -> np.ndarray:
    """Float64 [n_days, n_stocks]: close[t] / close[t-1] for each run day t, 1 where either
    close is missing (no position can exist there)."""
    today = close[window.rows]
    before = close[window.first - 1 : window.last]
    out = np.ones(today.shape)
    np.divide(today, before, out=out, where=(before > 0) & (today > 0))
    return out


def delisting_rows(close: np.ndarray, window: RunWindow) -> np.ndarray:
    """Int [n_stocks]: the panel row of each stock's last trading day L when L falls in the
    window and the stock delists (its closes stop before the panel's last day), else -1.

    Same as `FactorPanel.delisting_index()` restricted to the window, given the panel's
    invariant that `close` is NaN only before the first and after the last trading day;
    it reads only the window's rows (plus one).
    """
    n_days, n_stocks = close.shape
    stop = min(window.last + 2, n_days)
    has_close = ~np.isnan(close[window.first : stop])
    if stop == window.last + 1:  # the window reaches the panel's last day: no delisting on it
        has_close = np.vstack([has_close, np.ones((1, n_stocks), dtype=bool)])
    ends = has_close[:-1] & ~has_close[1:]
    day, stock = np.nonzero(ends)
    rows = np.full(n_stocks, -1, dtype=np.intp)
    rows[stock] = window.first + day
    return rows
