"""Write an import in ONE transaction: new rows inserted, rows whose key the table holds kept
(or, with `replace`, overwritten); codes checked against the stocks of the import and of the
database; nothing written when anything fails.

Each frame goes to a temporary table by COPY, then one INSERT ... ON CONFLICT per table
(`RETURNING xmax = 0` tells an inserted row from an updated one).
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl
import psycopg
from psycopg import sql

from dataprep.importing.problems import Findings, check
from dataprep.warehouse import bump_revision

KEYS = {"stocks": ("code",), "stock_prices": ("code", "date"),
        "financials": ("code", "period_end"), "index_prices": ("index_code", "date"),
        "stock_status": ("code", "status", "start_date")}


@dataclass(frozen=True)
class Written:
    inserted: int
    updated: int
    kept: int  # already there, left as they were


def _copy(cur: psycopg.Cursor, name: str, frame: pl.DataFrame, types: dict[str, str]) -> None:
    columns = sql.SQL(", ").join(sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(t))
                                 for c, t in types.items())
    cur.execute(sql.SQL("CREATE TEMP TABLE {} ({}) ON COMMIT DROP").format(
        sql.Identifier(name), columns))
    payload = frame.select(list(types)).write_csv(include_header=False, null_value="\\N")
    target = sql.SQL("COPY {} FROM STDIN (FORMAT csv, NULL '\\N')").format(sql.Identifier(name))
    with cur.copy(target) as copy:
        copy.write(payload.encode())


def _upsert(
    cur: psycopg.Cursor, table: str, temp: str, columns: list[str], *, replace: bool, total: int
) -> Written:
    keys = KEYS[table]
    names = sql.SQL(", ").join(map(sql.Identifier, columns))
    action: sql.Composable
    if replace:
        updates = sql.SQL(", ").join(
            sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c)) for c in columns
            if c not in keys)
        action = sql.SQL("DO UPDATE SET {}").format(updates)
    else:
        action = sql.SQL("DO NOTHING")
    cur.execute(sql.SQL(
        "INSERT INTO {table} ({names}) SELECT {names} FROM {temp} ON CONFLICT ({keys}) {action}"
        " RETURNING xmax = 0").format(
        table=sql.Identifier(table), names=names, temp=sql.Identifier(temp),
        keys=sql.SQL(", ").join(map(sql.Identifier, keys)), action=action))
    flags = [row[0] for row in cur.fetchall()]
    inserted = sum(flags)
    return Written(inserted=inserted, updated=len(flags) - inserted, kept=total - len(flags))


STOCK_TYPES = {"code": "text", "name": "text", "market": "text", "sector": "text",
               "listed_on": "date", "delisted_on": "date", "kind": "text"}
STATUS_TYPES = {"code": "text", "status": "text", "start_date": "date", "end_date": "date"}
PRICE_TYPES = {"code": "text", "date": "date", "open": "float8", "high": "float8",
               "low": "float8", "close": "float8", "volume": "int8", "trading_value": "float8",
               "shares_outstanding": "int8"}
INDEX_TYPES = {"index_code": "text", "date": "date", "close": "float8"}


def write_import(
    conn: psycopg.Connection,
    frames: dict[str, pl.DataFrame],
    *,
    replace: bool,
    findings: Findings,
) -> dict[str, Written]:
    """`frames`: stocks, delistings, prices, financials, indexes (any may be empty). Call
    inside the caller's transaction; raises ImportValidationError (via findings) for codes
    that are nowhere."""
    from dataprep.tables import STATEMENT_ITEMS

    written: dict[str, Written] = {}
    tables = sql.SQL(", ").join(map(sql.Identifier, KEYS))
    conn.execute(sql.SQL("LOCK TABLE {} IN SHARE ROW EXCLUSIVE MODE").format(tables))
    stocks, prices = frames["stocks"], frames["prices"]
    known = _known_codes(conn, stocks, frames)
    stocks, delistings = _delisted_stocks(stocks, frames["delistings"], known, findings)
    known |= set(stocks["code"].to_list())
    frames = {**frames, "delistings": delistings}
    stocks = _listing_days(conn, stocks, prices, findings)
    for kind in ("prices", "financials", "status"):
        frame = frames[kind]
        check(findings, frame, ~pl.col("code").is_in(list(known)), column="code",
              message="unknown stock: not in the --stocks files nor in the database",
              show=("code",))
    _outside_listing(conn, prices, stocks, findings)
    findings.raise_if_errors()
    with conn.cursor() as cur:
        if stocks.height:
            _copy(cur, "_in_stocks", stocks, STOCK_TYPES)
            written["stocks"] = _upsert(cur, "stocks", "_in_stocks", list(STOCK_TYPES),
                                        replace=replace, total=stocks.height)
        if frames["delistings"].height:
            written["delisted_on"] = _delistings(cur, frames["delistings"], replace=replace)
        if prices.height:
            _copy(cur, "_in_prices", prices, PRICE_TYPES)
            written["stock_prices"] = _upsert(cur, "stock_prices", "_in_prices",
                                              list(PRICE_TYPES), replace=replace,
                                              total=prices.height)
        financials = frames["financials"]
        if financials.height:
            types = {"code": "text", "period_end": "date", "fiscal_quarter": "int2",
                     "disclosed_on": "date", **dict.fromkeys(STATEMENT_ITEMS, "float8"),
                     "disclosure_estimated": "boolean"}
            _copy(cur, "_in_financials", financials, types)
            written["financials"] = _upsert(cur, "financials", "_in_financials", list(types),
                                            replace=replace, total=financials.height)
        indexes = frames["indexes"]
        if indexes.height:
            _copy(cur, "_in_indexes", indexes, INDEX_TYPES)
            written["index_prices"] = _upsert(cur, "index_prices", "_in_indexes",
                                              list(INDEX_TYPES), replace=replace,
                                              total=indexes.height)
        status = frames["status"]
        if status.height:
            _copy(cur, "_in_status", status, STATUS_TYPES)
            written["stock_status"] = _upsert(cur, "stock_status", "_in_status",
                                              list(STATUS_TYPES), replace=replace,
                                              total=status.height)
        if any(w.inserted or w.updated for w in written.values()):
            bump_revision(cur)
    return written


def _listing_days(
    conn: psycopg.Connection, stocks: pl.DataFrame, prices: pl.DataFrame, findings: Findings
) -> pl.DataFrame:
    """A stock without a listing date is listed from its first price day (of this import,
    else of the database); none at all is an error."""
    missing = stocks.filter(pl.col("listed_on").is_null())
    if missing.height == 0:
        return stocks
    first = prices.group_by("code").agg(pl.col("date").min().alias("__first"))
    codes = missing["code"].to_list()
    rows = conn.execute("SELECT code, min(date) FROM stock_prices WHERE code = ANY(%s)"
                        " GROUP BY code", (codes,)).fetchall()
    in_db = pl.DataFrame(rows, schema={"code": pl.String, "__stored": pl.Date}, orient="row")
    stocks = stocks.join(first, on="code", how="left").join(in_db, on="code", how="left")
    day = pl.min_horizontal("__first", "__stored")
    findings.default("missing listing date set to the stock's first price day",
                     stocks.filter(pl.col("listed_on").is_null() & day.is_not_null()).height)
    stocks = stocks.with_columns(pl.col("listed_on").fill_null(day)).drop("__first", "__stored")
    check(findings, stocks, pl.col("listed_on").is_null(), column="listed_on",
          message="no listing date, and no prices to take it from (import the stock with "
                  "its prices, or give its listing date)",
          show=("code",))
    return stocks


def _delisted_stocks(
    stocks: pl.DataFrame, delistings: pl.DataFrame, known: set[str], findings: Findings
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Delistings of stocks QBT holds set their delisted_on; a delisted stock QBT does not hold
    is added when the list names it fully (name, market, listing date: FinanceDataReader's
    KRX-DELISTING), else skipped (KIND's list covers every company since 1990)."""
    if delistings.height == 0:
        return stocks, delistings
    unknown = ~pl.col("code").is_in(list(known))
    complete = pl.col("name").is_not_null() & pl.col("market").is_not_null() \
        & pl.col("listed_on").is_not_null()
    added = delistings.filter(unknown & complete).with_columns(
        pl.lit("unknown").alias("sector"), pl.lit("common").alias("kind"))
    findings.default("delisted stocks added from the delisting list", added.height)
    findings.default("delistings of stocks not in the stocks files nor the database skipped "
                     "(no name, market and listing date to add them)",
                     delistings.filter(unknown & ~complete).height)
    stocks = pl.concat([stocks, added.select(stocks.columns)], how="vertical_relaxed")
    return stocks, delistings.filter(~unknown)


def _known_codes(conn: psycopg.Connection, stocks: pl.DataFrame,
                 frames: dict[str, pl.DataFrame]) -> set[str]:
    named = set()
    for kind in ("prices", "financials", "delistings", "status"):
        named |= set(frames[kind]["code"].drop_nulls().unique().to_list())
    known = set(stocks["code"].to_list())
    outside = list(named - known)
    if outside:
        rows = conn.execute("SELECT code FROM stocks WHERE code = ANY(%s)", (outside,))
        known |= {row[0] for row in rows}
    return known


def _outside_listing(conn: psycopg.Connection, prices: pl.DataFrame, stocks: pl.DataFrame,
                     findings: Findings) -> None:
    if prices.height == 0:
        return
    codes = list(set(prices["code"].unique().to_list()) - set(stocks["code"].to_list()))
    rows = conn.execute("SELECT code, listed_on, delisted_on FROM stocks WHERE code = ANY(%s)",
                        (codes,)).fetchall() if codes else []
    stored = pl.DataFrame(rows, orient="row", schema={"code": pl.String, "listed_on": pl.Date,
                                                      "delisted_on": pl.Date})
    listings = pl.concat([stocks.select("code", "listed_on", "delisted_on"), stored])
    joined = prices.join(listings, on="code", how="left")
    outside = (pl.col("date") < pl.col("listed_on")) | (pl.col("date") > pl.col("delisted_on"))
    check(findings, joined, outside, column="date", warning=True,
          message="a price outside the stock's listing (before listed_on or after delisted_on)",
          show=("code", "date", "listed_on", "delisted_on"))


def _delistings(cur: psycopg.Cursor, frame: pl.DataFrame, *, replace: bool) -> Written:
    """Set stocks.delisted_on (only where none is stored, unless `replace`)."""
    _copy(cur, "_in_delistings", frame, {"code": "text", "delisted_on": "date"})
    guard = sql.SQL("") if replace else sql.SQL(" AND s.delisted_on IS NULL")
    cur.execute(sql.SQL(
        "UPDATE stocks s SET delisted_on = d.delisted_on FROM _in_delistings d"
        " WHERE s.code = d.code AND s.delisted_on IS DISTINCT FROM d.delisted_on{}").format(guard))
    return Written(inserted=0, updated=cur.rowcount, kept=frame.height - cur.rowcount)

