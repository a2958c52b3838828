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


def finite(value: float) -> float | None:
    """`value` as a float, or None when it is NaN or infinite."""
    value = float(value)
    return value if math.isfinite(value) else None


def returns_from_equity(equity: np.ndarray, *, initial: float) -> np.ndarray:
    """Daily simple returns; the first is against `initial`."""
    previous = np.concatenate(([initial], equity[:-1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        return equity / previous - 1.0


def daily_rate(annual: float) -> float:
    """The daily rate that compounds to `annual` over 252 days."""
    return (1.0 + annual) ** (1.0 / DAYS_PER_YEAR) - 1.0


def cagr(total_return: float, n_days: int) -> float:
    growth = 1.0 + total_return
    if n_days < 1 or growth <= 0:
        return math.nan
    return growth ** (DAYS_PER_YEAR / n_days) - 1.0


def annual_volatility(returns: np.ndarray) -> float:
    if len(returns) < 2:
        return math.nan
    return float(np.std(returns, ddof=1) * math.sqrt(DAYS_PER_YEAR))


def sharpe(returns: np.ndarray, *, risk_free_daily: float) -> float:
    """Annualised mean excess return over annualised volatility (ddof=1)."""
    if len(returns) < 2:
        return math.nan
    excess = returns - risk_free_daily
    deviation = np.std(excess, ddof=1)
    if deviation <= 0:
        return math.nan
    return float(excess.mean() / deviation * math.sqrt(DAYS_PER_YEAR))


def sortino(returns: np.ndarray, *, risk_free_daily: float) -> float:
    """Annualised mean excess return over annualised downside deviation
    sqrt(mean(min(excess, 0)^2)) (all days in the mean)."""
    if len(returns) < 2:
        return math.nan
    excess = returns - risk_free_daily
    downside = math.sqrt(float(np.mean(np.minimum(excess, 0.0) ** 2)))
    if downside <= 0:
        return math.nan
    return float(excess.mean() / downside * math.sqrt(DAYS_PER_YEAR))


def max_drawdown(equity: np.ndarray, *, initial: float) -> tuple[float, int, int]:
    """(drawdown <= 0, peak index, trough index) of the deepest fall from a running high of
    the daily equity, the initial capital being the first high (peak index -1 when that is
    the high); (0, -1, -1) when equity never falls below a previous high."""
    if len(equity) == 0:
        return 0.0, -1, -1
    path = np.concatenate(([initial], equity))
    high = np.maximum.accumulate(path)
    with np.errstate(divide="ignore", invalid="ignore"):
        drawdown = path / high - 1.0
    trough = int(np.argmin(drawdown))
    depth = float(drawdown[trough])
    if not depth < 0:
        return 0.0, -1, -1
    peak = int(np.argmax(path[: trough + 1]))
    return depth, peak - 1, trough - 1


def calmar(cagr_value: float, drawdown: float) -> float:
    return cagr_value / -drawdown if drawdown < 0 else math.nan


def win_rate(returns: np.ndarray) -> float:
    """Share of days with a positive return."""
    return float(np.mean(returns > 0)) if len(returns) else math.nan


def beta_alpha(
    returns: np.ndarray, benchmark: np.ndarray, *, risk_free_daily: float
) -> tuple[float, float]:
    """CAPM beta = cov(r, b) / var(b) and Jensen's daily alpha, mean(r - rf) - beta x
    mean(b - rf), not annualised. Days where either return is missing are left out."""
    both = np.isfinite(returns) & np.isfinite(benchmark)
    r, b = returns[both], benchmark[both]
    if len(r) < 2:
        return math.nan, math.nan
    variance = np.var(b, ddof=1)
    if variance <= 0:
        return math.nan, math.nan
    beta = float(np.cov(r, b, ddof=1)[0, 1] / variance)
    alpha = (r - risk_free_daily).mean() - beta * (b - risk_free_daily).mean()
    return beta, float(alpha)


def tracking_error(returns: np.ndarray, benchmark: np.ndarray) -> float:
    """Annualised standard deviation (ddof=1) of the daily active return r - b."""
    active = (returns - benchmark)[np.isfinite(returns - benchmark)]
    if len(active) < 2:
        return math.nan
    return float(np.std(active, ddof=1) * math.sqrt(DAYS_PER_YEAR))


def information_ratio(returns: np.ndarray, benchmark: np.ndarray) -> float:
    """Annualised mean active return over the tracking error."""
    active = (returns - benchmark)[np.isfinite(returns - benchmark)]
    error = tracking_error(returns, benchmark)
    if not error > 0:
        return math.nan
    return float(active.mean() * DAYS_PER_YEAR / error)


def period_returns(dates: np.ndarray | list[date], equity: np.ndarray, *, initial: float,
                   period: str) -> dict[str, float | None]:
    """Return of each calendar month ("YYYY-MM") or year ("YYYY") the run touches: equity
    at its last close over equity at the previous period's last close (the initial capital
    for the first) - 1; a partial first or last period counts its days only."""
    if len(dates) == 0:
        return {}
    unit = "datetime64[M]" if period == "month" else "datetime64[Y]"
    keys = np.asarray(dates, dtype="datetime64[D]").astype(unit)
    ends = np.flatnonzero(np.append(keys[1:] != keys[:-1], True))
    closes = equity[ends]
    before = np.concatenate(([initial], closes[:-1]))
    with np.errstate(divide="ignore", invalid="ignore"):
        values = closes / before - 1.0
    return {str(keys[i]): finite(v) for i, v in zip(ends, values, strict=True)}


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
    monthly: dict[str, float | None] | None = None,
) -> Statistics:
    """All statistics of one run from its daily arrays; `cash_rebalances` counts the
    rebalance days on which nothing was eligible; `exposure`: invested value / equity at
    each close (None: unknown); `monthly`: `period_returns` by month, when already known."""
    n_days = len(equity)
    returns = returns_from_equity(equity, initial=initial_capital)
    benchmark = returns_from_equity(benchmark_equity, initial=initial_capital)
    rf = daily_rate(risk_free_rate)
    total = float(equity[-1] / initial_capital - 1.0)
    growth = cagr(total, n_days)
    depth, peak, trough = max_drawdown(equity, initial=initial_capital)
    beta, alpha_daily = beta_alpha(returns, benchmark, risk_free_daily=rf)
    mean_turnover = float(turnovers.mean()) if len(turnovers) else math.nan
    if monthly is None:
        monthly = period_returns(dates, equity, initial=initial_capital, period="month")
    months = [value for value in monthly.values() if value is not None]
    return Statistics(
        n_days=n_days,
        n_rebalances=len(turnovers),
        cash_rebalances=cash_rebalances,
        final_equity=float(equity[-1]),
        total_return=total,
        cagr=finite(growth),
        annual_volatility=finite(annual_volatility(returns)),
        sharpe=finite(sharpe(returns, risk_free_daily=rf)),
        sortino=finite(sortino(returns, risk_free_daily=rf)),
        max_drawdown=depth,
        peak_date=dates[max(peak, 0)] if trough >= 0 else None,
        trough_date=dates[trough] if trough >= 0 else None,
        calmar=finite(calmar(growth, depth)),
        win_rate=finite(win_rate(returns[1:])),
        turnover=finite(mean_turnover),
        annual_turnover=finite(turnovers.sum() * DAYS_PER_YEAR / n_days),
        costs_paid=float(costs_paid),
        average_holdings=float(holdings.mean()),
        beta=finite(beta),
        alpha=finite(alpha_daily * DAYS_PER_YEAR),
        alpha_compounded=finite((1.0 + alpha_daily) ** DAYS_PER_YEAR - 1.0),
        tracking_error=finite(tracking_error(returns, benchmark)),
        information_ratio=finite(information_ratio(returns, benchmark)),
        exposure=finite(exposure.mean()) if exposure is not None and len(exposure) else None,
        best_month=max(months, default=None),
        worst_month=min(months, default=None),
    )
