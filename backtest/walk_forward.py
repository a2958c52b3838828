"""Walk-forward validation of a sweep (DESIGN.md "Sweeps: speed, walk-forward, overfitting").

The sweep's trading days are cut into folds: `train_days` in sample followed by `test_days`
out of sample, stepping by `test_days` from the sweep's start (the last test stretch may be
shorter). In each fold the variant best by `rank_by` over the in-sample days (computed from
the daily returns every variant already has: no new runs) is run out of sample by the
engine, starting in cash with the equity the previous out-of-sample fold ended with. The
out-of-sample stretches, stitched, are the equity a quant would have had by re-choosing the
variant every `test_days`; their statistics say how much of the in-sample best survives.
Pure: the panel and the variants' returns in, a `WalkForwardResult` out.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from backtest.engine import run_ledger
from backtest.statistics import (
    Statistics,
    compute_statistics,
    finite,
    returns_from_equity,
    statistic_of_returns,
)
from backtest.sweep import LOWER_IS_BETTER, SweepSpec, overrides_of, variant_spec
from backtest.validation import validate_against

if TYPE_CHECKING:
    from dataprep.panel import FactorPanel


class Fold(BaseModel):
    model_config = ConfigDict(frozen=True)

    fold: int = Field(description="Fold number, from 0.")
    train_start: dt.date
    train_end: dt.date
    test_start: dt.date
    test_end: dt.date
    variant: int = Field(description="The variant best by rank_by in sample.")
    overrides: dict[str, Any] = Field(description="Its grid values.")
    in_sample: float | None = Field(description="Its rank_by over the in-sample days.")
    out_of_sample: float | None = Field(description="Its rank_by over the out-of-sample days.")
    start_equity: float = Field(description="Equity it started the test with (KRW).")
    end_equity: float = Field(description="Equity at the test's last close (KRW).")


class WalkForwardResult(BaseModel):
    model_config = ConfigDict(frozen=True)

    train_days: int
    test_days: int
    rank_by: str
    folds: list[Fold]
    dates: list[dt.date] = Field(description="The out-of-sample days, stitched.")
    equity: list[float] = Field(description="Stitched out-of-sample equity at each close.")
    benchmark_equity: list[float | None] = Field(
        description="initial_capital x index(t) / index(first out-of-sample day)."
    )
    statistics: Statistics = Field(description="Of the stitched out-of-sample equity.")
    in_sample_mean: float | None = Field(description="Mean of the folds' in-sample rank_by.")
    out_of_sample_mean: float | None = Field(
        description="Mean of the folds' out-of-sample rank_by."
    )


def fold_bounds(n_days: int, *, train_days: int, test_days: int) -> list[tuple[int, int, int]]:
    """(train start, test start, test end exclusive) day offsets of every fold; [] when the
    window is too short for one."""
    folds = []
    start = 0
    while start + train_days < n_days:
        test = start + train_days
        folds.append((start, test, min(test + test_days, n_days)))
        start += test_days
    return folds


def best_in_sample(values: np.ndarray, *, rank_by: str) -> int | None:
    """Index of the best finite value (lowest first for LOWER_IS_BETTER statistics, the
    lowest index on a tie); None when none is finite."""
    finite_values = np.isfinite(values)
    if not finite_values.any():
        return None
    lower = rank_by in LOWER_IS_BETTER
    scored = np.where(finite_values, -values if lower else values, -np.inf)
    return int(np.argmax(scored))


def walk_forward(
    sweep: SweepSpec,
    panel: FactorPanel,
    *,
    variants: np.ndarray,
    returns: np.ndarray,
) -> WalkForwardResult:
    """Walk-forward of `sweep` (its `validation.walk_forward`) over `panel`: `returns`
    [n_days, n] are the daily returns of the sweep's variants numbered `variants` [n] (those
    that finished), over the sweep's window. ValueError when the window is too short."""
    assert sweep.validation is not None and sweep.validation.walk_forward is not None
    settings = sweep.validation.walk_forward
    window = validate_against(sweep.base, panel)
    days = panel.dates[window.rows].astype("datetime64[D]").tolist()
    if returns.shape[0] != len(days):
        raise ValueError(f"the variants' returns cover {returns.shape[0]} days, the sweep's "
                         f"window {len(days)}")
    bounds = fold_bounds(len(days), train_days=settings.train_days,
                         test_days=settings.test_days)
    if not bounds:
        raise ValueError(
            f"validation.walk_forward: the sweep's window has {len(days)} trading days, not "
            f"more than train_days ({settings.train_days}): no out-of-sample day")
    rates = np.array([variant_spec(sweep, int(v)).risk_free_rate for v in variants]) \
        if "risk_free_rate" in sweep.grid else sweep.base.risk_free_rate
    equity_now = sweep.base.initial_capital
    folds, equity, holdings, exposure, turnovers = [], [], [], [], []
    costs, cash_rebalances = 0.0, 0
    for number, (train, test, stop) in enumerate(bounds):
        scores = statistic_of_returns(sweep.rank_by, returns[train:test].T, risk_free_rate=rates)
        chosen = best_in_sample(scores, rank_by=sweep.rank_by)
        if chosen is None:
            raise ValueError(f"fold {number}: no variant has a finite {sweep.rank_by} in sample")
        variant = int(variants[chosen])
        spec = variant_spec(sweep, variant, start=days[test], end=days[stop - 1],
                            initial_capital=equity_now)
        plan, ledger = run_ledger(spec, panel)
        fold_returns = returns_from_equity(ledger.equity, initial=equity_now)
        outside = statistic_of_returns(sweep.rank_by, fold_returns[None, :],
                                       risk_free_rate=spec.risk_free_rate)
        folds.append(Fold(
            fold=number, train_start=days[train], train_end=days[test - 1],
            test_start=days[test], test_end=days[stop - 1], variant=variant,
            overrides=overrides_of(sweep, variant), in_sample=finite(float(scores[chosen])),
            out_of_sample=finite(float(outside[0])), start_equity=equity_now,
            end_equity=float(ledger.equity[-1]),
        ))
        equity.append(ledger.equity)
        holdings.append(ledger.holdings)
        exposure.append(ledger.exposure)
        turnovers += [trade.turnover for trade in ledger.trades]
        costs += ledger.costs_paid
        cash_rebalances += plan.cash_rebalances
        equity_now = float(ledger.equity[-1])
    first = bounds[0][1] + window.first
    index = np.asarray(panel.benchmarks[sweep.base.benchmark][first : window.last + 1],
                       dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        benchmark = sweep.base.initial_capital * index / index[0]
    stitched = np.concatenate(equity)
    out_days = days[bounds[0][1]:]
    statistics = compute_statistics(
        dates=out_days, equity=stitched, benchmark_equity=benchmark,
        initial_capital=sweep.base.initial_capital, turnovers=np.array(turnovers),
        costs_paid=costs, holdings=np.concatenate(holdings),
        risk_free_rate=sweep.base.risk_free_rate, cash_rebalances=cash_rebalances,
        exposure=np.concatenate(exposure),
    )
    return WalkForwardResult(
        train_days=settings.train_days, test_days=settings.test_days, rank_by=sweep.rank_by,
        folds=folds, dates=out_days, equity=stitched.tolist(),
        benchmark_equity=[finite(v) for v in benchmark.tolist()], statistics=statistics,
        in_sample_mean=_mean([f.in_sample for f in folds]),
        out_of_sample_mean=_mean([f.out_of_sample for f in folds]),
    )


def _mean(values: list[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return float(np.mean(present)) if present else None
