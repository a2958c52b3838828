"""Growth: the latest quarter against the same quarter a year earlier (NaN on a base <= 0)."""

from __future__ import annotations

from dataprep.factors.ops import col, growth
from dataprep.factors.registry import FactorSpec


def _yoy(name: str, *, item: str, label: str) -> FactorSpec:
    return FactorSpec(
        name=name,
        category="growth",
        formula=f"{label} of the latest quarter / {label} of the same quarter a year earlier - 1",
        lookback=1,
        inputs=(item, f"{item}_lag4"),
        expr=lambda: growth(col(item), col(f"{item}_lag4")),
    )


SPECS: tuple[FactorSpec, ...] = (
    _yoy("REVENUE_GROWTH_YOY", item="revenue", label="revenue"),
    _yoy("OP_GROWTH_YOY", item="operating_income", label="operating income"),
    _yoy("NI_GROWTH_YOY", item="net_income", label="net income"),
    _yoy("ASSET_GROWTH_YOY", item="total_assets", label="total_assets"),
    _yoy("EQUITY_GROWTH_YOY", item="total_equity", label="total_equity"),
)
