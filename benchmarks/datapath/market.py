"""The benchmark's market data: which window, how it is read from PostgreSQL, and the tiny
market of `--quick`.

Every mode prepares the same thing the same way: `load_window` is `build_panel_timed`
(binary COPY into polars, 54 factors, lookback from the catalog) with the rows and bytes
PostgreSQL sent counted: rows from the frames the loader returns (plus the calendar and
version queries it runs), bytes from the connection's TCP counter.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from benchmarks.datapath.netio import tcp_bytes_received

if TYPE_CHECKING:  # no runtime import: workers of other modes need not load dataprep
    from dataprep.panel import FactorPanel


@dataclass(frozen=True)
class Window:
    """A backtest window: the panel covers [signal_day, end]; runs cover [start, end]
    (the engine needs the day before the first run day in the panel)."""

    signal_day: date
    start: date
    end: date
    days: int  # trading days in [start, end]
    calendar_rows: int  # distinct trading days in the database (the loader reads them all)
    stocks: int  # stocks with a price row in [signal_day, end]


@dataclass(frozen=True)
class Loaded:
    """A panel and what building it cost."""

    panel: FactorPanel
    rows_read: int
    bytes_received: int
    load_s: float
    compute_s: float


def choose_window(database_url: str, *, days: int) -> Window:
    """The last `days` trading days of the data (plus the signal day before them)."""
    with psycopg.connect(database_url) as conn:
        dates = [row[0] for row in conn.execute(
            "SELECT DISTINCT date FROM stock_prices ORDER BY date"
        ).fetchall()]
        if len(dates) < 2:
            raise ValueError(f"{database_url}: {len(dates)} trading days; load a market first")
        days = min(days, len(dates) - 1)
        stocks = conn.execute(
            "SELECT count(DISTINCT code) FROM stock_prices WHERE date BETWEEN %s AND %s",
            (dates[-days - 1], dates[-1]),
        ).fetchone()[0]  # type: ignore[index]
    return Window(
        signal_day=dates[-days - 1],
        start=dates[-days],
        end=dates[-1],
        days=days,
        calendar_rows=len(dates),
        stocks=stocks,
    )


def load_window(
    database_url: str,
    *,
    start: date | None,
    end: date | None,
    calendar_rows: int,
    conn: psycopg.Connection | None = None,
) -> Loaded:
    """`build_panel_timed`'s steps over [start, end] (None: all the data), counted."""
    from dataprep.build import statement_months
    from dataprep.factors import CATALOG
    from dataprep.factors.compute import compute_panel
    from dataprep.loaders import load_market

    own = conn is None
    began = time.perf_counter()
    connection = psycopg.connect(database_url) if conn is None else conn
    try:
        received = tcp_bytes_received()
        frames = load_market(
            connection,
            start=start,
            end=end,
            lookback_days=CATALOG.extra_rows(),
            statement_months=statement_months(),
        )
        received = tcp_bytes_received() - received
    finally:
        if own:
            connection.close()
    loaded = time.perf_counter()
    panel = compute_panel(frames, specs=tuple(CATALOG))
    computed = time.perf_counter()
    rows = (
        calendar_rows  # the loader's calendar query answers every distinct trading day
        + frames.stocks.height
        + frames.prices.height
        + frames.financials.height
        + frames.index_prices.height
        + 1  # data_version
    )
    return Loaded(panel, rows, received, loaded - began, computed - loaded)


def registry_builder(database_url: str) -> tuple[object, dict[str, float]]:
    """The DatasetRegistry's builder (all the data, as `qbt up` builds it), counted."""
    with psycopg.connect(database_url) as conn:
        calendar_rows = conn.execute(
            "SELECT count(DISTINCT date) FROM stock_prices"
        ).fetchone()[0]  # type: ignore[index]
    loaded = load_window(database_url, start=None, end=None, calendar_rows=calendar_rows)
    return loaded.panel, {
        "load_s": loaded.load_s,
        "compute_s": loaded.compute_s,
        "rows_read": float(loaded.rows_read + 1),  # + the count above
        "bytes_received": float(loaded.bytes_received),
    }


def server_url_of(database_url: str) -> str:
    """The same server's maintenance database (to create and drop databases)."""
    params = conninfo_to_dict(database_url)
    params["dbname"] = "postgres"
    return make_conninfo("", **params)


def create_quick_market(
    database_url: str, *, n_stocks: int, start: date, end: date
) -> tuple[str, float]:
    """A fresh database on `database_url`'s server holding a small demo market; (url, s)."""
    from dataprep.schema import migrate
    from dataprep.warehouse import load_demo

    began = time.perf_counter()
    name = f"qbt_bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(server_url_of(database_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    params = conninfo_to_dict(database_url)
    params["dbname"] = name
    url = make_conninfo("", **params)
    try:
        migrate(url)
        load_demo(url, n_stocks=n_stocks, start=start, end=end, seed=7)
    except BaseException:
        drop_database(url)
        raise
    return url, time.perf_counter() - began


def drop_database(url: str) -> None:
    name = conninfo_to_dict(url)["dbname"]
    with psycopg.connect(server_url_of(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
