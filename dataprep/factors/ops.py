"""Small expression builders the catalog is written with (windows count trading days)."""

from __future__ import annotations

import math

import polars as pl

BY = "code"
ANNUALISE = math.sqrt(252)


def col(name: str) -> pl.Expr:
    return pl.col(name)


def lag(expr: pl.Expr, n: int) -> pl.Expr:
    """The value n trading days earlier (null before the stock's history)."""
    return expr.shift(n).over(BY)


def mean(expr: pl.Expr, n: int) -> pl.Expr:
    """Mean of the last n days (null unless all n exist)."""
    return expr.rolling_mean(n, min_samples=n).over(BY)


def total(expr: pl.Expr, n: int) -> pl.Expr:
    return expr.rolling_sum(n, min_samples=n).over(BY)


def std(expr: pl.Expr, n: int) -> pl.Expr:
    """Sample standard deviation (ddof=1) of the last n days."""
    return expr.rolling_std(n, min_samples=n, ddof=1).over(BY)


def highest(expr: pl.Expr, n: int) -> pl.Expr:
    return expr.rolling_max(n, min_samples=n).over(BY)


def lowest(expr: pl.Expr, n: int) -> pl.Expr:
    return expr.rolling_min(n, min_samples=n).over(BY)


def full_window(n: int) -> pl.Expr:
    """True where the stock has a close on each of the last n days (listings are contiguous)."""
    return lag(col("close"), n - 1).is_not_null() & col("close").is_not_null()


def ratio(numerator: pl.Expr, denominator: pl.Expr) -> pl.Expr:
    """numerator / denominator, null unless the denominator is positive."""
    return pl.when(denominator > 0).then(numerator / denominator)


def growth(now: pl.Expr, before: pl.Expr) -> pl.Expr:
    """now / before - 1, null unless the base is positive."""
    return pl.when(before > 0).then(now / before - 1.0)


def change(n: int) -> pl.Expr:
    """close(t) / close(t - n) - 1."""
    return col("close") / lag(col("close"), n) - 1.0


def market_cap() -> pl.Expr:
    return col("close") * col("shares_outstanding")


def enterprise_value() -> pl.Expr:
    return market_cap() + col("total_debt") - col("cash")


def max_drawdown(n: int) -> pl.Expr:
    """Worst peak-to-trough fall of close within the last n days (0 >= value > -1).

    O(rows), no per-window loop: with blocks of n days aligned on the calendar, a window
    [t-n+1, t] is a suffix of one block plus a prefix of the next. In logs, the deepest
    drop is the best of: inside the suffix (reverse cumulative scans), inside the prefix
    (forward cumulative scans), or a peak in the suffix followed by a trough in the prefix.
    """
    log_close = col("close").log()
    block = col("day") // n
    prefix_min = log_close.cum_min().over(BY, block)
    prefix_drop = (log_close.cum_max() - log_close).cum_max().over(BY, block)
    suffix_max = log_close.cum_max(reverse=True).over(BY, block)
    suffix_drop = (
        (log_close - log_close.cum_min(reverse=True)).cum_max(reverse=True).over(BY, block)
    )
    head_drop = lag(suffix_drop, n - 1)
    head_peak = lag(suffix_max, n - 1)
    same_block = (col("day") - (n - 1)) // n == block
    drop = (
        pl.when(same_block)
        .then(head_drop)
        .otherwise(pl.max_horizontal(head_drop, prefix_drop, head_peak - prefix_min))
    )
    return pl.when(full_window(n)).then((-drop).exp() - 1.0)
