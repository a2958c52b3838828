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


def rebalance_mask(dates: np.ndarray, rule: RebalanceRule | int | MonthsSchedule) -> np.ndarray:
    """Bool [n_days] over the run's trading days `dates` (datetime64, ascending).

    daily: every day; weekly: first trading day of each ISO week (Monday-Sunday);
    monthly: first trading day of each month; quarterly / semiannual / annual: first trading
    day of January, April, July and October / of January and July / of January; N: every N
    trading days from the first; {"months": [...], "day": k}: the k-th trading day of each
    listed month (a month with fewer trading days has none). The first day is always a
    rebalance day.
    """
    days = dates.astype("datetime64[D]")
    if isinstance(rule, MonthsSchedule):
        months = days.astype("datetime64[M]").astype(np.int64)
        first = _starts(months)
        start_of_month = np.maximum.accumulate(np.where(first, np.arange(len(days)), 0))
        nth = np.arange(len(days)) - start_of_month + 1  # 1-based trading day of the month
        in_month = np.isin(months % 12 + 1, rule.months)
        mask = in_month & (nth == rule.day)
        mask[:1] = True
        return mask
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

