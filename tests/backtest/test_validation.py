"""SpecError: a spec that does not fit the panel names the field and the value."""

from __future__ import annotations

import dataclasses
import math

import pytest

from backtest import SpecError, run_backtest, validate_against
from dataprep.panel import FactorCoverage
from tests.backtest.toy import flat, rows, toy_panel, toy_spec


@pytest.fixture
def panel():
    dates = ["2023-12-26", "2023-12-27", "2023-12-28", "2023-12-29"]
    return toy_panel(close=flat(4, 2), factors={"F": flat(4, 2)}, dates=dates)


def refused(spec, panel) -> SpecError:
    with pytest.raises(SpecError) as caught:
        run_backtest(spec, panel)
    return caught.value


def test_unknown_ranking_factor(panel):
    error = refused(toy_spec(panel, ranking=[{"factor": "FOO"}]), panel)
    assert error.field == "ranking[0].factor"
    assert str(error).startswith('Got "FOO" for ranking[0].factor: no such factor; known: F, ')


def test_unknown_filter_factor(panel):
    error = refused(toy_spec(panel, filters=[{"factor": "BAR", "top_pct": 10}]), panel)
    assert error.field == "filters[0].factor"
    assert 'Got "BAR"' in str(error)


def test_engine_factors_must_exist_when_the_spec_needs_them(panel):
    bare = toy_panel(close=flat(4, 2), factors={"F": flat(4, 2)}, engine_factors=False)
    for fields, where in [
        ({"universe": {"min_market_cap": 1}}, "universe.min_market_cap"),
        ({"universe": {"min_avg_trading_value": 1}}, "universe.min_avg_trading_value"),
        ({"weighting": "market_cap"}, "weighting"),
        ({"weighting": "inverse_vol"}, "weighting"),
    ]:
        with pytest.raises(SpecError) as caught:
            validate_against(toy_spec(panel, **fields), bare)
        assert caught.value.field == where


def test_end_after_the_data(panel):
    error = refused(toy_spec(panel, end="2031-01-01"), panel)
    assert error.field == "end"
    assert str(error) == 'Got "2031-01-01" for end: the data ends on 2023-12-29'


def test_start_needs_a_trading_day_before_it(panel):
    error = refused(toy_spec(panel, start="2023-12-26"), panel)
    assert error.field == "start"
    assert str(error).startswith('Got "2023-12-26" for start: the data starts on 2023-12-26')
    assert run_backtest(toy_spec(panel, start="2023-12-27"), panel).dates[0].isoformat() == (
        "2023-12-27"
    )


def test_no_trading_day_in_the_window():
    dates = ["2024-01-05", "2024-01-08", "2024-01-09"]  # Fri, Mon, Tue
    panel = toy_panel(close=flat(3, 2), factors={"F": flat(3, 2)}, dates=dates)
    error = refused(toy_spec(panel, start="2024-01-06", end="2024-01-07"), panel)
    assert error.field == "start"
    assert "no trading day" in str(error)


def test_spec_error_is_a_value_error(panel):
    assert isinstance(refused(toy_spec(panel, ranking=[{"factor": "X"}]), panel), ValueError)


def test_a_window_starting_on_a_holiday_begins_on_the_next_trading_day():
    dates = ["2024-01-04", "2024-01-05", "2024-01-08", "2024-01-09"]
    panel = toy_panel(close=flat(4, 2), factors={"F": flat(4, 2)}, dates=dates)
    result = run_backtest(toy_spec(panel, start="2024-01-06", end="2024-01-09"), panel)
    assert [str(day) for day in result.dates] == ["2024-01-08", "2024-01-09"]


def test_an_all_nan_ranking_factor_is_refused_naming_the_field():
    """Regression: a factor with no value in the data (e.g. PBR with no balance sheets
    imported) held nothing all year and reported a total return of 0.0."""
    panel = toy_panel(close=flat(4, 2), factors={"F": flat(4, 2), "G": flat(4, 2, math.nan)})
    spec = toy_spec(panel, ranking=[{"factor": "F"}, {"factor": "G"}])
    error = refused(spec, panel)
    assert error.field == "ranking[1].factor"
    assert str(error) == (
        'Got "G" for ranking[1].factor: it has no values in data version toy '
        "(no stock has a value on any of its 4 trading days)"
    )
    with pytest.raises(SpecError) as caught:  # the registry's index refuses it the same way
        validate_against(spec, panel.index())
    assert (caught.value.field, str(caught.value)) == (error.field, str(error))


def test_an_all_nan_filter_factor_is_refused_with_the_inputs_never_imported():
    base = toy_panel(close=flat(4, 2), factors={"F": flat(4, 2), "PBR": flat(4, 2, math.nan)})
    coverage = {**base.coverage, "PBR": FactorCoverage(None, 0.0, ("total_equity",))}
    panel = dataclasses.replace(base, coverage=coverage)
    error = refused(toy_spec(panel, filters=[{"factor": "PBR", "max": 1.0}]), panel)
    assert error.field == "filters[0].factor"
    assert str(error) == (
        'Got "PBR" for filters[0].factor: it has no values in data version toy '
        "(its input total_equity was never imported)"
    )
    index = dataclasses.replace(
        panel.index(), coverage={**coverage, "PBR": FactorCoverage(None, 0.0, ("cash", "capex"))}
    )
    with pytest.raises(SpecError, match="its inputs cash, capex were never imported"):
        validate_against(toy_spec(panel, ranking=[{"factor": "PBR"}]), index)


def test_a_factor_with_some_values_or_unknown_coverage_is_not_refused():
    late = rows(*[[math.nan] * 2] * 3, [1, 2])  # a value on the last day only
    panel = toy_panel(close=flat(4, 2), factors={"F": late})
    assert run_backtest(toy_spec(panel), panel).statistics.cash_rebalances == 1
    nothing = toy_panel(close=flat(4, 2), factors={"F": flat(4, 2, math.nan)})
    validate_against(toy_spec(nothing), dataclasses.replace(nothing.index(), coverage={}))
