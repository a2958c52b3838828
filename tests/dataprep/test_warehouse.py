"""Writing market data: COPY into the real schema, one transaction, refuse-or-replace."""

from __future__ import annotations

from datetime import date

import polars as pl
import psycopg
import pytest
from polars.testing import assert_frame_equal

from dataprep.demo import generate_market
from dataprep.tables import MARKET_TABLES, TABLES, MarketData
from dataprep.warehouse import (
    LoadReport,
    WarehouseError,
    is_empty,
    load_demo,
    table_counts,
    write_market,
)

SMALL = {"n_stocks": 40, "start": date(2022, 7, 1), "end": date(2023, 6, 30)}


@pytest.fixture(scope="module")
def small() -> MarketData:
    return generate_market(**SMALL, seed=3)


def read_back(conn: psycopg.Connection) -> MarketData:
    """Every market table, in the order the generator emits rows."""
    frames = {}
    for field, (table, schema) in TABLES.items():
        keys = {"stocks": "code", "indexes": "index_code DESC, date",
                "status": "code, status, start_date"}.get(field, "1, 2")
        with conn.cursor() as cur:
            cur.execute(f"SELECT {', '.join(schema)} FROM {table} ORDER BY {keys}")
            frames[field] = pl.DataFrame(cur.fetchall(), schema=schema, orient="row")
    return MarketData(**frames)


def test_load_demo_writes_the_generated_frames(database_url: str, small: MarketData) -> None:
    report = load_demo(database_url, **SMALL, seed=3)

    assert isinstance(report, LoadReport)
    assert report.rows == small.counts()
    assert report.stock_prices > 9_000 and report.financials > 0 and report.index_prices > 0
    assert report.generate_seconds > 0 and report.load_seconds > 0
    with psycopg.connect(database_url) as conn:
        assert table_counts(conn) == small.counts()
        assert not is_empty(conn)
        stored = read_back(conn)
    for field in TABLES:  # every value survives the CSV round trip exactly
        assert_frame_equal(getattr(stored, field), getattr(small, field))


def test_foreign_keys_are_back_and_validated_after_a_write(database_url: str) -> None:
    load_demo(database_url, **SMALL, seed=3)
    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT conrelid::regclass::text, convalidated FROM pg_constraint"
            " WHERE contype = 'f' AND confrelid = 'stocks'::regclass ORDER BY 1"
        ).fetchall()
        assert rows == [("financials", True), ("stock_prices", True), ("stock_status", True)]
        with pytest.raises(psycopg.errors.ForeignKeyViolation):
            conn.execute(
                "INSERT INTO stock_prices VALUES ('999999', '2023-01-02', 1, 1, 1, 1, 0, 0, 1)"
            )


def test_load_demo_refuses_a_database_that_holds_data(
    database_url: str, small: MarketData
) -> None:
    load_demo(database_url, **SMALL, seed=3)

    with pytest.raises(WarehouseError, match=r"already hold data .*replace=True"):
        load_demo(database_url, **SMALL, seed=4)

    with psycopg.connect(database_url) as conn:
        assert table_counts(conn) == small.counts()


def test_load_demo_refuses_even_a_single_index_row(database_url: str) -> None:
    with psycopg.connect(database_url) as conn:
        conn.execute("INSERT INTO index_prices VALUES ('KOSPI', '2023-01-02', 2500)")
        conn.commit()
    with pytest.raises(WarehouseError, match="index_prices: 1 rows"):
        load_demo(database_url, **SMALL, seed=3)


def test_replace_truncates_and_reloads_in_one_transaction(
    database_url: str, small: MarketData
) -> None:
    load_demo(database_url, n_stocks=25, start=date(2023, 1, 1), end=date(2023, 3, 31), seed=9)

    report = load_demo(database_url, **SMALL, seed=3, replace=True)

    assert report.rows == small.counts()
    with psycopg.connect(database_url) as conn:
        assert table_counts(conn) == small.counts()
        assert set(read_back(conn).stocks["code"]) == set(small.stocks["code"])


@pytest.mark.parametrize("autocommit", [False, True])
def test_a_failed_write_leaves_the_tables_and_constraints_as_they_were(
    database_url: str, small: MarketData, autocommit: bool
) -> None:
    load_demo(database_url, **SMALL, seed=3)
    clash = MarketData(
        stocks=small.stocks.head(0),
        prices=small.prices.head(5).with_columns(date=pl.lit(date(2030, 1, 2))),  # new keys
        financials=small.financials.head(0),
        indexes=small.indexes.head(3),  # keys the table already holds: fails after the prices
    )
    with psycopg.connect(database_url, autocommit=autocommit) as conn:
        with pytest.raises(psycopg.errors.UniqueViolation):
            write_market(conn, clash)
        conn.rollback()
        assert table_counts(conn) == small.counts()
        foreign_keys = conn.execute(
            "SELECT count(*) FROM pg_constraint WHERE contype = 'f'"
            " AND confrelid = 'stocks'::regclass"
        ).fetchone()
        assert foreign_keys == (3,)  # prices, financials and status name a stock


def test_write_market_counts_and_empty_frames(database_url: str, small: MarketData) -> None:
    only_stocks = MarketData(
        stocks=small.stocks,
        prices=small.prices.head(0),
        financials=small.financials.head(0),
        indexes=small.indexes.head(0),
    )
    with psycopg.connect(database_url) as conn:
        assert is_empty(conn)
        counts = write_market(conn, only_stocks)
        conn.commit()
        assert counts == {"stocks": 40, "stock_prices": 0, "financials": 0, "index_prices": 0,
                          "stock_status": 0}
        assert table_counts(conn) == counts
        assert list(counts) == list(MARKET_TABLES)


def test_market_data_refuses_frames_that_are_not_the_tables(small: MarketData) -> None:
    with pytest.raises(ValueError, match="MarketData.prices has columns"):
        MarketData(
            stocks=small.stocks,
            prices=small.prices.drop("trading_value"),
            financials=small.financials,
            indexes=small.indexes,
        )
