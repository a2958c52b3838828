"""Walk-forward: folds as DESIGN.md defines them, the in-sample choice from the variants'
returns, out-of-sample runs that chain their equity, the stitched result."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from backtest.batch import RunRequest, run_specs
from backtest.engine import run_backtest
from backtest.statistics import RETURN_STATISTICS, statistic_of_returns
from backtest.sweep import SweepSpec, expand, variant_spec
from backtest.walk_forward import best_in_sample, fold_bounds, walk_forward
from tests.backtest.toy import toy_panel, toy_spec


def _panel(n_days: int = 80):
    rng = np.random.default_rng(11)
    closes = 100 * np.cumprod(1 + rng.normal(0.0005, 0.02, (n_days, 6)), axis=0)
    factor = rng.normal(size=(n_days, 6))
    return toy_panel(close=closes.tolist(), factors={"F": factor.tolist()})


def _sweep(panel, **fields):
    base = toy_spec(panel, rebalance="weekly").model_dump(mode="json")
    document = {"base": base, "grid": {"top_n": [1, 2, 3], "costs.slippage_bps": [0, 40]},
                "validation": {"walk_forward": {"train_days": 30, "test_days": 15}}}
    document.update(fields)
    return SweepSpec.model_validate(document)


def _returns(sweep, panel):
    outcomes = run_specs(panel, [RunRequest(spec=v.model_dump(mode="json"))
                                 for v in expand(sweep)])
    return np.stack([np.frombuffer(o.returns, dtype="<f4") for o in outcomes], axis=1)


def test_fold_bounds_step_by_the_test_days_and_keep_a_short_last_fold():
    assert fold_bounds(10, train_days=4, test_days=3) == [(0, 4, 7), (3, 7, 10)]
    assert fold_bounds(11, train_days=4, test_days=3) == [(0, 4, 7), (3, 7, 10), (6, 10, 11)]
    assert fold_bounds(4, train_days=4, test_days=3) == []


def test_best_in_sample_respects_the_direction_and_ties():
    assert best_in_sample(np.array([0.1, 0.3, 0.3, np.nan]), rank_by="sharpe") == 1
    assert best_in_sample(np.array([0.1, 0.3, 0.05]), rank_by="annual_volatility") == 2
    assert best_in_sample(np.array([np.nan, np.nan]), rank_by="sharpe") is None


def test_statistics_of_a_whole_run_equal_the_runs_own():
    panel = _panel()
    spec = toy_spec(panel, rebalance="weekly", top_n=2)
    result = run_backtest(spec, panel)
    returns = np.array(result.returns, dtype=np.float64)[None, :]
    for name in ("total_return", "cagr", "annual_volatility", "sharpe", "sortino",
                 "max_drawdown", "calmar"):
        value = statistic_of_returns(name, returns, risk_free_rate=spec.risk_free_rate)[0]
        assert value == pytest.approx(getattr(result.statistics, name), rel=1e-9), name
    with pytest.raises(ValueError, match="not a statistic of returns"):
        statistic_of_returns("turnover", returns, risk_free_rate=0.0)


def test_each_fold_runs_the_in_sample_best_out_of_sample_and_chains_the_equity():
    panel = _panel()
    sweep = _sweep(panel)
    returns = _returns(sweep, panel)
    variants = np.arange(sweep.n_variants)
    result = walk_forward(sweep, panel, variants=variants, returns=returns)
    days = [d for d in panel.dates.astype("datetime64[D]").tolist()
            if sweep.base.start <= d <= sweep.base.end]
    assert len(result.folds) == len(fold_bounds(len(days), train_days=30, test_days=15))
    stitched = []
    equity = sweep.base.initial_capital
    for fold, (train, test, stop) in zip(result.folds, fold_bounds(len(days), train_days=30,
                                                                   test_days=15), strict=True):
        scores = statistic_of_returns("sharpe", returns[train:test].T, risk_free_rate=0.0)
        assert fold.variant == int(np.nanargmax(scores))
        assert (fold.train_start, fold.test_start, fold.test_end) == (
            days[train], days[test], days[stop - 1])
        assert fold.start_equity == pytest.approx(equity)
        alone = run_backtest(variant_spec(sweep, fold.variant, start=days[test],
                                          end=days[stop - 1], initial_capital=equity), panel)
        assert fold.end_equity == pytest.approx(alone.equity[-1], rel=1e-12)
        stitched += alone.equity
        equity = alone.equity[-1]
    assert result.equity == pytest.approx(stitched, rel=1e-12)
    assert result.dates == days[30:]
    assert result.statistics.final_equity == pytest.approx(equity)
    assert result.statistics.n_days == len(days) - 30
    assert result.benchmark_equity[0] == pytest.approx(sweep.base.initial_capital)


def test_walk_forward_needs_a_return_statistic_one_window_and_enough_days():
    panel = _panel()
    with pytest.raises(ValidationError, match="walk-forward ranks variants by a stretch"):
        _sweep(panel, rank_by="turnover")
    with pytest.raises(ValidationError, match="must not vary start or end"):
        _sweep(panel, grid={"top_n": [1, 2], "end": [str(panel.dates[-1])]})
    assert set(RETURN_STATISTICS) >= {"sharpe", "cagr", "max_drawdown"}
    long = _sweep(panel, validation={"walk_forward": {"train_days": 500, "test_days": 10}})
    with pytest.raises(ValueError, match="not more than train_days"):
        walk_forward(long, panel, variants=np.arange(6), returns=_returns(long, panel))
