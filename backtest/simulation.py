"""The day loop: positions, cash and costs through the run (DESIGN.md, "Backtest semantics").

One iteration per trading day, numpy vector operations over the [n_stocks] axis only. Order
within day t: (1) positions drift with close[t] / close[t-1]; (2) holdings on their last
trading day L are sold at close(L) x (1 - delisting_return) with sell costs; (3) stop-loss /
take-profit exits triggered at the previous close are sold at this close, if tradable
today (else they wait); (4) on a rebalance day, trade to the planned targets; (5) equity
at the close; (6) stop-loss / take-profit checked against each position's entry price.

A position's entry price is the close of the day it was opened from nothing; resizing a
kept position does not change it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from backtest.costs import sell_costs
from backtest.selection import Selection


@dataclass(frozen=True)
class WindowData:
    """The window's market data, row t = run day t (views of the panel where possible)."""

    close: np.ndarray  # float64 [n_days, n_stocks]
    relatives: np.ndarray  # float64 [n_days, n_stocks], close[t] / close[t-1]
    tradable: np.ndarray  # bool [n_days, n_stocks]
    delistings: dict[int, np.ndarray]  # run day -> stocks whose last trading day it is
    tax_rates: np.ndarray  # float64 [n_days, 2], sell tax per market column
    tax_columns: np.ndarray  # intp [n_stocks], each stock's tax column


@dataclass(frozen=True)
class Rules:
    """The spec's trading rules, as plain numbers."""

    initial_capital: float
    trade_rate: float  # commission + slippage, a fraction of traded value
    delisting_return: float
    stop_loss: float | None
    take_profit: float | None


@dataclass(frozen=True)
class Trade:
    """What one rebalance did: held stocks after it (targets first, halted holdings last)."""

    day: int
    stocks: np.ndarray
    values: np.ndarray
    equity_before: float
    turnover: float
    costs: float


@dataclass
class Ledger:
    """The simulation's output, filled day by day."""

    equity: np.ndarray
    holdings: np.ndarray
    costs_paid: float = 0.0
    trades: list[Trade] = field(default_factory=list)


def _sell_all(
    position: np.ndarray,
    stocks: np.ndarray,
    *,
    market: WindowData,
    rules: Rules,
    t: int,
    price: float,
) -> tuple[float, float]:
    """Cash received and costs for selling all of `stocks` at `price` x their value."""
    sold = position[stocks] * price
    cost = sell_costs(
        sold,
        columns=market.tax_columns[stocks],
        tax_today=market.tax_rates[t],
        rate=rules.trade_rate,
    )
    return float(sold.sum()), cost


def _rebalance(
    position: np.ndarray,
    cash: float,
    *,
    selection: Selection,
    market: WindowData,
    rules: Rules,
    t: int,
) -> tuple[np.ndarray, float, Trade]:
    """Trade `position` to `selection` at close t: (new position, new cash, record)."""
    equity = cash + float(position.sum())
    halted = np.flatnonzero((position != 0) & ~market.tradable[t])
    target = np.zeros_like(position)
    target[halted] = position[halted]
    budget = max(equity - float(target.sum()), 0.0)
    target[selection.stocks] = budget * selection.weights
    change = target - position
    traded = float(np.abs(change).sum())
    sold = np.maximum(-change, 0.0)
    cost = traded * rules.trade_rate + float(sold @ market.tax_rates[t][market.tax_columns])
    cash = equity - float(target.sum()) - cost
    held = np.concatenate((selection.stocks, halted))
    held = held[target[held] > 0]
    trade = Trade(
        day=t,
        stocks=held,
        values=target[held],
        equity_before=equity,
        turnover=traded / equity if equity > 0 else 0.0,
        costs=cost,
    )
    return target, cash, trade


def simulate(
    *, market: WindowData, rules: Rules, rebalance: np.ndarray, selections: list[Selection]
) -> Ledger:
    """Run the day loop. `rebalance`: bool [n_days]; `selections`: one per rebalance day,
    their stocks given as columns of `market`."""
    n_days, n_stocks = market.relatives.shape
    ledger = Ledger(equity=np.empty(n_days), holdings=np.empty(n_days, dtype=np.intp))
    position = np.zeros(n_stocks)
    cash = float(rules.initial_capital)
    stops = rules.stop_loss is not None or rules.take_profit is not None
    lower = -rules.stop_loss if rules.stop_loss is not None else -np.inf
    upper = rules.take_profit if rules.take_profit is not None else np.inf
    entry = np.full(n_stocks, np.nan)
    pending = np.zeros(n_stocks, dtype=bool)
    plans = iter(selections)
    for t in range(n_days):
        position *= market.relatives[t]
        delisting = market.delistings.get(t)
        if delisting is not None:
            held = delisting[position[delisting] != 0]
            received, cost = _sell_all(
                position,
                held,
                market=market,
                rules=rules,
                t=t,
                price=1.0 - rules.delisting_return,
            )
            cash += received - cost
            ledger.costs_paid += cost
            position[held] = 0.0
            pending[held] = False
        if stops and pending.any():
            exits = np.flatnonzero(pending & market.tradable[t])
            received, cost = _sell_all(position, exits, market=market, rules=rules, t=t, price=1.0)
            cash += received - cost
            ledger.costs_paid += cost
            position[exits] = 0.0
            pending[exits] = False
        if rebalance[t]:
            before = position
            position, cash, trade = _rebalance(
                position, cash, selection=next(plans), market=market, rules=rules, t=t
            )
            ledger.trades.append(trade)
            ledger.costs_paid += trade.costs
            if stops:
                opened = (position != 0) & (before == 0)
                entry[opened] = market.close[t, opened]
                pending &= position != 0
        ledger.equity[t] = cash + position.sum()
        ledger.holdings[t] = np.count_nonzero(position)
        if stops:
            held = np.flatnonzero(position)
            move = market.close[t, held] / entry[held] - 1.0
            pending[held[(move <= lower) | (move >= upper)]] = True
    return ledger
