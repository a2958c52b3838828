"""Quality / dividends: balance-sheet strength, earnings quality, an F-score, payouts."""

from __future__ import annotations

import polars as pl

from dataprep.factors.ops import col, growth, lag, ratio
from dataprep.factors.registry import FactorSpec


def _rises(now: tuple[pl.Expr, pl.Expr], before: tuple[pl.Expr, pl.Expr]) -> pl.Expr:
    """now[0] / now[1] > before[0] / before[1]: false unless both ratios exist (denominators
    > 0; polars orders NaN above every number, so 0 / 0 would otherwise "rise"), null
    where an input is missing."""
    (a, b), (c, d) = now, before
    known = pl.all_horizontal([x.is_not_null() for x in (a, b, c, d)])
    return pl.when(known).then((b > 0) & (d > 0) & (a / b > c / d))


def _f_score() -> pl.Expr:
    """Piotroski-like: nine binary signals from statements and the share count (null if any
    input is missing). Year-on-year signals compare the latest quarter with the quarter a
    year earlier; a ratio signal is not earned when either ratio does not exist."""
    assets, assets_before = col("total_assets"), col("total_assets_lag4")
    signals = [
        col("net_income_ttm") > 0,
        col("operating_cash_flow_ttm") > 0,
        _rises((col("net_income"), assets), (col("net_income_lag4"), assets_before)),
        col("operating_cash_flow_ttm") > col("net_income_ttm"),
        _rises((col("total_liabilities_lag4"), assets_before), (col("total_liabilities"), assets)),
        _rises(
            (col("current_assets"), col("current_liabilities")),
            (col("current_assets_lag4"), col("current_liabilities_lag4")),
        ),
        col("shares_outstanding") <= lag(col("shares_outstanding"), 252),
        _rises(
            (col("gross_profit"), col("revenue")), (col("gross_profit_lag4"), col("revenue_lag4"))
        ),
        _rises((col("revenue"), assets), (col("revenue_lag4"), assets_before)),
    ]
    return pl.sum_horizontal([signal.cast(pl.Float64) for signal in signals], ignore_nulls=False)


F_SCORE_INPUTS = (
    "net_income_ttm",
    "operating_cash_flow_ttm",
    "net_income",
    "net_income_lag4",
    "total_assets",
    "total_assets_lag4",
    "total_liabilities",
    "total_liabilities_lag4",
    "current_assets",
    "current_assets_lag4",
    "current_liabilities",
    "current_liabilities_lag4",
    "shares_outstanding",
    "gross_profit",
    "gross_profit_lag4",
    "revenue",
    "revenue_lag4",
)

SPECS: tuple[FactorSpec, ...] = (
    FactorSpec(
        name="DEBT_TO_EQUITY",
        category="quality",
        formula="total_liabilities / total_equity (NaN when equity <= 0)",
        lookback=1,
        inputs=("total_liabilities", "total_equity"),
        expr=lambda: ratio(col("total_liabilities"), col("total_equity")),
    ),
    FactorSpec(
        name="CURRENT_RATIO",
        category="quality",
        formula="current_assets / current_liabilities",
        lookback=1,
        inputs=("current_assets", "current_liabilities"),
        expr=lambda: ratio(col("current_assets"), col("current_liabilities")),
    ),
    FactorSpec(
        name="ACCRUALS",
        category="quality",
        formula="(TTM net income - TTM operating cash flow) / total_assets",
        lookback=1,
        inputs=("net_income_ttm", "operating_cash_flow_ttm", "total_assets"),
        expr=lambda: ratio(
            col("net_income_ttm") - col("operating_cash_flow_ttm"), col("total_assets")
        ),
    ),
    FactorSpec(
        name="INTEREST_COVERAGE",
        category="quality",
        formula="TTM operating income / TTM interest expense (NaN when interest <= 0)",
        lookback=1,
        inputs=("operating_income_ttm", "interest_expense_ttm"),
        expr=lambda: ratio(col("operating_income_ttm"), col("interest_expense_ttm")),
    ),
    FactorSpec(
        name="F_SCORE",
        category="quality",
        formula="Piotroski-like count (0-9): NI>0, CFO>0, ROA up, CFO>NI, leverage down,"
        " current ratio up, no new shares in 252 days, gross margin up, asset turnover up",
        lookback=253,
        inputs=F_SCORE_INPUTS,
        expr=_f_score,
    ),
    FactorSpec(
        name="DIVIDEND_YIELD",
        category="quality",
        formula="TTM dividends per share / close (a quarter without a reported DPS counts 0;"
        " NaN when no statement in the data reports DPS: dividends never imported)",
        lookback=1,
        inputs=("dividends_per_share_ttm", "close"),
        expr=lambda: ratio(col("dividends_per_share_ttm"), col("close")),
    ),
    FactorSpec(
        name="PAYOUT_RATIO",
        category="quality",
        formula="TTM dividends per share x shares_outstanding / TTM net income"
        " (NaN when TTM net income <= 0; a quarter without a reported DPS counts 0;"
        " NaN when no statement in the data reports DPS)",
        lookback=1,
        inputs=("dividends_per_share_ttm", "shares_outstanding", "net_income_ttm"),
        expr=lambda: ratio(
            col("dividends_per_share_ttm") * col("shares_outstanding"), col("net_income_ttm")
        ),
    ),
    FactorSpec(
        name="DPS_GROWTH",
        category="quality",
        formula="TTM dividends per share / TTM dividends per share a year earlier - 1"
        " (NaN unless the earlier one is > 0; NaN when no statement in the data reports DPS)",
        lookback=1,
        inputs=("dividends_per_share_ttm", "dividends_per_share_ttm_lag4"),
        expr=lambda: growth(col("dividends_per_share_ttm"), col("dividends_per_share_ttm_lag4")),
    ),
)
