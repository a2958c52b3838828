"""Many variants at once: group them by their selection plan, plan each group once, run the
group through the compiled kernel (`backtest.kernel`), and give each variant its statistics
and daily returns, the same numbers `run_backtest` gives it alone (to float rounding).

Variants share a plan when they differ only in fields the selection does not read
(`SIMULATION_FIELDS`: top_n and hold_buffer, as the plan ranks the largest top_n +
hold_buffer of the group, max_weight, costs, capital, stops, delisting haircut, limit lock,
benchmark, risk-free rate).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from backtest.costs import sell_tax_rates, trade_rate
from backtest.engine import benchmark_equity, plan_run
from backtest.kernel import simulate_variants
from backtest.spec import SIMULATION_FIELDS, StrategySpec
from backtest.statistics import Statistics, returns_from_equity, statistics_rows
from backtest.validation import check_benchmark, validate_against

if TYPE_CHECKING:
    from dataprep.panel import FactorPanel



@dataclass(frozen=True)
class VariantOutcome:
    """One variant's statistics and daily returns (float32, the first against the initial
    capital), or its error."""

    statistics: Statistics | None
    returns: np.ndarray | None
    error: str | None = None


def plan_key(spec: StrategySpec) -> str:
    """Equal for specs whose selection plan is the same."""
    return json.dumps(spec.model_dump(mode="json", exclude=set(SIMULATION_FIELDS)),
                      sort_keys=True)


def run_variants(specs: Sequence[StrategySpec], panel: FactorPanel) -> list[VariantOutcome]:
    """Every spec's outcome, in order; a spec that does not fit the data fails alone."""
    outcomes: list[VariantOutcome | None] = [None] * len(specs)
    groups: dict[str, list[int]] = defaultdict(list)
    for index, spec in enumerate(specs):
        groups[plan_key(spec)].append(index)
    for members in groups.values():
        runnable: list[int] = []
        for index in members:  # a group shares all it reads but the benchmark
            check = check_benchmark if runnable else validate_against
            try:
                check(specs[index], panel)
            except ValueError as err:
                outcomes[index] = VariantOutcome(None, None, f"{type(err).__name__}: {err}")
                continue
            runnable.append(index)
        if not runnable:
            continue
        try:
            ran = _run_group([specs[i] for i in runnable], panel)
        except Exception as err:  # a failure of the group (a bug, a numerical error) fails it
            error = f"{type(err).__name__}: {err}"
            ran = [VariantOutcome(None, None, error) for _ in runnable]
        for index, outcome in zip(runnable, ran, strict=True):
            outcomes[index] = outcome
    return [outcome for outcome in outcomes if outcome is not None]


def _tax_schedules(
    specs: Sequence[StrategySpec], dates: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(rates [S, T, 2] of the distinct sell-tax schedules, each spec's row)."""
    rows: dict[tuple, int] = {}
    tables: list[np.ndarray] = []
    index = np.empty(len(specs), dtype=np.intp)
    for i, spec in enumerate(specs):
        key = tuple((e.effective, e.market, e.bps) for e in spec.costs.sell_tax)
        if key not in rows:
            rows[key] = len(tables)
            tables.append(sell_tax_rates(spec.costs.sell_tax, dates=dates))
        index[i] = rows[key]
    return np.stack(tables), index


def _run_group(specs: Sequence[StrategySpec], panel: FactorPanel) -> list[VariantOutcome]:
    base = specs[0]
    depth = max(spec.top_n + spec.hold_buffer for spec in specs)
    plan = plan_run(base.model_copy(update={"limit_lock": True}), panel, depth=depth)
    market, window = plan.market, plan.window
    n_rebalances = len(plan.selections)
    ranked = np.full((n_rebalances, max(depth, 1)), -1, dtype=np.intp)
    sizes = np.zeros((n_rebalances, max(depth, 1)))
    n_ranked = np.zeros(n_rebalances, dtype=np.intp)
    for r, selection in enumerate(plan.selections):
        count = len(selection.ranked)
        ranked[r, :count] = selection.ranked
        n_ranked[r] = count
        if selection.sizes is not None:
            sizes[r, :count] = selection.sizes
    n_days = window.n_days
    delist_start = np.zeros(n_days + 1, dtype=np.intp)
    for day, stocks in market.delistings.items():
        delist_start[day + 1] = len(stocks)
    delist_start = np.cumsum(delist_start)
    delist_stocks = np.concatenate(
        [market.delistings[day] for day in sorted(market.delistings)] or [np.zeros(0)]
    ).astype(np.intp)
    dates = panel.dates[window.rows]
    tax_rates, schedule = _tax_schedules(specs, dates)
    up, down = market.up_locked, market.down_locked  # planned with the lock on: each variant
    # says whether it applies
    equity, holdings, exposure, turnover, costs = simulate_variants(
        market.close, market.relatives, market.tradable, up, down, delist_start,
        delist_stocks, market.tax_columns.astype(np.intp), tax_rates, market.invested,
        plan.rebalance, ranked, n_ranked, sizes, base.weighting != "equal",
        np.array([s.top_n for s in specs], dtype=np.intp),
        np.array([s.hold_buffer for s in specs], dtype=np.intp),
        np.array([np.inf if s.max_weight is None else s.max_weight for s in specs]),
        np.array([trade_rate(s.costs) for s in specs]), schedule,
        np.array([s.delisting_return for s in specs]),
        np.array([-np.inf if s.stop_loss is None else -s.stop_loss for s in specs]),
        np.array([np.inf if s.take_profit is None else s.take_profit for s in specs]),
        np.array([s.limit_lock for s in specs]),
        np.array([s.initial_capital for s in specs]),
    )
    benchmarks: dict[tuple[str, float], np.ndarray] = {}
    for spec in specs:
        key = (spec.benchmark, spec.initial_capital)
        if key not in benchmarks:
            benchmarks[key] = benchmark_equity(panel, spec, window=window)
    initial = np.array([s.initial_capital for s in specs])
    statistics = statistics_rows(
        dates=dates.astype("datetime64[D]").tolist(),
        equity=equity,
        benchmark_equity=np.stack([benchmarks[(s.benchmark, s.initial_capital)] for s in specs]),
        initial_capital=initial,
        turnovers=turnover,
        costs_paid=costs,
        holdings=holdings,
        risk_free_rate=np.array([s.risk_free_rate for s in specs]),
        cash_rebalances=plan.cash_rebalances,
        exposure=exposure,
    )
    returns = returns_from_equity(equity, initial=initial).astype(np.float32)
    return [VariantOutcome(stats, row) for stats, row in zip(statistics, returns, strict=True)]
