"""The run window: the panel rows a run covers, and the window's market data for the stocks
the run can ever hold (a small column subset: views of the panel rows, copies of a few
columns only; `values` is never copied)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dataprep.panel import delisting_days


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
    """Float64 [n_days, n_columns] from `close` [n_panel_days, n_columns]: close[t] /
    close[t-1] for each run day t, 1 where either close is missing (no position can be
    held there: a stock is sold on its last trading day and bought only when tradable)."""
    today = close[window.rows]
    before = close[window.first - 1 : window.last]
    out = np.ones(today.shape)
    np.divide(today, before, out=out, where=(before > 0) & (today > 0))
    return out


LIMIT = 0.30  # KRX daily price limit since 2015-06-15
LIMIT_TOLERANCE = 0.005  # within 0.5 percentage points of the limit counts as locked
_FLOAT_SLACK = 1e-9  # 12.95 / 10 - 1 is 0.29499999999999993 in floating point


def limit_locks(
    close: np.ndarray, window: RunWindow, *, enabled: bool
) -> tuple[np.ndarray, np.ndarray]:
    """(up, down) bool [n_days, n_columns]: close(t) within `LIMIT_TOLERANCE` of +30 % /
    -30 % against close(t-1) (limit-up: cannot be bought or added to; limit-down: cannot be
    sold or reduced); all False when not `enabled` or either close is missing."""
    today = close[window.rows]
    if not enabled:
        return np.zeros(today.shape, dtype=bool), np.zeros(today.shape, dtype=bool)
    move = price_relatives(close, window) - 1.0  # 0 where either close is missing
    edge = LIMIT - LIMIT_TOLERANCE - _FLOAT_SLACK
    return move >= edge, move <= -edge


def delisting_rows(
    close: np.ndarray, window: RunWindow, *, columns: np.ndarray | None = None
) -> np.ndarray:
    """Int [n_columns]: for each of `columns` (default: all) of the panel's `close`, the
    panel row of its last trading day L when L falls in the window and the stock delists,
    else -1 (`FactorPanel.delisting_index()` restricted to the window)."""
    ends = delisting_days(close, np.arange(window.first, window.last + 1), columns=columns)
    day, column = np.nonzero(ends)
    last = np.full(ends.shape[1], -1, dtype=np.intp)
    last[column] = window.first + day
    return last


def delistings_by_day(
    close: np.ndarray, window: RunWindow, *, columns: np.ndarray
) -> dict[int, np.ndarray]:
    """Run day (0-based) -> the positions in `columns` whose last trading day it is."""
    last = delisting_rows(close, window, columns=columns)
    delisting = np.flatnonzero(last >= 0)
    days = last[delisting] - window.first
    return {int(day): delisting[days == day] for day in np.unique(days)}
