"""`build_panel`: PostgreSQL -> FactorPanel for one window (load, then compute).

1. Plan: the catalog says how many trading days of lookback (`CATALOG.extra_rows()`) and
   how many quarters of statements (`CATALOG.statement_quarters()`) a panel needs.
2. Load (`dataprep.loaders.load_market`): one consistent snapshot, lookback included.
3. Compute (`dataprep.factors.compute.compute_panel`): dense grid, statements point in
   time, 54 factors; the lookback days are used, then dropped.
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass
from datetime import date, datetime

import psycopg

from dataprep.factors import CATALOG
from dataprep.factors.compute import compute_panel
from dataprep.loaders import PanelBuildError, load_market
from dataprep.panel import FactorPanel

DISCLOSURE_ALLOWANCE_MONTHS = 6  # a statement may be disclosed this long after period end


@dataclass(frozen=True)
class BuildReport:
    """What building one panel cost: seconds loading and computing, the rows each query of
    the load answered, and the panel's bytes."""

    load_s: float
    compute_s: float
    rows_read: dict[str, int]
    panel_bytes: int

    @property
    def total_s(self) -> float:
        return self.load_s + self.compute_s

    @property
    def total_rows(self) -> int:
        return sum(self.rows_read.values())


def statement_months() -> int:
    """Months of statements to load before the first loaded day (from the catalog)."""
    return 3 * CATALOG.statement_quarters() + DISCLOSURE_ALLOWANCE_MONTHS


DateLike = date | datetime | str  # a datetime counts as its date; a str is ISO, "2024-07-01"


def build_panel(
    *, database_url: str, start: DateLike | None = None, end: DateLike | None = None
) -> FactorPanel:
    """Every catalog factor for the trading days in [start, end] (defaults: all the data);
    `start` and `end` are dates, datetimes (their date) or ISO strings ("2024-07-01")."""
    panel, _ = build_panel_timed(database_url=database_url, start=start, end=end)
    return panel


def build_panel_timed(
    *,
    database_url: str,
    start: DateLike | None = None,
    end: DateLike | None = None,
    conn: psycopg.Connection | None = None,
) -> tuple[FactorPanel, BuildReport]:
    """`build_panel`, with its BuildReport; over `conn` when given (left open)."""
    first, last = _as_date(start, label="start"), _as_date(end, label="end")
    if first is not None and last is not None and first > last:
        raise PanelBuildError(f"Got start {first} after end {last}: start must be on or before end")
    began = time.perf_counter()
    with nullcontext(conn) if conn is not None else psycopg.connect(database_url) as connection:
        frames = load_market(
            connection,
            start=first,
            end=last,
            lookback_days=CATALOG.extra_rows(),
            statement_months=statement_months(),
        )
    loaded = time.perf_counter()
    panel = compute_panel(frames, specs=tuple(CATALOG))
    computed = time.perf_counter()
    return panel, BuildReport(load_s=loaded - began, compute_s=computed - loaded,
                              rows_read=frames.rows_read, panel_bytes=panel.nbytes)


def _as_date(value: object, *, label: str) -> date | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            raise PanelBuildError(
                f'Got "{value}" for {label}: not a date; use YYYY-MM-DD, e.g. "2024-07-01"'
            ) from None
    raise PanelBuildError(
        f"Got {value!r} for {label}: expected a datetime.date or an ISO date string"
    )
