"""Read the market tables out of PostgreSQL into polars, fast, for one panel window.

Steps (all in ONE repeatable-read, read-only transaction, so the frames and the data
version describe the same snapshot):
1. `resolve_window`: the trading days (distinct `stock_prices.date`), the requested
   [start, end] checked against them, and the first day to load: `lookback_days` trading
   days before `start` (the catalog's max lookback, see `dataprep.factors.extra_rows`).
2. `stock_prices` through `COPY ... TO STDOUT (FORMAT binary)`: every column is fixed
   width (the code travels as its int4 rank), so the whole buffer is parsed by one
   `np.frombuffer` with a structured dtype. Measured on 2M rows (2 cores): binary 1.6-1.8 s
   to receive + 0.04 s to parse; CSV 2.0-2.6 s to receive + 1.7 s for `pl.read_csv`.
   (`Copy.read()` in a loop; iterating the Copy object is ~3x slower.)
3. `financials` (statements disclosed up to `end`, from `statement_months` before the first
   loaded day), `stocks` and `index_prices`: small, `COPY ... (FORMAT csv, HEADER)` into
   `pl.read_csv` with an explicit schema.
No per-row Python objects, no pandas.
"""

from __future__ import annotations

import hashlib
from datetime import date, timedelta

import numpy as np
import polars as pl
import psycopg
from psycopg import sql

from dataprep.frames import MarketFrames
from dataprep.tables import (
    FINANCIALS_SCHEMA,
    INDEXES_SCHEMA,
    MARKET_TABLES,
    STATUS_SCHEMA,
    STOCKS_SCHEMA,
)

PG_EPOCH_DAYS = 10_957  # 2000-01-01 (PostgreSQL's binary date epoch) in days since 1970-01-01
BINARY_HEADER = b"PGCOPY\n\xff\r\n\x00"
# One stock_prices row in binary COPY: field count, then (length, value) per column.
_PRICE_ROW = np.dtype(
    [
        ("n", ">i2"),
        ("l_stock", ">i4"),
        ("stock", ">i4"),
        ("l_date", ">i4"),
        ("date", ">i4"),
        ("l_close", ">i4"),
        ("close", ">f8"),
        ("l_volume", ">i4"),
        ("volume", ">i8"),
        ("l_value", ">i4"),
        ("trading_value", ">f8"),
        ("l_shares", ">i4"),
        ("shares_outstanding", ">i8"),
    ]
)


class PanelBuildError(ValueError):
    """A panel cannot be built from these arguments or this database (the message says why)."""


class EmptyDatabaseError(PanelBuildError):
    """The market tables hold no prices."""


class DateRangeError(PanelBuildError):
    """The requested [start, end] is reversed, outside the data or holds no trading day."""


def data_version(conn: psycopg.Connection) -> str:
    """A short hash of the market data's revision (every write bumps it), the tables' row
    counts and latest dates, and the factor catalog's version: new data or new factor code,
    new version."""
    from dataprep.factors import CATALOG_VERSION

    row = conn.execute(
        "SELECT (SELECT revision FROM data_revision), (SELECT count(*) FROM stocks),"
        " (SELECT max(listed_on) FROM stocks), (SELECT max(delisted_on) FROM stocks),"
        " (SELECT count(*) FROM stock_prices), (SELECT max(date) FROM stock_prices),"
        " (SELECT count(*) FROM financials), (SELECT max(disclosed_on) FROM financials),"
        " (SELECT count(*) FROM index_prices), (SELECT max(date) FROM index_prices),"
        " (SELECT count(*) FROM stock_status), (SELECT max(start_date) FROM stock_status)"
    ).fetchone()
    text = "|".join("" if value is None else str(value) for value in (*(row or ()),
                                                                        CATALOG_VERSION))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def load_market(
    conn: psycopg.Connection,
    *,
    start: date | None = None,
    end: date | None = None,
    lookback_days: int,
    statement_months: int,
) -> MarketFrames:
    """Everything a panel over [start, end] needs (defaults: the first / last trading day).

    Raises `EmptyDatabaseError` / `DateRangeError` (both `PanelBuildError`) naming the
    values, never a database or polars traceback, for an empty database or a bad window.
    """
    if lookback_days < 0 or statement_months < 0:
        raise ValueError(f"Got lookback_days={lookback_days}, statement_months={statement_months}")
    idle = conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE
    with conn.transaction():
        if idle:  # else: inside the caller's transaction, which decides the snapshot
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        _require_tables(conn)
        calendar = load_calendar(conn)
        start, end, first = resolve_window(
            calendar, start=start, end=end, lookback_days=lookback_days
        )
        statements_from = _months_before(first, statement_months)
        stocks = load_stocks(conn)
        prices = load_prices(conn, codes=stocks["code"], first=first, end=end)
        financials = load_financials(conn, statements_from=statements_from, end=end)
        index_prices = load_index_prices(conn, first=first, end=end)
        status = load_status(conn, first=first, end=end)
        version = data_version(conn)
        if (start, end) != (calendar[0], calendar[-1]):  # a window of the data, not all of it
            version = f"{version}-{start:%Y%m%d}-{end:%Y%m%d}"
    return MarketFrames(
        start=start,
        end=end,
        calendar=calendar.filter((calendar >= first) & (calendar <= end)),
        stocks=stocks,
        prices=prices,
        financials=financials,
        index_prices=index_prices,
        status=status,
        statements_from=statements_from,
        version=version,
        rows_read={
            "calendar": calendar.len(),  # the calendar query answers every trading day
            "stocks": stocks.height,
            "stock_prices": prices.height,
            "financials": financials.height,
            "index_prices": index_prices.height,
            "stock_status": status.height,
            "data_version": 1,
        },
    )


def load_calendar(conn: psycopg.Connection) -> pl.Series:
    """Every distinct `stock_prices.date`, ascending (a skip scan on the date index)."""
    query = (
        "WITH RECURSIVE days(d) AS ("
        " SELECT min(date) FROM stock_prices"
        " UNION ALL SELECT (SELECT min(date) FROM stock_prices WHERE date > d)"
        " FROM days WHERE d IS NOT NULL)"
        " SELECT d FROM days WHERE d IS NOT NULL"
    )
    frame = _copy_csv(conn, sql.SQL(query), schema={"d": pl.Date()})
    return frame["d"].alias("date")


def resolve_window(
    calendar: pl.Series, *, start: date | None, end: date | None, lookback_days: int
) -> tuple[date, date, date]:
    """(start, end, first day to load) for a request, checked against the trading days."""
    if calendar.is_empty():
        raise EmptyDatabaseError(
            "The database holds no stock prices: load market data first (qbt db demo / import)"
        )
    first_day, last_day = calendar[0], calendar[-1]
    if start is not None and end is not None and start > end:
        raise DateRangeError(f"Got start {start} after end {end}: start must be on or before end")
    if end is not None and end > last_day:
        raise DateRangeError(f"Got {end} for end: the data ends on {last_day}")
    if end is not None and end < first_day:
        raise DateRangeError(f"Got {end} for end: the data begins on {first_day}")
    if start is not None and start < first_day:
        raise DateRangeError(f"Got {start} for start: the data begins on {first_day}")
    if start is not None and start > last_day:
        raise DateRangeError(f"Got {start} for start: the data ends on {last_day}")
    start = first_day if start is None else start
    end = last_day if end is None else end
    before = calendar.filter(calendar < start)
    inside = calendar.filter((calendar >= start) & (calendar <= end))
    if inside.is_empty():
        raise DateRangeError(f"Got {start}..{end}: no trading day in that range")
    first = before[-min(lookback_days, len(before))] if lookback_days and len(before) else start
    return inside[0], inside[-1], first


def load_stocks(conn: psycopg.Connection) -> pl.DataFrame:
    columns = sql.SQL(", ").join(map(sql.Identifier, STOCKS_SCHEMA))
    query = sql.SQL('SELECT {} FROM stocks ORDER BY code COLLATE "C"').format(columns)
    return _copy_csv(conn, query, schema=STOCKS_SCHEMA)


def load_prices(
    conn: psycopg.Connection, *, codes: pl.Series, first: date, end: date
) -> pl.DataFrame:
    """stock_prices rows in [first, end], `code` as a pl.Enum over `codes` (code order)."""
    query = sql.SQL(
        "COPY (SELECT s.i, p.date, p.close, p.volume, p.trading_value, p.shares_outstanding"
        " FROM stock_prices p JOIN (SELECT code,"
        ' (row_number() OVER (ORDER BY code COLLATE "C") - 1)::int4 AS i FROM stocks) s'
        " USING (code) WHERE p.date BETWEEN {first} AND {end}) TO STDOUT (FORMAT binary)"
    ).format(first=sql.Literal(first), end=sql.Literal(end))
    raw = _copy_bytes(conn, query)
    rows = _parse_price_rows(raw)
    enum_codes = codes.cast(pl.Enum(codes.to_list()))
    frame = pl.DataFrame(
        {
            "code": enum_codes.gather(rows["stock"].astype(np.uint32)),
            "date": pl.Series((rows["date"] + PG_EPOCH_DAYS).astype(np.int32)).cast(pl.Date),
            "close": rows["close"].astype(np.float64),
            "volume": rows["volume"].astype(np.int64),
            "trading_value": rows["trading_value"].astype(np.float64),
            "shares_outstanding": rows["shares_outstanding"].astype(np.int64),
        }
    )
    return frame.sort("code", "date")


def load_financials(conn: psycopg.Connection, *, statements_from: date, end: date) -> pl.DataFrame:
    columns = sql.SQL(", ").join(map(sql.Identifier, FINANCIALS_SCHEMA))
    query = sql.SQL(
        "SELECT {columns} FROM financials WHERE period_end >= {since} AND disclosed_on <= {end}"
        ' ORDER BY code COLLATE "C", period_end'
    ).format(columns=columns, since=sql.Literal(statements_from), end=sql.Literal(end))
    return _copy_csv(conn, query, schema=FINANCIALS_SCHEMA)


def load_index_prices(conn: psycopg.Connection, *, first: date, end: date) -> pl.DataFrame:
    query = sql.SQL(
        "SELECT index_code, date, close FROM index_prices WHERE date BETWEEN {first} AND {end}"
        " ORDER BY index_code, date"
    ).format(first=sql.Literal(first), end=sql.Literal(end))
    return _copy_csv(conn, query, schema=INDEXES_SCHEMA)


def load_status(conn: psycopg.Connection, *, first: date, end: date) -> pl.DataFrame:
    """The designations in force on some day of [first, end]."""
    columns = sql.SQL(", ").join(map(sql.Identifier, STATUS_SCHEMA))
    query = sql.SQL(
        "SELECT {columns} FROM stock_status WHERE start_date <= {end}"
        " AND (end_date IS NULL OR end_date >= {first}) ORDER BY code, start_date"
    ).format(columns=columns, first=sql.Literal(first), end=sql.Literal(end))
    return _copy_csv(conn, query, schema=STATUS_SCHEMA)


def _require_tables(conn: psycopg.Connection) -> None:
    names = sql.SQL(", ").join(sql.Literal(f"public.{t}") for t in MARKET_TABLES)
    missing = conn.execute(
        sql.SQL("SELECT t FROM unnest(ARRAY[{}]) t WHERE to_regclass(t) IS NULL").format(names)
    ).fetchall()
    if missing:
        tables = ", ".join(row[0].removeprefix("public.") for row in missing)
        raise EmptyDatabaseError(
            f"The database has no market tables ({tables}): run `qbt db init` to migrate it"
        )


def _copy_bytes(conn: psycopg.Connection, query: sql.Composed) -> bytes:
    buffer = bytearray()
    with conn.cursor() as cur, cur.copy(query) as copy:
        while chunk := copy.read():
            buffer += chunk
    return bytes(buffer)


def _copy_csv(
    conn: psycopg.Connection, query: sql.Composed | sql.SQL, *, schema: dict[str, pl.DataType]
) -> pl.DataFrame:
    statement = sql.SQL("COPY ({}) TO STDOUT (FORMAT csv, HEADER)").format(query)
    raw = _copy_bytes(conn, statement)
    if not raw.strip():
        return pl.DataFrame(schema=schema)
    return pl.read_csv(raw, schema=schema, has_header=True)


def _parse_price_rows(raw: bytes) -> np.ndarray:
    header = len(BINARY_HEADER) + 8  # signature, flags, header-extension length (0)
    if not raw.startswith(BINARY_HEADER):
        raise RuntimeError("stock_prices COPY did not answer in PostgreSQL's binary format")
    body = len(raw) - header - 2  # the trailer is a field count of -1
    if body % _PRICE_ROW.itemsize:
        raise RuntimeError(f"stock_prices COPY answered {body} bytes of rows: not fixed width")
    rows = np.frombuffer(raw, dtype=_PRICE_ROW, offset=header, count=body // _PRICE_ROW.itemsize)
    if len(rows) and not (rows["n"] == 6).all():
        raise RuntimeError("stock_prices COPY rows do not have 6 fields")
    return rows


def _months_before(day: date, months: int) -> date:
    """The same day of the month `months` earlier (clamped to the month's length)."""
    total = day.year * 12 + day.month - 1 - months
    year, month = divmod(total, 12)
    last = (date(year + (month + 1) // 12, (month + 1) % 12 + 1, 1) - timedelta(days=1)).day
    return date(year, month + 1, min(day.day, last))
