"""Rebalance days for each rule, on dates with holidays and year ends."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from backtest import run_backtest
from backtest.schedule import rebalance_mask
from backtest.spec import MonthsSchedule
from tests.backtest.toy import flat, toy_panel, toy_spec


def days(*iso: str) -> np.ndarray:
    return np.array(iso, dtype="datetime64[D]")


def picked(dates: np.ndarray, rule) -> list[str]:
    return [str(d) for d in dates[rebalance_mask(dates, rule)]]


def test_weekly_is_the_first_trading_day_of_each_iso_week():
    # Mon 2024-12-30 and Thu 2025-01-02 share ISO week 2025-W01; Mon 01-06 is a holiday here.
    dates = days(
        "2024-12-26", "2024-12-27", "2024-12-30", "2025-01-02", "2025-01-03",
        "2025-01-07", "2025-01-08", "2025-01-13",
    )  # fmt: skip
    assert picked(dates, "weekly") == ["2024-12-26", "2024-12-30", "2025-01-07", "2025-01-13"]


def test_monthly_is_the_first_trading_day_of_each_month():
    dates = days("2024-01-30", "2024-01-31", "2024-02-02", "2024-02-05", "2024-04-01")
    assert picked(dates, "monthly") == ["2024-01-30", "2024-02-02", "2024-04-01"]


def test_quarterly_is_the_first_trading_day_of_january_april_july_october():
    dates = days(
        "2024-02-15", "2024-03-29", "2024-04-02", "2024-04-03", "2024-05-02",
        "2024-07-01", "2024-09-30", "2024-10-02", "2025-01-02",
    )  # fmt: skip
    expected = ["2024-02-15", "2024-04-02", "2024-07-01", "2024-10-02", "2025-01-02"]
    assert picked(dates, "quarterly") == expected


def test_quarterly_skips_a_quarter_whose_first_month_has_no_trading_day():
    dates = days("2024-03-29", "2024-05-02", "2024-05-03")
    assert picked(dates, "quarterly") == ["2024-03-29"]


def test_every_n_days_counts_from_the_first_and_daily_is_every_day():
    dates = days(*(str(np.datetime64("2024-01-01") + i) for i in range(7)))
    assert rebalance_mask(dates, 3).tolist() == [True, False, False, True, False, False, True]
    assert rebalance_mask(dates, "daily").all()
    assert rebalance_mask(dates, 1).all()


@pytest.mark.parametrize(
    ("rule", "expected"),
    [
        ("weekly", ["2024-01-31", "2024-02-05", "2024-02-12"]),
        ("monthly", ["2024-01-31", "2024-02-01"]),
        (4, ["2024-01-31", "2024-02-06", "2024-02-12"]),
    ],
)
def test_a_run_rebalances_on_its_schedule(rule, expected):
    dates = [str(d) for d in np.busday_offset("2024-01-30", np.arange(11), roll="forward")]
    panel = toy_panel(close=flat(11, 2), factors={"F": flat(11, 2)}, dates=dates)
    result = run_backtest(toy_spec(panel, rebalance=rule, top_n=2), panel)
    assert [str(r.date) for r in result.rebalances] == expected


def test_semiannual_and_annual_are_the_first_trading_days_of_january_and_july():
    dates = days(
        "2024-06-28", "2024-07-01", "2024-07-02", "2024-10-01", "2025-01-02", "2025-01-03",
        "2025-07-01",
    )  # fmt: skip
    assert picked(dates, "semiannual") == ["2024-06-28", "2024-07-01", "2025-01-02", "2025-07-01"]
    assert picked(dates, "annual") == ["2024-06-28", "2025-01-02"]


def test_months_schedule_is_the_kth_trading_day_of_each_listed_month():
    # April 2024: 1st, 2nd, 3rd trading days are 04-01, 04-02, 04-04 (04-03 a holiday here).
    dates = days(
        "2024-03-28", "2024-04-01", "2024-04-02", "2024-04-04", "2024-05-02", "2024-05-03",
        "2024-05-07", "2024-06-03", "2024-06-04", "2024-06-05",
    )  # fmt: skip
    rule = MonthsSchedule(months=[6, 4], day=3)
    assert rule.months == [4, 6]
    assert picked(dates, rule) == ["2024-03-28", "2024-04-04", "2024-06-05"]
    # A month with fewer trading days than `day` has no rebalance.
    assert picked(
        days("2024-04-01", "2024-04-02", "2024-05-02"), MonthsSchedule(months=[4], day=3)
    ) == ["2024-04-01"]


def test_months_schedule_refuses_repeats_and_bad_months():
    with pytest.raises(ValidationError, match="repeat"):
        MonthsSchedule(months=[4, 4])
    with pytest.raises(ValidationError, match="less than or equal to 12"):
        MonthsSchedule(months=[13])
