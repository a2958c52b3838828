"""Properties of the engine on random small panels (hypothesis)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

from backtest import BacktestResult, run_backtest
from backtest.spec import StrategySpec
from dataprep.panel import STATUS_BITS, FactorPanel
from tests.backtest.reference import reference_run
from tests.backtest.toy import NO_COSTS, flat, toy_panel, toy_spec

SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def random_panel(seed: int, *, n_stocks: int, n_days: int, messy: bool) -> FactorPanel:
    """Random closes and factors; `messy` adds delistings, late listings, halts, NaN
    factors, stock kinds, KRX designations, moves to the +-30 % limit, calendar gaps and a
    KOSDAQ index with gaps (NaN)."""
    rng = np.random.default_rng(seed)
    moves = np.exp(rng.normal(0, 0.05, (n_days, n_stocks)))
    if messy:  # some closes at (or just short of) the daily price limit
        limits = rng.choice([1.3, 0.7, 1.299, 0.701, 1.294, 0.706], size=moves.shape)
        moves = np.where(rng.random(moves.shape) < 0.2, limits, moves)
    close = 10 * np.cumprod(moves, axis=0)
    factors = {
        "F": rng.normal(size=(n_days, n_stocks)).round(1),
        "G": rng.integers(0, 3, size=(n_days, n_stocks)).astype(float),
        "MARKET_CAP": rng.uniform(1, 100, size=(n_days, n_stocks)),
        "VOL_60D": rng.uniform(0.1, 0.5, size=(n_days, n_stocks)),
        "AVG_TRADING_VALUE_20D": rng.uniform(0, 1, size=(n_days, n_stocks)),
        "EARNINGS_YIELD": rng.choice([-0.1, 0.0, 0.05, 0.1, 0.2], size=(n_days, n_stocks)),
    }
    tradable = np.ones((n_days, n_stocks), dtype=bool)
    kind = ["common"] * n_stocks
    status = np.zeros((n_days, n_stocks), dtype=np.uint8)
    if messy:
        for stock in rng.choice(n_stocks, size=rng.integers(0, n_stocks), replace=False):
            if rng.random() < 0.5:
                close[rng.integers(2, n_days) :, stock] = np.nan  # delists
            else:
                close[: rng.integers(1, n_days - 1), stock] = np.nan  # lists late
        tradable = ~np.isnan(close) & (rng.random((n_days, n_stocks)) < 0.85)
        for name in ("F", "G", "VOL_60D", "EARNINGS_YIELD"):
            factors[name][rng.random((n_days, n_stocks)) < 0.15] = np.nan
        factors["VOL_60D"][rng.random((n_days, n_stocks)) < 0.05] = 0.0
        kind = rng.choice(["common"] * 4 + ["preferred", "spac", "reit"], n_stocks).tolist()
        bits = rng.choice(list(STATUS_BITS.values()), size=(n_days, n_stocks))
        status = np.where(rng.random((n_days, n_stocks)) < 0.1, bits, 0).astype(np.uint8)
    market = ["KOSPI", "KOSDAQ"] * n_stocks
    # Integer index levels: a close equal to its moving average happens, and compares exactly.
    kospi = 100.0 + np.cumsum(rng.integers(-2, 3, n_days))
    kosdaq = 100.0 + np.cumsum(rng.integers(-3, 4, n_days))
    if messy:
        kosdaq[rng.random(n_days) < 0.1] = np.nan
    gaps = rng.choice([1, 1, 1, 3, 9, 30], size=n_days) if messy else np.ones(n_days, dtype=int)
    days = np.datetime64("2023-11-27") + np.cumsum(gaps)  # spans weeks, months, quarters
    panel = toy_panel(
        close=close.tolist(),
        factors={k: v.tolist() for k, v in factors.items()},
        tradable=tradable.tolist(),
        market=market[:n_stocks],
        sector=(["Tech", "Bank", "Food"] * n_stocks)[:n_stocks],
        dates=[str(day) for day in days],
        benchmark=kospi.tolist(),
        kind=kind,
        status=status.tolist(),
    )
    kosdaq.setflags(write=False)
    return replace(panel, benchmarks={"KOSPI": panel.benchmarks["KOSPI"], "KOSDAQ": kosdaq})


EXCLUSIONS = [
    "preferred", "spac", "reit", "administrative", "warning", "caution", "liquidation",
    "loss_making",
]  # fmt: skip
MONTH_SETS = [[1], [12, 1], [11, 12, 1, 2, 3, 4], [1, 2, 3], [2, 4, 6, 8, 10, 12]]


@hs.composite
def schedules(draw: Any) -> str | int | dict[str, Any]:
    named = ["daily", "weekly", "monthly", "quarterly", "semiannual", "annual", 2, 3]
    months = {"months": draw(hs.sampled_from(MONTH_SETS)), "day": draw(hs.integers(1, 3))}
    return draw(hs.sampled_from([*named, months, months, months]))


@hs.composite
def timings(draw: Any) -> dict[str, Any] | None:
    trend = {
        "index": draw(hs.sampled_from(["KOSPI", "KOSDAQ"])),
        "ma_days": draw(hs.integers(2, 4)),
    }
    season = {"months": draw(hs.sampled_from(MONTH_SETS))}
    return draw(hs.sampled_from([None, None, None, trend, season, {**trend, **season}]))


@hs.composite
def universes(draw: Any, crowded: bool = False) -> dict[str, Any]:
    base = (
        {}
        if crowded
        else draw(
            hs.sampled_from(
                [
                    {},
                    {"markets": "KOSPI", "exclude_sectors": ["Bank"]},
                    {"min_market_cap": 30, "min_avg_trading_value": 0.5},
                ]
            )
        )
    )
    exclude = draw(hs.lists(hs.sampled_from(EXCLUSIONS), unique=True, max_size=2))
    preset = draw(hs.sampled_from([None, None, "standard"]))
    return {**base, "exclude": exclude, "preset": preset}


@hs.composite
def scenarios(
    draw: Any, messy: bool = True, crowded: bool = False
) -> tuple[FactorPanel, dict[str, Any]]:
    """A random panel and spec document; `crowded`: more stocks, no filters and small
    top_n with a holding buffer, so that more stocks are eligible than held (where the
    buffer and the locks on buying matter)."""
    n_stocks = draw(hs.integers(6, 10) if crowded else hs.integers(2, 10))
    n_days = draw(hs.integers(3, 14))
    panel = random_panel(draw(hs.integers(0, 2**31)), n_stocks=n_stocks, n_days=n_days, messy=messy)
    tax_bps = draw(hs.floats(0, 50))
    document = {
        "start": str(panel.dates[1]),
        "end": str(panel.dates[-1]),
        "ranking": draw(
            hs.sampled_from(
                [
                    [{"factor": "F"}],
                    [{"factor": "F", "ascending": True}, {"factor": "G", "weight": 2}],
                ]
            )
        ),
        "universe": draw(universes(crowded)),
        "filters": []
        if crowded
        else draw(
            hs.sampled_from(
                [
                    [],
                    [{"factor": "G", "top_pct": 60}],
                    [{"factor": "F", "min": -1, "max": 1.5}, {"factor": "G", "bottom_pct": 50}],
                ]
            )
        ),
        "top_n": draw(hs.integers(1, 3) if crowded else hs.integers(1, 5)),
        "hold_buffer": draw(hs.integers(1, 3) if crowded else hs.sampled_from([0, 0, 1, 2])),
        "weighting": draw(hs.sampled_from(["equal", "market_cap", "inverse_vol"])),
        "rebalance": draw(schedules()),
        "limit_lock": draw(hs.booleans()),
        "timing": draw(timings()),
        "max_weight": draw(hs.sampled_from([None, 0.3, 1.0])),
        "stop_loss": draw(hs.sampled_from([None, 0.05])),
        "take_profit": draw(hs.sampled_from([None, 0.05])),
        "delisting_return": draw(hs.sampled_from([0.0, 0.3, 0.9])),
        "costs": {
            "commission_bps": draw(hs.floats(0, 50)),
            "slippage_bps": draw(hs.floats(0, 50)),
            "sell_tax": [
                {"effective": "2000-01-01", "market": m, "bps": tax_bps}
                for m in ("KOSPI", "KOSDAQ")
            ]
            + [{"effective": "2024-01-01", "market": "KOSDAQ", "bps": tax_bps / 2}],
        },
        "initial_capital": 1_000_000.0,
    }
    return panel, document


@SETTINGS
@given(hs.one_of(scenarios(), scenarios(crowded=True)))
def test_equity_stays_positive_and_weights_sum_to_at_most_one(scenario):
    panel, document = scenario
    result = run_backtest(StrategySpec.model_validate(document), panel)
    assert min(result.equity) > 0
    # Weights are of the equity before trading. Holdings that cannot be sold (halted, or
    # held into a close at the lower limit) keep their value; the rest of the equity is the
    # budget, so traded weights sum to at most 1 - kept weights (cash, negative by at most
    # the costs paid, can make the kept ones alone exceed 1).
    row_of = {str(day): i for i, day in enumerate(panel.dates)}
    column_of = {str(code): i for i, code in enumerate(panel.codes)}
    exits = {"delisting_sale", "stop_exit", "timing_exit"}
    before: set[str] = set()  # held after the previous rebalance
    previous = None
    for rebalance in result.rebalances:
        sold = {
            e.code
            for e in result.events
            if e.kind in exits
            and (previous is None or e.date > previous)
            and e.date <= rebalance.date
        }
        weights = [h.weight for h in rebalance.holdings]
        assert all(w > 0 for w in weights)
        row = row_of[str(rebalance.date)]
        kept = 0.0
        for h in rebalance.holdings:
            s = column_of[h.code]
            move = panel.close[row, s] / panel.close[row - 1, s] - 1
            down = document["limit_lock"] and move <= -0.295 + 1e-9
            if not panel.tradable[row, s] or (down and h.code in before - sold):
                kept += h.weight
        assert sum(weights) - kept <= max(0.0, 1.0 - kept) + 1e-12
        assert len({h.code for h in rebalance.holdings}) == len(weights)
        before, previous = {h.code for h in rebalance.holdings}, rebalance.date


@SETTINGS
@given(scenarios(), hs.sampled_from(["commission_bps", "slippage_bps", "tax"]), hs.floats(1, 80))
def test_raising_a_cost_never_raises_the_final_equity(scenario, which, extra):
    panel, document = scenario
    base = run_backtest(StrategySpec.model_validate(document), panel)
    costly = {**document, "costs": dict(document["costs"])}
    if which == "tax":
        costly["costs"]["sell_tax"] = [
            {**entry, "bps": entry["bps"] + extra} for entry in document["costs"]["sell_tax"]
        ]
    else:
        costly["costs"][which] += extra
    dearer = run_backtest(StrategySpec.model_validate(costly), panel)
    assert dearer.equity[-1] <= base.equity[-1] * (1 + 1e-12)


@SETTINGS
@given(hs.integers(0, 2**31), hs.integers(2, 5), hs.integers(3, 12))
def test_equal_weight_all_stocks_daily_earns_the_average_return(seed, n_stocks, n_days):
    panel = random_panel(seed, n_stocks=n_stocks, n_days=n_days, messy=False)
    spec = StrategySpec.model_validate(
        {
            "start": str(panel.dates[1]),
            "end": str(panel.dates[-1]),
            "ranking": [{"factor": "F"}],
            "top_n": n_stocks,
            "rebalance": "daily",
            "costs": NO_COSTS,
            "initial_capital": 1000.0,
        }
    )
    result = run_backtest(spec, panel)
    mean_return = np.nanmean(panel.returns[2:], axis=1)  # days after the first run day
    expected = 1000.0 * np.cumprod(np.concatenate(([1.0], 1 + mean_return)))
    assert np.allclose(result.equity, expected, rtol=1e-12)


@SETTINGS
@given(scenarios())
def test_runs_are_deterministic_and_round_trip_through_json_without_nan(scenario):
    panel, document = scenario
    spec = StrategySpec.model_validate(document)
    first = run_backtest(spec, panel)
    text = first.model_dump_json()
    assert text == run_backtest(spec, panel).model_dump_json()
    assert "NaN" not in text and "Infinity" not in text
    assert BacktestResult.model_validate_json(text) == first


@settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hs.one_of(scenarios(), scenarios(crowded=True)))
def test_the_engine_agrees_with_the_literal_reference(scenario):
    panel, document = scenario
    spec = StrategySpec.model_validate(document)
    result = run_backtest(spec, panel)
    equity, held = reference_run(spec, panel)
    assert np.allclose(result.equity, equity, rtol=1e-9, atol=1e-6)
    assert [[h.code for h in r.holdings] for r in result.rebalances] == held


def test_a_months_schedule_counts_the_months_trading_days_before_the_run_starts():
    """Regression: the k-th trading day was counted from the run's first day, so a run from
    2024-01-03 with {months: [1], day: 3} rebalanced on 01-05, not on January's 3rd trading
    day, 01-04."""
    panel = toy_panel(close=flat(5, 2), factors={"F": flat(5, 2, 1.0)})  # 01-02 .. 01-08
    spec = toy_spec(panel, rebalance={"months": [1], "day": 3})  # from 01-03
    assert [str(r.date) for r in run_backtest(spec, panel).rebalances] == [
        "2024-01-03",
        "2024-01-04",
    ]
