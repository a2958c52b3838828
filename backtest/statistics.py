"""Performance statistics: pure functions of daily arrays, and the `Statistics` model.

Conventions: the daily return of day t is equity[t] / equity[t-1] - 1 with equity[-1] =
the initial capital (so day 0 carries the first buy-in costs, and the product of
(1 + returns) is final / initial). Everything is measured from the initial capital: total
return and CAGR, and the drawdown, whose first peak is the initial capital (as empyrical and
pyfolio count it). The win rate leaves day 0 out (its return is only the buy-in costs).
Alpha is arithmetic, mean daily excess x 252; `alpha_compounded` is (1 + mean daily excess)
^ 252 - 1, empyrical's `alpha`. 252 trading days a year. Undefined values (zero volatility,
fewer than two days, no drawdown, ...) are None, never NaN or inf.
"""

from __future__ import annotations

import math
from datetime import date

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

DAYS_PER_YEAR = 252
# A daily return or a fall smaller than this is float rounding of a flat equity (positions
# sold and bought back at the same prices, cash summed in another order), not a move: it
# counts as zero, so that a win rate, a Sortino ratio or a drawdown's dates do not depend on
# the order of the additions (a sweep's kernel and a single run add in different orders).
ROUNDING = 1e-12


def finite(value: float) -> float | None:
    """`value` as a float, or None when it is NaN or infinite."""
    value = float(value)
    return value if math.isfinite(value) else None


def _rows(values: np.ndarray) -> np.ndarray:
    """Float64 [n_rows, n]: one row per series (a single series becomes one row)."""
    return np.atleast_2d(np.asarray(values, dtype=np.float64))


def _like(values: np.ndarray, series: np.ndarray) -> np.ndarray | float:
    """`values` (one per row) as a float when `series` was one series."""
    return float(values[0]) if np.ndim(series) == 1 else values


def returns_from_equity(equity: np.ndarray, *, initial: float | np.ndarray) -> np.ndarray:
    """Daily simple returns along the last axis; the first is against `initial` (one per
    row)."""
    equity = np.asarray(equity, dtype=np.float64)
    start = np.broadcast_to(np.asarray(initial, dtype=np.float64)[..., None],
                            equity.shape[:-1] + (1,))
    previous = np.concatenate((start, equity[..., :-1]), axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        returns = equity / previous - 1.0
    return np.where(np.abs(returns) < ROUNDING, 0.0, returns)


def daily_rate(annual: float | np.ndarray) -> float | np.ndarray:
    """The daily rate that compounds to `annual` over 252 days."""
    return (1.0 + annual) ** (1.0 / DAYS_PER_YEAR) - 1.0


def cagr(total_return: float | np.ndarray, n_days: int) -> float | np.ndarray:
    growth = 1.0 + np.asarray(total_return, dtype=np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        value = np.where((n_days >= 1) & (growth > 0),
                         np.abs(growth) ** (DAYS_PER_YEAR / max(n_days, 1)) - 1.0, np.nan)
    return float(value) if np.ndim(total_return) == 0 else value


def annual_volatility(returns: np.ndarray) -> float | np.ndarray:
    r = _rows(returns)
    if r.shape[1] < 2:
        return _like(np.full(len(r), np.nan), returns)
    return _like(np.std(r, axis=1, ddof=1) * math.sqrt(DAYS_PER_YEAR), returns)


def sharpe(returns: np.ndarray, *, risk_free_daily: float | np.ndarray) -> float | np.ndarray:
    """Annualised mean excess return over annualised volatility (ddof=1)."""
    r = _rows(returns)
    if r.shape[1] < 2:
        return _like(np.full(len(r), np.nan), returns)
    excess = r - np.asarray(risk_free_daily, dtype=np.float64).reshape(-1, 1)
    deviation = np.std(excess, axis=1, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where(deviation > 0, excess.mean(axis=1) / deviation, np.nan)
    return _like(value * math.sqrt(DAYS_PER_YEAR), returns)


def sortino(returns: np.ndarray, *, risk_free_daily: float | np.ndarray) -> float | np.ndarray:
    """Annualised mean excess return over annualised downside deviation
    sqrt(mean(min(excess, 0)^2)) (all days in the mean)."""
    r = _rows(returns)
    if r.shape[1] < 2:
        return _like(np.full(len(r), np.nan), returns)
    excess = r - np.asarray(risk_free_daily, dtype=np.float64).reshape(-1, 1)
    downside = np.sqrt(np.mean(np.minimum(excess, 0.0) ** 2, axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where(downside > 0, excess.mean(axis=1) / downside, np.nan)
    return _like(value * math.sqrt(DAYS_PER_YEAR), returns)


def max_drawdown(
    equity: np.ndarray, *, initial: float | np.ndarray
) -> tuple[float, int, int] | tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(drawdown <= 0, peak index, trough index) of the deepest fall from a running high of
    the daily equity, the initial capital being the first high (peak index -1 when that is
    the high); (0, -1, -1) when equity never falls below a previous high. Per row."""
    e = _rows(equity)
    n_rows = len(e)
    if e.shape[1] == 0:
        none = np.full(n_rows, -1)
        result: tuple = (np.zeros(n_rows), none, none)
    else:
        start = np.broadcast_to(np.asarray(initial, dtype=np.float64).reshape(-1, 1), (n_rows, 1))
        path = np.concatenate((start, e), axis=1)
        high = np.maximum.accumulate(path, axis=1)
        with np.errstate(divide="ignore", invalid="ignore"):
            drawdown = path / high - 1.0
        drawdown = np.where(drawdown > -ROUNDING, 0.0, drawdown)  # a flat curve's rounding
        trough = np.argmin(drawdown, axis=1)
        depth = drawdown[np.arange(n_rows), trough]
        # the peak: the first day at the high the fall started from (to float rounding)
        top = high[np.arange(n_rows), trough][:, None] * (1.0 - ROUNDING)
        before = (np.arange(path.shape[1]) <= trough[:, None]) & (path >= top)
        peak = np.argmax(before, axis=1)
        falls = depth < 0
        result = (np.where(falls, depth, 0.0), np.where(falls, peak - 1, -1),
                  np.where(falls, trough - 1, -1))
    if np.ndim(equity) == 1:
        return float(result[0][0]), int(result[1][0]), int(result[2][0])
    return result


def calmar(cagr_value: float | np.ndarray, drawdown: float | np.ndarray) -> float | np.ndarray:
    growth, depth = np.asarray(cagr_value, dtype=np.float64), np.asarray(drawdown, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where(depth < 0, growth / -depth, np.nan)
    return float(value) if value.ndim == 0 else value


def win_rate(returns: np.ndarray) -> float | np.ndarray:
    """Share of days with a positive return."""
    r = _rows(returns)
    if r.shape[1] == 0:
        return _like(np.full(len(r), np.nan), returns)
    return _like(np.mean(r > 0, axis=1), returns)


def _paired(
    returns: np.ndarray, benchmark: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(r, b, both finite) as rows."""
    r, b = _rows(returns), _rows(benchmark)
    both = np.isfinite(r) & np.isfinite(b)
    return np.where(both, r, 0.0), np.where(both, b, 0.0), both


def beta_alpha(
    returns: np.ndarray, benchmark: np.ndarray, *, risk_free_daily: float | np.ndarray
) -> tuple[float, float] | tuple[np.ndarray, np.ndarray]:
    """CAPM beta = cov(r, b) / var(b) and Jensen's daily alpha, mean(r - rf) - beta x
    mean(b - rf), not annualised. Days where either return is missing are left out."""
    r, b, both = _paired(returns, benchmark)
    n = both.sum(axis=1)
    rf = np.asarray(risk_free_daily, dtype=np.float64).reshape(-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_r, mean_b = r.sum(axis=1) / n, b.sum(axis=1) / n
        db = np.where(both, b - mean_b[:, None], 0.0)
        dr = np.where(both, r - mean_r[:, None], 0.0)
        variance = (db**2).sum(axis=1) / (n - 1)
        covariance = (dr * db).sum(axis=1) / (n - 1)
        ok = (n >= 2) & (variance > 0)
        beta = np.where(ok, covariance / variance, np.nan)
        alpha = np.where(ok, (mean_r - rf) - beta * (mean_b - rf), np.nan)
    if np.ndim(returns) == 1:
        return float(beta[0]), float(alpha[0])
    return beta, alpha


def tracking_error(returns: np.ndarray, benchmark: np.ndarray) -> float | np.ndarray:
    """Annualised standard deviation (ddof=1) of the daily active return r - b."""
    r, b, both = _paired(returns, benchmark)
    n = both.sum(axis=1)
    active = r - b
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = active.sum(axis=1) / n
        spread = np.where(both, active - mean[:, None], 0.0)
        value = np.where(n >= 2, np.sqrt((spread**2).sum(axis=1) / (n - 1)), np.nan)
    return _like(value * math.sqrt(DAYS_PER_YEAR), returns)


def information_ratio(returns: np.ndarray, benchmark: np.ndarray) -> float | np.ndarray:
    """Annualised mean active return over the tracking error."""
    r, b, both = _paired(returns, benchmark)
    n = both.sum(axis=1)
    error = np.asarray(tracking_error(_rows(returns), _rows(benchmark)))
    with np.errstate(divide="ignore", invalid="ignore"):
        value = np.where(error > 0, (r - b).sum(axis=1) / n * DAYS_PER_YEAR / error, np.nan)
    return _like(value, returns)


def period_table(dates: np.ndarray | list[date], equity: np.ndarray, *,
                 initial: float | np.ndarray, period: str) -> tuple[list[str], np.ndarray]:
    """(period names, returns [n_rows, n_periods]) of each calendar month ("YYYY-MM") or year
    ("YYYY") the run touches: equity at its last close over equity at the previous period's
    last close (the initial capital for the first) - 1; a partial first or last period
    counts its days only. One row per equity series."""
    e = _rows(equity)
    if len(dates) == 0:
        return [], np.zeros((len(e), 0))
    unit = "datetime64[M]" if period == "month" else "datetime64[Y]"
    keys = np.asarray(dates, dtype="datetime64[D]").astype(unit)
    ends = np.flatnonzero(np.append(keys[1:] != keys[:-1], True))
    closes = e[:, ends]
    start = np.broadcast_to(np.asarray(initial, dtype=np.float64).reshape(-1, 1), (len(e), 1))
    before = np.concatenate((start, closes[:, :-1]), axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return [str(keys[i]) for i in ends], closes / before - 1.0


def period_returns(dates: np.ndarray | list[date], equity: np.ndarray, *, initial: float,
                   period: str) -> dict[str, float | None]:
    """`period_table` of one equity series, as {period: return}."""
    names, values = period_table(dates, equity, initial=initial, period=period)
    return {name: finite(v) for name, v in zip(names, values[0].tolist(), strict=True)}


class Statistics(BaseModel):
    """Summary of one run; see the module docstring for conventions."""

    model_config = ConfigDict(frozen=True, allow_inf_nan=False)

    n_days: int = Field(description="Trading days in the run.")
    n_rebalances: int = Field(description="Rebalance days in the run.")
    cash_rebalances: int | None = Field(
        default=None,
        description=(
            "Rebalance days on which no stock was eligible, so nothing was bought and every "
            "tradable holding was sold: the run sat in cash until the next one (a factor "
            "without values on those days, e.g. a lookback the data does not cover yet). "
            "Null in results of engines before 1.2.0."
        ),
    )
    final_equity: float = Field(description="Equity at the last day's close (KRW).")
    total_return: float = Field(description="final_equity / initial_capital - 1.")
    cagr: float | None = Field(description="(1 + total_return)^(252 / n_days) - 1.")
    annual_volatility: float | None = Field(description="std(daily returns) x sqrt(252).")
    sharpe: float | None = Field(description="mean(r - rf) / std(r - rf) x sqrt(252).")
    sortino: float | None = Field(description="mean(r - rf) / downside deviation x sqrt(252).")
    max_drawdown: float = Field(
        description="Deepest fall from a running high (<= 0); the initial capital is the first."
    )
    peak_date: date | None = Field(
        description=(
            "Day of the high before the deepest fall (the first day when that high is the "
            "initial capital)."
        )
    )
    trough_date: date | None = Field(description="Day of the deepest fall's low.")
    calmar: float | None = Field(description="cagr / |max_drawdown|.")
    win_rate: float | None = Field(
        description=(
            "Share of days after the first with a positive return (day 0's return is only "
            "the buy-in costs)."
        )
    )
    turnover: float | None = Field(
        description=(
            "Average turnover per rebalance: traded value (buys + sells) / equity before "
            "trading; the first buy-in counts 1.0, replacing every holding 2.0."
        )
    )
    annual_turnover: float | None = Field(
        description="Sum of the per-rebalance turnovers per year (x 252 / n_days)."
    )
    costs_paid: float = Field(
        description="All costs paid (KRW): rebalances, delisting sales, stop exits."
    )
    average_holdings: float = Field(description="Mean number of positions held at each close.")
    beta: float | None = Field(description="cov(r, b) / var(b) of daily returns.")
    alpha: float | None = Field(
        description=(
            "Jensen's alpha, arithmetic: mean daily (r - rf) - beta x (b - rf), x 252 "
            "(alpha_compounded is the compounded one)."
        )
    )
    alpha_compounded: float | None = Field(
        description=(
            "Jensen's alpha compounded: (1 + mean daily (r - rf) - beta x (b - rf))^252 - 1, "
            "empyrical's and pyfolio's alpha."
        )
    )
    tracking_error: float | None = Field(description="std(r - b) x sqrt(252).")
    information_ratio: float | None = Field(description="mean(r - b) x 252 / tracking_error.")
    exposure: float | None = Field(
        default=None,
        description="Mean invested share: mean over the closes of invested value / equity.",
    )
    best_month: float | None = Field(
        default=None, description="Highest calendar-month return (partial months count)."
    )
    worst_month: float | None = Field(
        default=None, description="Lowest calendar-month return (partial months count)."
    )


NUMERIC_STATISTICS = tuple(
    name for name, field in Statistics.model_fields.items()
    if field.annotation in (int, float, int | None, float | None)
)
"""Statistics a sweep can rank by or map over its grid (every one but the dates)."""

RETURN_STATISTICS = ("total_return", "cagr", "annual_volatility", "sharpe", "sortino",
                     "max_drawdown", "calmar", "win_rate")
"""Statistics that a stretch of daily returns alone determines (walk-forward ranks by them)."""


def statistic_of_returns(
    name: str, returns: np.ndarray, *, risk_free_rate: float | np.ndarray
) -> np.ndarray:
    """Float [n_rows]: the statistic `name` (one of RETURN_STATISTICS) of each row of daily
    `returns` [n_rows, n_days], as if a run covered those days only (equity starting at 1;
    every day counts for the win rate); `risk_free_rate` annual, one or one per row."""
    r = np.asarray(returns, dtype=np.float64).reshape(len(returns), -1)
    rf = daily_rate(np.broadcast_to(np.asarray(risk_free_rate, dtype=np.float64), (len(r),)))
    equity = np.cumprod(1.0 + r, axis=1)
    total = equity[:, -1] - 1.0 if r.shape[1] else np.zeros(len(r))
    growth = np.asarray(cagr(total, r.shape[1]))
    depth = np.asarray(max_drawdown(equity, initial=np.ones(len(r)))[0])
    columns = {
        "total_return": lambda: total,
        "cagr": lambda: growth,
        "annual_volatility": lambda: annual_volatility(r),
        "sharpe": lambda: sharpe(r, risk_free_daily=rf),
        "sortino": lambda: sortino(r, risk_free_daily=rf),
        "max_drawdown": lambda: depth,
        "calmar": lambda: calmar(growth, depth),
        "win_rate": lambda: win_rate(r),
    }
    if name not in columns:
        raise ValueError(f"Got {name!r}: not a statistic of returns; known: "
                         + ", ".join(RETURN_STATISTICS))
    return np.asarray(columns[name](), dtype=np.float64)


def compute_statistics(
    *,
    dates: list[date],
    equity: np.ndarray,
    benchmark_equity: np.ndarray,
    initial_capital: float,
    turnovers: np.ndarray,
    costs_paid: float,
    holdings: np.ndarray,
    risk_free_rate: float,
    cash_rebalances: int,
    exposure: np.ndarray | None = None,
) -> Statistics:
    """All statistics of one run from its daily arrays; `cash_rebalances` counts the
    rebalance days on which nothing was eligible; `exposure`: invested value / equity at
    each close (None: unknown)."""
    (statistics,) = statistics_rows(
        dates=dates,
        equity=equity[None, :],
        benchmark_equity=np.asarray(benchmark_equity, dtype=np.float64)[None, :],
        initial_capital=np.array([initial_capital]),
        turnovers=np.asarray(turnovers, dtype=np.float64).reshape(1, -1),
        costs_paid=np.array([costs_paid]),
        holdings=np.asarray(holdings)[None, :],
        risk_free_rate=np.array([risk_free_rate]),
        cash_rebalances=cash_rebalances,
        exposure=None if exposure is None else np.asarray(exposure)[None, :],
    )
    return statistics


def statistics_rows(
    *,
    dates: list[date],
    equity: np.ndarray,
    benchmark_equity: np.ndarray,
    initial_capital: np.ndarray,
    turnovers: np.ndarray,
    costs_paid: np.ndarray,
    holdings: np.ndarray,
    risk_free_rate: np.ndarray,
    cash_rebalances: int,
    exposure: np.ndarray | None = None,
) -> list[Statistics]:
    """`compute_statistics` of many runs over the same days at once: one row each of
    `equity`, `benchmark_equity`, `holdings`, `exposure` [n_runs, n_days] and `turnovers`
    [n_runs, n_rebalances]; one value each of `initial_capital`, `costs_paid` and
    `risk_free_rate`."""
    n_runs, n_days = equity.shape
    returns = returns_from_equity(equity, initial=initial_capital)
    benchmark = returns_from_equity(benchmark_equity, initial=initial_capital)
    rf = daily_rate(np.asarray(risk_free_rate, dtype=np.float64))
    total = equity[:, -1] / initial_capital - 1.0
    growth = cagr(total, n_days)
    depth, peak, trough = (np.asarray(x) for x in max_drawdown(equity, initial=initial_capital))
    beta, alpha_daily = beta_alpha(returns, benchmark, risk_free_daily=rf)
    n_rebalances = turnovers.shape[1]
    with np.errstate(invalid="ignore"):
        mean_turnover = turnovers.mean(axis=1) if n_rebalances else np.full(n_runs, np.nan)
        alpha_compounded = (1.0 + alpha_daily) ** DAYS_PER_YEAR - 1.0
    _, months = period_table(dates, equity, initial=initial_capital, period="month")
    finite_months = np.where(np.isfinite(months), months, np.nan)
    has_month = np.asarray(np.isfinite(finite_months).any(axis=1))
    month_values = np.where(has_month[:, None], finite_months, 0.0)
    columns = {
        "cagr": growth,
        "annual_volatility": annual_volatility(returns),
        "sharpe": sharpe(returns, risk_free_daily=rf),
        "sortino": sortino(returns, risk_free_daily=rf),
        "calmar": calmar(growth, depth),
        "win_rate": win_rate(returns[:, 1:]),
        "turnover": mean_turnover,
        "annual_turnover": turnovers.sum(axis=1) * DAYS_PER_YEAR / n_days,
        "beta": beta,
        "alpha": alpha_daily * DAYS_PER_YEAR,
        "alpha_compounded": alpha_compounded,
        "tracking_error": tracking_error(returns, benchmark),
        "information_ratio": information_ratio(returns, benchmark),
        "exposure": exposure.mean(axis=1) if exposure is not None and n_days
        else np.full(n_runs, np.nan),
        "best_month": np.where(has_month, np.nanmax(month_values, axis=1), np.nan),
        "worst_month": np.where(has_month, np.nanmin(month_values, axis=1), np.nan),
    }
    values = {name: [finite(v) for v in column.tolist()] for name, column in columns.items()}
    average_holdings = holdings.mean(axis=1).tolist()
    out = []
    for i in range(n_runs):
        falls = bool(trough[i] >= 0)
        out.append(Statistics(
            n_days=n_days,
            n_rebalances=n_rebalances,
            cash_rebalances=cash_rebalances,
            final_equity=float(equity[i, -1]),
            total_return=float(total[i]),
            max_drawdown=float(depth[i]),
            peak_date=dates[max(int(peak[i]), 0)] if falls else None,
            trough_date=dates[int(trough[i])] if falls else None,
            costs_paid=float(costs_paid[i]),
            average_holdings=float(average_holdings[i]),
            **{name: column[i] for name, column in values.items()},
        ))
    return out
