"""Picks: what a spec would hold if it rebalanced at the next close after the panel's last
day (DESIGN.md, "Picks"). Pure: StrategySpec + FactorPanel -> Picks.

The signal is the last day's values; eligibility, ranking and weights are a rebalance's
(`selection.select`), with "can trade" read as "traded on the last day" (the next day is not
in the data). A portfolio-free answer: the holding buffer keeps nothing, since nothing is
held. Market timing is judged for the next XKRX session (the next weekday where the calendar
does not reach): when it would be off, `invested` is false (a rebalance would buy nothing)
and the picks are what it ranks first once on again.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from backtest.selection import select
from backtest.spec import StrategySpec
from backtest.timing import trend_on
from backtest.validation import check_data
from backtest.version import ENGINE_VERSION

if TYPE_CHECKING:  # no runtime import: dataprep's package imports the database stack
    from dataprep.panel import FactorPanel


class _Output(BaseModel):
    model_config = ConfigDict(frozen=True, allow_inf_nan=False)


class Pick(_Output):
    code: str = Field(description="Stock code.")
    name: str = Field(description="The stock's name.")
    market: str = Field(description="KOSPI or KOSDAQ.")
    sector: str = Field(description="Its sector.")
    rank: int = Field(description="Score rank among the eligible stocks, 1 = best.")
    score: float = Field(description="Sum of weight x percentile / sum of weights, in [0, 1].")
    weight: float = Field(description="Target share of the budget.")
    factors: dict[str, float] = Field(
        description="The signal day's value of every factor the spec uses."
    )


class Picks(_Output):
    engine_version: str = Field(description="backtest.ENGINE_VERSION that produced this.")
    data_version: str = Field(description="FactorPanel.version the picks read.")
    signal_date: dt.date = Field(description="The panel's last day, whose values are used.")
    spec: StrategySpec = Field(description="The strategy (its start and end do not matter).")
    invested: bool = Field(
        description=(
            "Market timing would be on at the next close (always true without timing); "
            "when false a rebalance would buy nothing."
        )
    )
    n_eligible: int = Field(description="Stocks eligible on the signal day.")
    picks: list[Pick] = Field(description="The targets, best first.")


def next_session(day: dt.date) -> dt.date:
    """The XKRX session after `day`; the next weekday outside the calendar's range."""
    import exchange_calendars as xc

    calendar = xc.get_calendar("XKRX")
    try:
        return calendar.date_to_session(day + dt.timedelta(days=1), direction="next").date()
    except (ValueError, xc.errors.DateOutOfBounds):
        return np.busday_offset(np.datetime64(day, "D"), 1, roll="forward").astype(dt.date)


def timing_on_next_day(spec: StrategySpec, panel: FactorPanel) -> bool:
    """Market timing for the session after the panel's last day: the trend rule reads the
    last close; the months rule that session's month."""
    timing = spec.timing
    if timing is None:
        return True
    on = True
    if timing.index is not None and timing.ma_days is not None:
        on &= bool(trend_on(panel.benchmarks[timing.index], ma_days=timing.ma_days)[-1])
    if timing.months is not None:
        on &= next_session(panel.dates[-1].astype("datetime64[D]").item()).month in timing.months
    return on


def compute_picks(spec: StrategySpec, panel: FactorPanel) -> Picks:
    """The picks of `spec` on `panel`. Raises backtest.validation.SpecError when the spec
    does not fit the data (unknown factor or index, a factor without values)."""
    check_data(spec, panel)
    last = panel.n_days - 1
    signal_rows = np.array([last])
    (selection,) = select(spec, panel=panel, signal_rows=signal_rows,
                          trading=panel.tradable[signal_rows])
    names = list(spec.factors_used())
    values = {name: panel.factor(name)[last] for name in names}
    picks = [
        Pick(
            code=str(panel.codes[s]),
            name=str(panel.names[s]),
            market=str(panel.market[s]),
            sector=str(panel.sector[s]),
            rank=i + 1,
            score=float(selection.scores[i]),
            weight=float(weight),
            factors={name: float(values[name][s]) for name in names},
        )
        for i, (s, weight) in enumerate(zip(selection.stocks, selection.weights, strict=True))
    ]
    return Picks(
        engine_version=ENGINE_VERSION,
        data_version=panel.version,
        signal_date=panel.dates[last].astype("datetime64[D]").item(),
        spec=spec,
        invested=timing_on_next_day(spec, panel),
        n_eligible=selection.n_eligible,
        picks=picks,
    )
