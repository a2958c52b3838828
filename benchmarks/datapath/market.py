"""The benchmark's market data: which window, how it is read from PostgreSQL, and the tiny
market of `--quick`.

Every mode prepares the same thing the same way: `load_window` is `build_panel_timed`
(binary COPY into polars, 54 factors, lookback from the catalog); its report counts the rows
each query answered, and the bytes PostgreSQL sent come from the connection's TCP counter.
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
    conn: psycopg.Connection | None = None,
) -> Loaded:
    """`build_panel_timed` over [start, end] (None: all the data), with the bytes PostgreSQL
    sent (the connection's TCP counter) beside the rows its report counts."""
    from dataprep.build import build_panel_timed

    received = tcp_bytes_received()
    panel, report = build_panel_timed(database_url=database_url, start=start, end=end, conn=conn)
    received = tcp_bytes_received() - received
    return Loaded(panel, report.total_rows, received, report.load_s, report.compute_s)


def registry_builder(database_url: str) -> tuple[FactorPanel, dict[str, float]]:
    """The DatasetRegistry's builder (all the data, as `qbt up` builds it), counted."""
    loaded = load_window(database_url, start=None, end=None)
    return loaded.panel, {
        "load_s": loaded.load_s,
        "compute_s": loaded.compute_s,
        "rows_read": float(loaded.rows_read),
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
        load_demo(url, n_stocks=n_stocks, start=start, end=end)
    except BaseException:
        drop_database(url)
        raise
    return url, time.perf_counter() - began


def drop_database(url: str) -> None:
    name = conninfo_to_dict(url)["dbname"]
    with psycopg.connect(server_url_of(url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
