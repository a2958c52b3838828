"""Profitability: trailing-twelve-month flows over the latest balances or over revenue."""

from __future__ import annotations

from dataprep.factors.ops import col, ratio
from dataprep.factors.registry import FactorSpec

SPECS: tuple[FactorSpec, ...] = (
    FactorSpec(
        name="ROE",
        category="profitability",
        formula="TTM net income / total_equity of the latest statement (NaN when equity <= 0)",
        lookback=1,
        inputs=("net_income_ttm", "total_equity"),
        expr=lambda: ratio(col("net_income_ttm"), col("total_equity")),
    ),
    FactorSpec(
        name="ROA",
        category="profitability",
        formula="TTM net income / total_assets",
        lookback=1,
        inputs=("net_income_ttm", "total_assets"),
        expr=lambda: ratio(col("net_income_ttm"), col("total_assets")),
    ),
    FactorSpec(
        name="ROIC",
        category="profitability",
        formula="TTM operating income / (total_equity + total_debt - cash)"
        " (NaN when invested capital <= 0)",
        lookback=1,
        inputs=("operating_income_ttm", "total_equity", "total_debt", "cash"),
        expr=lambda: ratio(
            col("operating_income_ttm"), col("total_equity") + col("total_debt") - col("cash")
        ),
    ),
    FactorSpec(
        name="GPA",
        category="profitability",
        formula="TTM gross profit / total_assets (Novy-Marx)",
        lookback=1,
        inputs=("gross_profit_ttm", "total_assets"),
        expr=lambda: ratio(col("gross_profit_ttm"), col("total_assets")),
    ),
    FactorSpec(
        name="OPM",
        category="profitability",
        formula="TTM operating income / TTM revenue",
        lookback=1,
        inputs=("operating_income_ttm", "revenue_ttm"),
        expr=lambda: ratio(col("operating_income_ttm"), col("revenue_ttm")),
    ),
    FactorSpec(
        name="NPM",
        category="profitability",
        formula="TTM net income / TTM revenue",
        lookback=1,
        inputs=("net_income_ttm", "revenue_ttm"),
        expr=lambda: ratio(col("net_income_ttm"), col("revenue_ttm")),
    ),
    FactorSpec(
        name="ASSET_TURNOVER",
        category="profitability",
        formula="TTM revenue / total_assets",
        lookback=1,
        inputs=("revenue_ttm", "total_assets"),
        expr=lambda: ratio(col("revenue_ttm"), col("total_assets")),
    ),
)
