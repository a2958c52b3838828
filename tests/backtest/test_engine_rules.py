"""The KRX rules and what Korean quants set in every backtest, on hand-built toy panels:
price-limit lock, universe exclusions, holding buffer, market timing, and the result's
trades, events, exposure and period returns (expected numbers worked out in comments)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from backtest import run_backtest
from backtest.spec import StrategySpec
from backtest.window import RunWindow, limit_locks
from dataprep.panel import STATUS_BITS
from tests.backtest.toy import flat, rows, toy_panel, toy_spec, weekdays

NAN = math.nan
ADMINISTRATIVE, CAUTION = STATUS_BITS["administrative"], STATUS_BITS["caution"]


def held(result) -> list[list[str]]:
    return [[h.code for h in r.holdings] for r in result.rebalances]


def kinds(result) -> list[tuple[str, str, str]]:
    return [(str(e.date), e.code, e.kind) for e in result.events]


# --- price-limit lock ---------------------------------------------------------------------


def test_limit_lock_is_a_close_within_half_a_point_of_thirty_percent():
    close = np.array([[10.0] * 6, [12.95, 12.94, 7.05, 7.06, 13.0, NAN]])
    up, down = limit_locks(close, RunWindow(first=1, last=1), enabled=True)
    # +29.5 % locks, +29.4 % does not; -29.5 % locks, -29.4 % does not; no close: neither.
    assert up.tolist() == [[True, False, False, False, True, False]]
    assert down.tolist() == [[False, False, True, False, False, False]]
    off = limit_locks(close, RunWindow(first=1, last=1), enabled=False)
    assert not off[0].any() and not off[1].any()


def test_a_limit_down_holding_stays_held_at_its_value():
    # d1 buys A (F prefers A). d2: A falls 10 -> 7 (-30 %, locked) and F now prefers B.
    # With the lock A cannot be sold: it keeps its 700, the budget 700 - 700 = 0 buys no B.
    # d3 (A flat, free) sells A and buys B at 10; d4 B rises to 11: 70 shares -> 770.
    # Without the lock B is bought on d2 (70 shares) and is worth 770 on d3 already.
    close = rows([10, 10], [10, 10], [7, 10], [7, 11], [7, 11])
    factors = {"F": rows([2, 1], [1, 2], [1, 2], [1, 2], [1, 2])}
    panel = toy_panel(close=close, factors=factors)
    locked = run_backtest(toy_spec(panel, rebalance="daily", limit_lock=True), panel)
    assert locked.equity == pytest.approx([1000, 700, 700, 700])
    assert held(locked) == [["A"], ["A"], ["B"], ["B"]]
    assert [(h.code, h.weight) for h in locked.rebalances[1].holdings] == [("A", 1.0)]
    assert kinds(locked) == [("2024-01-04", "A", "lock_blocked")]
    assert locked.events[0].value == pytest.approx(700) and locked.events[0].pnl is None
    free = run_backtest(toy_spec(panel, rebalance="daily", limit_lock=False), panel)
    assert free.equity == pytest.approx([1000, 700, 770, 770])
    assert free.events == []


def test_a_limit_up_stock_cannot_be_bought_and_the_money_waits_in_cash():
    # d1 buys A. d2: F prefers B, which closes +30 % (13): A is sold (1000 cash), B cannot
    # be bought; d3 (B +10 %, free) buys B at 14.3. Without the lock B is bought at 13 on d2
    # and gains the 10 % of d3: 1100.
    close = rows([10, 10], [10, 10], [10, 13], [10, 14.3], [10, 14.3])
    factors = {"F": rows([2, 1], [1, 2], [1, 2], [1, 2], [1, 2])}
    panel = toy_panel(close=close, factors=factors)
    locked = run_backtest(toy_spec(panel, rebalance="daily", limit_lock=True), panel)
    assert locked.equity == pytest.approx([1000, 1000, 1000, 1000])
    assert held(locked) == [["A"], [], ["B"], ["B"]]
    assert locked.exposure == pytest.approx([1.0, 0.0, 1.0, 1.0])
    assert kinds(locked) == [("2024-01-04", "B", "lock_blocked")]
    assert locked.events[0].value == pytest.approx(1000)
    free = run_backtest(toy_spec(panel, rebalance="daily", limit_lock=False), panel)
    assert free.equity == pytest.approx([1000, 1000, 1100, 1100])
    assert held(free) == [["A"], ["B"], ["B"], ["B"]]


def test_a_stop_exit_waits_while_the_stock_is_at_the_lower_limit():
    # A is bought d1 at 10; d2 closes 7 (-30 %): the 20 % stop triggers at that close. d3
    # A is at the lower limit again (4.9): the exit waits (a lock_blocked event), d4 (5.0)
    # sells it: 100 shares x 5 = 500, P&L 500 - 1000 = -500.
    close = rows([10, 10], [10, 10], [7, 10], [4.9, 10], [5.0, 10], [5.0, 10])
    panel = toy_panel(close=close, factors={"F": flat(6, 2, 1.0)})
    result = run_backtest(toy_spec(panel, stop_loss=0.2, limit_lock=True), panel)
    assert result.equity == pytest.approx([1000, 700, 490, 500, 500])
    assert kinds(result) == [("2024-01-05", "A", "lock_blocked"), ("2024-01-08", "A", "stop_exit")]
    assert result.events[1].value == pytest.approx(500)
    assert result.events[1].pnl == pytest.approx(-500)
    unlocked = run_backtest(toy_spec(panel, stop_loss=0.2), panel)
    assert unlocked.equity == pytest.approx([1000, 700, 490, 490, 490])  # sold on d3


def test_a_delisting_sale_ignores_the_lock():
    # A's last close (d2) is -30 %: it is sold anyway at 7 x (1 - 0.5) = 350.
    close = rows([10, 10], [10, 10], [7, 10], [NAN, 10], [NAN, 10])
    panel = toy_panel(close=close, factors={"F": rows([2, 1], [2, 1], [2, 1], [NAN, 1], [NAN, 1])})
    result = run_backtest(toy_spec(panel, delisting_return=0.5, limit_lock=True), panel)
    assert result.equity == pytest.approx([1000, 350, 350, 350])
    assert kinds(result) == [("2024-01-04", "A", "delisting_sale")]
    assert result.events[0].value == pytest.approx(700)
    assert result.events[0].pnl == pytest.approx(-350)  # the haircut (no costs here)


# --- universe exclusions --------------------------------------------------------------------


def exclusion_panel():
    """F prefers E > B > C > D > A. B is preferred; C under administrative designation on
    d0 only; D loss-making (EARNINGS_YIELD <= 0); E a SPAC, under caution on d0."""
    return toy_panel(
        close=flat(3, 5),
        factors={
            "F": [[float(v) for v in [1, 4, 3, 2, 5]]] * 3,
            "EARNINGS_YIELD": [[0.1, 0.1, 0.1, -0.2, 0.1]] * 3,
        },
        kind=["common", "preferred", "common", "common", "spac"],
        status=[[0, 0, ADMINISTRATIVE, 0, CAUTION], [0] * 5, [0] * 5],
    )


@pytest.mark.parametrize(
    ("universe", "first", "second"),
    [
        ({}, "E", "E"),
        ({"exclude": ["spac"]}, "B", "B"),
        ({"exclude": ["spac", "preferred"]}, "C", "C"),
        ({"exclude": ["spac", "preferred", "administrative"]}, "D", "C"),
        ({"preset": "standard"}, "D", "C"),
        ({"preset": "standard", "exclude": ["loss_making"]}, "A", "C"),
        ({"exclude": ["caution"]}, "B", "E"),
    ],
)
def test_exclusions_are_judged_by_kind_and_by_the_designations_on_the_signal_day(
    universe, first, second
):
    panel = exclusion_panel()
    # Rebalance d1 reads d0 (C administrative, E caution); d2 reads d1 (no designations).
    result = run_backtest(toy_spec(panel, rebalance="daily", universe=universe), panel)
    assert held(result) == [[first], [second]]


def test_loss_making_excludes_unknown_earnings_too():
    panel = toy_panel(
        close=flat(2, 3),
        factors={"F": [[3.0, 2.0, 1.0]] * 2, "EARNINGS_YIELD": [[NAN, 0.0, 0.5]] * 2},
    )
    result = run_backtest(toy_spec(panel, universe={"exclude": ["loss_making"]}), panel)
    assert held(result) == [["C"]]  # A unknown, B exactly 0: both loss-making


def test_the_standard_preset_lists_what_design_md_names():
    spec = StrategySpec.model_validate(
        {"start": "2024-01-02", "end": "2024-02-01", "ranking": [{"factor": "F"}], "top_n": 5,
         "universe": {"preset": "standard", "exclude": ["caution"]}}
    )
    assert spec.universe.exclusions() == {
        "preferred", "spac", "reit", "administrative", "warning", "liquidation", "caution"
    }
    assert "EARNINGS_YIELD" not in spec.factors_used()


# --- holding buffer -------------------------------------------------------------------------


def test_a_buffer_keeps_a_holding_ranked_top_n_plus_one():
    # top_n 1, hold_buffer 1. d1 buys A (ranked 1st). d2: A ranked 2nd = top_n + 1: kept.
    # d3: A ranked 3rd: replaced by the best not held, B. Without the buffer d2 buys B.
    factors = {"F": rows([3, 2, 1], [2, 3, 1], [1, 3, 2], [1, 3, 2])}
    panel = toy_panel(close=flat(4, 3), factors=factors)
    buffered = run_backtest(toy_spec(panel, rebalance="daily", hold_buffer=1), panel)
    assert held(buffered) == [["A"], ["A"], ["B"]]
    assert [r.turnover for r in buffered.rebalances] == pytest.approx([1.0, 0.0, 2.0])
    plain = run_backtest(toy_spec(panel, rebalance="daily"), panel)
    assert held(plain) == [["A"], ["B"], ["B"]]


def test_a_buffer_gives_kept_and_new_stocks_the_same_weights():
    # top_n 2, hold_buffer 1. d1 buys A, B at 500. d2: A rises to 12 (600), E = 1100; ranks
    # C 1, D 2, A 3, B 4: A is kept (3 <= 3), B sold, the free slot goes to C (best not held).
    # Equal weights of 1100: C 550, A 550 (A sells 50). Traded 50 + 500 + 550 = 1100.
    close = rows([10, 10, 10, 10], [10, 10, 10, 10], [12, 10, 10, 10])
    factors = {"F": rows([4, 3, 2, 1], [2, 1, 4, 3], [2, 1, 4, 3])}
    panel = toy_panel(close=close, factors=factors)
    result = run_backtest(toy_spec(panel, rebalance="daily", top_n=2, hold_buffer=1), panel)
    assert held(result) == [["A", "B"], ["C", "A"]]
    second = result.rebalances[1]
    assert [h.weight for h in second.holdings] == pytest.approx([0.5, 0.5])
    assert second.turnover == pytest.approx(1.0)
    trades = [(t["code"], t["side"], t["value"]) for t in second.trades.records()]
    assert trades == [("A", "sell", pytest.approx(50)), ("B", "sell", pytest.approx(500)),
                      ("C", "buy", pytest.approx(550))]


# --- market timing ------------------------------------------------------------------------


def test_timing_exits_the_day_after_the_index_closes_below_its_mean_and_reenters_when_back():
    # KOSPI closes d0..d8: 100 100 100 100 90 90 110 110 110; 3-day means at d2..d8:
    # 100 100 96.7 93.3 96.7 103.3 110. On at d+1 while index(d) >= mean(d): d3 (100 >= 100)
    # and d4 on; d4's 90 < 96.7 turns d5 off; d6 off (90 < 93.3); d6's 110 >= 96.7 turns d7
    # on again. A: 10 10 10 10 10 9 8 10 11. The run starts d3: buys 100 A (1000); d5 sells
    # at 9 (900, a timing exit, P&L -100); d7 (back on: a rebalance day) buys 90 A at 10;
    # d8: 990.
    close = [[p, 10.0] for p in (10, 10, 10, 10, 10, 9, 8, 10, 11)]
    index = [100, 100, 100, 100, 90, 90, 110, 110, 110]
    panel = toy_panel(close=close, factors={"F": flat(9, 2, 1.0)}, benchmark=index)
    dates = weekdays("2024-01-02", 9)
    spec = toy_spec(panel, start=dates[3], timing={"index": "KOSPI", "ma_days": 3})
    result = run_backtest(spec, panel)
    assert result.equity == pytest.approx([1000, 1000, 900, 900, 900, 990])
    assert result.exposure == pytest.approx([1, 1, 0, 0, 1, 1])
    assert [str(r.date) for r in result.rebalances] == [dates[3], dates[7]]
    assert kinds(result) == [(dates[5], "A", "timing_exit")]
    assert result.events[0].value == pytest.approx(900)
    assert result.events[0].pnl == pytest.approx(-100)


def test_timing_is_off_while_the_mean_cannot_be_computed_yet():
    # ma_days 3 from d1: d1 reads d0 (one close): off; d2 reads d1 (two): off; d3 reads d2: on.
    panel = toy_panel(close=flat(5, 1), factors={"F": flat(5, 1, 1.0)})
    spec = toy_spec(panel, timing={"index": "KOSPI", "ma_days": 3})
    result = run_backtest(spec, panel)
    assert result.exposure == pytest.approx([0, 0, 1, 1])
    assert [str(r.date) for r in result.rebalances] == [str(panel.dates[1]), str(panel.dates[3])]


def test_a_seasonal_strategy_is_invested_only_november_to_april():
    # Every stock gains 0.1 % a trading day. Invested on the close of each November-April
    # day; out (exposure 0) May-October. The first trading day of May sells everything
    # (after that day's gain); the first of November buys.
    dates = weekdays("2023-12-01", 300)  # Dec 2023 .. Jan 2025
    close = [[10.0 * 1.001**t, 12.0 * 1.001**t] for t in range(300)]
    panel = toy_panel(close=close, factors={"F": flat(300, 2, 1.0)}, dates=dates)
    spec = toy_spec(panel, top_n=2, timing={"months": [11, 12, 1, 2, 3, 4]})
    result = run_backtest(spec, panel)
    months = np.array([d.month for d in result.dates])
    season = np.isin(months, [11, 12, 1, 2, 3, 4])
    assert np.asarray(result.exposure) == pytest.approx(season.astype(float))
    equity = np.asarray(result.equity)
    growth = equity[1:] / equity[:-1]
    assert growth[season[:-1]] == pytest.approx(1.001)  # held at the previous close: gains
    assert growth[~season[:-1]] == pytest.approx(1.0)  # in cash
    exits = [e for e in result.events if e.kind == "timing_exit"]
    assert {str(e.date) for e in exits} == {"2024-05-01"}
    assert len(exits) == 2
    rebalanced = {str(r.date) for r in result.rebalances}
    assert "2024-11-01" in rebalanced and "2024-05-01" in rebalanced


def test_timing_months_and_trend_together_are_on_when_both_are():
    index = [100.0] * 5 + [50.0] * 3 + [100.0] * 30
    dates = weekdays("2024-03-25", 38)  # 03-25 .. 05-14
    panel = toy_panel(close=flat(38, 1), factors={"F": flat(38, 1, 1.0)}, dates=dates,
                      benchmark=index)
    spec = toy_spec(panel, start=dates[2],
                    timing={"index": "KOSPI", "ma_days": 2, "months": [3, 4]})
    result = run_backtest(spec, panel)
    # KOSPI 100 until 03-29, 50 on 04-01 .. 04-03, 100 after; 2-day means.
    on = [x > 0 for x in result.exposure]
    by_day = dict(zip([str(d) for d in result.dates], on, strict=True))
    assert by_day["2024-03-27"] and by_day["2024-04-01"]  # reads 03-29: 100 >= 100
    assert not by_day["2024-04-02"]  # reads 04-01: 50 < mean(100, 50) = 75
    assert by_day["2024-04-03"]  # reads 04-02: 50 >= mean(50, 50): on again, rebalanced
    assert "2024-04-03" in {str(r.date) for r in result.rebalances}
    assert not any(by_day[d] for d in by_day if d >= "2024-05-01")  # May: out of season


# --- result fields --------------------------------------------------------------------------


def test_trades_carry_side_value_costs_and_tax():
    # 10 bps commission + 5 slippage, 20 bps tax. d1: buy A 1000 (costs 1.5). d2: E 998.5;
    # sell A 1000 (costs 1.5, tax 2), buy B 998.5 (costs 1.49775).
    panel = toy_panel(close=flat(3, 2), factors={"F": rows([2, 1], [1, 2], [1, 2])})
    costs = {"commission_bps": 10, "slippage_bps": 5,
             "sell_tax": [{"effective": "2020-01-01", "market": "KOSPI", "bps": 20}]}
    result = run_backtest(toy_spec(panel, rebalance="daily", costs=costs), panel)
    first, second = result.rebalances
    assert first.trades.records() == [
        {"code": "A", "side": "buy", "value": 1000, "costs": pytest.approx(1.5), "tax": 0}
    ]
    trades = second.trades
    assert list(zip(trades.code, trades.side, strict=True)) == [("A", "sell"), ("B", "buy")]
    assert trades.value == pytest.approx([1000, 998.5])
    assert trades.costs == pytest.approx([1.5, 1.49775])
    assert trades.tax == pytest.approx([2.0, 0.0])
    assert sum(trades.costs) + sum(trades.tax) == pytest.approx(second.costs)


def test_monthly_and_yearly_returns_and_the_best_and_worst_month():
    # 100 shares of A bought at 10 on 2024-12-30: 1000 to 12-31, 1100 in January, 990 on
    # 2025-02-03. December 0 %, January +10 %, February -10 %; 2024 0 %, 2025 -1 %.
    dates = ["2024-12-27", "2024-12-30", "2024-12-31", "2025-01-02", "2025-01-31", "2025-02-03"]
    close = [[10.0], [10.0], [10.0], [11.0], [11.0], [9.9]]
    panel = toy_panel(close=close, factors={"F": flat(6, 1, 1.0)}, dates=dates)
    result = run_backtest(toy_spec(panel), panel)
    assert result.monthly_returns == pytest.approx({"2024-12": 0.0, "2025-01": 0.1,
                                                     "2025-02": -0.1})
    assert result.yearly_returns == pytest.approx({"2024": 0.0, "2025": -0.01})
    assert result.statistics.best_month == pytest.approx(0.1)
    assert result.statistics.worst_month == pytest.approx(-0.1)
    assert result.statistics.exposure == pytest.approx(1.0)
