"""Sweeps: grid expansion (dotted fields), the variant cap, ranking; on Ray, same results."""

from __future__ import annotations

import numpy as np
import pytest
import ray
from pydantic import ValidationError

from backtest.batch import RunRequest, run_specs
from backtest.engine import run_backtest
from backtest.statistics import Statistics
from backtest.sweep import SweepError, SweepSpec, expand, overrides_of, plan_group, rank
from backtest.tasks import run_on_ray
from backtest.variants import plan_key
from tests.backtest.agreement import assert_same_statistics
from tests.backtest.toy import toy_panel, toy_spec


def _panel():
    rng = np.random.default_rng(3)
    closes = 100 * np.cumprod(1 + rng.normal(0, 0.02, (60, 5)), axis=0)
    factor = rng.normal(size=(60, 5))
    return toy_panel(close=closes.tolist(), factors={"F": factor.tolist(), "G": (-factor).tolist()})


def _sweep(panel, **fields):
    base = toy_spec(panel, rebalance="weekly").model_dump(mode="json")
    document = {"base": base, "grid": {"top_n": [1, 2, 3], "costs.slippage_bps": [0, 50]}}
    document.update(fields)
    return SweepSpec.model_validate(document)


def test_grid_expands_to_the_cartesian_product_with_dotted_fields():
    sweep = _sweep(_panel())
    variants = expand(sweep)
    assert sweep.n_variants == len(variants) == 6
    assert [(v.top_n, v.costs.slippage_bps) for v in variants] == [
        (1, 0), (1, 50), (2, 0), (2, 50), (3, 0), (3, 50)
    ]
    assert overrides_of(sweep, 3) == {"top_n": 2, "costs.slippage_bps": 50}
    assert all(v.rebalance == "weekly" for v in variants)  # the base is kept


def test_variant_cap_is_a_clear_error():
    sweep = _sweep(_panel(), grid={"top_n": list(range(1, 101)), "costs.slippage_bps": [0, 1]})
    with pytest.raises(SweepError, match="3 x|100 top_n x 2 costs.slippage_bps = 200 variants"):
        expand(sweep, max_variants=150)


def test_unknown_grid_field_names_the_field():
    with pytest.raises(SweepError, match=r"grid\['costs.nope'\].*\"costs.nope\" is not a field"):
        expand(_sweep(_panel(), grid={"costs.nope": [1]}))


def test_invalid_grid_value_names_the_variant_and_field():
    with pytest.raises(SweepError, match=r"variant 0: \{'top_n': 0\}.*top_n"):
        expand(_sweep(_panel(), grid={"top_n": [0, 5]}))


def test_rank_by_must_be_a_statistic_and_grid_values_must_exist():
    with pytest.raises(ValidationError, match="no such numeric statistic"):
        _sweep(_panel(), rank_by="happiness")
    with pytest.raises(ValidationError, match="no such numeric statistic"):
        _sweep(_panel(), rank_by="peak_date")
    with pytest.raises(ValidationError, match="has no values"):
        _sweep(_panel(), grid={"top_n": []})


def test_rank_orders_best_first_failures_last():
    rows = [
        {"variant": 0, "statistics": {"sharpe": 0.5, "annual_volatility": 0.3}},
        {"variant": 1, "statistics": None, "error": "boom"},
        {"variant": 2, "statistics": {"sharpe": 1.5, "annual_volatility": 0.2}},
        {"variant": 3, "statistics": {"sharpe": None, "annual_volatility": None}},
    ]
    assert [r["variant"] for r in rank(rows, rank_by="sharpe")] == [2, 0, 1, 3]
    assert [r["variant"] for r in rank(rows, rank_by="annual_volatility")] == [2, 0, 1, 3]


def test_a_failing_variant_reports_its_error_not_the_batch():
    panel = _panel()
    good = toy_spec(panel).model_dump(mode="json")
    bad = {**good, "ranking": [{"factor": "NOPE"}]}
    outcomes = run_specs(panel, [RunRequest(spec=good), RunRequest(spec=bad)])
    assert outcomes[0].status == "done" and outcomes[0].error is None
    assert outcomes[0].statistics is not None and outcomes[0].result is None
    assert outcomes[1].status == "failed" and outcomes[1].statistics is None
    assert "NOPE" in outcomes[1].error


def test_any_exception_fails_the_variant_alone(monkeypatch):
    """Regression: the Ray job's batches caught only ValueError, so any other error of one
    variant killed the whole batch. Variants run in groups sharing a plan: an error fails
    its group only; a run that wants its whole result fails alone."""
    import backtest.engine
    import backtest.variants

    panel = _panel()
    monthly = toy_spec(panel).model_dump(mode="json")
    weekly = {**monthly, "rebalance": "weekly"}  # another plan, another group
    groups = []

    def flaky_group(specs, panel):
        groups.append(specs)
        if len(groups) == 1:
            raise ZeroDivisionError("a bug in one group")
        return real_group(specs, panel)

    def flaky_run(spec, panel):
        raise ZeroDivisionError("a bug in one run")

    real_group = backtest.variants._run_group
    monkeypatch.setattr(backtest.variants, "_run_group", flaky_group)
    monkeypatch.setattr(backtest.engine, "run_backtest", flaky_run)
    outcomes = run_specs(panel, [RunRequest(spec=monthly), RunRequest(spec=weekly),
                                 RunRequest(spec=monthly, keep_result=True)])
    assert outcomes[0].status == "failed"
    assert outcomes[0].error == "ZeroDivisionError: a bug in one group"
    assert outcomes[1].status == "done" and outcomes[1].returns is not None
    assert outcomes[2].status == "failed" and outcomes[2].error == (
        "ZeroDivisionError: a bug in one run")


@pytest.mark.ray
def test_sweep_on_ray_matches_running_each_variant_directly(ray_session):
    panel = _panel()
    sweep = _sweep(panel)
    variants = expand(sweep)
    progress: list[tuple[int, int]] = []
    requests = [RunRequest(spec=v.model_dump(mode="json")) for v in variants]
    outcomes = run_on_ray(ray.put(panel), requests, batch_size=4,
                          on_progress=lambda done, total: progress.append((done, total)))
    assert len(outcomes) == 6
    for outcome, spec in zip(outcomes, variants, strict=True):
        direct = run_backtest(spec, panel).statistics
        assert_same_statistics(direct, Statistics.model_validate(outcome.statistics_dict()))
        assert outcome.node
    assert progress[-1] == (6, 6)


def test_plan_groups_gather_the_variants_that_share_a_selection_plan():
    panel = _panel()
    base = toy_spec(panel).model_dump(mode="json")
    sweep = SweepSpec.model_validate({"base": base, "grid": {
        "rebalance": ["monthly", "weekly"], "costs.slippage_bps": [0, 5, 10],
        "universe.min_market_cap": [0, 1e9], "top_n": [1, 2]}})
    variants = expand(sweep)
    groups = [plan_group(sweep, n) for n in range(len(variants))]
    assert len(set(groups)) == 4  # rebalance x min_market_cap
    by_group: dict[int, set[str]] = {}
    for group, variant in zip(groups, variants, strict=True):
        by_group.setdefault(group, set()).add(plan_key(variant))
    assert all(len(keys) == 1 for keys in by_group.values())
    assert len({next(iter(keys)) for keys in by_group.values()}) == 4
