"""Import market data from CSV or Parquet files: validate everything, then write it all.

Steps: read each file (`.csv` as text, `.parquet` as typed columns) -> check its columns
(missing or extra) -> convert every column to the table type (a bad cell names its row) ->
required cells, value rules and duplicate keys within the file -> codes of prices and
statements against the stocks file -> in ONE transaction: duplicate keys and unknown codes
against the database, then `write_market`. Any error leaves the tables as they were.

Rows are named as a user counts them: CSV "line N" (the header is line 1), Parquet
"row N" (1-based data row). NaN in an optional statement value counts as empty.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import polars as pl
import psycopg
from psycopg import sql

from dataprep.tables import STATEMENT_ITEMS, TABLES, MarketData
from dataprep.warehouse import WarehouseError, write_market
from runtime.names import MARKETS

KEYS = {
    "stocks": ("code",),
    "prices": ("code", "date"),
    "financials": ("code", "period_end"),
    "indexes": ("index_code", "date"),
}
OPTIONAL = {"stocks": {"delisted_on"}, "financials": set(STATEMENT_ITEMS)}
ROW = "__row"  # 0-based position in the file, carried through every check


@dataclass(frozen=True)
class Rule:
    """A condition every row must meet; `show` names the cells quoted when it fails."""

    column: str
    ok: pl.Expr
    problem: str
    show: tuple[str, ...]


def _rule(column: str, ok: pl.Expr, problem: str, *others: str) -> Rule:
    return Rule(column, ok, problem, (column, *others))


_MARKET_LIST = " or ".join(MARKETS)
RULES: dict[str, tuple[Rule, ...]] = {
    "stocks": (
        _rule("code", pl.col("code").str.strip_chars() != "", "code must not be empty"),
        _rule(
            "market", pl.col("market").is_in(list(MARKETS)), f"unknown market: use {_MARKET_LIST}"
        ),
        _rule(
            "delisted_on",
            pl.col("delisted_on") >= pl.col("listed_on"),
            "delisted_on is before listed_on",
            "listed_on",
        ),
    ),
    "prices": (
        _rule("open", pl.col("open") > 0, "open must be > 0"),
        _rule("low", pl.col("low") > 0, "low must be > 0"),
        _rule("close", pl.col("close") > 0, "close must be > 0"),
        _rule("high", pl.col("high") >= pl.col("low"), "high is below low", "low"),
        _rule("high", pl.col("high") >= pl.col("open"), "high is below open", "open"),
        _rule("high", pl.col("high") >= pl.col("close"), "high is below close", "close"),
        _rule("low", pl.col("low") <= pl.col("open"), "low is above open", "open"),
        _rule("low", pl.col("low") <= pl.col("close"), "low is above close", "close"),
        _rule("volume", pl.col("volume") >= 0, "volume must be >= 0"),
        _rule("trading_value", pl.col("trading_value") >= 0, "trading_value must be >= 0"),
        _rule("shares_outstanding", pl.col("shares_outstanding") > 0, "shares must be > 0"),
    ),
    "financials": (
        _rule(
            "fiscal_quarter",
            pl.col("fiscal_quarter").is_between(1, 4),
            "fiscal_quarter must be 1, 2, 3 or 4",
        ),
        _rule(
            "disclosed_on",
            pl.col("disclosed_on") >= pl.col("period_end"),
            "disclosed_on is before period_end",
            "period_end",
        ),
    ),
    "indexes": (
        _rule(
            "index_code",
            pl.col("index_code").is_in(list(MARKETS)),
            f"unknown index_code: use {_MARKET_LIST}",
        ),
        _rule("close", pl.col("close") > 0, "close must be > 0"),
    ),
}


class ImportValidationError(ValueError):
    """A file that cannot be imported; the message names the file, the row and the column."""

    def __init__(
        self,
        problem: str,
        *,
        file: Path,
        row: int | None = None,
        column: str | None = None,
        csv: bool = False,
    ) -> None:
        self.file, self.row, self.column, self.problem = file, row, column, problem
        self.line = row + 1 if csv and row is not None else None
        where = [str(file)]
        if row is not None:
            where.append(f"line {self.line}" if csv else f"row {row}")
        if column is not None:
            where.append(f"column '{column}'")
        super().__init__(f"{', '.join(where)}: {problem}")


@dataclass(frozen=True, eq=False)
class _Source:
    kind: str  # a MarketData field: stocks, prices, financials, indexes
    path: Path
    frame: pl.DataFrame  # table columns in table order, plus ROW

    @property
    def csv(self) -> bool:
        return self.path.suffix.lower() == ".csv"

    def error(
        self, problem: str, *, index: int | None = None, column: str | None = None
    ) -> ImportValidationError:
        """An ImportValidationError for the 0-based data row `index`."""
        row = None if index is None else index + 1
        return ImportValidationError(problem, file=self.path, row=row, column=column, csv=self.csv)


def import_files(
    database_url: str,
    *,
    prices: Path,
    stocks: Path,
    financials: Path | None = None,
    indexes: Path | None = None,
) -> dict[str, int]:
    """Validate the files, then append them to the market tables in ONE transaction.

    Returns rows written per table. Raises ImportValidationError for bad input (nothing is
    written) and WarehouseError when the database refuses the write (nothing is written).
    """
    paths = {"stocks": stocks, "prices": prices, "financials": financials, "indexes": indexes}
    sources = {kind: _read(kind, Path(path)) for kind, path in paths.items() if path is not None}
    for source in sources.values():
        _check_rows(source)
    with psycopg.connect(database_url) as conn:
        with conn.transaction():
            tables = sql.SQL(", ").join(sql.Identifier(TABLES[k][0]) for k in TABLES)
            conn.execute(sql.SQL("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE").format(tables))
            _check_codes(conn, sources)
            for source in sources.values():
                _check_not_in_database(conn, source)
            frames = {
                kind: sources[kind].frame.drop(ROW)
                if kind in sources
                else pl.DataFrame(schema=TABLES[kind][1])
                for kind in TABLES
            }
            try:
                return write_market(conn, MarketData(**frames))
            except psycopg.Error as err:
                raise WarehouseError(
                    f"The database refused the import, nothing was written: {err}"
                ) from err


def _read(kind: str, path: Path) -> _Source:
    """Read one file and convert its columns to the table types."""
    suffix = path.suffix.lower()
    try:
        if suffix == ".csv":
            raw = pl.read_csv(path, infer_schema=False)
        elif suffix == ".parquet":
            raw = pl.read_parquet(path)
        else:
            raise ImportValidationError(
                f"unsupported file type '{path.suffix}': use .csv or .parquet", file=path
            )
    except (OSError, pl.exceptions.PolarsError) as err:
        raise ImportValidationError(f"cannot read the {kind} file: {err}", file=path) from err
    schema = TABLES[kind][1]
    empty = _Source(kind, path, pl.DataFrame())
    missing = [name for name in schema if name not in raw.columns]
    if missing:
        raise empty.error(
            f"missing column(s) {', '.join(missing)}; {kind} files have the columns "
            f"{', '.join(schema)}",
            column=missing[0],
        )
    extra = [name for name in raw.columns if name not in schema]
    if extra:
        raise empty.error(
            f"unexpected column(s) {', '.join(extra)}; {kind} files have only the columns "
            f"{', '.join(schema)}",
            column=extra[0],
        )
    source = _Source(kind, path, raw.select(*schema).with_row_index(ROW))
    columns = [source.frame[ROW]]
    for name, dtype in schema.items():
        columns.append(_convert(source, name, dtype))
    return _Source(kind, path, pl.DataFrame(columns).select(*schema, ROW))


def _convert(source: _Source, name: str, dtype: pl.DataType) -> pl.Series:
    """The column as `dtype`; a cell that does not convert, or a required empty cell, fails."""
    series = source.frame[name]
    given = series.dtype
    if given == pl.Null:
        converted = pl.Series(name, [None] * len(series), dtype=dtype)
    elif dtype == pl.String:
        if not (given == pl.String or given in (pl.Categorical, pl.Enum)):
            raise source.error(f"expected text, the file stores {given}", column=name)
        converted = series.cast(pl.String)
    elif given == pl.String:
        text = series.str.strip_chars()
        if dtype == pl.Date:
            converted = text.str.to_date("%Y-%m-%d", strict=False)
        else:
            converted = text.cast(pl.Float64, strict=False)
        _fail_first(source, name, series.is_not_null() & converted.is_null(), _expected(dtype))
    elif dtype == pl.Date and given in (pl.Date, pl.Datetime):
        converted = series.cast(pl.Date)
    elif dtype != pl.Date and given.is_numeric():
        converted = series.cast(pl.Float64)
    else:
        raise source.error(f"{_expected(dtype)}, the file stores {given}", column=name)
    if converted.dtype == pl.Float64:
        if name in OPTIONAL.get(source.kind, ()):
            converted = converted.fill_nan(None)
        _fail_first(source, name, ~converted.is_finite().fill_null(True), "not a finite number")
        if dtype.is_integer():
            whole = (converted == converted.round(0)).fill_null(True)
            _fail_first(source, name, ~whole, "expected a whole number")
            number, converted = converted, converted.cast(dtype, strict=False)
            _fail_first(source, name, number.is_not_null() & converted.is_null(), "out of range")
    if name not in OPTIONAL.get(source.kind, ()):
        _fail_first(source, name, converted.is_null(), "missing value (the column is required)")
    return converted.alias(name)


def _expected(dtype: pl.DataType) -> str:
    if dtype == pl.Date:
        return "expected a date as YYYY-MM-DD"
    return "expected a whole number" if dtype.is_integer() else "expected a number"


def _fail_first(source: _Source, name: str, bad: pl.Series, problem: str) -> None:
    """Raise for the first True in `bad` (0-based rows), quoting the file's cell."""
    if not bad.any():
        return
    index = int(bad.arg_true()[0])
    cell = source.frame[name][index]
    got = "" if cell is None else f", got {cell!r}"
    raise source.error(f"{problem}{got}", index=index, column=name)


def _check_rows(source: _Source) -> None:
    """Value rules, then duplicate keys within the file."""
    frame = source.frame
    for rule in RULES[source.kind]:
        bad = frame.select(rule.ok.not_().fill_null(False).alias("bad"), ROW).filter("bad")
        if bad.height:
            _raise_at(source, int(bad[ROW][0]), rule.column, rule.problem, rule.show)
    keys = list(KEYS[source.kind])
    repeats = frame.select(ROW, first=pl.col(ROW).min().over(keys)).filter(
        pl.col(ROW) != pl.col("first")
    )
    if repeats.height:
        index, first = int(repeats[ROW][0]), int(repeats["first"][0])
        place = f"line {first + 2}" if source.csv else f"row {first + 1}"
        _raise_at(source, index, keys[-1], f"duplicate key, first on {place}", keys)


def _raise_at(
    source: _Source, index: int, column: str, problem: str, show: tuple[str, ...] | list[str]
) -> None:
    row = source.frame.row(index, named=True)
    cells = ", ".join(f"{name}={_text(row[name])}" for name in show)
    raise source.error(f"{problem} ({cells})", index=index, column=column)


def _text(value: object) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def _check_codes(conn: psycopg.Connection, sources: dict[str, _Source]) -> None:
    """Prices and statements must name a stock of the stocks file or of the database."""
    listed = set(sources["stocks"].frame["code"]) if "stocks" in sources else set()
    for kind in ("prices", "financials"):
        if kind not in sources:
            continue
        source = sources[kind]
        outside = set(source.frame["code"].unique()) - listed
        if not outside:
            continue
        known = conn.execute("SELECT code FROM stocks WHERE code = ANY(%s)", (list(outside),))
        unknown = outside - {row[0] for row in known}
        if unknown:
            first = source.frame.filter(pl.col("code").is_in(list(unknown)))[ROW][0]
            stocks_file = sources["stocks"].path if "stocks" in sources else "the stocks file"
            _raise_at(
                source,
                int(first),
                "code",
                f"unknown stock: not in {stocks_file} nor in the database",
                ("code",),
            )


def _check_not_in_database(conn: psycopg.Connection, source: _Source) -> None:
    """A key the table already holds is a duplicate: appending never overwrites."""
    table = TABLES[source.kind][0]
    keys = KEYS[source.kind]
    if source.frame.height == 0:
        return
    exists = conn.execute(sql.SQL("SELECT EXISTS (SELECT 1 FROM {})").format(sql.Identifier(table)))
    if not exists.fetchone()[0]:  # type: ignore[index]
        return
    temp = sql.Identifier(f"_qbt_import_{table}")
    key_list = sql.SQL(", ").join(map(sql.Identifier, keys))
    with conn.cursor() as cur:
        create = "CREATE TEMP TABLE {} ON COMMIT DROP AS SELECT 0::bigint AS {}, {} FROM {}"
        cur.execute(
            sql.SQL(create + " WITH NO DATA").format(
                temp, sql.Identifier(ROW), key_list, sql.Identifier(table)
            )
        )
        payload = source.frame.select(ROW, *keys).write_csv(include_header=False).encode()
        with cur.copy(sql.SQL("COPY {} FROM STDIN (FORMAT csv)").format(temp)) as copy:
            copy.write(payload)
        found = cur.execute(
            sql.SQL("SELECT min(k.{}) FROM {} k JOIN {} USING ({})").format(
                sql.Identifier(ROW), temp, sql.Identifier(table), key_list
            )
        ).fetchone()
    if found is not None and found[0] is not None:
        _raise_at(
            source, int(found[0]), keys[-1], f"duplicate key: {table} already holds it", keys
        )
