"""Size: market capitalisation and share count at t."""

from __future__ import annotations

from dataprep.factors.ops import col, market_cap
from dataprep.factors.registry import FactorSpec

SPECS: tuple[FactorSpec, ...] = (
    FactorSpec(
        name="MARKET_CAP",
        category="size",
        formula="close x shares_outstanding (KRW)",
        lookback=1,
        inputs=("close", "shares_outstanding"),
        expr=market_cap,
    ),
    FactorSpec(
        name="LOG_MARKET_CAP",
        category="size",
        formula="ln(close x shares_outstanding)",
        lookback=1,
        inputs=("close", "shares_outstanding"),
        expr=lambda: market_cap().log(),
    ),
    FactorSpec(
        name="SHARES_OUTSTANDING",
        category="size",
        formula="shares_outstanding",
        lookback=1,
        inputs=("shares_outstanding",),
        expr=lambda: col("shares_outstanding"),
    ),
)
