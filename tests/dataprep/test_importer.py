"""`qbt db import` of QBT's own layout: a clean round trip, incremental imports, a dry run, and
every bad input named precisely (all of them in one run), nothing half-written."""

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
from dataprep.importing import ImportRequest, import_market
from dataprep.importing.problems import ImportValidationError
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


def import_files(database_url: str, *, replace: bool = False, dry_run: bool = False,
                 **paths: Path) -> dict[str, int]:
    """Import `paths` (stocks=, prices=, ...); rows newly written per table."""
    request = ImportRequest(**{kind: [str(path)] for kind, path in paths.items()},
                            replace=replace, dry_run=dry_run)
    report = import_market(request, database_url=lambda: database_url)
    return {table: w.inserted for table, w in report.written.items()}


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_round_trip_of_a_generated_market(
    database_url: str, market: MarketData, tmp_path: Path, suffix: str
) -> None:
    paths = write_files(tmp_path, frames_of(market), suffix)

    counts = import_files(database_url, **paths)

    assert counts == {table: n for table, n in market.counts().items() if n}
    assert_same(read_tables(database_url), frames_of(market))


def test_appending_new_rows_without_a_stocks_file(
    database_url: str, market: MarketData, tmp_path: Path
) -> None:
    cut = date(2023, 4, 1)
    before = {
        "stocks": market.stocks,
        "prices": market.prices.filter(pl.col("date") < cut),
        "financials": market.financials.filter(pl.col("disclosed_on") < cut),
        "indexes": market.indexes.filter(pl.col("date") < cut),
        "status": market.status,
    }
    after = {
        "prices": market.prices.filter(pl.col("date") >= cut),
        "financials": market.financials.filter(pl.col("disclosed_on") >= cut),
        "indexes": market.indexes.filter(pl.col("date") >= cut),
    }
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    import_files(database_url, **write_files(tmp_path / "a", before))

    counts = import_files(database_url, **write_files(tmp_path / "b", after, ".parquet"))

    assert "stocks" not in counts and counts["stock_prices"] == after["prices"].height
    assert_same(read_tables(database_url), frames_of(market))


def test_importing_again_keeps_what_is_there_and_replace_overwrites(
    database_url: str, market: MarketData, tmp_path: Path
) -> None:
    import_files(database_url, **write_files(tmp_path, frames_of(market)))
    (tmp_path / "again").mkdir()
    changed = market.prices.with_columns(pl.col("close") * 1.0)
    changed = set_cell(changed, "volume", ROW, 123)
    paths = write_files(tmp_path / "again", {"prices": changed})
    request = ImportRequest(prices=[str(paths["prices"])])

    kept = import_market(request, database_url=lambda: database_url).written["stock_prices"]
    assert (kept.inserted, kept.updated, kept.kept) == (0, 0, market.prices.height)
    replaced = import_market(ImportRequest(prices=[str(paths["prices"])], replace=True),
                             database_url=lambda: database_url).written["stock_prices"]
    assert (replaced.inserted, replaced.updated) == (0, market.prices.height)
    row = market.prices.row(ROW, named=True)
    with psycopg.connect(database_url) as conn:
        volume = conn.execute("SELECT volume FROM stock_prices WHERE code = %s AND date = %s",
                              (row["code"], row["date"])).fetchone()[0]
    assert volume == 123


def test_a_dry_run_checks_everything_and_writes_nothing(
    database_url: str, market: MarketData, tmp_path: Path
) -> None:
    paths = write_files(tmp_path, frames_of(market))
    request = ImportRequest(**{k: [str(v)] for k, v in paths.items()}, dry_run=True)

    report = import_market(request, database_url=lambda: database_url)

    assert report.dry_run and report.written["stock_prices"].inserted == market.prices.height
    with psycopg.connect(database_url) as conn:
        assert is_empty(conn)


def test_no_database_is_touched_before_every_file_is_read_and_checked(
    market: MarketData, tmp_path: Path
) -> None:
    frames = frames_of(market)
    frames["prices"] = set_cell(frames["prices"], "close", ROW, "abc")
    paths = write_files(tmp_path, frames)
    asked = []

    with pytest.raises(ImportValidationError):
        import_market(ImportRequest(**{k: [str(v)] for k, v in paths.items()}),
                      database_url=lambda: asked.append(1) or "postgresql://nowhere")
    assert asked == []


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
        "stocks", _set("stocks", "listed_on", "2020-13-06"), "listed_on", "expected a date"
    ),
    "fractional volume": (
        "prices", _set("prices", "volume", 1.5), "volume", "expected a whole number"
    ),
    "empty volume": ("prices", _set("prices", "volume", None), "volume", "missing value"),
    "empty code": ("stocks", _set("stocks", "code", None), "code", "code is missing"),
    "negative volume": ("prices", _set("prices", "volume", -5), "volume", "must be >= 0"),
    "zero close": ("prices", _set("prices", "close", 0.0), "close", "must be > 0"),
    "high below low": ("prices", _half_high, "high", "high and low do not bound open and close"),
    "unknown market": ("stocks", _set("stocks", "market", "KOSDAK"), "market", "unknown market"),
    "unknown index": (
        "indexes", _set("indexes", "index_code", "KOSPI200"), "index_code", "unknown index"
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

    first = error.problems[0]
    assert (first.file, first.column) == (f"{tmp_path / kind}.csv", column), str(error)
    assert first.where is not None and first.where.startswith(f"line {ROW + 2}"), str(error)
    assert problem in first.message
    assert str(error).startswith(f"{tmp_path / kind}.csv, line {ROW + 2}")


@pytest.mark.parametrize("case", ["text in close", "negative volume", "unknown market"])
def test_a_bad_parquet_cell_names_file_row_and_column(
    untouched_url: str, market: MarketData, tmp_path: Path, case: str
) -> None:
    kind, mutate, column, problem = BAD_CELLS[case]

    error = _import_broken(untouched_url, market, tmp_path, mutate, ".parquet")

    assert str(error).startswith(f"{tmp_path / kind}.parquet, row {ROW + 1}, column '{column}'")
    assert problem in str(error)


def test_every_problem_of_every_file_in_one_run(
    untouched_url: str, market: MarketData, tmp_path: Path
) -> None:
    def many(frames: dict[str, pl.DataFrame]) -> None:
        for index in range(3, 30):
            frames["prices"] = set_cell(frames["prices"], "close", index, "n/a")
        frames["stocks"] = set_cell(frames["stocks"], "market", 2, "NYSE")

    error = _import_broken(untouched_url, market, tmp_path, many, ".csv")

    assert error.total == 28 and str(error).startswith("28 problems: ")
    files = {p.file for p in error.problems}
    assert files == {f"{tmp_path / 'prices'}.csv", f"{tmp_path / 'stocks'}.csv"}
    assert "line 5, line 6, line 7, line 8, line 9 and 22 more" in str(error)


@pytest.mark.parametrize("kind", list(DUPLICATES))
def test_a_duplicate_key_in_a_file_names_both_lines(
    untouched_url: str, market: MarketData, tmp_path: Path, kind: str
) -> None:
    error = _import_broken(untouched_url, market, tmp_path, DUPLICATES[kind], ".csv")

    assert f"{kind}.csv, line {ROW + 3}, column " in str(error)
    assert "duplicate key" in str(error) and f"__first={ROW + 2}" in str(error)


def test_a_missing_column_names_what_was_found(
    untouched_url: str, market: MarketData, tmp_path: Path
) -> None:
    def drop_close(frames: dict[str, pl.DataFrame]) -> None:
        frames["prices"] = frames["prices"].drop("close")

    error = _import_broken(untouched_url, market, tmp_path, drop_close, ".csv")

    assert str(error).startswith(f"{tmp_path / 'prices.csv'}: not a prices layout QBT knows "
                                 "(found: code, date, open, high, low, volume,")


def test_an_extra_column_is_ignored_and_said(
    database_url: str, market: MarketData, tmp_path: Path
) -> None:
    frames = frames_of(market)
    frames["stocks"] = frames["stocks"].with_columns(note=pl.lit("x"))
    paths = write_files(tmp_path, frames, ".parquet")
    request = ImportRequest(**{k: [str(v)] for k, v in paths.items()})

    report = import_market(request, database_url=lambda: database_url)

    assert any("columns not used by the qbt layout: note" in line
               for line in report.findings.lines())


def test_codes_stored_as_numbers_get_their_leading_zeros_back(
    database_url: str, market: MarketData, tmp_path: Path
) -> None:
    frames = frames_of(market)
    for kind in ("stocks", "prices", "financials"):
        frames[kind] = frames[kind].with_columns(pl.col("code").cast(pl.Int64))
    paths = write_files(tmp_path, frames, ".parquet")

    import_files(database_url, **paths)

    assert_same(read_tables(database_url), frames_of(market))


def test_an_empty_file_is_refused(untouched_url: str, market: MarketData, tmp_path: Path) -> None:
    paths = write_files(tmp_path, frames_of(market))
    paths["stocks"].write_text("")

    with pytest.raises(ImportValidationError, match=r"stocks\.csv: the file is empty"):
        import_files(untouched_url, **paths)


def test_an_excel_workbook_is_refused_with_what_to_do(
    untouched_url: str, market: MarketData, tmp_path: Path
) -> None:
    paths = write_files(tmp_path, frames_of(market))
    sheet = tmp_path / "prices.xlsx"
    sheet.write_bytes(b"PK\x03\x04 not really")

    with pytest.raises(ImportValidationError, match=r"prices\.xlsx: Excel workbooks are not read"):
        import_files(untouched_url, stocks=paths["stocks"], prices=sheet)


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
        assert is_empty(conn)
