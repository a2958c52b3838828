"""Naive references for every catalog factor: plain Python per stock and day, written from
the formulas (the catalog's `formula` strings, `inputs.py` and DESIGN.md), sharing no code
with the polars catalog.

`Inputs.of(stock)` rebuilds one stock's inputs the slow way: close and shares carried over
days without a row between its first and last row, volume and trading value 0 on those
days, NaN outside the listing; each trading day's usable statement (disclosed strictly
before the day, and every earlier quarter too), its TTM sums (four consecutive quarters),
the same quarter a year earlier, and dividends per share 0 when not reported.
`REFERENCES[name](x, i)` is the factor on trading day i, NaN where it does not exist.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date

import numpy as np

from tests.dataprep.tiny_market import N_DAYS, Stock, day, index_closes

NAN = math.nan
YEAR = math.sqrt(252)


Reference = Callable[["Inputs", int], float]


def _date(row: dict[str, object], column: str) -> date:
    value = row[column]
    assert isinstance(value, date)
    return value


def _quarter(row: dict[str, object]) -> int:
    period_end = _date(row, "period_end")
    return period_end.year * 4 + (period_end.month - 1) // 3


def _item(row: dict[str, object], item: str) -> float:
    value = row[item]
    if value is None:
        return 0.0 if item == "dividends_per_share" else NAN
    assert isinstance(value, int | float)
    return float(value)


def _statement_views(stock: Stock) -> list[dict[str, float]]:
    """Per trading day: every statement input usable that day ({} before the first)."""
    rows = sorted(stock.statements, key=lambda row: _date(row, "period_end"))
    by_quarter = {_quarter(row): row for row in rows}
    keys = ("period_end", "fiscal_quarter", "disclosed_on")
    items = [name for name in rows[0] if name not in keys] if rows else []

    def ttm(quarter: int, item: str) -> float:
        quarters = [by_quarter.get(quarter - back) for back in range(4)]
        if any(row is None for row in quarters):
            return NAN
        return sum(_item(row, item) for row in quarters if row is not None)

    def view(row: dict[str, object]) -> dict[str, float]:
        quarter = _quarter(row)
        before = by_quarter.get(quarter - 4)
        values = {}
        for item in items:
            values[item] = _item(row, item)
            values[f"{item}_ttm"] = ttm(quarter, item)
            values[f"{item}_lag4"] = NAN if before is None else _item(before, item)
            values[f"{item}_ttm_lag4"] = ttm(quarter - 4, item)
        return values

    views = []
    for i in range(N_DAYS):
        known = None  # the latest quarter such that it and every earlier one are disclosed
        for row in rows:
            if not _date(row, "disclosed_on") < day(i):
                break
            known = row
        views.append({} if known is None else view(known))
    return views


def _carried(values: np.ndarray, *, first: int, last: int) -> np.ndarray:
    out = np.full(N_DAYS, NAN)
    for i in range(first, last + 1):
        out[i] = values[i] if not math.isnan(values[i]) else out[i - 1]
    return out


@dataclass(frozen=True)
class Inputs:
    close: np.ndarray  # [N_DAYS], NaN outside the listing
    volume: np.ndarray
    trading_value: np.ndarray
    shares: np.ndarray
    returns: np.ndarray
    market_return: np.ndarray
    views: list[dict[str, float]]

    @classmethod
    def of(cls, stock: Stock) -> Inputs:
        has_row = ~np.isnan(stock.close)
        span = {"first": stock.first, "last": stock.last}
        close = _carried(stock.close, **span)
        shares = _carried(np.where(has_row, stock.shares, NAN), **span)
        listed = ~np.isnan(close)
        volume = np.where(has_row, np.floor(stock.volume), np.where(listed, 0.0, NAN))
        trading_value = np.where(has_row, stock.close * volume, np.where(listed, 0.0, NAN))
        index = index_closes()[stock.market]
        for i in range(1, N_DAYS):  # a missing index day: the previous close
            if math.isnan(index[i]):
                index[i] = index[i - 1]
        return cls(close, volume, trading_value, shares, _daily_returns(close),
                   _daily_returns(index), _statement_views(stock))  # fmt: skip

    def st(self, i: int, name: str) -> float:
        """A statement input on day i (NaN when there is none)."""
        return self.views[i].get(name, NAN)

    def cap(self, i: int) -> float:
        return float(self.close[i] * self.shares[i])


def _daily_returns(close: np.ndarray) -> np.ndarray:
    out = np.full(N_DAYS, NAN)
    for i in range(1, N_DAYS):
        out[i] = close[i] / close[i - 1] - 1
    return out


def window(values: np.ndarray, i: int, n: int) -> np.ndarray:
    """values on days i-n+1 .. i (all NaN when the window starts before the data)."""
    return values[i - n + 1 : i + 1] if i - n + 1 >= 0 else np.full(n, NAN)


def earlier(values: np.ndarray, i: int, n: int) -> float:
    return float(values[i - n]) if i - n >= 0 else NAN


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else NAN


def growth(now: float, before: float) -> float:
    return now / before - 1 if before > 0 else NAN


def complete(values: np.ndarray) -> bool:
    return not np.isnan(values).any()


# ---- price factors ------------------------------------------------------------------------


def rsi(x: Inputs, i: int) -> float:
    moves = np.diff(window(x.close, i, 15))
    size = np.abs(moves).sum()
    return 100 * moves[moves > 0].sum() / size if size > 0 else NAN


def beta(x: Inputs, i: int) -> float:
    r, m = window(x.returns, i, 252), window(x.market_return, i, 252)
    if not (complete(r) and complete(m)):
        return NAN
    covariance = sum((a - r.mean()) * (b - m.mean()) for a, b in zip(r, m, strict=True)) / 251
    variance = sum((b - m.mean()) ** 2 for b in m) / 251
    return covariance / variance if variance > 0 else NAN


def max_drawdown(x: Inputs, i: int) -> float:
    closes = window(x.close, i, 252)
    if not complete(closes):
        return NAN
    peak, worst = closes[0], 0.0
    for close in closes:
        peak = max(peak, close)
        worst = min(worst, close / peak - 1)
    return worst


def amihud(x: Inputs, i: int) -> float:
    if math.isnan(earlier(x.close, i, 20)):
        return NAN
    days = range(i - 19, i + 1)
    impacts = [abs(x.returns[j]) / x.trading_value[j] for j in days if x.trading_value[j] > 0]
    return float(np.mean(impacts)) * 1e9 if impacts else NAN


def zero_volume_days(x: Inputs, i: int) -> float:
    volumes = window(x.volume, i, 60)
    return float((volumes == 0).sum()) if complete(volumes) else NAN


def downside_vol(x: Inputs, i: int) -> float:
    downs = np.minimum(window(x.returns, i, 60), 0.0)
    return math.sqrt(np.mean(downs**2)) * YEAR


def momentum(days: int) -> Reference:
    return lambda x, i: x.close[i] / earlier(x.close, i, days) - 1


def ma_ratio(days: int) -> Reference:
    return lambda x, i: x.close[i] / window(x.close, i, days).mean() - 1


def vol(days: int) -> Reference:
    return lambda x, i: np.std(window(x.returns, i, days), ddof=1) * YEAR


def mean_of(column: str, days: int) -> Reference:
    return lambda x, i: window(getattr(x, column), i, days).mean()


# ---- statement factors --------------------------------------------------------------------


def rises(now: tuple[float, float], before: tuple[float, float]) -> bool:
    """now[0] / now[1] > before[0] / before[1], both ratios existing (denominators > 0)."""
    if not (now[1] > 0 and before[1] > 0):
        return False
    return now[0] / now[1] > before[0] / before[1]


def f_score(x: Inputs, i: int) -> float:
    def now(name: str) -> float:
        return x.st(i, name)

    def lag4(name: str) -> float:
        return x.st(i, f"{name}_lag4")

    shares_before = earlier(x.shares, i, 252)
    used = [now("net_income_ttm"), now("operating_cash_flow_ttm"), x.shares[i], shares_before]
    for name in ("net_income", "total_assets", "total_liabilities", "current_assets",
                 "current_liabilities", "gross_profit", "revenue"):  # fmt: skip
        used += [now(name), lag4(name)]
    if any(math.isnan(value) for value in used):
        return NAN
    assets = (now("total_assets"), lag4("total_assets"))
    signals = [
        now("net_income_ttm") > 0,
        now("operating_cash_flow_ttm") > 0,
        rises((now("net_income"), assets[0]), (lag4("net_income"), assets[1])),
        now("operating_cash_flow_ttm") > now("net_income_ttm"),
        rises((lag4("total_liabilities"), assets[1]), (now("total_liabilities"), assets[0])),
        rises(
            (now("current_assets"), now("current_liabilities")),
            (lag4("current_assets"), lag4("current_liabilities")),
        ),
        x.shares[i] <= shares_before,
        rises((now("gross_profit"), now("revenue")), (lag4("gross_profit"), lag4("revenue"))),
        rises((now("revenue"), assets[0]), (lag4("revenue"), assets[1])),
    ]
    return float(sum(signals))


def cap_over(name: str) -> Reference:
    return lambda x, i: ratio(x.cap(i), x.st(i, name))


def over(numerator: str, denominator: str) -> Reference:
    return lambda x, i: ratio(x.st(i, numerator), x.st(i, denominator))


def yoy(item: str) -> Reference:
    return lambda x, i: growth(x.st(i, item), x.st(i, f"{item}_lag4"))


REFERENCES: dict[str, Reference] = {
    # valuation
    "PBR": cap_over("total_equity"),
    "PER": cap_over("net_income_ttm"),
    "PSR": cap_over("revenue_ttm"),
    "PCR": cap_over("operating_cash_flow_ttm"),
    "POR": cap_over("operating_income_ttm"),
    "EV_EBITDA": lambda x, i: ratio(
        x.cap(i) + x.st(i, "total_debt") - x.st(i, "cash"),
        x.st(i, "operating_income_ttm") + x.st(i, "depreciation_ttm"),
    ),
    "EARNINGS_YIELD": lambda x, i: ratio(x.st(i, "net_income_ttm"), x.cap(i)),
    "FCF_YIELD": lambda x, i: ratio(
        x.st(i, "operating_cash_flow_ttm") - abs(x.st(i, "capex_ttm")), x.cap(i)
    ),
    # profitability
    "ROE": over("net_income_ttm", "total_equity"),
    "ROA": over("net_income_ttm", "total_assets"),
    "ROIC": lambda x, i: ratio(
        x.st(i, "operating_income_ttm"),
        x.st(i, "total_equity") + x.st(i, "total_debt") - x.st(i, "cash"),
    ),
    "GPA": over("gross_profit_ttm", "total_assets"),
    "OPM": over("operating_income_ttm", "revenue_ttm"),
    "NPM": over("net_income_ttm", "revenue_ttm"),
    "ASSET_TURNOVER": over("revenue_ttm", "total_assets"),
    # growth
    "REVENUE_GROWTH_YOY": yoy("revenue"),
    "OP_GROWTH_YOY": yoy("operating_income"),
    "NI_GROWTH_YOY": yoy("net_income"),
    "ASSET_GROWTH_YOY": yoy("total_assets"),
    "EQUITY_GROWTH_YOY": yoy("total_equity"),
    # momentum
    "MOM_1M": momentum(21),
    "MOM_3M": momentum(63),
    "MOM_6M": momentum(126),
    "MOM_12M": momentum(252),
    "MOM_12_1": lambda x, i: earlier(x.close, i, 21) / earlier(x.close, i, 252) - 1,
    "REVERSAL_5D": momentum(5),
    "RSI_14": rsi,
    "MA_RATIO_20": ma_ratio(20),
    "MA_RATIO_60": ma_ratio(60),
    "DIST_52W_HIGH": lambda x, i: x.close[i] / window(x.close, i, 252).max() - 1,
    "DIST_52W_LOW": lambda x, i: x.close[i] / window(x.close, i, 252).min() - 1,
    # risk
    "VOL_20D": vol(20),
    "VOL_60D": vol(60),
    "VOL_120D": vol(120),
    "DOWNSIDE_VOL_60D": downside_vol,
    "BETA_252D": beta,
    "MAX_DD_252D": max_drawdown,
    # liquidity
    "AVG_TRADING_VALUE_20D": mean_of("trading_value", 20),
    "AVG_TRADING_VALUE_60D": mean_of("trading_value", 60),
    "AVG_VOLUME_20D": mean_of("volume", 20),
    "TURNOVER_20D": lambda x, i: (window(x.volume, i, 20) / window(x.shares, i, 20)).mean(),
    "AMIHUD_ILLIQ_20D": amihud,
    "ZERO_VOLUME_DAYS_60D": zero_volume_days,
    # size
    "MARKET_CAP": lambda x, i: x.cap(i),
    "LOG_MARKET_CAP": lambda x, i: math.log(x.cap(i)),
    "SHARES_OUTSTANDING": lambda x, i: x.shares[i],
    # quality / dividends
    "DEBT_TO_EQUITY": over("total_liabilities", "total_equity"),
    "CURRENT_RATIO": over("current_assets", "current_liabilities"),
    "ACCRUALS": lambda x, i: ratio(
        x.st(i, "net_income_ttm") - x.st(i, "operating_cash_flow_ttm"), x.st(i, "total_assets")
    ),
    "INTEREST_COVERAGE": over("operating_income_ttm", "interest_expense_ttm"),
    "F_SCORE": f_score,
    "DIVIDEND_YIELD": lambda x, i: ratio(x.st(i, "dividends_per_share_ttm"), x.close[i]),
    "PAYOUT_RATIO": lambda x, i: ratio(
        x.st(i, "dividends_per_share_ttm") * x.shares[i], x.st(i, "net_income_ttm")
    ),
    "DPS_GROWTH": lambda x, i: growth(
        x.st(i, "dividends_per_share_ttm"), x.st(i, "dividends_per_share_ttm_lag4")
    ),
}


def reference(name: str, stock: Stock, inputs: Inputs) -> np.ndarray:
    """The factor over every trading day [N_DAYS]: NaN outside the listing and where the
    value is not finite."""
    out = np.full(N_DAYS, NAN)
    for i in range(stock.first, stock.last + 1):
        value = float(REFERENCES[name](inputs, i))
        out[i] = value if math.isfinite(value) else NAN
    return out
