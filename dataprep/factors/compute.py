"""Evaluate the catalog over loaded market frames into a FactorPanel.

Steps:
1. `panel_stocks`: every stock with a price row in [start, end] (delisted ones too), by code.
2. `dense_grid`: one row per stock x loaded trading day (lookback days first), sorted by
   code then day. Close and shares are carried forward between a stock's first and last
   row (a missing day is filled and untradable) and null outside them; volume and trading
   value are 0 on filled days; `returns`, `market_return` (the stock's index) and `day`.
3. `statement_table` + `attach_statements`: TTM sums, year-earlier values, and a point-in-
   time `join_asof` (backward) on the first trading day strictly after disclosure. An item
   in `ZERO_WHEN_MISSING` counts 0 where a statement leaves it out only when some loaded
   statement reports it (`imported_items`); never imported, it stays null.
4. `evaluate`: the factor expressions, a batch at a time (lazy; per-stock windows as
   `ops.py` explains: the rolling window masked where it would cross stocks), each
   masked to the days the stock is listed and to finite values, cast to float32 straight
   into the preallocated [factor, day, stock] array; the lookback days are dropped there.
5. Coverage (`dataprep.panel.factor_coverage`): per factor its first day with a value and
   its share of listed stock-days, with the inputs never imported (`missing_inputs`).
No loop over stocks or days: the grid is a reshape of the long, sorted frame.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date

import numpy as np
import polars as pl

from dataprep.factors.inputs import (
    BALANCE_ITEMS,
    FLOW_ITEMS,
    PRICE_INPUTS,
    STATEMENT_INPUTS,
    ZERO_WHEN_MISSING,
)
from dataprep.factors.ops import BY
from dataprep.factors.registry import FactorSpec
from dataprep.frames import MarketFrames
from dataprep.panel import STATUS_BITS, FactorPanel, factor_coverage
from runtime.names import MARKETS

BATCH = 6  # factors per lazy select: parallel enough, bounded memory
INDEXES: tuple[str, ...] = MARKETS  # each market's index carries the market's name


@dataclass(frozen=True, eq=False)
class Grid:
    """The dense long frame and its shape: row = stock * n_days + day."""

    frame: pl.DataFrame
    n_stocks: int
    n_days: int  # loaded days, lookback included
    offset: int  # first panel day in the loaded calendar
    close: np.ndarray  # [n_stocks, n_days] float64, NaN where not listed
    returns: np.ndarray
    tradable: np.ndarray  # [n_stocks, n_days] bool


def compute_panel(frames: MarketFrames, *, specs: Sequence[FactorSpec]) -> FactorPanel:
    stocks = panel_stocks(frames)
    grid = dense_grid(frames, stocks=stocks)
    statements = statement_table(frames, stocks=stocks, specs=specs)
    grid = replace(grid, frame=attach_statements(grid.frame, statements))
    values = evaluate(grid, specs=specs)
    calendar = frames.calendar.to_numpy().astype("datetime64[D]")
    dates = calendar[grid.offset :]
    returns = _panel_view(grid.returns, grid.offset)
    returns[0] = np.nan  # the day before the panel's first day is not in the panel
    close = _panel_view(grid.close, grid.offset)
    names = tuple(spec.name for spec in specs)
    absent = missing_inputs(frames)
    coverage = factor_coverage(
        values=values,
        close=close,
        dates=dates,
        factor_names=names,
        missing_inputs={s.name: tuple(n for n in s.inputs if n in absent) for s in specs},
    )
    return FactorPanel(
        version=frames.version,
        dates=dates,
        codes=_unicode(stocks["code"]),
        names=_unicode(stocks["name"]),
        market=_unicode(stocks["market"]),
        sector=_unicode(stocks["sector"]),
        factor_names=names,
        values=values,
        close=close,
        returns=returns,
        tradable=_panel_view(grid.tradable, grid.offset),
        benchmarks=benchmarks(frames, offset=grid.offset),
        coverage=coverage,
        kind=_unicode(stocks["kind"]),
        status=status_mask(frames.status, codes=_unicode(stocks["code"]), dates=dates),
    )


def status_mask(status: pl.DataFrame, *, codes: np.ndarray, dates: np.ndarray) -> np.ndarray:
    """uint8 [n_days, n_stocks]: the STATUS_BITS of the designations in force each day
    (start_date <= day <= end_date, no end: still in force). Vectorised: +1 at each spell's
    first row and -1 after its last, summed down the days, per bit."""
    mask = np.zeros((len(dates), len(codes)), dtype=np.uint8)
    if status.height == 0:
        return mask
    column = {code: i for i, code in enumerate(codes.tolist())}
    known = status.filter(pl.col("code").is_in(list(column)))
    cols = np.array([column[c] for c in known["code"].to_list()], dtype=np.intp)
    starts = known["start_date"].to_numpy().astype("datetime64[D]")
    ends = known["end_date"].fill_null(date.max).to_numpy().astype("datetime64[D]")
    first = np.searchsorted(dates, starts, side="left")
    after = np.searchsorted(dates, ends, side="right")
    kinds = known["status"].to_numpy()
    for name, bit in STATUS_BITS.items():
        chosen = kinds == name
        if not chosen.any():
            continue
        spells = np.zeros((len(dates) + 1, len(codes)), dtype=np.int32)
        np.add.at(spells, (first[chosen], cols[chosen]), 1)
        np.add.at(spells, (after[chosen], cols[chosen]), -1)
        mask |= (np.cumsum(spells[:-1], axis=0) > 0).astype(np.uint8) * np.uint8(bit)
    return mask


def _all_null(series: pl.Series) -> bool:
    """No value at all: every entry null (or NaN), or no entry."""
    if series.dtype.is_float():
        series = series.fill_nan(None)
    return series.null_count() == series.len()


def imported_items(frames: MarketFrames) -> frozenset[str]:
    """Statement items with at least one value in the loaded financials."""
    return frozenset(
        item for item in FLOW_ITEMS + BALANCE_ITEMS if not _all_null(frames.financials[item])
    )


def missing_inputs(frames: MarketFrames) -> frozenset[str]:
    """The input names (`inputs.INPUT_NAMES`) whose column is all null in the loaded data, so
    never imported: a statement item no statement reports (every `<item>...` input built
    from it), a price column, or the index closes behind `market_return`."""
    prices = frames.prices
    absent = {name for name in ("close", "volume", "trading_value", "shares_outstanding")
              if _all_null(prices[name])}  # fmt: skip
    if "close" in absent:
        absent.add("returns")
    if _all_null(frames.index_prices["close"]):
        absent.add("market_return")
    imported = imported_items(frames)
    absent |= {name for name, (item, _) in STATEMENT_INPUTS.items() if item not in imported}
    return frozenset(absent)


def panel_stocks(frames: MarketFrames) -> pl.DataFrame:
    """Stocks with a price row in [start, end], by code, with `sid` (their panel column)
    and `load_index` (their position in `frames.stocks`, the Enum's physical code)."""
    inside = frames.prices.filter(pl.col("date") >= frames.start)
    positions = np.unique(inside["code"].to_physical().to_numpy())
    return (
        frames.stocks.with_row_index("load_index")
        .filter(pl.col("load_index").is_in(positions))
        .with_row_index("sid")
    )


def dense_grid(frames: MarketFrames, *, stocks: pl.DataFrame) -> Grid:
    calendar = frames.calendar.to_physical().to_numpy()
    n_days, n_stocks = len(calendar), stocks.height
    lookup = np.full(frames.stocks.height, -1, dtype=np.int64)
    lookup[stocks["load_index"].to_numpy()] = np.arange(n_stocks)
    sid = lookup[frames.prices["code"].to_physical().to_numpy()]
    keep = sid >= 0
    day = np.searchsorted(calendar, frames.prices["date"].to_physical().to_numpy()[keep])
    flat = sid[keep] * n_days + day

    has_row = np.zeros((n_stocks, n_days), dtype=bool)
    has_row.reshape(-1)[flat] = True
    days = np.arange(n_days)
    first = np.argmax(has_row, axis=1)
    last = n_days - 1 - np.argmax(has_row[:, ::-1], axis=1)
    traded = np.any(has_row, axis=1, keepdims=True)
    listed = (days >= first[:, None]) & (days <= last[:, None]) & traded
    carried = np.maximum.accumulate(np.where(has_row, days, 0), axis=1)

    def column(name: str, *, carry: bool) -> np.ndarray:
        dense = np.zeros((n_stocks, n_days), dtype=np.float64)
        dense.reshape(-1)[flat] = frames.prices[name].to_numpy()[keep]
        if carry:
            dense = np.take_along_axis(dense, carried, axis=1)
        return np.where(listed, dense, np.nan)

    close = column("close", carry=True)
    volume = column("volume", carry=False)
    returns = np.full_like(close, np.nan)
    returns[:, 1:] = close[:, 1:] / close[:, :-1] - 1.0
    kosdaq = (stocks["market"] == "KOSDAQ").to_numpy()
    index_returns = _index_returns(frames, calendar)
    market_return = np.where(kosdaq[:, None], index_returns["KOSDAQ"], index_returns["KOSPI"])

    def series(name: str, values: np.ndarray) -> pl.Series:
        return pl.Series(name, values.ravel(), nan_to_null=True)

    frame = pl.DataFrame(
        [
            pl.Series(BY, np.repeat(np.arange(n_stocks, dtype=np.uint32), n_days)).set_sorted(),
            pl.Series("day", np.tile(days.astype(np.int32), n_stocks)),
            series("close", close),
            series("volume", volume),
            series("trading_value", column("trading_value", carry=False)),
            series("shares_outstanding", column("shares_outstanding", carry=True)),
            series("returns", returns),
            series("market_return", market_return),
        ]
    )
    assert set(frame.columns) - {BY} == set(PRICE_INPUTS)
    tradable = has_row & (volume > 0)
    return Grid(frame, n_stocks, n_days, frames.n_lookback_days, close, returns, tradable)


def statement_table(
    frames: MarketFrames, *, stocks: pl.DataFrame, specs: Sequence[FactorSpec]
) -> pl.DataFrame:
    """One row per (stock, usable day): the statement inputs the specs read.

    `day` is the first loaded trading day strictly after the statement (and every earlier
    one) was disclosed; TTM needs four consecutive quarters, `_lag4` the quarter four back.
    """
    needed = [
        name
        for name in dict.fromkeys(n for s in specs for n in s.inputs)
        if name in STATEMENT_INPUTS
    ]
    items = sorted({STATEMENT_INPUTS[name][0] for name in needed})
    zero_filled = ZERO_WHEN_MISSING & imported_items(frames)  # never imported: stays null
    ttm_items = sorted({STATEMENT_INPUTS[n][0] for n in needed if "ttm" in STATEMENT_INPUTS[n][1]})
    calendar = frames.calendar.to_physical().to_numpy()
    base = (
        frames.financials.join(stocks.select("code", "sid"), on="code", how="inner")
        .sort("sid", "period_end")
        .with_columns(
            quarter=pl.col("period_end").dt.year().cast(pl.Int32) * 4
            + (pl.col("period_end").dt.month().cast(pl.Int32) - 1) // 3,
            **{item: pl.col(item).fill_null(0.0) for item in items if item in zero_filled},
        )
    )
    consecutive = (pl.col("quarter") - pl.col("quarter").shift(3).over("sid")) == 3
    base = base.with_columns(
        pl.when(consecutive)
        .then(pl.col(item).rolling_sum(4, min_samples=4).over("sid"))
        .alias(f"{item}_ttm")
        for item in ttm_items
    )
    lagged = [name for name in needed if name.endswith("_lag4")]
    year_before = base.select(
        "sid",
        (pl.col("quarter") + 4).alias("quarter"),
        *[pl.col(name.removesuffix("_lag4")).alias(name) for name in lagged],
    )
    table = base.join(year_before, on=["sid", "quarter"], how="left", maintain_order="left")
    known = table.select(pl.col("disclosed_on").cum_max().over("sid"))["disclosed_on"]
    usable = np.searchsorted(calendar, known.to_physical().to_numpy(), side="right")
    table = table.with_columns(
        day=pl.Series(usable.astype(np.int32)), sid=pl.col("sid").cast(pl.UInt32)
    )
    return table.select(pl.col("sid").alias(BY), "day", *needed).unique(
        subset=[BY, "day"], keep="last", maintain_order=True
    )


def attach_statements(frame: pl.DataFrame, statements: pl.DataFrame) -> pl.DataFrame:
    """Each grid row gets the latest statement usable that day (as-of, backward)."""
    return frame.join_asof(statements, on="day", by=BY, strategy="backward", check_sortedness=False)


def evaluate(grid: Grid, *, specs: Sequence[FactorSpec]) -> np.ndarray:
    """float32 [n_factors, panel days, n_stocks], C-contiguous, filled in place."""
    n_panel = grid.n_days - grid.offset
    values = np.empty((len(specs), n_panel, grid.n_stocks), dtype=np.float32)
    listed = pl.col("close").is_not_null()
    lazy = grid.frame.lazy()
    for begin in range(0, len(specs), BATCH):
        batch = specs[begin : begin + BATCH]
        exprs = []
        for spec in batch:
            value = spec.expr().cast(pl.Float64)
            exprs.append(pl.when(listed & value.is_finite()).then(value).alias(spec.name))
        result = lazy.select(exprs).collect()
        for position, spec in enumerate(batch, start=begin):
            block = result[spec.name].to_numpy().reshape(grid.n_stocks, grid.n_days)
            np.copyto(values[position], block[:, grid.offset :].T, casting="same_kind")
        del result
    return values


def benchmarks(frames: MarketFrames, *, offset: int) -> dict[str, np.ndarray]:
    """Index closes on the panel's days, carried over gaps (NaN before an index's first)."""
    calendar = frames.calendar.to_physical().to_numpy()
    return {
        name: closes[offset:].copy() for name, closes in _index_closes(frames, calendar).items()
    }


def _index_closes(frames: MarketFrames, calendar: np.ndarray) -> dict[str, np.ndarray]:
    closes = {}
    for name in INDEXES:
        rows = frames.index_prices.filter(pl.col("index_code") == name)
        dense = np.full(len(calendar), np.nan)
        found = np.searchsorted(calendar, rows["date"].to_physical().to_numpy())
        inside = found < len(calendar)
        matched = inside.copy()
        matched[inside] = calendar[found[inside]] == rows["date"].to_physical().to_numpy()[inside]
        dense[found[matched]] = rows["close"].to_numpy()[matched]
        closes[name] = pl.Series(dense, nan_to_null=True).forward_fill().to_numpy()
    return closes


def _index_returns(frames: MarketFrames, calendar: np.ndarray) -> dict[str, np.ndarray]:
    returns = {}
    for name, closes in _index_closes(frames, calendar).items():
        daily = np.full_like(closes, np.nan)
        daily[1:] = closes[1:] / closes[:-1] - 1.0
        returns[name] = daily
    return returns


def _panel_view(array: np.ndarray, offset: int) -> np.ndarray:
    """[n_stocks, loaded days] -> C-contiguous [panel days, n_stocks]."""
    return np.ascontiguousarray(array[:, offset:].T)


def _unicode(series: pl.Series) -> np.ndarray:
    return np.array(series.to_list(), dtype=str)
