"""Importing CSV / Parquet files: a clean round trip, and every bad input named precisely."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from datetime import date, timedelta
from pathlib import Path

import polars as pl
import psycopg
import pytest
from polars.testing import assert_frame_equal
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from dataprep.demo import generate_market
from dataprep.importer import ImportValidationError, import_files
from dataprep.schema import migrate
from dataprep.tables import TABLES, MarketData
from dataprep.warehouse import WarehouseError, is_empty, table_counts

ROW = 7  # the 0-based data row a bad case breaks: CSV line 9, Parquet row 8


@pytest.fixture(scope="module")
def market() -> MarketData:
    return generate_market(n_stocks=12, start=date(2023, 1, 1), end=date(2023, 6, 30), seed=3)


@pytest.fixture(scope="module")
def untouched_url(server_url: str) -> Iterator[str]:
    """One migrated database shared by the bad-input tests: none of them may write to it."""
    name = f"qbt_t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = make_conninfo(**{**conninfo_to_dict(server_url), "dbname": name})
    migrate(url)
    yield url
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def write_files(
    folder: Path, frames: dict[str, pl.DataFrame], suffix: str = ".csv"
) -> dict[str, Path]:
    paths = {}
    for field, frame in frames.items():
        path = folder / f"{field}{suffix}"
        if suffix == ".parquet":
            frame.write_parquet(path)
        else:
            frame.write_csv(path)
        paths[field] = path
    return paths


def frames_of(market: MarketData) -> dict[str, pl.DataFrame]:
    return {field: getattr(market, field) for field in TABLES}


def set_cell(frame: pl.DataFrame, column: str, index: int, value: object) -> pl.DataFrame:
    dtype = frame[column].dtype
    if isinstance(value, str):
        dtype = pl.String()
    elif isinstance(value, float):
        dtype = pl.Float64()
    here = pl.int_range(pl.len()) == index
    return frame.with_columns(
        pl.when(here)
        .then(pl.lit(value, dtype=dtype))
        .otherwise(pl.col(column).cast(dtype))
        .alias(column)
    )


def read_tables(database_url: str) -> dict[str, pl.DataFrame]:
    frames = {}
    with psycopg.connect(database_url) as conn:
        for field, (table, schema) in TABLES.items():
            rows = conn.execute(f"SELECT {', '.join(schema)} FROM {table}").fetchall()
            frames[field] = pl.DataFrame(rows, schema=schema, orient="row")
    return frames


def counts_in(database_url: str) -> dict[str, int]:
    with psycopg.connect(database_url) as conn:
        return table_counts(conn)


def assert_same(stored: dict[str, pl.DataFrame], expected: dict[str, pl.DataFrame]) -> None:
    for field, frame in expected.items():
        keys = list(frame.columns[:2])
        assert_frame_equal(stored[field].sort(keys), frame.sort(keys))


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_round_trip_of_a_generated_market(
    database_url: str, market: MarketData, tmp_path: Path, suffix: str
) -> None:
    paths = write_files(tmp_path, frames_of(market), suffix)

    counts = import_files(database_url, **paths)

    assert counts == market.counts()
    assert_same(read_tables(database_url), frames_of(market))


def test_appending_new_rows_to_a_database_that_holds_data(
    database_url: str, market: MarketData, tmp_path: Path
) -> None:
    cut = date(2023, 4, 1)
    before = {
        "stocks": market.stocks,
        "prices": market.prices.filter(pl.col("date") < cut),
        "financials": market.financials.filter(pl.col("disclosed_on") < cut),
        "indexes": market.indexes.filter(pl.col("date") < cut),
    }
    after = {
        "stocks": market.stocks.head(0),  # every code is already in the database
        "prices": market.prices.filter(pl.col("date") >= cut),
        "financials": market.financials.filter(pl.col("disclosed_on") >= cut),
        "indexes": market.indexes.filter(pl.col("date") >= cut),
    }
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    import_files(database_url, **write_files(tmp_path / "a", before))

    counts = import_files(database_url, **write_files(tmp_path / "b", after, ".parquet"))

    assert counts["stocks"] == 0 and counts["stock_prices"] == after["prices"].height
    assert_same(read_tables(database_url), frames_of(market))


def test_financials_and_indexes_are_optional(
    database_url: str, market: MarketData, tmp_path: Path
) -> None:
    paths = write_files(tmp_path, {"stocks": market.stocks, "prices": market.prices})

    counts = import_files(database_url, **paths)

    assert counts == {**market.counts(), "financials": 0, "index_prices": 0}


Mutation = Callable[[dict[str, pl.DataFrame]], None]


def _shift(frames: dict[str, pl.DataFrame], kind: str, column: str, source: str, days: int):
    value = frames[kind][source][ROW] + timedelta(days=days)
    frames[kind] = set_cell(frames[kind], column, ROW, value)


def _set(kind: str, column: str, value: object, index: int = ROW) -> Mutation:
    def mutate(frames: dict[str, pl.DataFrame]) -> None:
        frames[kind] = set_cell(frames[kind], column, index, value)

    return mutate


def _copy_key(kind: str, column: str) -> Mutation:
    """Row ROW + 1 takes row ROW's key: a duplicate on ROW + 1."""

    def mutate(frames: dict[str, pl.DataFrame]) -> None:
        frames[kind] = set_cell(frames[kind], column, ROW + 1, frames[kind][column][ROW])

    return mutate


def _half_high(frames: dict[str, pl.DataFrame]) -> None:
    frames["prices"] = set_cell(frames["prices"], "high", ROW, frames["prices"]["low"][ROW] / 2)


def _early_disclosure(frames: dict[str, pl.DataFrame]) -> None:
    _shift(frames, "financials", "disclosed_on", "period_end", -1)


def _early_delisting(frames: dict[str, pl.DataFrame]) -> None:
    _shift(frames, "stocks", "delisted_on", "listed_on", -1)


BAD_CELLS = {
    "text in close": ("prices", _set("prices", "close", "abc"), "close", "expected a number"),
    "bad date": (
        "stocks", _set("stocks", "listed_on", "2020/01/06"), "listed_on", "expected a date"
    ),
    "fractional volume": (
        "prices", _set("prices", "volume", 1.5), "volume", "expected a whole number"
    ),
    "empty volume": ("prices", _set("prices", "volume", None), "volume", "missing value"),
    "empty code": ("stocks", _set("stocks", "code", None), "code", "missing value"),
    "negative volume": ("prices", _set("prices", "volume", -5), "volume", "volume must be >= 0"),
    "zero close": ("prices", _set("prices", "close", 0.0), "close", "close must be > 0"),
    "infinite open": ("prices", _set("prices", "open", float("inf")), "open", "not a finite"),
    "high below low": ("prices", _half_high, "high", "high is below low"),
    "unknown market": ("stocks", _set("stocks", "market", "KOSDAK"), "market", "unknown market"),
    "unknown index": (
        "indexes", _set("indexes", "index_code", "KOSPI200"), "index_code", "unknown index_code"
    ),
    "quarter 5": (
        "financials", _set("financials", "fiscal_quarter", 5), "fiscal_quarter", "must be 1, 2"
    ),
    "disclosed before period end": (
        "financials", _early_disclosure, "disclosed_on", "before period_end"
    ),
    "delisted before listed": ("stocks", _early_delisting, "delisted_on", "before listed_on"),
    "unknown stock": ("prices", _set("prices", "code", "999999"), "code", "unknown stock"),
    "unknown company": (
        "financials", _set("financials", "code", "999999"), "code", "unknown stock"
    ),
}
DUPLICATES = {
    "stocks": _copy_key("stocks", "code"),
    "prices": _copy_key("prices", "date"),
    "financials": _copy_key("financials", "period_end"),
    "indexes": _copy_key("indexes", "date"),
}


def _import_broken(
    database_url: str, market: MarketData, folder: Path, mutate: Mutation, suffix: str
) -> ImportValidationError:
    frames = frames_of(market)
    mutate(frames)
    paths = write_files(folder, frames, suffix)
    with pytest.raises(ImportValidationError) as caught:
        import_files(database_url, **paths)
    with psycopg.connect(database_url) as conn:
        assert is_empty(conn)
    return caught.value


@pytest.mark.parametrize("case", list(BAD_CELLS))
def test_a_bad_csv_cell_names_file_line_and_column(
    untouched_url: str, market: MarketData, tmp_path: Path, case: str
) -> None:
    kind, mutate, column, problem = BAD_CELLS[case]

    error = _import_broken(untouched_url, market, tmp_path, mutate, ".csv")

    assert str(error).startswith(f"{tmp_path / kind}.csv, line {ROW + 2}, column '{column}': ")
    assert problem in str(error)
    assert (error.row, error.line, error.column) == (ROW + 1, ROW + 2, column)


@pytest.mark.parametrize("case", ["text in close", "negative volume", "unknown market"])
def test_a_bad_parquet_cell_names_file_row_and_column(
    untouched_url: str, market: MarketData, tmp_path: Path, case: str
) -> None:
    kind, mutate, column, problem = BAD_CELLS[case]

    error = _import_broken(untouched_url, market, tmp_path, mutate, ".parquet")

    assert str(error).startswith(f"{tmp_path / kind}.parquet, row {ROW + 1}, column '{column}'")
    assert problem in str(error)


@pytest.mark.parametrize("kind", list(DUPLICATES))
def test_a_duplicate_key_in_a_file_names_both_lines(
    untouched_url: str, market: MarketData, tmp_path: Path, kind: str
) -> None:
    error = _import_broken(untouched_url, market, tmp_path, DUPLICATES[kind], ".csv")

    assert f"{kind}.csv, line {ROW + 3}, column " in str(error)
    assert f"duplicate key, first on line {ROW + 2}" in str(error)


def test_a_missing_column_is_named(untouched_url: str, market: MarketData, tmp_path: Path) -> None:
    def drop_close(frames: dict[str, pl.DataFrame]) -> None:
        frames["prices"] = frames["prices"].drop("close")

    error = _import_broken(untouched_url, market, tmp_path, drop_close, ".csv")

    assert str(error).startswith(f"{tmp_path / 'prices.csv'}, column 'close': missing column")


def test_an_extra_column_is_named(untouched_url: str, market: MarketData, tmp_path: Path) -> None:
    def add_note(frames: dict[str, pl.DataFrame]) -> None:
        frames["stocks"] = frames["stocks"].with_columns(note=pl.lit("x"))

    error = _import_broken(untouched_url, market, tmp_path, add_note, ".parquet")

    assert "stocks.parquet, column 'note': unexpected column(s) note" in str(error)


def test_codes_stored_as_numbers_are_refused(
    untouched_url: str, market: MarketData, tmp_path: Path
) -> None:
    def numeric_codes(frames: dict[str, pl.DataFrame]) -> None:
        frames["stocks"] = frames["stocks"].with_columns(pl.col("code").cast(pl.Int64))

    error = _import_broken(untouched_url, market, tmp_path, numeric_codes, ".parquet")

    assert "stocks.parquet, column 'code': expected text, the file stores Int64" in str(error)


def test_an_empty_file_is_refused(untouched_url: str, market: MarketData, tmp_path: Path) -> None:
    paths = write_files(tmp_path, frames_of(market))
    paths["stocks"].write_text("")

    with pytest.raises(ImportValidationError, match=r"stocks\.csv: cannot read the stocks file"):
        import_files(untouched_url, **paths)


def test_an_unsupported_file_type_is_refused(
    untouched_url: str, market: MarketData, tmp_path: Path
) -> None:
    paths = write_files(tmp_path, frames_of(market))
    sheet = tmp_path / "prices.xlsx"
    sheet.write_bytes(b"not a csv")

    with pytest.raises(ImportValidationError, match=r"prices\.xlsx: unsupported file type"):
        import_files(untouched_url, stocks=paths["stocks"], prices=sheet)


def test_keys_already_in_the_database_are_duplicates(
    database_url: str, market: MarketData, tmp_path: Path
) -> None:
    import_files(database_url, **write_files(tmp_path, frames_of(market)))
    before = counts_in(database_url)
    (tmp_path / "again").mkdir()
    no_stocks = market.stocks.head(0)
    cases = {
        "stocks": ({"stocks": market.stocks.slice(3)}, 2, "code"),
        "prices": ({"stocks": no_stocks, "prices": market.prices.slice(ROW)}, 2, "date"),
        "indexes": (
            {"stocks": no_stocks, "prices": market.prices.head(0), "indexes": market.indexes},
            2,
            "date",
        ),
    }
    messages = {}
    for kind, (frames, line, column) in cases.items():
        frames = {"prices": market.prices.head(0), **frames}
        paths = write_files(tmp_path / "again", frames)

        with pytest.raises(ImportValidationError) as caught:
            import_files(database_url, **paths)

        messages[kind] = str(caught.value)
        assert f"{kind}.csv, line {line}, column '{column}'" in messages[kind]
        assert "already holds it" in messages[kind]
        assert counts_in(database_url) == before
    row = market.prices.row(ROW, named=True)
    assert f"(code='{row['code']}', date={row['date']})" in messages["prices"]
    assert f"(code='{market.stocks['code'][3]}')" in messages["stocks"]


def test_a_database_error_rolls_everything_back(
    database_url: str, market: MarketData, tmp_path: Path
) -> None:
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS"
            " $$ BEGIN RAISE EXCEPTION 'index feed is frozen'; END $$"
        )
        conn.execute(
            "CREATE TRIGGER frozen BEFORE INSERT ON index_prices"
            " FOR EACH ROW EXECUTE FUNCTION refuse()"
        )
    paths = write_files(tmp_path, frames_of(market))

    with pytest.raises(WarehouseError, match="nothing was written: index feed is frozen"):
        import_files(database_url, **paths)

    with psycopg.connect(database_url) as conn:
        assert is_empty(conn)  # stocks and prices were written, then rolled back
