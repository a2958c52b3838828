"""The sweep kernel: many variants of one selection plan through the day loop, compiled.

`simulate_variants` runs the same rules as `backtest.simulation.simulate` (DESIGN.md
"Backtest semantics", in the same order within a day: drift, delisting sales, waiting exits,
timing exits, the rebalance, equity, stop checks) for V variants that share every
selection-relevant field, so they share the market data, the rebalance days, market timing
and the planned ranking of every rebalance day; each variant brings its own top_n, holding
buffer, max_weight, costs, sell-tax schedule, stops, delisting haircut, limit lock and
initial capital. It records only what statistics need (daily equity, holdings, exposure,
per-rebalance turnover, costs paid), not trades or events: a variant's full result comes
from `run_backtest`, and tests hold the two to the same numbers.

Why numba: measured on this machine for 500 variants x 252 days x 600 candidates, monthly
rebalances (benchmarks/kernel_choice.py): numpy arrays over variants x candidates 173 us a
variant, this kind of loop compiled 7.4 us. Positions live in dense per-variant arrays, but
every loop runs over the held stocks only.
"""

from __future__ import annotations

import numba
import numpy as np

STOP_EXIT, TIMING_EXIT = 1, 2


@numba.njit(cache=True, nogil=True)
def _compact(held: np.ndarray, n_held: int, position: np.ndarray) -> int:
    """Drop the stocks whose position went to 0 from the held list; its new length."""
    kept = 0
    for i in range(n_held):
        stock = held[i]
        if position[stock] != 0.0:
            held[kept] = stock
            kept += 1
    return kept


@numba.njit(cache=True, nogil=True)
def simulate_variants(  # noqa: PLR0913, PLR0915 (one kernel, its inputs spelled out)
    close: np.ndarray,  # float64 [T, C]
    relatives: np.ndarray,  # float64 [T, C]
    tradable: np.ndarray,  # bool [T, C]
    up: np.ndarray,  # bool [T, C]: within 0.5 points of +30 %
    down: np.ndarray,  # bool [T, C]: within 0.5 points of -30 %
    delist_start: np.ndarray,  # intp [T + 1]: CSR rows of `delist_stocks` per day
    delist_stocks: np.ndarray,  # intp: stocks whose last trading day each day is
    tax_columns: np.ndarray,  # intp [C]: market column of each stock
    tax_rates: np.ndarray,  # float64 [S, T, 2]: sell tax per schedule, day, market
    invested: np.ndarray,  # bool [T]: market timing on
    rebalance: np.ndarray,  # bool [T]
    ranked: np.ndarray,  # intp [R, D]: each rebalance's ranking, -1 padded
    n_ranked: np.ndarray,  # intp [R]
    sizes: np.ndarray,  # float64 [R, D]: weighting sizes (ignored when not sized)
    sized: bool,  # market_cap / inverse_vol weighting
    top_n: np.ndarray,  # intp [V]
    hold_buffer: np.ndarray,  # intp [V]
    max_weight: np.ndarray,  # float64 [V]: inf for none
    trade_rate: np.ndarray,  # float64 [V]
    schedule: np.ndarray,  # intp [V]: row of `tax_rates`
    delisting_return: np.ndarray,  # float64 [V]
    lower: np.ndarray,  # float64 [V]: -stop_loss, -inf for none
    upper: np.ndarray,  # float64 [V]: take_profit, inf for none
    limit_lock: np.ndarray,  # bool [V]
    initial_capital: np.ndarray,  # float64 [V]
):
    n_days, n_stocks = close.shape
    n_variants = top_n.shape[0]
    n_rebalances = ranked.shape[0]
    depth = ranked.shape[1]
    equity_out = np.empty((n_variants, n_days))
    holdings_out = np.empty((n_variants, n_days), dtype=np.int64)
    exposure_out = np.empty((n_variants, n_days))
    turnover_out = np.zeros((n_variants, n_rebalances))
    costs_out = np.zeros(n_variants)

    position = np.zeros(n_stocks)
    entry = np.full(n_stocks, np.nan)
    pending = np.zeros(n_stocks, dtype=np.int8)
    target = np.zeros(n_stocks)
    touched_mark = np.zeros(n_stocks, dtype=np.bool_)
    held = np.empty(n_stocks, dtype=np.intp)
    touched = np.empty(n_stocks + depth, dtype=np.intp)
    chosen = np.empty(depth, dtype=np.intp)
    weights = np.empty(depth)

    for v in range(n_variants):
        position[:] = 0.0
        entry[:] = np.nan
        pending[:] = 0
        n_held = 0
        cash = initial_capital[v]
        rate = trade_rate[v]
        tax = tax_rates[schedule[v]]
        lock = limit_lock[v]
        stops = lower[v] > -np.inf or upper[v] < np.inf
        costs_paid = 0.0
        r = 0
        for t in range(n_days):
            # (1) drift
            for i in range(n_held):
                stock = held[i]
                position[stock] *= relatives[t, stock]
            # (2) delisting sales, whatever the lock
            sold_any = False
            for k in range(delist_start[t], delist_start[t + 1]):
                stock = delist_stocks[k]
                value = position[stock]
                if value != 0.0:
                    received = value * (1.0 - delisting_return[v])
                    cost = received * rate + received * tax[t, tax_columns[stock]]
                    cash += received - cost
                    costs_paid += cost
                    position[stock] = 0.0
                    pending[stock] = 0
                    sold_any = True
            if sold_any:
                n_held = _compact(held, n_held, position)
            # (3) exits waiting from an earlier close
            sold_any = False
            for i in range(n_held):
                stock = held[i]
                if pending[stock] == 0:
                    continue
                if tradable[t, stock] and not (lock and down[t, stock]):
                    value = position[stock]
                    cost = value * rate + value * tax[t, tax_columns[stock]]
                    cash += value - cost
                    costs_paid += cost
                    position[stock] = 0.0
                    pending[stock] = 0
                    sold_any = True
                elif invested[t] and pending[stock] == TIMING_EXIT:
                    pending[stock] = 0  # timing on again: a holding again
            if sold_any:
                n_held = _compact(held, n_held, position)
            # (4) the day market timing turns off: sell all; what cannot trade waits
            if t > 0 and invested[t - 1] and not invested[t]:
                for i in range(n_held):
                    stock = held[i]
                    if tradable[t, stock] and not (lock and down[t, stock]):
                        value = position[stock]
                        cost = value * rate + value * tax[t, tax_columns[stock]]
                        cash += value - cost
                        costs_paid += cost
                        position[stock] = 0.0
                        pending[stock] = 0
                    else:
                        pending[stock] = TIMING_EXIT
                n_held = _compact(held, n_held, position)
            # (5) the rebalance
            if rebalance[t]:
                equity = cash
                frozen_value = 0.0
                for i in range(n_held):
                    stock = held[i]
                    equity += position[stock]
                    if not tradable[t, stock] or (lock and down[t, stock]):
                        frozen_value += position[stock]
                budget = max(equity - frozen_value, 0.0)
                n_chosen = 0
                if invested[t]:
                    reach = min(n_ranked[r], top_n[v] + hold_buffer[v])
                    if hold_buffer[v] == 0:
                        for j in range(min(n_ranked[r], top_n[v])):
                            chosen[n_chosen] = j
                            n_chosen += 1
                    else:
                        n_kept = 0
                        for j in range(reach):
                            if position[ranked[r, j]] != 0.0 and n_kept < top_n[v]:
                                n_kept += 1
                        n_new = 0
                        kept_seen = 0
                        for j in range(reach):
                            if position[ranked[r, j]] != 0.0:
                                if kept_seen < n_kept:
                                    chosen[n_chosen] = j
                                    n_chosen += 1
                                    kept_seen += 1
                            elif n_new < top_n[v] - n_kept:
                                chosen[n_chosen] = j
                                n_chosen += 1
                                n_new += 1
                    total_size = 0.0
                    for m in range(n_chosen):
                        total_size += sizes[r, chosen[m]] if sized else 1.0
                    for m in range(n_chosen):
                        w = (sizes[r, chosen[m]] if sized else 1.0) / total_size
                        weights[m] = min(w, max_weight[v])
                n_touched = 0
                for m in range(n_chosen):
                    stock = ranked[r, chosen[m]]
                    target[stock] = budget * weights[m]
                    touched[n_touched] = stock
                    touched_mark[stock] = True
                    n_touched += 1
                for i in range(n_held):
                    stock = held[i]
                    if not tradable[t, stock] or (lock and down[t, stock]):
                        target[stock] = position[stock]  # frozen: keeps its value
                    if not touched_mark[stock]:
                        touched[n_touched] = stock
                        touched_mark[stock] = True
                        n_touched += 1
                traded = 0.0
                tax_paid = 0.0
                invested_value = 0.0
                for i in range(n_touched):
                    stock = touched[i]
                    if lock and up[t, stock] and target[stock] > position[stock]:
                        target[stock] = position[stock]  # at the upper limit: no buy
                    change = target[stock] - position[stock]
                    traded += abs(change)
                    if change < 0.0:
                        tax_paid += -change * tax[t, tax_columns[stock]]
                    invested_value += target[stock]
                cost = traded * rate + tax_paid
                cash = equity - invested_value - cost
                costs_paid += cost
                turnover_out[v, r] = traded / equity if equity > 0 else 0.0
                n_held = 0
                for i in range(n_touched):
                    stock = touched[i]
                    touched_mark[stock] = False
                    if target[stock] != 0.0:
                        if position[stock] == 0.0:
                            entry[stock] = close[t, stock]
                        held[n_held] = stock
                        n_held += 1
                    else:
                        pending[stock] = 0
                    position[stock] = target[stock]
                    target[stock] = 0.0
                r += 1
            # (6) equity, holdings and exposure at the close
            invested_value = 0.0
            for i in range(n_held):
                invested_value += position[held[i]]
            equity = cash + invested_value
            equity_out[v, t] = equity
            holdings_out[v, t] = n_held
            exposure_out[v, t] = invested_value / equity if equity > 0 else 0.0
            # (7) stop-loss / take-profit against the entry price, sold at a later close
            if stops:
                for i in range(n_held):
                    stock = held[i]
                    move = close[t, stock] / entry[stock] - 1.0
                    if (move <= lower[v] or move >= upper[v]) and pending[stock] == 0:
                        pending[stock] = STOP_EXIT
        costs_out[v] = costs_paid
    return equity_out, holdings_out, exposure_out, turnover_out, costs_out
