"""Rebalance days: which of the run's trading days trade (DESIGN.md, "Backtest semantics")."""

from __future__ import annotations

import numpy as np

from backtest.spec import MonthsSchedule, RebalanceRule

_EPOCH_WEEKDAY_SHIFT = 3  # 1970-01-01 was a Thursday: (days + 3) // 7 counts Monday-weeks


def _starts(period: np.ndarray) -> np.ndarray:
    """True where `period` differs from the previous day's (and on the first day)."""
    flags = np.empty(period.shape, dtype=bool)
    flags[:1] = True
    np.not_equal(period[1:], period[:-1], out=flags[1:])
    return flags


MONTHS_OF = {"quarterly": (1, 4, 7, 10), "semiannual": (1, 7), "annual": (1,)}


def rebalance_mask(
    dates: np.ndarray, rule: RebalanceRule | int | MonthsSchedule, *, start: int = 0
) -> np.ndarray:
    """Bool [n_days] over the run's trading days `dates[start:]` (datetime64, ascending);
    the days before `start` (the data's earlier sessions) only count the trading days of the
    run's first month for the months rule.

    daily: every day; weekly: first trading day of each ISO week (Monday-Sunday);
    monthly: first trading day of each month; quarterly / semiannual / annual: first trading
    day of January, April, July and October / of January and July / of January; N: every N
    trading days from the first; {"months": [...], "day": k}: the k-th trading day of each
    listed month (a month with fewer trading days has none). The first day is always a
    rebalance day.
    """
    if isinstance(rule, MonthsSchedule):
        months = dates.astype("datetime64[M]").astype(np.int64)
        first = _starts(months)
        start_of_month = np.maximum.accumulate(np.where(first, np.arange(len(dates)), 0))
        nth = np.arange(len(dates)) - start_of_month + 1  # 1-based trading day of the month
        mask = (np.isin(months % 12 + 1, rule.months) & (nth == rule.day))[start:]
        mask[:1] = True
        return mask
    days = dates[start:].astype("datetime64[D]")
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
    elif rule in MONTHS_OF:
        months = days.astype("datetime64[M]").astype(np.int64)  # months since 1970-01
        mask = _starts(months) & np.isin(months % 12 + 1, MONTHS_OF[rule])
    else:
        raise ValueError(f"Got {rule!r} for rebalance: unknown rule")
    mask[:1] = True
    return mask

