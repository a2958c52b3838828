"""Rebalance days: which of the run's trading days trade (DESIGN.md, "Backtest semantics")."""

from __future__ import annotations

import numpy as np

from backtest.spec import RebalanceRule

_EPOCH_WEEKDAY_SHIFT = 3  # 1970-01-01 was a Thursday: (days + 3) // 7 counts Monday-weeks


def _starts(period: np.ndarray) -> np.ndarray:
    """True where `period` differs from the previous day's (and on the first day)."""
    flags = np.empty(period.shape, dtype=bool)
    flags[:1] = True
    np.not_equal(period[1:], period[:-1], out=flags[1:])
    return flags


def rebalance_mask(dates: np.ndarray, rule: RebalanceRule | int) -> np.ndarray:
    """Bool [n_days] over the run's trading days `dates` (datetime64, ascending).

    daily: every day; weekly: first trading day of each ISO week (Monday-Sunday);
    monthly: first trading day of each month; quarterly: first trading day of January,
    April, July and October; N: every N trading days from the first. The first day is
    always a rebalance day.
    """
    days = dates.astype("datetime64[D]")
    if isinstance(rule, int):
        mask = np.zeros(len(days), dtype=bool)
        mask[::rule] = True
        return mask
    if rule == "daily":
        return np.ones(len(days), dtype=bool)
    if rule == "weekly":
        mask = _starts((days.astype(np.int64) + _EPOCH_WEEKDAY_SHIFT) // 7)
    elif rule == "monthly":
        mask = _starts(days.astype("datetime64[M]").astype(np.int64))
    elif rule == "quarterly":
        months = days.astype("datetime64[M]").astype(np.int64)  # months since 1970-01
        mask = _starts(months) & (months % 3 == 0)
    else:
        raise ValueError(f"Got {rule!r} for rebalance: unknown rule")
    mask[:1] = True
    return mask

