"""Statistics as pure functions of arrays, checked against hand-computed values."""

from __future__ import annotations

import math
from datetime import date, timedelta

import numpy as np
import pytest

from backtest import statistics as st


def test_returns_start_from_the_initial_capital():
    equity = np.array([99.0, 108.9, 98.01])
    assert st.returns_from_equity(equity, initial=100.0) == pytest.approx([-0.01, 0.1, -0.1])


def test_cagr_uses_252_days_a_year():
    assert st.cagr(0.21, 504) == pytest.approx(0.1)
    assert st.cagr(0.1, 252) == pytest.approx(0.1)
    assert math.isnan(st.cagr(-1.5, 252))


def test_volatility_sharpe_sortino():
    r = np.array([0.01, -0.01, 0.02, 0.0])
    sd = np.std(r, ddof=1)
    assert st.annual_volatility(r) == pytest.approx(sd * math.sqrt(252))
    assert st.sharpe(r, risk_free_daily=0.0) == pytest.approx(0.005 / sd * math.sqrt(252))
    downside = math.sqrt(0.01**2 / 4)
    assert st.sortino(r, risk_free_daily=0.0) == pytest.approx(0.005 / downside * math.sqrt(252))
    excess = r - 0.001
    assert st.sharpe(r, risk_free_daily=0.001) == pytest.approx(
        excess.mean() / np.std(excess, ddof=1) * math.sqrt(252)
    )
    assert math.isnan(st.sharpe(np.array([0.01, 0.01]), risk_free_daily=0.0))
    assert math.isnan(st.sortino(np.array([0.01, 0.02]), risk_free_daily=0.0))


def test_daily_risk_free_rate_compounds_to_the_annual_rate():
    assert (1 + st.daily_rate(0.03)) ** 252 == pytest.approx(1.03)


def test_max_drawdown_with_peak_and_trough():
    equity = np.array([100.0, 120.0, 90.0, 130.0, 80.0, 100.0])
    depth, peak, trough = st.max_drawdown(equity, initial=100.0)
    assert depth == pytest.approx(80 / 130 - 1)
    assert (peak, trough) == (3, 4)
    assert st.max_drawdown(np.array([1.0, 2.0, 3.0]), initial=1.0) == (0.0, -1, -1)


def test_drawdown_counts_the_initial_capital_as_the_first_peak():
    """Regression: the drawdown was measured from day-0 equity (after the buy-in costs),
    while the total return is measured from the initial capital."""
    equity = np.array([99.0, 97.0, 101.0])
    depth, peak, trough = st.max_drawdown(equity, initial=100.0)
    assert depth == pytest.approx(-0.03)  # not 97 / 99 - 1
    assert (peak, trough) == (-1, 1)  # the peak is the initial capital
    dates = [date(2024, 1, 2) + timedelta(days=i) for i in range(3)]
    stats = st.compute_statistics(
        dates=dates, equity=equity, benchmark_equity=np.full(3, 100.0), initial_capital=100.0,
        turnovers=np.array([1.0]), costs_paid=1.0, holdings=np.ones(3), risk_free_rate=0.0,
        cash_rebalances=0,
    )
    assert stats.max_drawdown == pytest.approx(-0.03)
    assert (stats.peak_date, stats.trough_date) == (dates[0], dates[1])


def test_win_rate_leaves_day_zero_out():
    """Regression: day 0 (whose return is only the buy-in costs) counted as a losing day."""
    dates = [date(2024, 1, 2) + timedelta(days=i) for i in range(5)]
    stats = st.compute_statistics(
        dates=dates, equity=np.array([99.0, 100.0, 99.5, 101.0, 102.0]),
        benchmark_equity=np.full(5, 100.0), initial_capital=100.0, turnovers=np.array([1.0]),
        costs_paid=1.0, holdings=np.ones(5), risk_free_rate=0.0, cash_rebalances=0,
    )
    assert stats.win_rate == 0.75  # 3 of the 4 days after day 0, not 3 of 5
    assert st.calmar(0.2, -0.1) == pytest.approx(2.0)
    assert math.isnan(st.calmar(0.2, 0.0))


def test_win_rate_counts_strictly_positive_days():
    assert st.win_rate(np.array([0.1, 0.0, -0.1, 0.2])) == 0.5


def test_beta_alpha_tracking_error_information_ratio():
    b = np.array([0.01, -0.02, 0.03, 0.0, 0.01])
    r = 2 * b + 0.001
    beta, alpha = st.beta_alpha(r, b, risk_free_daily=0.0)
    assert beta == pytest.approx(2.0)
    assert alpha == pytest.approx(0.001)  # daily
    active = r - b
    te = np.std(active, ddof=1) * math.sqrt(252)
    assert st.tracking_error(r, b) == pytest.approx(te)
    assert st.information_ratio(r, b) == pytest.approx(active.mean() * 252 / te)
    same_beta, same_alpha = st.beta_alpha(b, b, risk_free_daily=0.0001)
    assert (same_beta, same_alpha) == pytest.approx((1.0, 0.0))
    assert math.isnan(st.information_ratio(b, b))


def test_benchmark_gaps_are_left_out_of_beta():
    b = np.array([0.01, np.nan, 0.03, 0.0, 0.01])
    beta, _ = st.beta_alpha(2 * np.nan_to_num(b), b, risk_free_daily=0.0)
    assert beta == pytest.approx(2.0)


def test_compute_statistics_is_nan_free_and_consistent():
    dates = [date(2024, 1, 1) + timedelta(days=i) for i in range(4)]
    stats = st.compute_statistics(
        dates=dates,
        equity=np.array([100.0, 100.0, 100.0, 100.0]),
        benchmark_equity=np.array([100.0, 100.0, 100.0, 100.0]),
        initial_capital=100.0,
        turnovers=np.array([1.0, 0.5]),
        costs_paid=0.0,
        holdings=np.array([2, 2, 3, 3]),
        risk_free_rate=0.0,
        cash_rebalances=1,
    )
    assert stats.sharpe is None and stats.beta is None and stats.calmar is None
    assert stats.peak_date is None and stats.max_drawdown == 0.0
    assert stats.turnover == 0.75 and stats.annual_turnover == pytest.approx(1.5 * 252 / 4)
    assert stats.average_holdings == 2.5 and stats.n_rebalances == 2 and stats.n_days == 4
    assert stats.cash_rebalances == 1
    assert "NaN" not in stats.model_dump_json()


def test_alpha_arithmetic_and_compounded():
    b = np.array([0.01, -0.02, 0.03, 0.0, 0.01])
    r = 2 * b + 0.001
    dates = [date(2024, 1, 2) + timedelta(days=i) for i in range(5)]
    stats = st.compute_statistics(
        dates=dates, equity=100.0 * np.cumprod(1 + r),
        benchmark_equity=100.0 * np.cumprod(1 + b), initial_capital=100.0,
        turnovers=np.array([1.0]), costs_paid=0.0, holdings=np.ones(5), risk_free_rate=0.0,
        cash_rebalances=0,
    )
    assert stats.beta == pytest.approx(2.0)
    assert stats.alpha == pytest.approx(0.001 * 252)
    assert stats.alpha_compounded == pytest.approx(1.001**252 - 1)


def test_statistics_of_older_engines_read_without_cash_rebalances():
    stored = st.compute_statistics(
        dates=[date(2024, 1, 2)], equity=np.array([100.0]), benchmark_equity=np.array([100.0]),
        initial_capital=100.0, turnovers=np.array([0.0]), costs_paid=0.0, holdings=np.zeros(1),
        risk_free_rate=0.0, cash_rebalances=1,
    ).model_dump(mode="json")
    assert stored["cash_rebalances"] == 1
    del stored["cash_rebalances"]  # as engines before 1.2.0 wrote them
    assert st.Statistics.model_validate(stored).cash_rebalances is None


def test_a_flat_equity_with_float_rounding_has_no_win_no_fall_and_no_sortino():
    """Regression (a sweep's kernel against a single run): a flat curve whose cash is summed
    in another order wobbles by an ulp; that is not a win, a drawdown or a downside."""
    from backtest.statistics import max_drawdown, returns_from_equity, sortino, win_rate

    ulp = 100.0 * 2.0**-52
    equity = np.array([100.0, 100.0 + ulp, 100.0 - ulp, 100.0, 100.0 + 2 * ulp, 100.0])
    returns = returns_from_equity(equity, initial=100.0)
    assert (returns == 0.0).all()
    assert win_rate(returns) == 0.0
    assert max_drawdown(equity, initial=100.0) == (0.0, -1, -1)
    assert np.isnan(sortino(returns, risk_free_daily=0.0))
    real = np.array([100.0, 101.0, 101.0 + ulp, 99.0, 100.0])  # a real fall from a plateau
    depth, peak, trough = max_drawdown(real, initial=100.0)
    assert (peak, trough) == (1, 3) and depth == pytest.approx(99.0 / (101.0 + ulp) - 1.0)
