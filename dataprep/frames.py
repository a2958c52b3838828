"""MarketFrames: what one panel is computed from (the loaders' output, the factor
computation's input), in a module of its own so that computing needs no database driver."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import polars as pl

from dataprep.tables import STATUS_SCHEMA


@dataclass(frozen=True, eq=False)
class MarketFrames:
    """What one panel is computed from.

    `calendar`: the trading days loaded (Date, ascending): the lookback days, then the
    panel days [start, end]. `prices` (code, date, close, volume, trading_value,
    shares_outstanding) covers the calendar, sorted by code then date; `code` is a
    `pl.Enum` over every stock code in code order (the same order as `stocks`).
    `financials`: statements disclosed on or before `end` with period_end from
    `statements_from` on, sorted by code, period_end. `stocks`: every stock, by code.
    `index_prices`: index_code, date, close over the calendar.
    """

    start: date
    end: date
    calendar: pl.Series
    stocks: pl.DataFrame
    prices: pl.DataFrame
    financials: pl.DataFrame
    index_prices: pl.DataFrame
    statements_from: date
    version: str  # the data version; with "-START-END" when only a window of it is loaded
    rows_read: dict[str, int] = field(default_factory=dict)  # rows each query answered
    status: pl.DataFrame = field(  # KRX designations in force on some loaded day
        default_factory=lambda: pl.DataFrame(schema=STATUS_SCHEMA))

    @property
    def first_loaded(self) -> date:
        return self.calendar[0]

    @property
    def n_lookback_days(self) -> int:
        """Calendar days before `start` (the extra rows loaded for the windows)."""
        return int((self.calendar < self.start).sum())
