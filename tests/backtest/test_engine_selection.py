"""What the engine buys: signal lag, eligibility, filters, ranking, weights (hand-computed)."""

from __future__ import annotations

import math

import pytest

from backtest import run_backtest
from tests.backtest.toy import flat, rows, toy_panel, toy_spec

NAN = math.nan


def held(result, index: int = 0) -> list[tuple[str, float]]:
    return [(h.code, round(h.weight, 12)) for h in result.rebalances[index].holdings]


def test_signal_uses_previous_day_values():
    # d0 says A is best, d1 says C is best; the run starts on d1, so it buys A.
    panel = toy_panel(
        close=rows([10, 10, 10], [10, 10, 10], [20, 10, 10]),
        factors={"F": rows([3, 2, 1], [1, 2, 3], [1, 2, 3])},
    )
    result = run_backtest(toy_spec(panel), panel)
    assert held(result) == [("A", 1.0)]
    assert result.equity == [1000.0, 2000.0]


def test_positions_drift_between_rebalances():
    close = rows([10, 10], [10, 10], [12, 5], [15, 10])
    panel = toy_panel(close=close, factors={"F": flat(4, 2, 1.0)})
    drifting = run_backtest(toy_spec(panel, top_n=2, rebalance="monthly"), panel)
    assert drifting.equity == pytest.approx([1000, 850, 1250])
    daily = run_backtest(toy_spec(panel, top_n=2, rebalance="daily"), panel)
    # Rebalanced on d2 to 425 / 425, then A x1.25 and B x2.
    assert daily.equity == pytest.approx([1000, 850, 1381.25])


def test_ties_get_average_ranks_and_lower_code_wins():
    # F1: A, B tie at ranks 1-2 (p = 1/6), C p = 2/3, D p = 1. F2: A 1, B 0, C 2/3, D 1/3.
    # Scores: A 7/6, B 1/6, C 4/3, D 4/3 (C, D tied: D has the lower code).
    # With minimum ranks A would score 1; with maximum ranks 4/3 and win on code.
    factors = {"F1": [[1, 1, 2, 3]] * 3, "F2": [[3, 0, 2, 1]] * 3}
    panel = toy_panel(
        close=flat(3, 4), factors=factors, codes=["000001", "000002", "000004", "000003"]
    )
    ranking = [{"factor": "F1"}, {"factor": "F2"}]
    one = run_backtest(toy_spec(panel, ranking=ranking, top_n=1), panel)
    assert held(one) == [("000003", 1.0)]
    three = run_backtest(toy_spec(panel, ranking=ranking, top_n=3), panel)
    assert [code for code, _ in held(three)] == ["000003", "000004", "000001"]


def test_all_tied_scores_pick_codes_in_ascending_order():
    panel = toy_panel(close=flat(3, 3), factors={"F": flat(3, 3, 5.0)}, codes=["Z", "Y", "X"])
    result = run_backtest(toy_spec(panel, top_n=2), panel)
    assert [code for code, _ in held(result)] == ["X", "Y"]


def test_ascending_prefers_low_values_and_weights_combine_terms():
    factors = {"F": [[1, 2, 3]] * 3, "G": [[3, 1, 2]] * 3}
    panel = toy_panel(close=flat(3, 3), factors=factors)
    low = run_backtest(toy_spec(panel, ranking=[{"factor": "F", "ascending": True}]), panel)
    assert held(low) == [("A", 1.0)]
    # F p = (0, .5, 1), G p = (1, 0, .5): 1 x F + 3 x G -> A 3, B .5, C 2.5.
    mixed = [{"factor": "F", "weight": 1}, {"factor": "G", "weight": 3}]
    assert held(run_backtest(toy_spec(panel, ranking=mixed), panel)) == [("A", 1.0)]


def test_fewer_eligible_than_top_n_holds_all_eligible():
    panel = toy_panel(close=flat(3, 3), factors={"F": rows([1, NAN, 3], [1, 2, 3], [1, 2, 3])})
    result = run_backtest(toy_spec(panel, top_n=5), panel)
    assert held(result) == [("C", 0.5), ("A", 0.5)]


def test_eligibility_needs_trading_on_the_signal_day_and_the_day():
    tradable = [[False, True, True], [True, True, False], [True, True, True]]
    panel = toy_panel(close=flat(3, 3), factors={"F": flat(3, 3, 1.0)}, tradable=tradable)
    result = run_backtest(toy_spec(panel, top_n=3), panel)
    assert held(result) == [("B", 1.0)]


def test_markets_sectors_and_universe_minimums_use_signal_day_values():
    factors = {
        "F": [[4, 3, 2, 1]] * 3,
        "MARKET_CAP": rows([50, 300, 300, 300], [500, 500, 500, 5], [1, 1, 1, 1]),
        "AVG_TRADING_VALUE_20D": rows([9, 9, 9, 1], [9, 9, 9, 9], [9, 9, 9, 9]),
    }
    panel = toy_panel(
        close=flat(3, 4),
        factors=factors,
        market=["KOSPI", "KOSPI", "KOSDAQ", "KOSPI"],
        sector=["Tech", "Bank", "Tech", "Tech"],
    )
    # On d0, A's cap (50) is below 100 and D's trading value (1) below 5.
    liquid = {"min_market_cap": 100, "min_avg_trading_value": 5}
    result = run_backtest(toy_spec(panel, universe=liquid, top_n=4), panel)
    assert [code for code, _ in held(result)] == ["B", "C"]
    kospi_not_bank = {"markets": "KOSPI", "exclude_sectors": ["Bank"]}
    result = run_backtest(toy_spec(panel, universe=kospi_not_bank, top_n=4), panel)
    assert [code for code, _ in held(result)] == ["A", "D"]


def test_range_filters_are_inclusive():
    panel = toy_panel(close=flat(3, 4), factors={"F": [[1, 2, 3, 4]] * 3})
    spec = toy_spec(panel, top_n=4, filters=[{"factor": "F", "min": 2, "max": 3}])
    assert [code for code, _ in held(run_backtest(spec, panel))] == ["C", "B"]


def test_percentile_filters_rank_among_otherwise_eligible_stocks():
    # A is removed by the range filter; top 50% of B..E by G is K = 2 stocks: D, E.
    # (Among all five, K = 3 would also keep C.)
    factors = {"F": [[5, 4, 3, 2, 1]] * 3, "G": [[1, 2, 3, 4, 5]] * 3, "H": [[0, 1, 1, 1, 1]] * 3}
    panel = toy_panel(close=flat(3, 5), factors=factors)
    filters = [{"factor": "H", "min": 1}, {"factor": "G", "top_pct": 50}]
    result = run_backtest(toy_spec(panel, top_n=5, filters=filters), panel)
    assert [code for code, _ in held(result)] == ["D", "E"]
    bottom = [{"factor": "H", "min": 1}, {"factor": "G", "bottom_pct": 25}]
    result = run_backtest(toy_spec(panel, top_n=5, filters=bottom), panel)
    assert [code for code, _ in held(result)] == ["B"]


def test_market_cap_weighting_uses_signal_day_caps():
    factors = {"F": [[3, 2, 1]] * 3, "MARKET_CAP": rows([300, 100, 50], [100, 300, 50], [1, 1, 1])}
    panel = toy_panel(close=rows([10, 10, 10], [10, 10, 10], [20, 10, 10]), factors=factors)
    result = run_backtest(toy_spec(panel, top_n=2, weighting="market_cap"), panel)
    assert held(result) == [("A", 0.75), ("B", 0.25)]
    assert result.equity == pytest.approx([1000, 1750])


def test_inverse_vol_weighting_and_zero_volatility_is_not_eligible():
    volatility = rows([0.125, 0.375, 0.0], [0.3, 0.1, 0.2], [1, 1, 1])
    factors = {"F": [[2, 1, 3]] * 3, "VOL_60D": volatility}
    panel = toy_panel(close=flat(3, 3), factors=factors)
    result = run_backtest(toy_spec(panel, top_n=2, weighting="inverse_vol"), panel)
    assert held(result) == [("A", 0.75), ("B", 0.25)]


def test_max_weight_caps_each_position_and_keeps_the_rest_in_cash():
    panel = toy_panel(close=rows([10, 10], [10, 10], [20, 10]), factors={"F": [[2, 1]] * 3})
    result = run_backtest(toy_spec(panel, top_n=2, max_weight=0.3), panel)
    assert held(result) == [("A", 0.3), ("B", 0.3)]
    assert result.equity == pytest.approx([1000, 1300])
    caps = {"F": [[2, 1]] * 3, "MARKET_CAP": [[300, 100]] * 3}
    panel = toy_panel(close=flat(3, 2), factors=caps)
    spec = toy_spec(panel, top_n=2, weighting="market_cap", max_weight=0.5)
    assert held(run_backtest(spec, panel)) == [("A", 0.5), ("B", 0.25)]


def test_benchmark_equity_starts_at_initial_capital_on_the_first_run_day():
    panel = toy_panel(close=flat(4, 2), factors={"F": flat(4, 2)}, benchmark=[100, 110, 121, 99])
    result = run_backtest(toy_spec(panel), panel)
    assert result.benchmark_equity == pytest.approx([1000, 1100, 900])


def test_no_eligible_stock_keeps_everything_in_cash():
    panel = toy_panel(close=flat(3, 2), factors={"F": rows([NAN, NAN], [1, 2], [1, 2])})
    result = run_backtest(toy_spec(panel, rebalance="monthly"), panel)
    assert result.rebalances[0].holdings == []
    assert result.equity == [1000.0, 1000.0]
    assert result.statistics.average_holdings == 0.0


def test_rebalances_with_nothing_eligible_are_counted_as_cash_rebalances():
    """Regression: a MOM_12_1 strategy sat in cash for 6 of 12 rebalances (its lookback not
    covered yet) and the result did not say so."""
    nan_days = [[NAN, NAN]] * 3
    panel = toy_panel(close=flat(6, 2), factors={"F": rows(*nan_days, [1, 2], [1, 2], [1, 2])})
    result = run_backtest(toy_spec(panel, rebalance="daily"), panel)
    # rebalances on d1..d5 read d0..d4: d0, d1 and d2 have no value, so nothing is eligible
    assert [len(r.holdings) for r in result.rebalances] == [0, 0, 0, 1, 1]
    assert result.statistics.n_rebalances == 5
    assert result.statistics.cash_rebalances == 3
    covered = toy_panel(close=flat(6, 2), factors={"F": flat(6, 2, 1.0)})
    every_day = run_backtest(toy_spec(covered, rebalance="daily"), covered)
    assert every_day.statistics.cash_rebalances == 0
