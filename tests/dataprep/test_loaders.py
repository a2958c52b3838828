"""Loaders: the rows, columns and types read from PostgreSQL, the lookback, the version."""

from __future__ import annotations

from datetime import date

import polars as pl
import psycopg
import pytest

from dataprep.build import statement_months
from dataprep.factors import CATALOG
from dataprep.loaders import (
    DateRangeError,
    EmptyDatabaseError,
    data_version,
    load_market,
)
from dataprep.tables import FINANCIALS_SCHEMA as FINANCIAL_SCHEMA
from tests.dataprep.tiny_market import N_DAYS, START, day, write_tiny_market


@pytest.fixture
def loaded_url(database_url: str) -> str:
    write_tiny_market(database_url)
    return database_url


def test_prices_rows_columns_and_types(loaded_url: str) -> None:
    with psycopg.connect(loaded_url) as conn:
        frames = load_market(conn, lookback_days=0, statement_months=0)
    prices = frames.prices
    assert prices.columns == [
        "code", "date", "close", "volume", "trading_value", "shares_outstanding"
    ]  # fmt: skip
    assert isinstance(prices.schema["code"], pl.Enum)
    assert prices.schema["date"] == pl.Date
    assert prices.schema["close"] == pl.Float64 and prices.schema["volume"] == pl.Int64
    assert prices.schema["shares_outstanding"] == pl.Int64
    with psycopg.connect(loaded_url) as conn:
        expected = conn.execute("SELECT count(*), sum(close), sum(volume) FROM stock_prices")
        count, close_sum, volume_sum = expected.fetchone()
    assert prices.height == count
    assert prices["close"].sum() == pytest.approx(close_sum)
    assert prices["volume"].sum() == volume_sum
    assert prices.select(pl.col("code").cast(pl.String)).to_series().is_sorted()
    first = prices.row(0, named=True)
    assert (str(first["code"]), first["date"]) == ("000010", day(0))
    assert frames.calendar.len() == N_DAYS and frames.calendar.dtype == pl.Date


def test_other_tables(loaded_url: str) -> None:
    with psycopg.connect(loaded_url) as conn:
        frames = load_market(conn, lookback_days=0, statement_months=13)
    assert frames.stocks["code"].to_list() == ["000010", "000020", "000030", "000040", "000050"]
    assert frames.stocks.schema["delisted_on"] == pl.Date
    assert frames.stocks.filter(pl.col("code") == "000030")["delisted_on"][0] == day(290)
    assert frames.financials.schema == pl.Schema(FINANCIAL_SCHEMA)
    assert frames.statements_from == date(2020, 12, 3)  # 13 months before 2022-01-03
    assert frames.financials.height == 9 + 4
    assert frames.financials.equals(frames.financials.sort("code", "period_end"))
    assert frames.financials["dividends_per_share"].null_count() > 0  # NULL stays null
    assert frames.index_prices.height == 2 * N_DAYS - 1
    assert frames.index_prices.columns == ["index_code", "date", "close"]


def test_lookback_is_loaded_before_start(loaded_url: str) -> None:
    lookback = CATALOG.extra_rows()
    with psycopg.connect(loaded_url) as conn:
        frames = load_market(
            conn,
            start=day(START),
            end=day(300),
            lookback_days=lookback,
            statement_months=statement_months(),
        )
    assert lookback == 252
    assert frames.start == day(START) and frames.end == day(300)
    assert frames.first_loaded == day(START - lookback)
    assert frames.n_lookback_days == lookback
    assert frames.prices["date"].min() == day(START - lookback)
    assert frames.prices["date"].max() == day(300)
    # statements: from `statement_months` before the first loaded day, disclosed by `end`
    assert frames.financials["period_end"].min() >= frames.statements_from
    assert frames.financials["disclosed_on"].max() <= day(300)


def test_lookback_is_cut_at_the_first_day_of_data(loaded_url: str) -> None:
    with psycopg.connect(loaded_url) as conn:
        frames = load_market(conn, start=day(10), lookback_days=252, statement_months=0)
    assert frames.first_loaded == day(0) and frames.n_lookback_days == 10


def test_window_snaps_to_trading_days(loaded_url: str) -> None:
    saturday = date(2022, 1, 8)
    with psycopg.connect(loaded_url) as conn:
        frames = load_market(conn, start=saturday, end=date(2022, 1, 16), lookback_days=0,
                             statement_months=0)  # fmt: skip
    assert frames.start == date(2022, 1, 10) and frames.end == date(2022, 1, 14)


def test_data_version_changes_when_a_row_is_added(loaded_url: str) -> None:
    with psycopg.connect(loaded_url) as conn:
        before = data_version(conn)
        assert data_version(conn) == before
        assert len(before) == 12
        conn.execute(
            "INSERT INTO stock_prices VALUES ('000010', %s, 1, 1, 1, 1, 1, 1, 1)",
            (day(N_DAYS - 1) + (day(1) - day(0)) * 3,),
        )
        conn.commit()
        assert data_version(conn) != before


def test_database_without_tables(empty_database_url: str) -> None:
    with psycopg.connect(empty_database_url) as conn:
        with pytest.raises(EmptyDatabaseError, match="qbt db init"):
            load_market(conn, lookback_days=1, statement_months=1)


def test_empty_database_and_bad_windows(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        with pytest.raises(EmptyDatabaseError, match="no stock prices"):
            load_market(conn, lookback_days=1, statement_months=1)
    write_tiny_market(database_url)
    with psycopg.connect(database_url) as conn:
        message = f"Got 2031-01-01 for end: the data ends on {day(N_DAYS - 1)}"
        with pytest.raises(DateRangeError, match=message):
            load_market(conn, end=date(2031, 1, 1), lookback_days=1, statement_months=1)
        with pytest.raises(DateRangeError, match="Got 2010-01-01 for start: the data begins"):
            load_market(conn, start=date(2010, 1, 1), lookback_days=1, statement_months=1)
        with pytest.raises(DateRangeError, match="no trading day"):
            load_market(conn, start=date(2022, 1, 8), end=date(2022, 1, 9), lookback_days=1,
                        statement_months=1)  # fmt: skip


def test_load_inside_an_open_transaction(loaded_url: str) -> None:
    with psycopg.connect(loaded_url) as conn:
        conn.execute("SELECT 1")  # the connection is now inside a transaction
        frames = load_market(conn, lookback_days=0, statement_months=0)
    assert frames.calendar.len() == N_DAYS
