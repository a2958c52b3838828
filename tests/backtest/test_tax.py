"""The statutory sell tax: rates by trade date, boundaries from the XKRX calendar (T+2)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from backtest.costs import sell_tax_rates
from backtest.spec import Costs
from backtest.tax import first_trade_dates


def _rate(day: str, market: int = 0) -> float:
    rates = sell_tax_rates(Costs().sell_tax, dates=np.array([day], dtype="datetime64[D]"))
    return float(rates[0, market]) * 1e4


@pytest.mark.parametrize(
    ("day", "kospi", "kosdaq"),
    [
        ("2010-06-01", 30.0, 30.0),  # regression: 0 before the 2019 cut
        ("2018-12-28", 30.0, 30.0),
        ("2019-05-29", 30.0, 30.0),  # settles 2019-05-31, before the cut
        ("2019-05-30", 25.0, 25.0),  # settles 2019-06-03, the day the cut took effect
        ("2020-12-28", 25.0, 25.0),
        ("2020-12-29", 23.0, 23.0),  # settles 2021-01-04 (12-31 and 01-01 are holidays)
        ("2024-12-26", 18.0, 18.0),  # settles 2024-12-30
        ("2024-12-27", 15.0, 15.0),  # settles 2025-01-02
        ("2025-12-29", 20.0, 20.0),
    ],
)
def test_statutory_rate_in_force_on_a_trade_date(day, kospi, kosdaq):
    assert _rate(day, 0) == pytest.approx(kospi)
    assert _rate(day, 1) == pytest.approx(kosdaq)


def test_boundaries_are_two_sessions_before_the_first_settlement_on_or_after():
    effective = (date(2019, 6, 3), date(2025, 1, 1), date(2023, 1, 1))
    assert first_trade_dates(effective) == (
        date(2019, 5, 30),  # Thu: Fri 05-31 is T+1, Mon 06-03 T+2
        date(2024, 12, 27),  # Fri: Mon 12-30 is T+1, Thu 01-02 T+2
        date(2022, 12, 28),  # Wed: Thu 12-29 T+1, Mon 01-02 T+2 (12-30 closed)
    )


def test_default_schedule_is_a_fresh_list_per_spec():
    first, second = Costs(), Costs()
    assert first.sell_tax == second.sell_tax and first.sell_tax is not second.sell_tax
