"""Small expression builders the catalog is written with (windows count trading days).

They run over the dense grid that `compute.py` builds: one row per stock x loaded trading
day, sorted by code then day, `day` = 0, 1, ... n_days - 1 for every stock. A per-stock
window is therefore the column's plain rolling window with the first rows of each stock
(`day < n - 1`, where the window would reach into the previous stock) masked to null: the
same values as `.over("code")`, without regrouping the frame for every expression (3-25x
faster on 2M rows). Rolling windows need all n values (`min_samples=n`), so a window that
touches a day before the listing or after the delisting is null.
"""

from __future__ import annotations

import math

import polars as pl

BY = "code"
DAY = "day"
ANNUALISE = math.sqrt(252)


def col(name: str) -> pl.Expr:
    return pl.col(name)


def per_stock(expr: pl.Expr, n: int) -> pl.Expr:
    """`expr`, a window over the last n rows, kept only where those rows are one stock's."""
    return pl.when(col(DAY) >= n - 1).then(expr)


def lag(expr: pl.Expr, n: int) -> pl.Expr:
    """The value n trading days earlier (null before the stock's history)."""
    return per_stock(expr.shift(n), n + 1)


def mean(expr: pl.Expr, n: int) -> pl.Expr:
    """Mean of the last n days (null unless all n exist)."""
    return per_stock(expr.rolling_mean(n, min_samples=n), n)


def total(expr: pl.Expr, n: int) -> pl.Expr:
    return per_stock(expr.rolling_sum(n, min_samples=n), n)


def std(expr: pl.Expr, n: int) -> pl.Expr:
    """Sample standard deviation (ddof=1) of the last n days."""
    return per_stock(expr.rolling_std(n, min_samples=n, ddof=1), n)


def highest(expr: pl.Expr, n: int) -> pl.Expr:
    return per_stock(expr.rolling_max(n, min_samples=n), n)


def lowest(expr: pl.Expr, n: int) -> pl.Expr:
    return per_stock(expr.rolling_min(n, min_samples=n), n)


def covariance(a: str, b: str, *, n: int) -> pl.Expr:
    return per_stock(pl.rolling_cov(a, b, window_size=n, min_samples=n, ddof=1), n)


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


def segmented_scan(
    expr: pl.Expr, *, segment: pl.Expr, span: pl.Expr, reverse: bool = False
) -> pl.Expr:
    """Cumulative max of `expr` that restarts at every new `segment` (a key that never
    decreases down the frame), as one whole-column scan: segment k is lifted by k x `span`
    (forward) or lowered by it (reverse), so no other segment can win; `span` must exceed
    the range of `expr`."""
    lift = span * segment.cast(pl.Float64)
    if reverse:
        return (expr - lift).cum_max(reverse=True) + lift
    return (expr + lift).cum_max() - lift


def max_drawdown(n: int) -> pl.Expr:
    """Worst peak-to-trough fall of close within the last n days (0 >= value > -1).

    O(rows), no per-window loop: with blocks of n days aligned on the calendar, a window
    [t-n+1, t] is a suffix of one block plus a prefix of the next. In logs, the deepest
    drop is the best of: inside the suffix (reverse scans), inside the prefix (forward
    scans), or a peak in the suffix followed by a trough in the prefix.
    """
    log_close = col("close").log()
    block = col(BY).cast(pl.Int64) * (col(DAY).max() // n + 1) + col(DAY) // n
    span = log_close.max() - log_close.min() + 1.0  # every scanned value's range is smaller

    def forward_max(x: pl.Expr) -> pl.Expr:
        return segmented_scan(x, segment=block, span=span)

    def reverse_max(x: pl.Expr) -> pl.Expr:
        return segmented_scan(x, segment=block, span=span, reverse=True)

    prefix_min = -forward_max(-log_close)
    prefix_drop = forward_max(forward_max(log_close) - log_close)
    suffix_max = reverse_max(log_close)
    suffix_drop = reverse_max(log_close + reverse_max(-log_close))
    head_drop, head_peak = lag(suffix_drop, n - 1), lag(suffix_max, n - 1)
    same_block = (col(DAY) - (n - 1)) // n == col(DAY) // n
    drop = (
        pl.when(same_block)
        .then(head_drop)
        .otherwise(pl.max_horizontal(head_drop, prefix_drop, head_peak - prefix_min))
    )
    return pl.when(full_window(n)).then((-drop).exp() - 1.0)
