"""The statutory KRX securities transaction tax, as trade-date entries of a sell-tax schedule.

The tax is levied on settlement, which is T+2 on the XKRX calendar: a rate that takes effect
on day E applies to every trade that settles on or after E, i.e. from the trade date two
sessions before the first session on or after E (the 0.25 % of 2019-06-03 from the trades of
2019-05-30; the 0.15 % of 2025-01-01 from the trades of 2024-12-27, because 2024-12-31 and
2025-01-01 are holidays). The boundaries are derived here from exchange-calendars' XKRX
sessions, never written down.

Totals in basis points, securities transaction tax + rural special tax (농어촌특별세, 0.15 %
on KOSPI sales only), per market. Sources:
- before 2019-06-03: KOSPI 0.15 % + 0.15 % rural, KOSDAQ 0.30 % (Yonhap, "Cabinet approves
  lowering stock transaction tax", 2019-05-21; Business Korea, 2019-03-21). Modelled from
  KOSDAQ's opening on 1996-07-01; earlier rates are not (0 before).
- 2019-06-03: KOSPI 0.10 % + 0.15 %, KOSDAQ 0.25 % (Ministry of Economy and Finance and
  Financial Services Commission, 2019-03-21; EY Global Tax Alert 2019-5544; in force from
  June 3 per the Cabinet decision of 2019-05-21).
- 2021-01-01 0.23 %, 2023-01-01 0.20 %, 2024-01-01 0.18 %, 2025-01-01 0.15 % totals on both
  markets (the phased cut of the 2020 financial taxation reform, re-timed by the 2022 tax
  reform; Enforcement Decree of the Securities Transaction Tax Act, article 5).
- 2026-01-01: KOSPI 0.05 % + 0.15 %, KOSDAQ 0.20 % (Ministry of Economy and Finance,
  2025 tax reform plan decree amendments, announced 2025-12-01; Chosun Biz, 2025-12-01).
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import cache

SETTLEMENT_SESSIONS = 2  # T+2

# (effective settlement date, KOSPI bps, KOSDAQ bps)
STATUTORY_SELL_TAX: tuple[tuple[date, float, float], ...] = (
    (date(1996, 7, 1), 30.0, 30.0),
    (date(2019, 6, 3), 25.0, 25.0),
    (date(2021, 1, 1), 23.0, 23.0),
    (date(2023, 1, 1), 20.0, 20.0),
    (date(2024, 1, 1), 18.0, 18.0),
    (date(2025, 1, 1), 15.0, 15.0),
    (date(2026, 1, 1), 20.0, 20.0),
)


@cache
def first_trade_dates(effective: tuple[date, ...]) -> tuple[date, ...]:
    """For each settlement date E, the first XKRX trade date whose T+2 settlement is >= E."""
    import exchange_calendars as xc

    calendar = xc.get_calendar(
        "XKRX",
        start=min(effective) - timedelta(days=30),
        end=max(effective) + timedelta(days=30),
    )
    firsts = []
    for day in effective:
        settles = calendar.date_to_session(day.isoformat(), direction="next")
        firsts.append(calendar.session_offset(settles, -SETTLEMENT_SESSIONS).date())
    return tuple(firsts)


def statutory_schedule() -> list[tuple[date, str, float]]:
    """(first trade date, market, bps) of every statutory rate, oldest first."""
    trade_dates = first_trade_dates(tuple(entry[0] for entry in STATUTORY_SELL_TAX))
    return [
        (trade_day, market, bps)
        for trade_day, (_, kospi, kosdaq) in zip(trade_dates, STATUTORY_SELL_TAX, strict=True)
        for market, bps in (("KOSPI", kospi), ("KOSDAQ", kosdaq))
    ]
