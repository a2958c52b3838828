"""A finished sweep's analysis: the overfitting statistics of its best variant and grid,
walk-forward when asked for, and each missing piece named with its reason."""

from __future__ import annotations

import math

import numpy as np
import pytest

from backtest.overfitting import deflated_sharpe, moments, neighbourhood_medians, pbo
from backtest.sweep import SweepSpec
from backtest.sweep_analysis import analyse_sweep, daily_sharpe_ratios
from tests.backtest.test_walk_forward import _panel, _returns
from tests.backtest.toy import toy_spec


def _sweep(panel, **fields):
    base = toy_spec(panel, rebalance="weekly").model_dump(mode="json")
    document = {"base": base,
                "grid": {"top_n": [1, 2, 3], "costs.slippage_bps": [0, 40], "hold_buffer": [0, 1]}}
    document.update(fields)
    return SweepSpec.model_validate(document)


def test_the_analysis_of_a_sweep_matches_the_functions_it_is_made_of():
    panel = _panel()
    sweep = _sweep(panel)
    returns = _returns(sweep, panel)
    ratios = daily_sharpe_ratios(returns, risk_free_rate=0.0)
    values = ratios * math.sqrt(252)  # rank_by sharpe
    analysis = analyse_sweep(sweep, panel, values=values, variants=np.arange(12),
                             returns=returns)
    report = analysis.overfitting
    assert analysis.walk_forward is None and analysis.errors == []
    assert report is not None and report.n_trials == 12 and report.n_obs == returns.shape[0]
    best = int(np.nanargmax(values))
    assert report.best_variant == best and report.best_value == pytest.approx(values[best])
    assert report.best_overrides == {"top_n": [1, 2, 3][best // 4],
                                     "costs.slippage_bps": [0, 40][best // 2 % 2],
                                     "hold_buffer": [0, 1][best % 2]}
    daily, skew, kurtosis = moments(returns[:, best])
    assert report.deflated_sharpe == pytest.approx(deflated_sharpe(
        sharpe=daily, n_trials=12, sharpe_variance=float(np.var(ratios, ddof=1)),
        n_obs=returns.shape[0], skew=skew, kurtosis=kurtosis))
    assert report.deflated_sharpe < report.probabilistic_sharpe
    assert report.pbo == pytest.approx(pbo(returns, n_blocks=16))
    medians = neighbourhood_medians(values, (3, 2, 2))
    assert report.robust_variant == int(np.nanargmax(medians))
    assert report.robust_neighbourhood_median == pytest.approx(np.nanmax(medians))


def test_walk_forward_comes_with_the_analysis_and_short_windows_say_why_pbo_is_missing():
    panel = _panel(n_days=30)
    sweep = _sweep(panel, validation={"walk_forward": {"train_days": 10, "test_days": 5}})
    returns = _returns(sweep, panel)
    values = daily_sharpe_ratios(returns, risk_free_rate=0.0)
    analysis = analyse_sweep(sweep, panel, values=values, variants=np.arange(12),
                             returns=returns)
    assert analysis.walk_forward is not None and len(analysis.walk_forward.folds) >= 3
    assert analysis.overfitting is not None and analysis.overfitting.pbo is None
    assert any(e.startswith("pbo:") and "blocks" in e for e in analysis.errors)


def test_a_sweep_without_returns_says_so():
    panel = _panel()
    sweep = _sweep(panel)
    analysis = analyse_sweep(sweep, panel, values=np.full(12, np.nan),
                             variants=np.arange(0), returns=np.zeros((60, 0)))
    assert analysis.overfitting is None
    assert analysis.errors == ["no variant has daily returns"]
