"""Smoke test of benchmarks/engine_bench.py on a small synthetic market."""

from __future__ import annotations

import numpy as np

from benchmarks.engine_bench import (
    CASES,
    N_FACTORS,
    NAMED_FACTORS,
    markdown,
    rules_ratio,
    synthetic_market,
    time_case,
)


def test_synthetic_market_is_shaped_like_the_demo_market():
    panel = synthetic_market(n_stocks=40, n_days=800)
    assert panel.values.shape == (N_FACTORS, 800, 40) and panel.values.dtype == np.float32
    assert set(NAMED_FACTORS) <= set(panel.factor_names)
    assert np.isnan(panel.values).any() and (panel.delisting_index() >= 0).any()
    listed = ~np.isnan(panel.close)
    assert (listed & ~panel.tradable).any()  # halts
    assert {"common"} < set(panel.kind) <= {"common", "preferred", "spac", "reit"}
    assert panel.status.any()
    moves = panel.close[1:] / panel.close[:-1] - 1
    assert (np.abs(moves[np.isfinite(moves)]) > 0.295).any()  # limit-locked days


def test_every_case_runs_and_reports():
    panel = synthetic_market(n_stocks=40, n_days=800)
    rows = [time_case(case, panel, repeats=1) for case in CASES]
    assert [row["days"] for row in rows] == [252, 252, 756, 252, 252, 252]
    assert "| 1y daily" in markdown(rows)
    assert rules_ratio(rows) > 0
