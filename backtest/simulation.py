"""The day loop: positions, cash and costs through the run (DESIGN.md, "Backtest semantics").

One iteration per trading day, numpy vector operations over the [n_stocks] axis only. Order
within day t: (1) positions drift with close[t] / close[t-1]; (2) holdings on their last
trading day L are sold at close(L) x (1 - delisting_return) with sell costs, whatever the
lock; (3) pending exits (stop-loss / take-profit triggered at the previous close, and
timing exits that had to wait) are sold at this close if they can trade (tradable, not
locked at the lower limit); (4) on the day market timing turns off, every position is sold
(those that cannot trade wait, pending); (5) on a rebalance day, trade to the planned
targets: while timing is off nothing is bought; a held stock that is halted or locked at
the lower limit keeps its value (out of the budget); a stock locked at the upper limit is
not bought or added to (the money stays in cash); with a holding buffer a held stock still
ranked within top_n + hold_buffer is kept; (6) equity and exposure at the close;
(7) stop-loss / take-profit checked against each position's entry price.

A position's entry price is the close of the day it was opened from nothing; resizing a kept
position does not change it. Events record what touched a holding: delisting sales, stop
and timing exits (with the P&L since entry at the size sold), and trades a halt or a limit
lock blocked (on a rebalance, or the first day a pending exit could not trade).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from backtest.costs import sell_costs
from backtest.selection import Selection, buffered

STOP_EXIT, TIMING_EXIT = 1, 2  # why an exit is pending


@dataclass(frozen=True)
class WindowData:
    """The window's market data, row t = run day t (views of the panel where possible)."""

    close: np.ndarray  # float64 [n_days, n_stocks]
    relatives: np.ndarray  # float64 [n_days, n_stocks], close[t] / close[t-1]
    tradable: np.ndarray  # bool [n_days, n_stocks]
    delistings: dict[int, np.ndarray]  # run day -> stocks whose last trading day it is
    tax_rates: np.ndarray  # float64 [n_days, 2], sell tax per market column
    tax_columns: np.ndarray  # intp [n_stocks], each stock's tax column
    up_locked: np.ndarray  # bool [n_days, n_stocks]: cannot be bought or added to
    down_locked: np.ndarray  # bool [n_days, n_stocks]: cannot be sold or reduced
    invested: np.ndarray  # bool [n_days]: market timing is on (all True without timing)


@dataclass(frozen=True)
class Rules:
    """The spec's trading rules, as plain numbers."""

    initial_capital: float
    trade_rate: float  # commission + slippage, a fraction of traded value
    delisting_return: float
    stop_loss: float | None
    take_profit: float | None
    top_n: int
    hold_buffer: int
    max_weight: float | None


@dataclass(frozen=True)
class Orders:
    """The trades of one rebalance: stocks, signed value (+ buy, - sell), commission and
    slippage, tax."""

    stocks: np.ndarray
    change: np.ndarray
    costs: np.ndarray
    tax: np.ndarray


@dataclass(frozen=True)
class Trade:
    """What one rebalance did: held stocks after it (targets first, kept holdings last)."""

    day: int
    stocks: np.ndarray
    values: np.ndarray
    equity_before: float
    turnover: float
    costs: float
    orders: Orders


@dataclass(frozen=True)
class Event:
    """Something that touched a holding: `kind` is delisting_sale, stop_exit, timing_exit,
    halt_blocked or lock_blocked; `value` the value sold or left untraded; `pnl` the effect:
    the haircut and costs of a delisting sale, the P&L since entry of an exit (at the size
    sold, after costs), none for a blocked trade (the position keeps its value)."""

    day: int
    stock: int
    kind: str
    value: float
    pnl: float | None


@dataclass
class Ledger:
    """The simulation's output, filled day by day."""

    equity: np.ndarray
    holdings: np.ndarray
    exposure: np.ndarray
    costs_paid: float = 0.0
    trades: list[Trade] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)


def _sell_costs(sold: np.ndarray, stocks: np.ndarray, *, market: WindowData, rules: Rules,
                t: int) -> np.ndarray:
    """Per stock: commission, slippage and tax of selling `sold` (values) of `stocks`."""
    return sold * rules.trade_rate + sold * market.tax_rates[t][market.tax_columns[stocks]]


def _rebalance(
    position: np.ndarray,
    cash: float,
    *,
    selection: Selection,
    market: WindowData,
    rules: Rules,
    t: int,
    events: list[Event],
) -> tuple[np.ndarray, float, Trade]:
    """Trade `position` to `selection` at close t: (new position, new cash, record)."""
    equity = cash + float(position.sum())
    held = position != 0
    frozen = held & (~market.tradable[t] | market.down_locked[t])
    if not market.invested[t]:
        stocks, weights = selection.stocks[:0], selection.weights[:0]
    elif rules.hold_buffer:
        stocks, weights = buffered(selection, held=held, top_n=rules.top_n,
                                   max_weight=rules.max_weight)
    else:
        stocks, weights = selection.stocks, selection.weights
    target = np.zeros_like(position)
    budget = max(equity - float(position[frozen].sum()), 0.0)
    target[stocks] = budget * weights
    wanted = target.copy()
    target[frozen] = position[frozen]
    capped = market.up_locked[t] & (target > position)
    target[capped] = position[capped]
    blocked = (frozen | capped) & (wanted != target)
    if blocked.any():
        halted = ~market.tradable[t]
        for s in np.flatnonzero(blocked):
            kind = "halt_blocked" if halted[s] else "lock_blocked"
            events.append(Event(t, int(s), kind, abs(float(wanted[s] - target[s])), None))
    change = target - position
    traded = float(np.abs(change).sum())
    sold = np.maximum(-change, 0.0)
    tax_rate = market.tax_rates[t][market.tax_columns]
    cost = traded * rules.trade_rate + float(sold @ tax_rate)
    cash = equity - float(target.sum()) - cost
    moved = np.flatnonzero(change)
    extra = frozen & (target > 0)
    extra[stocks] = False
    order = np.concatenate((stocks, np.flatnonzero(extra)))
    order = order[target[order] > 0]
    trade = Trade(
        day=t,
        stocks=order,
        values=target[order],
        equity_before=equity,
        turnover=traded / equity if equity > 0 else 0.0,
        costs=cost,
        orders=Orders(stocks=moved, change=change[moved],
                      costs=np.abs(change[moved]) * rules.trade_rate,
                      tax=sold[moved] * tax_rate[moved]),
    )
    return target, cash, trade


def simulate(
    *, market: WindowData, rules: Rules, rebalance: np.ndarray, selections: list[Selection]
) -> Ledger:
    """Run the day loop. `rebalance`: bool [n_days]; `selections`: one per rebalance day,
    their stocks given as columns of `market`."""
    n_days, n_stocks = market.relatives.shape
    ledger = Ledger(equity=np.empty(n_days), holdings=np.empty(n_days, dtype=np.intp),
                    exposure=np.empty(n_days))
    position = np.zeros(n_stocks)
    cash = float(rules.initial_capital)
    stops = rules.stop_loss is not None or rules.take_profit is not None
    lower = -rules.stop_loss if rules.stop_loss is not None else -np.inf
    upper = rules.take_profit if rules.take_profit is not None else np.inf
    entry = np.full(n_stocks, np.nan)
    pending = np.zeros(n_stocks, dtype=np.int8)  # 0, STOP_EXIT or TIMING_EXIT
    noted = np.zeros(n_stocks, dtype=bool)  # a blocked pending exit already recorded
    plans = iter(selections)
    events = ledger.events
    timed = not market.invested.all()  # market timing switches somewhere in the window

    def exit_now(stocks: np.ndarray, kind: str, t: int) -> float:
        """Sell all of `stocks` at close t; answers the cash received after costs."""
        if len(stocks) == 0:
            return 0.0
        value = position[stocks]
        cost = sell_costs(value, columns=market.tax_columns[stocks],
                          tax_today=market.tax_rates[t], rate=rules.trade_rate)
        each = _sell_costs(value, stocks, market=market, rules=rules, t=t)
        basis = value * entry[stocks] / market.close[t, stocks]
        for s, v, c, b in zip(stocks, value, each, basis, strict=True):
            events.append(Event(t, int(s), kind, float(v), float(v - b - c)))
        ledger.costs_paid += cost
        position[stocks] = 0.0
        pending[stocks] = 0
        noted[stocks] = False
        return float(value.sum()) - cost

    for t in range(n_days):
        position *= market.relatives[t]
        delisting = market.delistings.get(t)
        if delisting is not None:
            held = delisting[position[delisting] != 0]
            value = position[held]
            received = value * (1.0 - rules.delisting_return)
            cost = sell_costs(received, columns=market.tax_columns[held],
                              tax_today=market.tax_rates[t], rate=rules.trade_rate)
            each = _sell_costs(received, held, market=market, rules=rules, t=t)
            for s, v, r, c in zip(held, value, received, each, strict=True):
                events.append(Event(t, int(s), "delisting_sale", float(v), float(r - v - c)))
            cash += float(received.sum()) - cost
            ledger.costs_paid += cost
            position[held] = 0.0
            pending[held] = 0
        waiting_exits = pending.any()
        turns_off = timed and t > 0 and market.invested[t - 1] and not market.invested[t]
        if waiting_exits or turns_off:
            can_sell = market.tradable[t] & ~market.down_locked[t]
        if waiting_exits:
            for code, kind in ((STOP_EXIT, "stop_exit"), (TIMING_EXIT, "timing_exit")):
                cash += exit_now(np.flatnonzero((pending == code) & can_sell), kind, t)
            waiting = np.flatnonzero((pending != 0) & ~noted)
            for s in waiting:
                blocked = "halt_blocked" if not market.tradable[t, s] else "lock_blocked"
                events.append(Event(t, int(s), blocked, float(position[s]), None))
            noted[waiting] = True
            if market.invested[t]:
                pending[pending == TIMING_EXIT] = 0  # timing on: holdings again
        if turns_off:  # every position is sold at this close; those that cannot trade wait
            held = position != 0
            cash += exit_now(np.flatnonzero(held & can_sell), "timing_exit", t)
            waiting = np.flatnonzero(held & ~can_sell)
            pending[waiting] = TIMING_EXIT
            for s in waiting:
                blocked = "halt_blocked" if not market.tradable[t, s] else "lock_blocked"
                events.append(Event(t, int(s), blocked, float(position[s]), None))
            noted[waiting] = True
        if rebalance[t]:
            before = position
            position, cash, trade = _rebalance(
                position, cash, selection=next(plans), market=market, rules=rules, t=t,
                events=events,
            )
            ledger.trades.append(trade)
            ledger.costs_paid += trade.costs
            opened = (position != 0) & (before == 0)
            entry[opened] = market.close[t, opened]
            pending[position == 0] = 0
        invested = position.sum()
        equity = cash + invested
        ledger.equity[t] = equity
        ledger.holdings[t] = np.count_nonzero(position)
        ledger.exposure[t] = invested / equity if equity > 0 else 0.0
        if stops:
            held = np.flatnonzero(position)
            move = market.close[t, held] / entry[held] - 1.0
            hit = held[(move <= lower) | (move >= upper)]
            pending[hit[pending[hit] == 0]] = STOP_EXIT
    return ledger
