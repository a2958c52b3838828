"""A tiny hand-made market for factor tests, and the writer that puts it in PostgreSQL.

`tiny_market()`: 320 weekdays from 2022-01-03 and five stocks:
- A 000010 KOSPI: a row every day, statements for nine quarters (the last one disclosed on
  trading day 280, inside the panel);
- B 000020 KOSDAQ: halted (volume 0, close carried) on days 275-276, no row on day 280;
- C 000030 KOSPI: delisted after day 290;
- D 000040 KOSDAQ: listed on day 100, three quarters of statements, the fourth disclosed
  on day 290 (TTM starts on day 291);
- E 000050 KOSPI: delisted after day 200, before the panel: not in the panel.
Panels start on day 270 (`START`), so every 252-day window is full on the first day.

`edge_stocks()`: two more stocks for the cases the five lack (the factor references use
them; other tests keep the five):
- F 000060 KOSDAQ: volume-0 rows on days 230-241 and no rows on days 242-254 (a halt
  longer than every 20-day window), 25% more shares from day 150; nine quarters with
  losses, negative equity, negative capex, a zero-revenue quarter, an unreported
  depreciation and dividends in three of them;
- G 000070 KOSPI: listed on day 40, delisted after day 310, a share buyback on day 200;
  the 2021-09-30 quarter is missing (TTM and year-earlier values need the real quarters),
  2022-06-30 is disclosed after 2022-09-30 (a statement counts once every earlier one is
  known), 2022-12-31 on trading day 300; no interest expense, no dividends.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import psycopg

N_DAYS = 320
START = 270
DAYS = np.busday_offset(np.datetime64("2022-01-03"), np.arange(N_DAYS), roll="forward")
SHARES = {"000010": 1_000_000, "000020": 500_000, "000030": 2_000_000, "000040": 300_000,
          "000050": 100_000}  # fmt: skip


def day(i: int | np.integer) -> date:
    return DAYS[i].astype(date)


@dataclass
class Stock:
    code: str
    market: str
    close: np.ndarray  # [N_DAYS], NaN where there is no row
    volume: np.ndarray
    shares: np.ndarray
    first: int
    last: int
    statements: list[dict[str, object]] = field(default_factory=list)


def statement(period_end: date, disclosed_on: date, k: int) -> dict[str, object]:
    """A statement of quarter `k` (financials column order); callers may override items."""
    return {
        "period_end": period_end,
        "fiscal_quarter": (period_end.month - 1) // 3 + 1,
        "disclosed_on": disclosed_on,
        "revenue": 100.0 + 5 * k,
        "gross_profit": 40.0 + k,
        "operating_income": 15.0 + k,
        "net_income": 10.0 + k,
        "total_assets": 3000.0 + 20 * k,
        "total_liabilities": 2000.0 + 10 * k,
        "total_equity": 1000.0 + 10 * k,
        "current_assets": 900.0,
        "current_liabilities": 600.0,
        "cash": 200.0,
        "total_debt": 500.0,
        "operating_cash_flow": 12.0 + k,
        "capex": 4.0,
        "depreciation": 3.0,
        "interest_expense": 2.0,
        "dividends_per_share": 50.0 if period_end.month == 12 else None,
    }


QUARTER_ENDS = [date(2020, 12, 31), date(2021, 3, 31), date(2021, 6, 30), date(2021, 9, 30),
                date(2021, 12, 31), date(2022, 3, 31), date(2022, 6, 30), date(2022, 9, 30),
                date(2022, 12, 31)]  # fmt: skip


def _stock(code: str, market: str, close: np.ndarray, *, first: int, last: int) -> Stock:
    close = close.copy()
    close[:first] = np.nan
    close[last + 1 :] = np.nan
    volume = 1000.0 + (np.arange(N_DAYS) % 7) * 100
    shares = np.full(N_DAYS, float(SHARES.get(code, 1_000_000)))
    return Stock(code, market, close, volume, shares, first, last)


def tiny_market() -> dict[str, Stock]:
    i = np.arange(N_DAYS, dtype=np.float64)
    end = N_DAYS - 1
    stocks = {
        "000010": _stock("000010", "KOSPI", 100 * np.exp(0.0005 * i + 0.02 * np.sin(i / 3)),
                         first=0, last=end),
        "000020": _stock("000020", "KOSDAQ", 50 + 0.1 * i + (np.arange(N_DAYS) % 5),
                         first=0, last=end),
        "000030": _stock("000030", "KOSPI", 20 + 0.05 * i + np.cos(i / 5), first=0, last=290),
        "000040": _stock("000040", "KOSDAQ", 10 + 0.01 * i + 0.3 * np.sin(i / 2),
                         first=100, last=end),
        "000050": _stock("000050", "KOSPI", 30 + 0.02 * i, first=0, last=200),
    }  # fmt: skip
    beta = stocks["000020"]
    beta.close[275:277] = beta.close[274]
    beta.volume[275:277] = 0
    beta.close[280] = np.nan  # no row that day
    alpha, delta = stocks["000010"], stocks["000040"]
    for k, period_end in enumerate(QUARTER_ENDS):
        disclosed = day(280) if k == 8 else period_end + timedelta(days=45)
        alpha.statements.append(statement(period_end, disclosed, k))
    for k, period_end in enumerate(QUARTER_ENDS[5:], start=5):
        disclosed = day(290) if k == 8 else period_end + timedelta(days=45)
        delta.statements.append(statement(period_end, disclosed, k))
    return stocks


# F's nine quarters (QUARTER_ENDS), item by item; None: not reported
EDGE_ITEMS: dict[str, list[float | None]] = {
    "revenue": [120, 110, 130, 125, 140, 150, 90, 0, 160],
    "gross_profit": [30, 25, 35, 28, 20, 40, -10, 0, 45],
    "operating_income": [10, 12, 8, -20, 5, 12, -60, 30, 40],
    "net_income": [5, 6, 4, 7, -2, 8, -45, -40, 90],
    "total_assets": [1000, 980, 950, 900, 880, 860, 700, 650, 800],
    "total_liabilities": [700, 730, 750, 750, 780, 810, 720, 710, 760],
    "total_equity": [300, 250, 200, 150, 100, 50, -20, -60, 40],
    "current_assets": [400, 380, 360, 300, 320, 310, 200, 150, 280],
    "current_liabilities": [300, 320, 340, 330, 350, 360, 380, 390, 300],
    "cash": [100, 90, 80, 70, 300, 320, 60, 50, 90],
    "total_debt": [200, 210, 220, 230, 150, 140, 250, 260, 200],
    "operating_cash_flow": [8, -10, 12, -5, 3, 15, -20, -8, 18],
    "capex": [-6, -5, -7, -4, -8, -6, -5, -3, -9],
    "depreciation": [4, None, 4, 4, 4, 4, 4, 4, 4],
    "interest_expense": [3, 3, 0, 3, 3, 3, 3, 3, 3],
    "dividends_per_share": [20, None, 10, None, 25, None, None, None, 30],
}


def edge_stocks() -> dict[str, Stock]:
    i = np.arange(N_DAYS, dtype=np.float64)
    end = N_DAYS - 1
    phi = _stock("000060", "KOSDAQ", 40 * np.exp(0.25 * np.sin(i / 20) + 0.0008 * i),
                 first=0, last=end)  # fmt: skip
    phi.close[230:242] = phi.close[229]
    phi.volume[230:242] = 0
    phi.close[242:255] = np.nan  # no rows
    phi.shares[:150] = 800_000
    for k, period_end in enumerate(QUARTER_ENDS):
        row = statement(period_end, period_end + timedelta(days=40), k)
        row.update({item: values[k] for item, values in EDGE_ITEMS.items()})
        phi.statements.append(row)

    gamma = _stock("000070", "KOSPI", 25 + 0.03 * i + 1.5 * np.sin(i / 7), first=40, last=310)
    gamma.shares[:] = 600_000
    gamma.shares[200:] = 550_000
    quarters = [q for q in QUARTER_ENDS[1:] if q != date(2021, 9, 30)]
    late = {date(2022, 6, 30): date(2022, 11, 25), date(2022, 12, 31): day(300)}
    for j, period_end in enumerate(quarters):
        disclosed = late.get(period_end, period_end + timedelta(days=45))
        row = statement(period_end, disclosed, j)
        row.update(
            revenue=200.0 + 10 * j,
            gross_profit=80.0 + 3 * j,
            current_liabilities=800.0 - 10 * j,
            interest_expense=0.0,
            dividends_per_share=None,
        )
        gamma.statements.append(row)
    return {stock.code: stock for stock in (phi, gamma)}


def index_closes() -> dict[str, np.ndarray]:
    i = np.arange(N_DAYS, dtype=np.float64)
    kospi = 2500 * np.exp(0.0003 * i + 0.01 * np.sin(i / 4))
    kosdaq = 800 * np.exp(-0.0002 * i + 0.015 * np.cos(i / 6))
    kosdaq[285] = np.nan  # a missing index day: carried forward in the panel
    return {"KOSPI": kospi, "KOSDAQ": kosdaq}


def write_tiny_market(database_url: str, stocks: dict[str, Stock] | None = None) -> None:
    stocks = stocks or tiny_market()
    with psycopg.connect(database_url) as conn, conn.cursor() as cur:
        for stock in stocks.values():
            delisted = day(stock.last) if stock.last < N_DAYS - 1 else None
            cur.execute(
                "INSERT INTO stocks VALUES (%s, %s, %s, %s, %s, %s)",
                (stock.code, f"Name {stock.code}", stock.market, "Sector", day(stock.first),
                 delisted),
            )  # fmt: skip
        with cur.copy("COPY stock_prices FROM STDIN") as copy:
            for stock in stocks.values():
                for i in np.flatnonzero(~np.isnan(stock.close)):
                    c, v, n = float(stock.close[i]), int(stock.volume[i]), int(stock.shares[i])
                    copy.write_row((stock.code, day(i), c, c, c, c, v, c * v, n))
        columns = list(statement(date(2020, 12, 31), date(2021, 2, 1), 0))
        with cur.copy(f"COPY financials (code, {', '.join(columns)}) FROM STDIN") as copy:
            for stock in stocks.values():
                for row in stock.statements:
                    copy.write_row((stock.code, *row.values()))
        with cur.copy("COPY index_prices FROM STDIN") as copy:
            for name, closes in index_closes().items():
                for i in np.flatnonzero(~np.isnan(closes)):
                    copy.write_row((name, day(i), float(closes[i])))
