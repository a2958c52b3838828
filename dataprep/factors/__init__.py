"""The factor catalog: 54 factor records, declared once (see `registry.py`).

`CATALOG` holds them in category order; `get_factor`, `catalog_table` and
`markdown_table` serve the docs, the README and `GET /v1/factors`; `compute.py` evaluates
them over the data `dataprep.loaders` reads.
"""

from __future__ import annotations

from dataprep.factors import (
    growth,
    liquidity,
    momentum,
    profitability,
    quality,
    risk,
    size,
    valuation,
)
from dataprep.factors.registry import (
    CATEGORIES,
    DuplicateFactorError,
    FactorRegistry,
    FactorSpec,
    InvalidFactorError,
)
from dataprep.panel import UnknownFactorError

# Part of every data version: bump it whenever a factor's computation changes, so panels built
# by different factor code never share a version (2: F_SCORE's zero denominators, dividend
# factors NaN when dividends were never imported).
CATALOG_VERSION = "2"

CATALOG = FactorRegistry(
    valuation.SPECS
    + profitability.SPECS
    + growth.SPECS
    + momentum.SPECS
    + risk.SPECS
    + liquidity.SPECS
    + size.SPECS
    + quality.SPECS
)
FACTOR_NAMES: tuple[str, ...] = CATALOG.names


def get_factor(name: str) -> FactorSpec:
    """The record of one factor; `UnknownFactorError` (a KeyError) names the known ones."""
    return CATALOG.get(name)


def catalog_table() -> list[dict[str, object]]:
    """One dict per factor: name, category, formula, lookback, inputs (catalog order)."""
    return CATALOG.table()


def markdown_table() -> str:
    """The catalog as a Markdown table (for the README)."""
    return CATALOG.markdown()


__all__ = [
    "CATALOG_VERSION",
    "CATALOG",
    "CATEGORIES",
    "FACTOR_NAMES",
    "DuplicateFactorError",
    "FactorRegistry",
    "FactorSpec",
    "InvalidFactorError",
    "UnknownFactorError",
    "catalog_table",
    "get_factor",
    "markdown_table",
]
