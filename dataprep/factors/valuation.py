"""Valuation: price against fundamentals (statements usable at t, market cap at t)."""

from __future__ import annotations

from dataprep.factors.ops import col, enterprise_value, market_cap, ratio
from dataprep.factors.registry import FactorSpec

CAP = ("close", "shares_outstanding")

SPECS: tuple[FactorSpec, ...] = (
    FactorSpec(
        name="PBR",
        category="valuation",
        formula="MARKET_CAP / total_equity of the latest statement (NaN when equity <= 0)",
        lookback=1,
        inputs=(*CAP, "total_equity"),
        expr=lambda: ratio(market_cap(), col("total_equity")),
    ),
    FactorSpec(
        name="PER",
        category="valuation",
        formula="MARKET_CAP / TTM net income (NaN when TTM net income <= 0)",
        lookback=1,
        inputs=(*CAP, "net_income_ttm"),
        expr=lambda: ratio(market_cap(), col("net_income_ttm")),
    ),
    FactorSpec(
        name="PSR",
        category="valuation",
        formula="MARKET_CAP / TTM revenue (NaN when TTM revenue <= 0)",
        lookback=1,
        inputs=(*CAP, "revenue_ttm"),
        expr=lambda: ratio(market_cap(), col("revenue_ttm")),
    ),
    FactorSpec(
        name="PCR",
        category="valuation",
        formula="MARKET_CAP / TTM operating cash flow (NaN when it is <= 0)",
        lookback=1,
        inputs=(*CAP, "operating_cash_flow_ttm"),
        expr=lambda: ratio(market_cap(), col("operating_cash_flow_ttm")),
    ),
    FactorSpec(
        name="POR",
        category="valuation",
        formula="MARKET_CAP / TTM operating income (NaN when it is <= 0)",
        lookback=1,
        inputs=(*CAP, "operating_income_ttm"),
        expr=lambda: ratio(market_cap(), col("operating_income_ttm")),
    ),
    FactorSpec(
        name="EV_EBITDA",
        category="valuation",
        formula="(MARKET_CAP + total_debt - cash) / TTM (operating income + depreciation)"
        " (NaN when EBITDA <= 0)",
        lookback=1,
        inputs=(*CAP, "total_debt", "cash", "operating_income_ttm", "depreciation_ttm"),
        expr=lambda: ratio(
            enterprise_value(), col("operating_income_ttm") + col("depreciation_ttm")
        ),
    ),
    FactorSpec(
        name="EARNINGS_YIELD",
        category="valuation",
        formula="TTM net income / MARKET_CAP",
        lookback=1,
        inputs=(*CAP, "net_income_ttm"),
        expr=lambda: ratio(col("net_income_ttm"), market_cap()),
    ),
    FactorSpec(
        name="FCF_YIELD",
        category="valuation",
        formula="(TTM operating cash flow - |TTM capex|) / MARKET_CAP",
        lookback=1,
        inputs=(*CAP, "operating_cash_flow_ttm", "capex_ttm"),
        expr=lambda: ratio(col("operating_cash_flow_ttm") - col("capex_ttm").abs(), market_cap()),
    ),
)
