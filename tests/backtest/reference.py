"""A slow, literal reading of DESIGN.md "Backtest semantics", one stock at a time.

Written for clarity, not speed, and sharing no code with `backtest/` beyond the spec model:
the property tests check that the vectorised engine agrees with it on random panels.

Where DESIGN.md is terse this follows the agreed reading: within a trading day t, drift;
delisting sales; pending exits; a timing exit (timing on at t-1, off at t); pending timing
exits cancelled while timing is on; the rebalance; equity; stop-loss / take-profit checks.
"""

from __future__ import annotations

import math
from datetime import date

import numpy as np

from backtest.spec import (
    KIND_EXCLUSIONS,
    STATUS_EXCLUSIONS,
    MonthsSchedule,
    PercentileFilter,
    StrategySpec,
)
from dataprep.panel import STATUS_BITS, FactorPanel

LIMIT = 0.295  # within 0.5 points of the +-30 % daily limit
SLACK = 1e-9


def _is_rebalance(days: list[date], t: int, first: int, rule: object) -> bool:
    """Is panel row t a scheduled rebalance day of a run whose first row is `first`?"""
    if t == first:
        return True
    day, before = days[t], days[t - 1]
    if isinstance(rule, int):
        return (t - first) % rule == 0
    if isinstance(rule, MonthsSchedule):
        if day.month not in rule.months:
            return False
        nth = sum((d.year, d.month) == (day.year, day.month) for d in days[: t + 1])
        return nth == rule.day
    if rule == "daily":
        return True
    if rule == "weekly":
        return day.isocalendar()[:2] != before.isocalendar()[:2]
    new_month = (day.year, day.month) != (before.year, before.month)
    months = {
        "monthly": range(1, 13),
        "quarterly": (1, 4, 7, 10),
        "semiannual": (1, 7),
        "annual": (1,),
    }[str(rule)]
    return new_month and day.month in months


def _timing_on(spec: StrategySpec, panel: FactorPanel, days: list[date], t: int) -> bool:
    """Market timing for run row t, read at the close of t-1 (always on without timing)."""
    timing = spec.timing
    if timing is None:
        return True
    on = True
    if timing.index is not None and timing.ma_days is not None:
        index = panel.benchmarks[timing.index]
        if t - timing.ma_days < 0:
            on = False
        else:
            window = [float(index[r]) for r in range(t - timing.ma_days, t)]
            if any(math.isnan(v) for v in window):
                on = False
            else:
                on = window[-1] >= sum(window) / timing.ma_days
    if timing.months is not None:
        on = on and days[t].month in timing.months
    return on


def _locks(spec: StrategySpec, panel: FactorPanel, t: int, s: int) -> tuple[bool, bool]:
    """(up-locked, down-locked) for stock s on row t."""
    if not spec.limit_lock:
        return False, False
    today, before = panel.close[t, s], panel.close[t - 1, s]
    if math.isnan(today) or math.isnan(before):
        return False, False
    move = today / before - 1
    return move >= LIMIT - SLACK, move <= -LIMIT + SLACK


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


def _excluded(spec: StrategySpec, panel: FactorPanel, d: int, s: int) -> bool:
    """Universe exclusions for stock s, judged on the signal row d-1."""
    for name in spec.universe.exclusions():
        if name in KIND_EXCLUSIONS and str(panel.kind[s]) == name:
            return True
        if name in STATUS_EXCLUSIONS and int(panel.status[d - 1, s]) & STATUS_BITS[name]:
            return True
        if name == "loss_making":
            earnings = float(panel.factor("EARNINGS_YIELD")[d - 1, s])
            if math.isnan(earnings) or earnings <= 0:
                return True
    return False


def _ranked(spec: StrategySpec, panel: FactorPanel, d: int) -> list[int]:
    """The eligible stocks on rebalance row d, best score first."""
    last_day = panel.delisting_index()
    value = {name: panel.factor(name)[d - 1] for name in spec.factors_used()}
    f32 = np.float32
    eligible = []
    for s in range(panel.n_stocks):
        ok = spec.universe.markets in ("both", panel.market[s])
        ok &= panel.sector[s] not in spec.universe.exclude_sectors
        ok &= bool(panel.tradable[d, s] and panel.tradable[d - 1, s]) and last_day[s] != d
        ok &= all(not math.isnan(v[s]) for v in value.values())
        ok = ok and not _excluded(spec, panel, d, s)
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
    return [s for _, _, s in sorted(scored)]


def _select(
    spec: StrategySpec, panel: FactorPanel, d: int, held: set[int]
) -> list[tuple[int, float]]:
    """[(stock, weight)] chosen on rebalance row d, best first; `held`: positions != 0."""
    ranked = _ranked(spec, panel, d)[: spec.top_n + spec.hold_buffer]
    kept = [s for s in ranked if s in held][: spec.top_n]
    new = [s for s in ranked if s not in held][: spec.top_n - len(kept)]
    chosen = [s for s in ranked if s in kept or s in new]
    if spec.weighting == "equal":
        sizes = [1.0] * len(chosen)
    elif spec.weighting == "market_cap":
        sizes = [float(panel.factor("MARKET_CAP")[d - 1, s]) for s in chosen]
    else:
        sizes = [1.0 / float(panel.factor("VOL_60D")[d - 1, s]) for s in chosen]
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
    stop_pending: set[int] = set()  # stop-loss / take-profit exits waiting for a close
    timing_pending: set[int] = set()  # timing exits waiting for a close
    cash = spec.initial_capital
    equity, held = [], []
    was_on = True

    def sell(s: int, t: int, price: float) -> None:
        nonlocal cash
        sold = position[s] * price
        cash += sold - sold * (rate + _tax(spec, days[t], panel.market[s]))
        position[s] = 0.0
        stop_pending.discard(s)
        timing_pending.discard(s)

    def can_sell(s: int, t: int) -> bool:
        return bool(tradable[t, s]) and not _locks(spec, panel, t, s)[1]

    for i, t in enumerate(run):
        on = _timing_on(spec, panel, days, t)
        for s in range(panel.n_stocks):
            if position[s]:
                position[s] *= close[t, s] / close[t - 1, s]
        for s in range(panel.n_stocks):
            if last_day[s] == t and position[s]:
                sell(s, t, 1 - spec.delisting_return)
        for s in sorted(stop_pending | timing_pending):
            if can_sell(s, t):
                sell(s, t, 1.0)
        if i > 0 and was_on and not on:
            for s in range(panel.n_stocks):
                if position[s]:
                    if can_sell(s, t):
                        sell(s, t, 1.0)
                    else:
                        timing_pending.add(s)
        if on:
            timing_pending.clear()
        back_on = i > 0 and on and not was_on
        if _is_rebalance(days, t, run[0], spec.rebalance) or back_on:
            total = cash + sum(position)
            holding = {s for s in range(panel.n_stocks) if position[s]}
            frozen = [s for s in sorted(holding) if not can_sell(s, t)]
            budget = max(total - sum(position[s] for s in frozen), 0.0)
            target = [0.0] * panel.n_stocks
            picks = _select(spec, panel, t, holding) if on else []
            for s, weight in picks:
                target[s] = budget * weight
                if _locks(spec, panel, t, s)[0]:
                    target[s] = min(target[s], position[s])
            for s in frozen:
                target[s] = position[s]
            cost = 0.0
            for s in range(panel.n_stocks):
                cost += abs(target[s] - position[s]) * rate
                if target[s] < position[s]:
                    cost += (position[s] - target[s]) * _tax(spec, days[t], panel.market[s])
                if target[s] and not position[s]:
                    entry[s] = close[t, s]
            cash = total - sum(target) - cost
            position = target
            stop_pending = {s for s in stop_pending if position[s]}
            timing_pending = {s for s in timing_pending if position[s]}
            picked = [s for s, _ in picks]
            held.append([str(panel.codes[s]) for s in picked if target[s] > 0])
            held[-1] += [str(panel.codes[s]) for s in frozen if s not in picked]
        equity.append(cash + sum(position))
        for s in range(panel.n_stocks):
            if position[s] and (spec.stop_loss is not None or spec.take_profit is not None):
                move = close[t, s] / entry[s] - 1
                if spec.stop_loss is not None and move <= -spec.stop_loss:
                    stop_pending.add(s)
                if spec.take_profit is not None and move >= spec.take_profit:
                    stop_pending.add(s)
        was_on = on
    return equity, held
