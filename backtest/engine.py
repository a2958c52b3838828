"""run_backtest: StrategySpec + FactorPanel -> BacktestResult, pure numpy, no I/O.

Steps, and where each lives:

1. Validate the spec against the data and find the run's rows (`validation.validate_against`;
   field checks already ran in `spec.StrategySpec`).
2. Rebalance days (`schedule.rebalance_mask`).
3. Plan every rebalance day's targets from the previous day's values: eligibility,
   filters, ranks, top_n, weights (`selection.plan_selections`, ranks in `ranking`). The
   plan depends on the data only, so it is vectorised over blocks of rebalance days.
4. Slice the window's market data for the stocks the plan ever selects, the only ones a
   run can hold: closes, price relatives, tradability, delisting days (`window`), and the
   sell tax per day and market (`costs`). The simulation works in that column subset.
5. Simulate day by day: drift, delisting sales, stop exits, rebalances, costs
   (`simulation.simulate`).
6. Benchmark equity (here) and statistics (`statistics.compute_statistics`), with the count
   of rebalance days the plan found nothing eligible on (`cash_rebalances`).
7. Assemble the JSON-ready result (`result.BacktestResult`).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import numpy as np

from backtest.costs import market_columns, sell_tax_rates, trade_rate
from backtest.result import (
    BacktestResult,
    equity_returns,
    nan_free,
    rebalance_record,
    trade_columns,
)
from backtest.schedule import rebalance_mask
from backtest.selection import Selection, plan_selections
from backtest.simulation import Ledger, Rules, WindowData, simulate
from backtest.spec import StrategySpec
from backtest.statistics import compute_statistics, period_returns
from backtest.timing import invested_days
from backtest.validation import validate_against
from backtest.version import ENGINE_VERSION
from backtest.window import RunWindow, delistings_by_day, limit_locks, price_relatives

if TYPE_CHECKING:  # no runtime import: dataprep's package imports the database stack
    from dataprep.panel import FactorPanel


@dataclass(frozen=True)
class RunPlan:
    """Everything a run decides before its day loop: its rows, the rebalance days, every
    rebalance's selection (stocks as columns of `columns`, the only stocks it can hold), and
    the window's market data for those columns (with market timing). `cash_rebalances`
    counts the rebalances (timing on) on which nothing was eligible."""

    window: RunWindow
    rebalance: np.ndarray
    selections: list[Selection]
    columns: np.ndarray
    market: WindowData
    cash_rebalances: int


def plan_run(spec: StrategySpec, panel: FactorPanel, *, depth: int | None = None) -> RunPlan:
    """Steps 1-4 of the module docstring. `depth` ranks that many stocks on each rebalance
    day instead of top_n + hold_buffer (variants of a sweep sharing one plan)."""
    window = validate_against(spec, panel)
    invested = invested_days(spec.timing, panel=panel, window=window)
    rebalance = rebalance_mask(panel.dates[: window.last + 1], spec.rebalance, start=window.first)
    rebalance[1:] |= invested[1:] & ~invested[:-1]  # timing back on: a rebalance day
    days = np.flatnonzero(rebalance)
    on = invested[days]  # while timing is off a rebalance buys nothing: no plan needed
    planning = spec if depth is None else spec.model_copy(update={"top_n": depth,
                                                                  "hold_buffer": 0})
    planned = iter(plan_selections(planning, panel=panel, rows=window.first + days[on]))
    selections = [next(planned) if day_on else Selection.nothing() for day_on in on]
    columns = _candidates(selections)
    empty = sum(1 for selection, day_on in zip(selections, on, strict=True)
                if day_on and len(selection.stocks) == 0)  # nothing eligible
    return RunPlan(
        window=window,
        rebalance=rebalance,
        selections=[_local(selection, columns) for selection in selections],
        columns=columns,
        market=_market(panel, spec, window=window, columns=columns, invested=invested),
        cash_rebalances=empty,
    )


def _candidates(selections: list[Selection]) -> np.ndarray:
    """Panel columns of every stock the plan ever ranks: the only ones a run can hold."""
    if not selections:
        return np.zeros(0, dtype=np.intp)
    return np.unique(np.concatenate([selection.ranked for selection in selections]))


def _local(selection: Selection, columns: np.ndarray) -> Selection:
    """`selection` with its stocks as positions in `columns` (the simulation's columns)."""
    return replace(
        selection,
        stocks=np.searchsorted(columns, selection.stocks),
        ranked=np.searchsorted(columns, selection.ranked),
    )


def _market(
    panel: FactorPanel,
    spec: StrategySpec,
    *,
    window: RunWindow,
    columns: np.ndarray,
    invested: np.ndarray,
) -> WindowData:
    """The window's market data for `columns` only (the simulation's column space)."""
    close = np.take(panel.close[window.first - 1 : window.last + 1], columns, axis=1)
    since_signal = RunWindow(first=1, last=window.n_days)  # rows of `close`
    relatives = price_relatives(close, since_signal)
    up, down = limit_locks(close, since_signal, enabled=spec.limit_lock)
    return WindowData(
        close=close[1:],
        relatives=relatives,
        tradable=np.take(panel.tradable[window.rows], columns, axis=1),
        delistings=delistings_by_day(panel.close, window, columns=columns),
        tax_rates=sell_tax_rates(spec.costs.sell_tax, dates=panel.dates[window.rows]),
        tax_columns=market_columns(panel.market[columns]),
        up_locked=up,
        down_locked=down,
        invested=invested,
    )


def benchmark_equity(panel: FactorPanel, spec: StrategySpec, *, window: RunWindow) -> np.ndarray:
    """initial_capital x index(t) / index(first run day)."""
    index = np.asarray(panel.benchmarks[spec.benchmark][window.rows], dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return spec.initial_capital * index / index[0]


def _result(
    spec: StrategySpec,
    *,
    panel: FactorPanel,
    window: RunWindow,
    ledger: Ledger,
    columns: np.ndarray,
    cash_rebalances: int,
) -> BacktestResult:
    """The result of a finished simulation; `columns` maps its columns to the panel's."""
    days = panel.dates[window.rows].astype("datetime64[D]")
    dates = days.tolist()
    capital = spec.initial_capital
    monthly = period_returns(days, ledger.equity, initial=capital, period="month")
    codes = panel.codes[columns]
    benchmark = benchmark_equity(panel, spec, window=window)
    rebalances = [
        rebalance_record(
            day=dates[trade.day],
            codes=codes[trade.stocks].tolist(),
            values=trade.values,
            equity_before=trade.equity_before,
            turnover=trade.turnover,
            costs=trade.costs,
            trades=trade_columns(
                codes=codes[trade.orders.stocks],
                change=trade.orders.change,
                costs=trade.orders.costs,
                tax=trade.orders.tax,
            ),
        )
        for trade in ledger.trades
    ]
    events = [
        {"date": dates[e.day], "code": str(codes[e.stock]), "kind": e.kind, "value": e.value,
         "pnl": e.pnl}
        for e in ledger.events
    ]
    statistics = compute_statistics(
        dates=dates,
        equity=ledger.equity,
        benchmark_equity=benchmark,
        initial_capital=spec.initial_capital,
        turnovers=np.array([trade.turnover for trade in ledger.trades]),
        costs_paid=ledger.costs_paid,
        holdings=ledger.holdings,
        risk_free_rate=spec.risk_free_rate,
        cash_rebalances=cash_rebalances,
        exposure=ledger.exposure,
    )
    return BacktestResult.model_validate(
        {
            "engine_version": ENGINE_VERSION,
            "data_version": panel.version,
            "spec": spec,
            "dates": dates,
            "equity": ledger.equity.tolist(),
            "benchmark_equity": nan_free(benchmark),
            "returns": equity_returns(ledger.equity, initial=spec.initial_capital),
            "rebalances": rebalances,
            "exposure": ledger.exposure.tolist(),
            "monthly_returns": monthly,
            "yearly_returns": period_returns(days, ledger.equity, initial=capital, period="year"),
            "events": events,
            "stocks": _stocks_held(panel, columns=columns, ledger=ledger),
            "statistics": statistics,
        }
    )


def _stocks_held(panel: FactorPanel, *, columns: np.ndarray, ledger: Ledger) -> dict:
    held = [trade.stocks for trade in ledger.trades]
    if not held:
        return {}
    positions = columns[np.unique(np.concatenate(held))]
    return {
        str(panel.codes[i]): {"name": str(panel.names[i]), "market": str(panel.market[i]),
                              "sector": str(panel.sector[i])}
        for i in positions
    }


def run_ledger(spec: StrategySpec, panel: FactorPanel) -> tuple[RunPlan, Ledger]:
    """The plan and the simulated ledger of `spec` on `panel` (what `run_backtest` builds its
    result from; walk-forward stitches ledgers)."""
    plan = plan_run(spec, panel)
    rules = Rules(
        initial_capital=spec.initial_capital,
        trade_rate=trade_rate(spec.costs),
        delisting_return=spec.delisting_return,
        stop_loss=spec.stop_loss,
        take_profit=spec.take_profit,
        top_n=spec.top_n,
        hold_buffer=spec.hold_buffer,
        max_weight=spec.max_weight,
    )
    return plan, simulate(market=plan.market, rules=rules, rebalance=plan.rebalance,
                          selections=plan.selections)


def run_backtest(spec: StrategySpec, panel: FactorPanel) -> BacktestResult:
    """Backtest `spec` on `panel` as DESIGN.md "Backtest semantics" specifies.

    Raises `backtest.validation.SpecError` when the spec does not fit the data.
    """
    plan, ledger = run_ledger(spec, panel)
    return _result(spec, panel=panel, window=plan.window, ledger=ledger, columns=plan.columns,
                   cash_rebalances=plan.cash_rebalances)
