"""Quarterly statements for the demo market (see `dataprep.demo`).

Each company's balance sheet starts from its market cap and value tilt (book equity =
cap x book-to-market, assets = equity x sector leverage) and rolls forward quarter by
quarter (a loop over ~16 quarters, vectorised over companies): revenue grows with a
company trend and Q4 seasonality, margins are sector-like (some companies lose money, a
few carry negative equity), net income feeds equity, Q4 carries the annual dividend.
By `kind`: a SPAC is its trust (equity ~ market cap, revenue = ~3 %/y interest, no
dividend); a REIT pays no corporate tax and distributes ~90 % of its income.

Flow items are per quarter; `capex` is a positive outflow; `dividends_per_share` is the
annual dividend on the Q4 statement and 0 on Q1-Q3 (so a trailing four-quarter sum is the
annual dividend). Disclosure lags: 30-45 days after Q1-Q3, 60-90 days after Q4.
"""

from __future__ import annotations

from datetime import date, timedelta

import numpy as np
import polars as pl

from dataprep.tables import FINANCIALS_SCHEMA

# sector -> (gross margin, operating margin, asset turnover / year, assets / equity,
#            depreciation / assets / year, book-to-market multiplier)
FUNDAMENTALS: dict[str, tuple[float, float, float, float, float, float]] = {
    "Electrical & Electronics": (0.22, 0.07, 0.9, 1.7, 0.08, 1.0),
    "Semiconductors": (0.35, 0.12, 0.6, 1.5, 0.12, 0.8),
    "IT Software & Services": (0.45, 0.06, 0.8, 1.5, 0.04, 0.6),
    "Chemicals": (0.18, 0.07, 0.8, 1.9, 0.07, 1.3),
    "Pharmaceuticals": (0.50, 0.01, 0.5, 1.5, 0.05, 0.5),
    "Medical Devices": (0.50, 0.03, 0.6, 1.4, 0.05, 0.6),
    "Transport Equipment": (0.15, 0.05, 1.0, 2.2, 0.07, 1.5),
    "Machinery": (0.20, 0.05, 0.8, 1.9, 0.06, 1.2),
    "Steel & Metals": (0.12, 0.05, 0.9, 1.8, 0.07, 1.8),
    "Construction": (0.10, 0.04, 0.9, 2.3, 0.03, 1.7),
    "Food & Beverage": (0.25, 0.05, 1.1, 1.9, 0.05, 1.2),
    "Textiles & Apparel": (0.30, 0.04, 0.9, 1.7, 0.04, 1.5),
    "Distribution": (0.25, 0.03, 1.5, 2.2, 0.04, 1.5),
    "Services": (0.35, 0.05, 0.7, 1.8, 0.05, 1.0),
    "Media & Entertainment": (0.35, 0.04, 0.8, 1.6, 0.05, 0.7),
    "Telecom": (0.45, 0.08, 0.6, 2.0, 0.12, 1.4),
    "Utilities": (0.10, 0.03, 0.4, 2.8, 0.06, 2.5),
    "Transportation & Storage": (0.12, 0.05, 0.8, 2.5, 0.08, 1.3),
    "Banks": (0.60, 0.25, 0.05, 13.0, 0.003, 3.0),
    "Securities & Insurance": (0.40, 0.12, 0.12, 8.0, 0.005, 1.8),
    "Real Estate": (0.75, 0.55, 0.07, 2.2, 0.02, 1.05),  # REITs
}
HISTORY = timedelta(days=457)  # statements from ~5 quarters before `start`: TTM from day one
TAX_RATE = 0.22
_KEYS = ("code", "period_end", "fiscal_quarter", "disclosed_on")


def quarter_ends(first: date, last: date) -> list[date]:
    """Calendar quarter ends in [first, last]."""
    ends: list[date] = []
    year, quarter = first.year, (first.month - 1) // 3 + 1
    while True:
        month = 3 * quarter
        end = date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)
        if end > last:
            return ends
        if end >= first:
            ends.append(end)
        year, quarter = (year + 1, 1) if quarter == 4 else (year, quarter + 1)


def generate_financials(
    rng: np.random.Generator,
    *,
    stocks: pl.DataFrame,
    cap: np.ndarray,
    value_z: np.ndarray,
    sector: np.ndarray,
    shares: np.ndarray,
    start: date,
    end: date,
) -> pl.DataFrame:
    """Statements of every company for the quarters it was listed around [start, end]:
    period_end from ~5 quarters before `start` (or before listing), disclosed on or
    before `end` and, for a delisted company, on or before its delisting."""
    n = stocks.height
    ends = np.array(quarter_ends(start - HISTORY, end), dtype="datetime64[D]")
    n_q = len(ends)
    fiscal = ((ends.astype("datetime64[M]").astype(int) % 12) // 3 + 1).astype(np.int16)
    params = np.array([FUNDAMENTALS[name] for name in stocks["sector"]]).T
    gross, op_margin, turnover, leverage, dep_rate, bm_mult = params
    kosdaq = (stocks["market"] == "KOSDAQ").to_numpy()
    spac = (stocks["kind"] == "spac").to_numpy()
    reit = (stocks["kind"] == "reit").to_numpy()
    size_z = (np.log(cap) - np.log(cap).mean()) / np.log(cap).std()

    book_to_market = bm_mult * np.exp(0.45 * value_z + rng.normal(0, 0.2, n))
    book_to_market[spac] = np.exp(rng.normal(0, 0.02, spac.sum())) / 0.95
    book_to_market[reit] = np.exp(rng.normal(0.1, 0.1, reit.sum()))  # near its NAV
    equity = cap * book_to_market * 0.95
    liabilities = equity * np.maximum(leverage * np.exp(rng.normal(0, 0.25, n)) - 1, 0.05)
    liabilities[spac] = equity[spac] * 0.02
    n_negative = max(1, round(0.008 * n)) if n >= 30 else 0
    small_kosdaq = np.flatnonzero(kosdaq & (size_z < 0) & ~spac)
    negative = rng.choice(small_kosdaq, min(n_negative, len(small_kosdaq)), replace=False)
    liabilities[negative] = cap[negative] * rng.uniform(0.8, 1.5, len(negative))
    equity[negative] = -liabilities[negative] * rng.uniform(0.05, 0.3, len(negative))

    gross_margin = np.clip(gross * np.exp(rng.normal(0, 0.2, n)), 0.03, 0.9)
    gross_margin[spac] = 1.0
    margin = op_margin + rng.normal(0, 0.05, n) - 0.01 * kosdaq
    margin[negative] = -np.abs(margin[negative]) - 0.05
    margin[spac], margin[reit] = 0.5, np.maximum(margin[reit], 0.3)
    revenue_base = (equity + liabilities) * turnover * np.exp(rng.normal(0, 0.3, n)) / 4
    revenue_base[spac] = (equity + liabilities)[spac] * 0.03 / 4
    growth = rng.normal(0.012, 0.02, n)
    growth[spac] = 0.0
    current_assets_share = rng.uniform(0.25, 0.65, n)
    cash_share = rng.uniform(0.15, 0.5, n)
    current_liabilities_share = rng.uniform(0.35, 0.75, n)
    debt_share = rng.uniform(0.2, 0.65, n)
    payer = (rng.random(n) < 0.55) & (margin > 0) & ~spac | reit
    payout = np.where(reit, rng.uniform(0.85, 0.95, n), rng.uniform(0.15, 0.45, n))
    lag_tendency = np.clip(0.5 - 0.15 * size_z + rng.normal(0, 0.15, n), 0, 1)

    out = {name: np.empty((n_q, n)) for name in FINANCIALS_SCHEMA if name not in _KEYS}
    lag = np.empty((n_q, n), dtype=int)
    trailing_income = np.zeros((4, n))
    for q in range(n_q):
        q4 = fiscal[q] == 4
        season = 1.1 if q4 else 0.97
        revenue = revenue_base * (1 + growth) ** q * season * np.exp(rng.normal(0, 0.06, n))
        assets = equity + liabilities
        depreciation = np.maximum(assets, 0) * dep_rate / 4
        debt = liabilities * debt_share
        interest = debt * 0.045 / 4
        operating = revenue * (margin + rng.normal(0, 0.02, n))
        pretax = operating - interest + rng.normal(0, 0.01, n) * revenue
        income = np.where((pretax > 0) & ~reit, (1 - TAX_RATE) * pretax, pretax)
        trailing_income[q % 4] = income
        annual_income = trailing_income.sum(axis=0)
        dps = np.where(payer & q4 & (annual_income > 0), payout * annual_income / shares, 0.0)
        dps = np.round(dps / 5) * 5  # KRW, in steps of 5
        equity = equity + income - dps * shares
        liabilities = liabilities * (1 + growth + rng.normal(0, 0.02, n))
        assets = np.maximum(equity + liabilities, 0.05 * liabilities)
        equity = assets - liabilities
        current_assets = assets * current_assets_share
        values = {
            "revenue": revenue,
            "gross_profit": revenue * gross_margin,
            "operating_income": operating,
            "net_income": income,
            "total_assets": assets,
            "total_liabilities": liabilities,
            "total_equity": equity,
            "current_assets": current_assets,
            "current_liabilities": liabilities * current_liabilities_share,
            "cash": current_assets * cash_share,
            "total_debt": debt,
            "operating_cash_flow": income + depreciation + rng.normal(0, 0.04, n) * revenue,
            "capex": depreciation * np.exp(rng.normal(0.1, 0.35, n)),
            "depreciation": depreciation,
            "interest_expense": interest,
        }
        for name, value in values.items():
            out[name][q] = np.round(value)
        out["dividends_per_share"][q] = dps
        low, high = (60, 88) if q4 else (30, 43)
        spread = np.clip(lag_tendency + rng.normal(0, 0.1, n), 0, 1)
        lag[q] = low + np.round(spread * (high - low)).astype(int)

    # a weekend disclosure moves to Monday: at most +2 days, so lags stay in 30-45 / 60-90
    disclosed = np.busday_offset(ends[:, None] + lag.astype("timedelta64[D]"), 0, roll="forward")
    listed_on = stocks["listed_on"].to_numpy().astype("datetime64[D]")
    delisted_on = stocks["delisted_on"].to_numpy().astype("datetime64[D]")
    known_until = np.where(np.isnat(delisted_on), np.datetime64(end, "D"), delisted_on)
    keep = (
        (ends[:, None] >= listed_on - np.timedelta64(HISTORY.days, "D"))
        & (disclosed <= known_until)
    )
    by_company = keep.T  # rows sorted by (code, period_end): codes are sorted

    def rows(x: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(x.T)[by_company]

    counts = by_company.sum(axis=1)
    return pl.DataFrame(
        {
            "code": np.repeat(stocks["code"].to_numpy(), counts),
            "period_end": np.broadcast_to(ends, (n, n_q))[by_company],
            "fiscal_quarter": np.broadcast_to(fiscal, (n, n_q))[by_company],
            "disclosed_on": rows(disclosed),
            **{name: rows(values) for name, values in out.items()},
        },
        schema=FINANCIALS_SCHEMA,
    )

