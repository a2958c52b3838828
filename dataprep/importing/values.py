"""Cells as users' files write them, parsed into typed columns (polars expressions).

- dates: 2024-01-02, 2024/01/02, 2024.01.02, 20240102, and date-times (the date is kept);
- numbers: `1,000`, ` 1000 `, `1.5e3`; an empty cell and KRX's `-` are empty;
- stock codes: `005930`, `A005930` (KRX's ISIN-style short code), `[005930]` (DART), and
  codes that lost their leading zeros as numbers (`5930`, `5930.0`: padded to six digits).
"""

from __future__ import annotations

import polars as pl

EMPTY = ("", "-", "nan", "NaN", "None", "null")


def text(column: str) -> pl.Expr:
    """The cell stripped; empty markers become null."""
    cell = pl.col(column).cast(pl.String).str.strip_chars()
    return pl.when(cell.is_in(EMPTY)).then(pl.lit(None, dtype=pl.String)).otherwise(cell) \
        .alias(column)


def date(column: str) -> pl.Expr:
    cell = text(column).str.replace_all(r"[./]", "-")
    digits = pl.concat_str(cell.str.slice(0, 4), cell.str.slice(4, 2), cell.str.slice(6, 2),
                           separator="-")
    cell = pl.when(cell.str.contains(r"^\d{8}$")).then(digits).otherwise(cell)
    return cell.str.slice(0, 10).str.to_date("%Y-%m-%d", strict=False).alias(column)


def number(column: str) -> pl.Expr:
    return text(column).str.replace_all(r"[,\s]", "").cast(pl.Float64, strict=False) \
        .alias(column)


def code(column: str) -> pl.Expr:
    cell = text(column).str.replace_all(r"[\[\]\s]", "")
    cell = cell.str.replace(r"^A(\w{6})$", "$1").str.replace(r"^(\d+)\.0+$", "$1")
    return pl.when(cell.str.contains(r"^\d{1,5}$")).then(cell.str.zfill(6)).otherwise(cell) \
        .alias(column)
