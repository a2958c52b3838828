"""A slow, literal reading of DESIGN.md "Backtest semantics", one stock at a time.

Written for clarity, not speed, and sharing no code with `backtest/` beyond the spec model:
the property tests check that the vectorised engine agrees with it on random panels.
"""

from __future__ import annotations

import math
from datetime import date

import numpy as np

from backtest.spec import PercentileFilter, StrategySpec
from dataprep.panel import FactorPanel


def _is_rebalance(days: list[date], i: int, rule: str | int) -> bool:
    if i == 0:
        return True
    day, before = days[i], days[i - 1]
    if isinstance(rule, int):
        return i % rule == 0
    if rule == "daily":
        return True
    if rule == "weekly":
        return day.isocalendar()[:2] != before.isocalendar()[:2]
    new_month = (day.year, day.month) != (before.year, before.month)
    if rule == "monthly":
        return new_month
    return new_month and day.month in (1, 4, 7, 10)


def _tax(spec: StrategySpec, day: date, market: str) -> float:
    rates = [(e.effective, e.bps) for e in spec.costs.sell_tax if e.market == market]
    in_force = [bps for effective, bps in sorted(rates) if effective <= day]
    return in_force[-1] / 1e4 if in_force else 0.0


def _percentile(value: float, values: list[float]) -> float:
    n = len(values)
    if n == 1:
        return 1.0
    rank = sum(v < value for v in values) + (sum(v == value for v in values) + 1) / 2
    return (rank - 1) / (n - 1)


def _select(spec: StrategySpec, panel: FactorPanel, d: int) -> list[tuple[int, float]]:
    """[(stock, weight)] bought on rebalance row d, best first."""
    last_day = panel.delisting_index()
    value = {name: panel.factor(name)[d - 1] for name in spec.factors_used()}
    f32 = np.float32
    eligible = []
    for s in range(panel.n_stocks):
        ok = spec.universe.markets in ("both", panel.market[s])
        ok &= panel.sector[s] not in spec.universe.exclude_sectors
        ok &= bool(panel.tradable[d, s] and panel.tradable[d - 1, s]) and last_day[s] != d
        ok &= all(not math.isnan(v[s]) for v in value.values())
        if ok and spec.universe.min_market_cap is not None:
            ok &= value["MARKET_CAP"][s] >= f32(spec.universe.min_market_cap)
        if ok and spec.universe.min_avg_trading_value is not None:
            minimum = f32(spec.universe.min_avg_trading_value)
            ok &= value["AVG_TRADING_VALUE_20D"][s] >= minimum
        if ok and spec.weighting == "market_cap":
            ok &= value["MARKET_CAP"][s] > 0
        if ok and spec.weighting == "inverse_vol":
            ok &= value["VOL_60D"][s] > 0
        for item in spec.filters:
            if ok and not isinstance(item, PercentileFilter):
                low = -math.inf if item.min is None else f32(item.min)
                high = math.inf if item.max is None else f32(item.max)
                ok &= low <= value[item.factor][s] <= high
        if ok:
            eligible.append(s)
    passing = []
    for s in eligible:
        ok = True
        for item in spec.filters:
            if isinstance(item, PercentileFilter):
                column = [value[item.factor][o] for o in eligible]
                pct = item.top_pct if item.top_pct is not None else item.bottom_pct
                keep = math.ceil(len(eligible) * pct / 100 - 1e-9)
                mine = value[item.factor][s]
                if item.top_pct is not None:
                    ok &= sum(v > mine for v in column) < keep
                else:
                    ok &= sum(v < mine for v in column) < keep
        if ok:
            passing.append(s)
    scored = []
    for s in passing:
        total = 0.0
        for term in spec.ranking:
            column = [value[term.factor][o] for o in passing]
            p = _percentile(value[term.factor][s], column)
            total += term.weight * (1 - p if term.ascending else p)
        total /= sum(term.weight for term in spec.ranking)
        scored.append((-round(total, 12), str(panel.codes[s]), s))
    chosen = [s for _, _, s in sorted(scored)[: spec.top_n]]
    if spec.weighting == "equal":
        sizes = [1.0] * len(chosen)
    elif spec.weighting == "market_cap":
        sizes = [float(value["MARKET_CAP"][s]) for s in chosen]
    else:
        sizes = [1.0 / float(value["VOL_60D"][s]) for s in chosen]
    weights = [size / sum(sizes) for size in sizes]
    if spec.max_weight is not None:
        weights = [min(w, spec.max_weight) for w in weights]
    return list(zip(chosen, weights, strict=True))


def reference_run(spec: StrategySpec, panel: FactorPanel) -> tuple[list[float], list[list[str]]]:
    """(equity at each run day's close, codes held after each rebalance)."""
    days = [d.item() for d in panel.dates.astype("datetime64[D]")]
    run = [i for i, day in enumerate(days) if spec.start <= day <= spec.end]
    last_day = panel.delisting_index()
    rate = (spec.costs.commission_bps + spec.costs.slippage_bps) / 1e4
    close, tradable = panel.close, panel.tradable
    position = [0.0] * panel.n_stocks
    entry = [math.nan] * panel.n_stocks
    pending: set[int] = set()
    cash = spec.initial_capital
    equity, held = [], []

    def sell(s: int, t: int, price: float) -> None:
        nonlocal cash
        sold = position[s] * price
        cash += sold - sold * (rate + _tax(spec, days[t], panel.market[s]))
        position[s] = 0.0
        pending.discard(s)

    for i, t in enumerate(run):
        for s in range(panel.n_stocks):
            if position[s]:
                position[s] *= close[t, s] / close[t - 1, s]
        for s in range(panel.n_stocks):
            if last_day[s] == t and position[s]:
                sell(s, t, 1 - spec.delisting_return)
        for s in sorted(pending):
            if tradable[t, s]:
                sell(s, t, 1.0)
        if _is_rebalance([days[r] for r in run], i, spec.rebalance):
            total = cash + sum(position)
            frozen = [s for s in range(panel.n_stocks) if position[s] and not tradable[t, s]]
            budget = max(total - sum(position[s] for s in frozen), 0.0)
            target = [0.0] * panel.n_stocks
            for s in frozen:
                target[s] = position[s]
            picks = _select(spec, panel, t)
            for s, weight in picks:
                target[s] = budget * weight
            cost = 0.0
            for s in range(panel.n_stocks):
                cost += abs(target[s] - position[s]) * rate
                if target[s] < position[s]:
                    cost += (position[s] - target[s]) * _tax(spec, days[t], panel.market[s])
                if target[s] and not position[s]:
                    entry[s] = close[t, s]
            cash = total - sum(target) - cost
            position = target
            pending = {s for s in pending if position[s]}
            held.append([str(panel.codes[s]) for s, _ in picks if target[s] > 0])
            held[-1] += [str(panel.codes[s]) for s in frozen]
        equity.append(cash + sum(position))
        for s in range(panel.n_stocks):
            if position[s] and (spec.stop_loss is not None or spec.take_profit is not None):
                move = close[t, s] / entry[s] - 1
                if spec.stop_loss is not None and move <= -spec.stop_loss:
                    pending.add(s)
                if spec.take_profit is not None and move >= spec.take_profit:
                    pending.add(s)
    return equity, held
