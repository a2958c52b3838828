"""Variants run together (grouped plans, the compiled kernel) give each variant the
statistics it gets alone from run_backtest, to 1e-9, whatever the rules."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

from backtest import StrategySpec, run_backtest
from backtest.statistics import returns_from_equity
from backtest.variants import plan_key, run_variants
from tests.backtest.agreement import assert_same_statistics
from tests.backtest.test_properties import scenarios


def check(panel: Any, documents: list[dict[str, Any]]) -> None:
    specs = [StrategySpec.model_validate(d) for d in documents]
    outcomes = run_variants(specs, panel)
    for spec, outcome in zip(specs, outcomes, strict=True):
        alone = run_backtest(spec, panel)
        assert outcome.error is None
        assert_same_statistics(alone.statistics, outcome.statistics)
        expected = returns_from_equity(np.array(alone.equity), initial=spec.initial_capital)
        assert np.allclose(outcome.returns, expected.astype(np.float32), rtol=1e-6, atol=1e-7)


SIMULATION_DRAWS = {
    "top_n": [1, 2, 3],
    "hold_buffer": [0, 1, 2],
    "max_weight": [None, 0.4],
    "costs": [{"commission_bps": 0, "slippage_bps": 0, "sell_tax": []},
              {"commission_bps": 15, "slippage_bps": 10,
               "sell_tax": [{"effective": "2020-01-01", "market": "KOSDAQ", "bps": 30}]}],
    "initial_capital": [1000.0, 5e7],
    "stop_loss": [None, 0.1],
    "take_profit": [None, 0.15],
    "delisting_return": [0.0, 0.3],
    "limit_lock": [True, False],
    "benchmark": ["KOSPI", "KOSDAQ"],
}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenario=hs.one_of(scenarios(), scenarios(crowded=True)), data=hs.data())
def test_variants_together_equal_each_alone(scenario, data):
    panel, document = scenario
    variants = []
    for _ in range(data.draw(hs.integers(2, 6))):
        variant = dict(document)
        for name, choices in SIMULATION_DRAWS.items():
            if data.draw(hs.booleans()):
                variant[name] = data.draw(hs.sampled_from(choices))
        variants.append(variant)
    check(panel, variants)


def test_a_grid_on_a_demo_shaped_market_equals_each_variant_alone():
    from benchmarks.engine_bench import RULES_ON, synthetic_market

    panel = synthetic_market(n_stocks=300, n_days=500)
    base = {"start": str(panel.dates[250]), "end": str(panel.dates[-1]),
            "ranking": [{"factor": "PER", "ascending": True}, {"factor": "MOM_12_1"}],
            "universe": {"min_market_cap": 1e10}}
    documents = [
        {**base, "top_n": top_n, "rebalance": rebalance, "costs": {"slippage_bps": slippage},
         **rules}
        for top_n in (5, 20) for rebalance in ("monthly", "weekly") for slippage in (0, 20)
        for rules in ({}, {"hold_buffer": 5}, RULES_ON)
    ]
    specs = [StrategySpec.model_validate(d) for d in documents]
    assert len({plan_key(s) for s in specs}) == 3  # monthly, weekly, RULES_ON (its own schedule)
    check(panel, documents)


def test_a_variant_that_does_not_fit_the_data_fails_alone():
    from tests.backtest.toy import flat, toy_panel, toy_spec

    panel = toy_panel(close=flat(4, 2), factors={"F": flat(4, 2, 1.0)})
    good = toy_spec(panel)
    bad = toy_spec(panel, benchmark="KOSDAQ").model_copy(update={"benchmark": "NIKKEI"})
    outcomes = run_variants([good, bad], panel)
    assert outcomes[0].error is None and outcomes[1].statistics is None
    assert "benchmark" in outcomes[1].error


@pytest.mark.parametrize("weighting", ["equal", "market_cap", "inverse_vol"])
def test_weightings_together_equal_alone(weighting):
    from benchmarks.engine_bench import synthetic_market

    panel = synthetic_market(n_stocks=200, n_days=400)
    base = {"start": str(panel.dates[300]), "end": str(panel.dates[-1]), "weighting": weighting,
            "ranking": [{"factor": "PBR", "ascending": True}], "rebalance": "weekly"}
    check(panel, [{**base, "top_n": n, "max_weight": w} for n in (3, 10) for w in (None, 0.2)])
