"""Each kind's standard defaults (said with their counts) and its checks, on typed frames.

Defaults: KOSDAQ GLOBAL is KOSDAQ; KONEX and non-stock securities (ETF, ETN, ELW, funds,
warrants, depositary receipts) are skipped; a missing sector is `unknown`; trading value is
close x volume when absent; shares come from a dated second source, carried forward;
halted days written with open/high/low 0 keep the close for all four; OHLC off by at most
one tick (adjusted-price rounding) is clamped; a statement without a disclosure date gets
the statutory deadline (45 days after a quarter, 90 after the fiscal year), marked.
"""

from __future__ import annotations

import polars as pl

from dataprep.importing.problems import LINE, ORIGIN, Findings, check, missing
from dataprep.tables import STATEMENT_ITEMS

KOSPI_NAMES = ("kospi", "유가증권", "유가증권시장", "유가증권시장상장법인", "stk", "y")
KOSDAQ_NAMES = ("kosdaq", "kosdaqglobal", "코스닥", "코스닥시장", "코스닥시장상장법인", "ksq",
                "k")
KONEX_NAMES = ("konex", "코넥스", "코넥스시장", "코넥스시장상장법인", "knx", "n")
NON_STOCK = ("etf", "etn", "elw", "수익증권", "뮤추얼펀드", "선박투자회사", "인프라투융자회사",
             "신주인수권", "주식예탁증권", "예탁증권", "reit-fund")
FUNDS = ("투자회사",)  # ... but 부동산투자회사 (a REIT) is a stock
MISSING = "missing value (the column is required)"
LIMIT_MOVE = 0.305  # the ±30 % daily limit, and half a point of rounding
QUARTER_DEADLINE_DAYS, YEAR_DEADLINE_DAYS = 45, 90


def _key(column: str) -> pl.Expr:
    return pl.col(column).str.to_lowercase().str.replace_all(r"[\s_\-]", "")


def markets(frame: pl.DataFrame, findings: Findings, *, what: str) -> pl.DataFrame:
    """`market` as KOSPI / KOSDAQ; KONEX rows skipped; other values an error."""
    if "market" not in frame.columns or frame.height == 0:
        return frame
    key = _key("market")
    frame = frame.with_columns(
        pl.when(key.is_in(KOSPI_NAMES)).then(pl.lit("KOSPI"))
        .when(key.is_in(KOSDAQ_NAMES)).then(pl.lit("KOSDAQ"))
        .when(key.is_in(KONEX_NAMES)).then(pl.lit("KONEX"))
        .otherwise(pl.col("market")).alias("market"),
    )
    konex = frame.filter(pl.col("market") == "KONEX")
    findings.default(f"KONEX {what} skipped (QBT holds KOSPI and KOSDAQ)", konex.height)
    frame = frame.filter((pl.col("market") != "KONEX").fill_null(True))
    check(findings, frame, ~pl.col("market").is_in(["KOSPI", "KOSDAQ"]), column="market",
          message="unknown market: use KOSPI or KOSDAQ (KOSDAQ GLOBAL counts as KOSDAQ; KONEX "
                  "is skipped)")
    return frame


def securities(frame: pl.DataFrame, findings: Findings) -> pl.DataFrame:
    """Drop ETFs, ETNs, ELWs, funds, warrants and depositary receipts, counted by kind."""
    if "security" not in frame.columns:
        return frame
    key = _key("security")
    fund = pl.any_horizontal(key.str.contains(f) for f in FUNDS) & ~key.str.contains("부동산")
    other = pl.any_horizontal(key.str.contains(n) for n in NON_STOCK)
    skipped = frame.filter((fund | other).fill_null(False))
    for (kind,), rows in skipped.group_by("security", maintain_order=True):
        findings.default(f"non-stock securities skipped ({kind})", rows.height)
    return frame.filter(~(fund | other).fill_null(False))


KIND_NAMES = {"common": "common", "보통주": "common", "보통": "common", "주권": "common",
              "preferred": "preferred", "우선주": "preferred", "종류주식": "preferred",
              "spac": "spac", "스팩": "spac", "기업인수목적회사": "spac",
              "reit": "reit", "리츠": "reit", "부동산투자회사": "reit", "other": "other"}


def kinds(frame: pl.DataFrame, findings: Findings) -> pl.DataFrame:
    """`kind` from the file (보통주 / 우선주 / ... or QBT's words), else from the name and code:
    스팩 or SPAC is a SPAC, 리츠 (or a 부동산투자회사 security) a REIT, a name ending in 우 /
    우B / 1우 ... with a code not ending in 0 a preferred share (KRX gives preferred shares
    the common share's code with a last character of 5, 7, 9 or a letter)."""
    given = _key("kind").replace_strict(KIND_NAMES, default=None) \
        if "kind" in frame.columns else pl.lit(None, pl.String)
    if "kind" in frame.columns:
        check(findings, frame, pl.col("kind").is_not_null() & given.is_null(), column="kind",
              message="unknown kind: use common, preferred, spac, reit or other (보통주, 우선주, "
                      "스팩, 리츠 also do)")
    name = pl.col("name").fill_null("")
    security = pl.col("security").fill_null("") if "security" in frame.columns else pl.lit("")
    inferred = (
        pl.when(name.str.contains(r"스팩|(?i:spac)|기업인수목적")).then(pl.lit("spac"))
        .when(name.str.contains("리츠") | security.str.contains("부동산투자")).then(pl.lit("reit"))
        .when(name.str.contains(r"\d?우[A-C]?(\(전환\))?$") & ~pl.col("code").str.ends_with("0"))
        .then(pl.lit("preferred"))
        .otherwise(pl.lit("common"))
    )
    frame = frame.with_columns(given.alias("__given"), inferred.alias("__inferred"))
    for kind in ("preferred", "spac", "reit"):
        findings.default(f"kind '{kind}' inferred from the name and code",
                         frame.filter(pl.col("__given").is_null()
                                      & (pl.col("__inferred") == kind)).height)
    return frame.with_columns(pl.col("__given").fill_null(pl.col("__inferred")).alias("kind")) \
        .drop("__given", "__inferred")


def stocks(frame: pl.DataFrame, findings: Findings) -> pl.DataFrame:
    frame = markets(securities(frame, findings), findings, what="listings")
    frame = kinds(frame, findings)
    if "sector" not in frame.columns:
        frame = frame.with_columns(pl.lit(None, pl.String).alias("sector"))
    findings.default("missing sector set to 'unknown'",
                     frame.filter(pl.col("sector").is_null()).height)
    frame = frame.with_columns(
        pl.col("sector").fill_null("unknown"),
        *(pl.lit(None, pl.Date).alias(c) for c in ("listed_on", "delisted_on")
          if c not in frame.columns),
    )
    check(findings, frame, pl.col("code").is_null(), column="code", message="code is missing")
    check(findings, frame, pl.col("name").is_null(), column="name", message="name is missing",
          show=("code",))
    check(findings, frame, pl.col("delisted_on") < pl.col("listed_on"), column="delisted_on",
          message="delisted_on is before listed_on", show=("code", "listed_on", "delisted_on"))
    duplicates(frame, ("code",), findings)
    return frame.select("code", "name", "market", "sector", "listed_on", "delisted_on", "kind",
                        ORIGIN, LINE)


def tick(price: pl.Expr) -> pl.Expr:
    """The KRX tick size at a price (the 2023 unified table)."""
    return (pl.when(price < 2_000).then(1).when(price < 5_000).then(5)
            .when(price < 20_000).then(10).when(price < 50_000).then(50)
            .when(price < 200_000).then(100).when(price < 500_000).then(500)
            .otherwise(1_000)).cast(pl.Float64)


def prices(frame: pl.DataFrame, findings: Findings, *, shares: pl.DataFrame) -> pl.DataFrame:
    frame = markets(frame, findings, what="price rows")
    for column in ("trading_value", "shares_outstanding"):
        if column not in frame.columns:
            frame = frame.with_columns(pl.lit(None, pl.Float64).alias(column))
    closeless = frame.filter((pl.col("close") == 0) & (pl.col("volume") == 0))
    findings.default("rows with no trade and no close (close 0) dropped", closeless.height)
    frame = frame.filter(~((pl.col("close") == 0) & (pl.col("volume") == 0)).fill_null(False))
    halted = (pl.col("volume") == 0) & (pl.col("open") == 0) & (pl.col("close") > 0)
    findings.default("halted days written with open/high/low 0 kept as halted (volume 0), "
                     "prices filled from the close", frame.filter(halted.fill_null(False)).height)
    frame = frame.with_columns(
        pl.when(halted).then(pl.col("close")).otherwise(pl.col(c)).alias(c)
        for c in ("open", "high", "low")
    )
    frame = _clamp_to_tick(frame, findings)
    absent = pl.col("trading_value").is_null() & pl.col("close").is_not_null()
    findings.default("trading_value = close x volume (absent in the file)",
                     frame.filter(absent).height)
    frame = frame.with_columns(
        pl.when(absent).then(pl.col("close") * pl.col("volume")).otherwise(
            pl.col("trading_value")).alias("trading_value")
    )
    frame = _shares(frame, findings, shares=shares)
    for column, rule in (("open", "> 0"), ("low", "> 0"), ("close", "> 0")):
        check(findings, frame, pl.col(column) <= 0, column=column, message=f"must be {rule}",
              show=("code", "date", column))
    for column in ("code", "date", "open", "high", "low", "close", "volume"):
        check(findings, frame, missing(column), column=column,
              message=MISSING, show=("code", "date"))
    positive = pl.all_horizontal(pl.col(c) > 0 for c in ("open", "high", "low", "close"))
    out_of_order = (pl.col("high") < pl.max_horizontal("open", "close", "low")) \
        | (pl.col("low") > pl.min_horizontal("open", "close", "high"))
    check(findings, frame, positive & out_of_order, column="high",
          message="high and low do not bound open and close (by more than one tick)",
          show=("code", "date", "open", "high", "low", "close"))
    check(findings, frame, pl.col("volume") < 0, column="volume", message="must be >= 0",
          show=("code", "date", "volume"))
    check(findings, frame, pl.col("trading_value") < 0, column="trading_value",
          message="must be >= 0", show=("code", "date", "trading_value"))
    for column in ("volume", "shares_outstanding"):
        check(findings, frame, pl.col(column) != pl.col(column).round(0), column=column,
              message="expected a whole number", show=("code", "date", column))
    duplicates(frame, ("code", "date"), findings)
    _limit_moves(frame, findings)
    return frame.with_columns(
        pl.col("volume").round(0).cast(pl.Int64, strict=False),
        pl.col("shares_outstanding").round(0).cast(pl.Int64, strict=False),
    ).select("code", "date", "open", "high", "low", "close", "volume", "trading_value",
             "shares_outstanding", ORIGIN, LINE)


def _clamp_to_tick(frame: pl.DataFrame, findings: Findings) -> pl.DataFrame:
    """High below open/close, or low above them, by at most one tick: adjusted-price
    rounding, clamped and counted."""
    top = pl.max_horizontal("open", "close")
    bottom = pl.min_horizontal("open", "close")
    high_off = (top - pl.col("high")).clip(lower_bound=0)
    low_off = (pl.col("low") - bottom).clip(lower_bound=0)
    fix_high = (high_off > 0) & (high_off <= tick(pl.col("close")))
    fix_low = (low_off > 0) & (low_off <= tick(pl.col("close")))
    findings.default("high or low off by at most one tick (price adjustment rounding) clamped",
                     frame.filter((fix_high | fix_low).fill_null(False)).height)
    return frame.with_columns(
        pl.when(fix_high).then(top).otherwise(pl.col("high")).alias("high"),
        pl.when(fix_low).then(bottom).otherwise(pl.col("low")).alias("low"),
    )


def _shares(frame: pl.DataFrame, findings: Findings, *, shares: pl.DataFrame) -> pl.DataFrame:
    """Shares outstanding where the file has none: the latest dated value of `shares` on or
    before the day (a second source, carried forward), else the stock's last value in the
    file (carried forward); what is still missing is an error."""
    missing = pl.col("shares_outstanding").is_null()
    n_missing = frame.filter(missing).height
    if n_missing == 0:
        return frame
    if shares.height:
        dated = shares.select("code", "date", pl.col("shares_outstanding").alias("__dated"))
        frame = frame.sort("code", "date").join_asof(
            dated.sort("code", "date"), on="date", by="code", strategy="backward",
            check_sortedness=False,  # sorted by (code, date) just above
        )
        found = frame.filter(missing & pl.col("__dated").is_not_null()).height
        findings.default("shares_outstanding from the --shares file(s), carried forward", found)
        frame = frame.with_columns(
            pl.col("shares_outstanding").fill_null(pl.col("__dated"))
        ).drop("__dated")
    carried = frame.sort("code", "date").with_columns(
        pl.col("shares_outstanding").forward_fill().over("code").alias("__carried")
    )
    found = carried.filter(missing & pl.col("__carried").is_not_null()).height
    findings.default("shares_outstanding carried forward from the stock's earlier rows", found)
    frame = carried.with_columns(
        pl.col("shares_outstanding").fill_null(pl.col("__carried"))
    ).drop("__carried")
    check(findings, frame, pl.col("shares_outstanding").is_null(), column="shares_outstanding",
          message="no shares outstanding for this day: add a --shares file (pykrx "
                  "get_market_cap's 상장주식수, or KRX daily files' Stocks)",
          show=("code", "date"))
    check(findings, frame, pl.col("shares_outstanding") <= 0, column="shares_outstanding",
          message="must be > 0", show=("code", "date", "shares_outstanding"))
    return frame


def _limit_moves(frame: pl.DataFrame, findings: Findings) -> None:
    """Warn on closes more than the daily limit from the previous day's (a split or a
    consolidation the prices were not adjusted for)."""
    ordered = frame.sort("code", "date").with_columns(
        (pl.col("close") / pl.col("close").shift(1).over("code") - 1).alias("__move")
    )
    check(findings, ordered, pl.col("__move").abs() > LIMIT_MOVE, column="close",
          message="the close moved more than the ±30 % daily limit from the previous day "
                  "(unadjusted split or consolidation?)", warning=True,
          show=("code", "date", "close", "__move"))


def shares_of(frame: pl.DataFrame, findings: Findings) -> pl.DataFrame:
    for column in ("code", "date", "shares_outstanding"):
        check(findings, frame, missing(column), column=column,
              message=MISSING)
    check(findings, frame, pl.col("shares_outstanding") <= 0, column="shares_outstanding",
          message="must be > 0", show=("code", "date", "shares_outstanding"))
    return frame.filter(pl.col("shares_outstanding").is_not_null()) \
        .unique(["code", "date"], keep="last").select("code", "date", "shares_outstanding")


STATUS_WORDS = {"관리종목": "administrative", "administrative": "administrative",
                "투자경고": "warning", "투자위험": "warning", "투자경고종목": "warning",
                "투자위험종목": "warning", "warning": "warning", "투자주의": "caution",
                "투자주의종목": "caution", "caution": "caution", "정리매매": "liquidation",
                "liquidation": "liquidation"}


def status(frame: pl.DataFrame, findings: Findings) -> pl.DataFrame:
    """KRX designations: 관리종목 administrative, 투자경고 / 투자위험 warning, 투자주의
    caution, 정리매매 liquidation (or QBT's words); in force start_date..end_date."""
    if "end_date" not in frame.columns:
        frame = frame.with_columns(pl.lit(None, pl.Date).alias("end_date"))
    named = _key("status").replace_strict(STATUS_WORDS, default=None)
    check(findings, frame, pl.col("status").is_not_null() & named.is_null(), column="status",
          message="unknown designation: use administrative (관리종목), warning (투자경고 / "
                  "투자위험), caution (투자주의) or liquidation (정리매매)")
    frame = frame.with_columns(named.alias("status"))
    for column in ("code", "start_date"):
        check(findings, frame, missing(column), column=column, message=MISSING, show=("code",))
    check(findings, frame, pl.col("end_date") < pl.col("start_date"), column="end_date",
          message="end_date is before start_date", show=("code", "start_date", "end_date"))
    duplicates(frame, ("code", "status", "start_date"), findings)
    return frame.select("code", "status", "start_date", "end_date", ORIGIN, LINE)


def delistings(frame: pl.DataFrame, findings: Findings) -> pl.DataFrame:
    frame = markets(securities(frame, findings), findings, what="delistings")
    for column in ("name", "market", "listed_on"):
        if column not in frame.columns:
            frame = frame.with_columns(pl.lit(None, pl.Date if column == "listed_on"
                                              else pl.String).alias(column))
    for column in ("code", "delisted_on"):
        check(findings, frame, missing(column), column=column,
              message=MISSING, show=("code",))
    return frame.unique("code", keep="last").select(
        "code", "name", "market", "listed_on", "delisted_on", ORIGIN, LINE)


INDEX_CODES = {"ks11": "KOSPI", "kospi": "KOSPI", "코스피": "KOSPI",
               "kq11": "KOSDAQ", "kosdaq": "KOSDAQ", "코스닥": "KOSDAQ"}


def indexes(frame: pl.DataFrame, findings: Findings) -> pl.DataFrame:
    frame = frame.with_columns(
        _key("index_code").replace_strict(INDEX_CODES, default=pl.col("index_code"))
        .alias("index_code")
    )
    check(findings, frame, ~pl.col("index_code").is_in(["KOSPI", "KOSDAQ"]),
          column="index_code", message="unknown index: use KOSPI (KS11) or KOSDAQ (KQ11)")
    for column in ("date", "close"):
        check(findings, frame, missing(column), column=column,
              message=MISSING)
    check(findings, frame, pl.col("close") <= 0, column="close", message="must be > 0",
          show=("index_code", "date", "close"))
    duplicates(frame, ("index_code", "date"), findings)
    return frame.select("index_code", "date", "close", ORIGIN, LINE)


def financials(frame: pl.DataFrame, findings: Findings) -> pl.DataFrame:
    for item in (*STATEMENT_ITEMS, "disclosed_on"):
        if item not in frame.columns:
            frame = frame.with_columns(pl.lit(None, pl.Date if item == "disclosed_on"
                                              else pl.Float64).alias(item))
    given = pl.col("fiscal_quarter").cast(pl.String).str.strip_chars()
    quarter = pl.when(given.str.contains("반기")).then(pl.lit("2")).otherwise(
        given.str.extract(r"^(?:Q|q)?([1-4])(?:Q|q|분기|\.0)?$", 1)).cast(pl.Int16)
    check(findings, frame, given.is_not_null() & quarter.is_null(), column="fiscal_quarter",
          message="fiscal_quarter must be 1, 2, 3 or 4 (Q1..Q4, 1Q..4Q and 1분기..4분기 also do)",
          show=("code", "fiscal_quarter"))
    for column in ("code", "period_end"):
        check(findings, frame, missing(column), column=column, message=MISSING, show=("code",))
    check(findings, frame, given.is_null(), column="fiscal_quarter", message=MISSING,
          show=("code",))
    frame = frame.with_columns(quarter.alias("fiscal_quarter"))
    estimated = pl.col("disclosed_on").is_null()
    findings.default("disclosed_on missing: the statutory deadline (45 days after a quarter, "
                     "90 after the fiscal year), marked estimated", frame.filter(estimated).height)
    deadline = pl.col("period_end") + pl.when(pl.col("fiscal_quarter") == 4).then(
        pl.duration(days=YEAR_DEADLINE_DAYS)).otherwise(pl.duration(days=QUARTER_DEADLINE_DAYS))
    frame = frame.with_columns(
        estimated.alias("disclosure_estimated"),
        pl.col("disclosed_on").fill_null(deadline).alias("disclosed_on"),
    )
    check(findings, frame, pl.col("disclosed_on") < pl.col("period_end"), column="disclosed_on",
          message="disclosed_on is before period_end", show=("code", "period_end", "disclosed_on"))
    duplicates(frame, ("code", "period_end"), findings)
    _full_year_q4(frame, findings)
    return frame.select("code", "period_end", "fiscal_quarter", "disclosed_on", *STATEMENT_ITEMS,
                        "disclosure_estimated", ORIGIN, LINE)


def _full_year_q4(frame: pl.DataFrame, findings: Findings) -> None:
    """Warn where a Q4 revenue is more than twice each of the three quarters before it: a
    full year written as Q4 (DART's annual report holds the year, not the quarter)."""
    ordered = frame.sort("code", "period_end").with_columns(
        pl.max_horizontal(pl.col("revenue").shift(k).over("code") for k in (1, 2, 3))
        .alias("__before")
    )
    looks = (pl.col("fiscal_quarter") == 4) & (pl.col("revenue") > 2 * pl.col("__before")) \
        & (pl.col("__before") > 0)
    check(findings, ordered, looks, column="revenue", warning=True,
          message="Q4 revenue is more than twice each earlier quarter's: a full year written "
                  "as Q4? (Q4 must hold the fourth quarter alone)",
          show=("code", "period_end", "revenue"))


def duplicates(frame: pl.DataFrame, keys: tuple[str, ...], findings: Findings) -> None:
    repeat = pl.len().over(list(keys)) > 1
    first = pl.col(LINE).min().over(list(keys))
    marked = frame.with_columns(first.alias("__first"))
    check(findings, marked, repeat & (pl.col(LINE) != pl.col("__first")), column=keys[-1],
          message="duplicate key (also on an earlier line)", show=(*keys, "__first"))


def outside_listing(prices: pl.DataFrame, stocks: pl.DataFrame, findings: Findings) -> None:
    """Warn on price rows before a stock's listing or after its delisting."""
    joined = prices.join(stocks.select("code", "listed_on", "delisted_on"), on="code",
                         how="left")
    outside = (pl.col("date") < pl.col("listed_on")) | (pl.col("date") > pl.col("delisted_on"))
    check(findings, joined, outside, column="date", warning=True,
          message="a price outside the stock's listing (before listed_on or after delisted_on)",
          show=("code", "date", "listed_on", "delisted_on"))


def first_price_days(prices: pl.DataFrame) -> pl.DataFrame:
    return prices.group_by("code").agg(pl.col("date").min().alias("first_price"))

