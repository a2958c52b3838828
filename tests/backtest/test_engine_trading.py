"""How the engine trades: costs, sell tax, halts, delistings, stops (hand-computed)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from backtest import run_backtest
from backtest.window import RunWindow, delisting_rows
from tests.backtest.toy import NO_COSTS, flat, rows, toy_panel, toy_spec

NAN = math.nan


def costs(commission: float = 0.0, slippage: float = 0.0, tax: list | None = None) -> dict:
    return {"commission_bps": commission, "slippage_bps": slippage, "sell_tax": tax or []}


def test_commission_and_slippage_on_buys_and_sells():
    # d1 buys A for 1000 (cost 0.3% = 3); d2 sells A (1000) and buys B (997): cost 5.991.
    panel = toy_panel(close=flat(3, 2), factors={"F": rows([2, 1], [1, 2], [1, 2])})
    spec = toy_spec(panel, rebalance="daily", costs=costs(commission=10, slippage=20))
    result = run_backtest(spec, panel)
    assert result.equity == pytest.approx([997.0, 991.009])
    assert [r.costs for r in result.rebalances] == pytest.approx([3.0, 5.991])
    assert [r.turnover for r in result.rebalances] == pytest.approx([1.0, 1997 / 997])
    assert result.statistics.costs_paid == pytest.approx(8.991)


def test_sell_tax_only_on_sells_at_the_rate_in_force_that_day_per_market():
    # KOSPI 10 bps, 50 bps from Fri 2024-01-05; KOSDAQ 100 bps. A, C KOSPI; B KOSDAQ.
    tax = [
        {"effective": "2024-01-01", "market": "KOSPI", "bps": 10},
        {"effective": "2024-01-05", "market": "KOSPI", "bps": 50},
        {"effective": "2024-01-01", "market": "KOSDAQ", "bps": 100},
    ]
    panel = toy_panel(
        close=flat(4, 3),
        factors={"F": rows([3, 2, 1], [3, 1, 2], [1, 3, 2], [1, 1, 1])},
        market=["KOSPI", "KOSDAQ", "KOSPI"],
    )
    assert str(panel.dates[3]) == "2024-01-05"
    result = run_backtest(toy_spec(panel, top_n=2, rebalance="daily", costs=costs(tax=tax)), panel)
    # Wed: buy A, B (no tax on buys). Thu: sell B 500 (KOSDAQ 1% = 5), buy C.
    # Fri: E 995 -> B, C at 497.5; sell A 500 and C 2.5 at the new KOSPI 0.5%.
    assert [r.costs for r in result.rebalances] == pytest.approx([0.0, 5.0, 2.5125])
    assert result.equity == pytest.approx([1000.0, 995.0, 992.4875])


def test_statutory_tax_defaults_apply_when_costs_are_not_given():
    panel = toy_panel(
        close=flat(3, 2),
        factors={"F": rows([2, 1], [1, 2], [1, 2])},
        dates=["2022-12-29", "2022-12-30", "2023-01-02"],
    )
    spec = toy_spec(panel, rebalance="daily", costs={"commission_bps": 0})
    result = run_backtest(spec, panel)
    # 2023-01-02: selling A (1000) pays the 2023 rate, 20 bps.
    assert result.rebalances[1].costs == pytest.approx(2.0)


def test_halted_holding_keeps_its_value_and_a_halted_stock_is_not_bought():
    tradable = np.ones((5, 3), dtype=bool)
    tradable[2, 0] = False  # A halted on d2 (close carried over)
    panel = toy_panel(close=flat(5, 3), factors={"F": [[3, 2, 1]] * 5}, tradable=tradable)
    spec = toy_spec(panel, top_n=2, rebalance="daily", costs=costs(commission=100))
    result = run_backtest(spec, panel)
    # d1: buy A, B 500 each (cost 10). d2: A frozen at 500, budget 490 -> B, C 245 (cost 5).
    # d3: A tradable but not on d2 -> sold; B, C 492.5 (traded 995, cost 9.95).
    # d4: A, B at 487.525; C sold (traded 985.05, cost 9.8505).
    assert result.equity == pytest.approx([990.0, 985.0, 975.05, 965.1995])
    d2 = result.rebalances[1].holdings
    assert [h.code for h in d2] == ["B", "C", "A"]
    assert [h.weight for h in d2] == pytest.approx([245 / 990, 245 / 990, 500 / 990])
    assert [h.code for h in result.rebalances[2].holdings] == ["B", "C"]


def test_delisted_holding_is_sold_before_the_rebalance_and_never_eligible_on_its_last_day():
    close = rows(
        [10, 10, 10], [10, 10, 10], [10, 10, 10], [8, 10, 10], [NAN, 10, 10], [NAN, 10, 10]
    )
    signal = rows([3, 2, 1], [3, 2, 1], [3, 2, 1], [3, 2, 1], [NAN, 2, 1], [NAN, 2, 1])
    tax = [{"effective": "2024-01-01", "market": "KOSDAQ", "bps": 100}]
    panel = toy_panel(close=close, factors={"F": signal}, market=["KOSDAQ", "KOSPI", "KOSPI"])
    spec = toy_spec(
        panel, top_n=2, rebalance=2, delisting_return=0.5, costs=costs(commission=100, tax=tax)
    )
    result = run_backtest(spec, panel)
    # d1 buys A, B (cost 10). d3 = L(A): A 400 sold at 200 paying 2% (4); then the
    # rebalance (A not eligible on L): E 686 -> B, C 343, traded 500, cost 5.
    # d5: B, C 340.5, traded 5, cost 0.05.
    assert result.equity == pytest.approx([990, 990, 681, 681, 680.95])
    assert [h.code for h in result.rebalances[1].holdings] == ["B", "C"]
    assert result.statistics.costs_paid == pytest.approx(19.05)


def test_delisting_while_halted_is_sold_and_the_cash_waits_for_the_next_rebalance():
    close = rows([10, 10], [10, 10], [10, 10], [NAN, 11], [NAN, 12])
    tradable = [[True, True], [True, True], [False, True], [False, True], [False, True]]
    tax = [{"effective": "2024-01-01", "market": "KOSPI", "bps": 100}]
    panel = toy_panel(close=close, factors={"F": flat(5, 2)}, tradable=tradable)
    spec = toy_spec(panel, top_n=2, delisting_return=0.2, costs=costs(tax=tax))
    result = run_backtest(spec, panel)
    # d2 = L(A), halted: 500 sold at 400, tax 4 -> cash 396; B drifts 500 -> 550 -> 600.
    assert result.equity == pytest.approx([1000, 896, 946, 996])
    assert result.statistics.n_rebalances == 1


def test_delisting_rows_match_the_panel_delisting_index():
    close = rows([10, NAN, 10], [10, 10, 10], [NAN, 10, 10], [NAN, 10, NAN])
    panel = toy_panel(close=close, factors={"F": flat(4, 3)})
    full = delisting_rows(panel.close, RunWindow(first=1, last=3))
    assert full.tolist() == panel.delisting_index().tolist() == [1, -1, 2]
    assert delisting_rows(panel.close, RunWindow(first=2, last=3)).tolist() == [-1, -1, 2]


def test_stop_loss_sells_at_the_next_close_and_cash_waits():
    close = rows([10, 10], [10, 10], [8, 10], [7, 10], [10, 10])
    panel = toy_panel(close=close, factors={"F": flat(5, 2)})
    spec = toy_spec(panel, top_n=2, stop_loss=0.1, costs=costs(commission=100))
    result = run_backtest(spec, panel)
    # d2 close: A -20% -> sold at d3's close 7: 350, cost 3.5. A's rebound on d4 is missed.
    assert result.equity == pytest.approx([990, 890, 836.5, 836.5])
    assert result.statistics.costs_paid == pytest.approx(13.5)


def test_take_profit_and_a_halted_exit_waits_until_it_can_trade():
    close = rows([10, 10], [10, 10], [13, 10], [13, 10], [12, 10])
    tradable = [[True, True], [True, True], [True, True], [False, True], [True, True]]
    panel = toy_panel(close=close, factors={"F": flat(5, 2)}, tradable=tradable)
    spec = toy_spec(panel, top_n=2, take_profit=0.2, costs=NO_COSTS)
    result = run_backtest(spec, panel)
    # A +30% on d2; halted on d3, so sold on d4 at 12 (600).
    assert result.equity == pytest.approx([1000, 1150, 1150, 1100])
