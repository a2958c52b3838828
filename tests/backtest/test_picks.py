"""Picks: what a spec would hold after the panel's last day, and that it matches what a
rebalance on the following day buys."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pytest

from backtest import SpecError, run_backtest
from backtest.picks import compute_picks, next_session
from tests.backtest.toy import rows, toy_panel, toy_spec, weekdays

NAN = math.nan
CLOSE = rows([10, 10, 10, 10], [10, 11, 12, 13], [10, 12, 14, 16])
F = rows([1, 2, 3, 4], [4, 3, 2, 1], [2, 4, 3, NAN])
CAP = rows([1, 1, 1, 1], [1, 2, 3, 4], [10, 30, 20, 40])


def panel_of(n_days: int, **fields):
    return toy_panel(close=CLOSE[:n_days], factors={"F": F[:n_days], "MARKET_CAP": CAP[:n_days]},
                     dates=weekdays("2024-01-02", 3)[:n_days], **fields)


def test_picks_rank_score_weight_and_factor_values():
    # Last day (d2): F = 2, 4, 3, NaN: D has no value, so B (4) > C (3) > A (2); three
    # eligible, percentiles 1, 0.5, 0. Market-cap weights of B and C: 30 / 50, 20 / 50.
    panel = panel_of(3)
    spec = toy_spec(panel, top_n=2, weighting="market_cap")
    picks = compute_picks(spec, panel)
    assert str(picks.signal_date) == "2024-01-04"
    assert picks.n_eligible == 3 and picks.invested
    assert [(p.code, p.rank) for p in picks.picks] == [("B", 1), ("C", 2)]
    assert [p.score for p in picks.picks] == pytest.approx([1.0, 0.5])
    assert [p.weight for p in picks.picks] == pytest.approx([0.6, 0.4])
    assert picks.picks[0].factors == pytest.approx({"F": 4.0, "MARKET_CAP": 30.0})
    assert picks.picks[0].name == "Stock 1" and picks.picks[0].market == "KOSPI"


@pytest.mark.parametrize(
    "fields",
    [
        {"top_n": 2},
        {"top_n": 3, "weighting": "market_cap"},
        {"top_n": 1, "filters": [{"factor": "MARKET_CAP", "min": 2}]},
        {"top_n": 2, "universe": {"exclude": ["preferred"]}},
    ],
)
def test_picks_match_what_a_rebalance_on_the_following_day_buys(fields):
    # Picks on the panel up to d1 against a one-day run on d2 (its first day: it buys from
    # cash, so the holdings' weights are the targets' shares of the budget).
    full = panel_of(3, kind=["common", "preferred", "common", "common"])
    before = panel_of(2, kind=["common", "preferred", "common", "common"])
    picks = compute_picks(toy_spec(before, **fields), before)
    day = str(full.dates[2])
    run = run_backtest(toy_spec(full, start=day, end=day, **fields), full)
    bought = [(h.code, h.weight) for h in run.rebalances[0].holdings]
    assert bought == [(p.code, pytest.approx(p.weight)) for p in picks.picks]
    assert picks.picks  # the case picks something


def test_picks_say_when_market_timing_would_keep_the_strategy_in_cash():
    falling = panel_of(3, benchmark=[100.0, 90.0, 80.0])
    picks = compute_picks(toy_spec(falling, timing={"index": "KOSPI", "ma_days": 2}), falling)
    assert not picks.invested and picks.picks  # what it ranks first once on again
    seasonal = compute_picks(toy_spec(falling, timing={"months": [2]}), falling)
    assert not seasonal.invested  # the next weekday, 2024-01-05, is in January
    january = compute_picks(toy_spec(falling, timing={"months": [1]}), falling)
    assert january.invested


def test_picks_refuse_an_unknown_factor_naming_the_field():
    panel = panel_of(3)
    with pytest.raises(SpecError, match='"NOPE" for ranking') as err:
        compute_picks(toy_spec(panel, ranking=[{"factor": "NOPE"}]), panel)
    assert err.value.field.startswith("ranking")


def test_picks_ignore_the_spec_dates():
    panel = panel_of(3)
    early = compute_picks(toy_spec(panel, end=str(panel.dates[1])), panel)
    assert early.signal_date == np.datetime64(panel.dates[-1], "D").item()


def test_the_next_session_crosses_the_krx_year_end_holiday():
    assert next_session(date(2023, 12, 28)) == date(2024, 1, 2)  # 12-29 is closed
    assert next_session(date(2024, 1, 5)) == date(2024, 1, 8)
