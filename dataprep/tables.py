"""The market tables' columns, once: their polars schemas (the column order of each table)
and `MarketData`, the in-memory form of the four tables that the demo generator and the file
importer produce and `dataprep.warehouse.write_market` writes."""

from __future__ import annotations

from dataclasses import dataclass, field

import polars as pl

STOCKS_SCHEMA: dict[str, pl.DataType] = {
    "code": pl.String(),
    "name": pl.String(),
    "market": pl.String(),
    "sector": pl.String(),
    "listed_on": pl.Date(),
    "delisted_on": pl.Date(),
    "kind": pl.String(),  # common, preferred, spac, reit, other
}
KINDS = ("common", "preferred", "spac", "reit", "other")
STATUSES = ("administrative", "warning", "caution", "liquidation")
PRICES_SCHEMA: dict[str, pl.DataType] = {
    "code": pl.String(),
    "date": pl.Date(),
    "open": pl.Float64(),
    "high": pl.Float64(),
    "low": pl.Float64(),
    "close": pl.Float64(),
    "volume": pl.Int64(),
    "trading_value": pl.Float64(),
    "shares_outstanding": pl.Int64(),
}
STATEMENT_ITEMS = (  # the statement columns of `financials`, in table order
    "revenue",
    "gross_profit",
    "operating_income",
    "net_income",
    "total_assets",
    "total_liabilities",
    "total_equity",
    "current_assets",
    "current_liabilities",
    "cash",
    "total_debt",
    "operating_cash_flow",
    "capex",
    "depreciation",
    "interest_expense",
    "dividends_per_share",
)
FINANCIALS_SCHEMA: dict[str, pl.DataType] = {
    "code": pl.String(),
    "period_end": pl.Date(),
    "fiscal_quarter": pl.Int16(),
    "disclosed_on": pl.Date(),
    **{name: pl.Float64() for name in STATEMENT_ITEMS},
}
INDEXES_SCHEMA: dict[str, pl.DataType] = {
    "index_code": pl.String(),
    "date": pl.Date(),
    "close": pl.Float64(),
}
STATUS_SCHEMA: dict[str, pl.DataType] = {  # KRX designations: in force start..end (inclusive)
    "code": pl.String(),
    "status": pl.String(),
    "start_date": pl.Date(),
    "end_date": pl.Date(),
}

# MarketData field -> (table, schema). Order matters: stocks first (foreign keys).
TABLES: dict[str, tuple[str, dict[str, pl.DataType]]] = {
    "stocks": ("stocks", STOCKS_SCHEMA),
    "prices": ("stock_prices", PRICES_SCHEMA),
    "financials": ("financials", FINANCIALS_SCHEMA),
    "indexes": ("index_prices", INDEXES_SCHEMA),
    "status": ("stock_status", STATUS_SCHEMA),
}
MARKET_TABLES = tuple(table for table, _ in TABLES.values())


@dataclass(frozen=True, eq=False)
class MarketData:
    """The market tables as polars frames; columns exactly the table columns, in order."""

    stocks: pl.DataFrame
    prices: pl.DataFrame
    financials: pl.DataFrame
    indexes: pl.DataFrame
    status: pl.DataFrame = field(default_factory=lambda: pl.DataFrame(schema=STATUS_SCHEMA))

    def __post_init__(self) -> None:
        for name, (table, schema) in TABLES.items():
            frame: pl.DataFrame = getattr(self, name)
            if frame.columns != list(schema):
                raise ValueError(
                    f"MarketData.{name} has columns {frame.columns}, "
                    f"expected the {table} columns {list(schema)}"
                )

    def counts(self) -> dict[str, int]:
        """Rows per table name."""
        return {table: getattr(self, field).height for field, (table, _) in TABLES.items()}
