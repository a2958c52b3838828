"""DART bulk financial statements (재무정보 일괄다운로드: tab-separated cp949 text, one file per
year x report x statement, consolidated `_연결` or separate) -> QBT's quarterly statements.

Steps:
1. `_file_lines`, per file: KONEX and non-KRW rows skipped (counted); codes, dates and report
   kinds checked; each row's current-period values ("당기 ..."): the 3-month value (income
   statements of quarterly reports) and the cumulative / period-end value, numbers checked
   on the rows QBT reads; item ids matched case-blind, the pre-2019 `ifrs_` prefix read as
   `ifrs-full_`.
2. `_items`: per statement and QBT item, the most preferred XBRL id of `DART_ITEMS` that has
   a value (손익계산서 before 포괄손익계산서 before 현금흐름표 for the same id); total_debt is
   the sum of the borrowings parts (`DEBT_PARTS`) present.
3. `_quarters`: flows become 3-month quarters: Q1 as reported, Q2 and Q3 the 3-month column
   or the difference of cumulative values, Q4 the annual value minus Q1 + Q2 + Q3; a flow
   whose earlier quarter is missing stays empty (counted). Balance items are as reported.
4. `_assemble`: consolidated statements preferred, separate ones the fallback per stock and
   period (counted); one row per (code, period_end), with the file and line of one source row.

`disclosed_on` is not produced: the caller applies the statutory deadline.
"""

from __future__ import annotations

import re

import polars as pl

import dataprep.importing.values as values
from dataprep.importing.problems import LINE, ORIGIN, Findings, Problem, check
from dataprep.importing.reading import RawFile
from dataprep.tables import STATEMENT_ITEMS

# total_debt: one part per kind of borrowing, each the first of its ids present (a filer tags
# a line with one of them), summed over the parts present; empty when none is. Lease
# liabilities and convertible / exchangeable / warrant bonds are not included.
DEBT_PARTS: dict[str, tuple[str, ...]] = {
    "short-term borrowings": ("ifrs-full_ShorttermBorrowings", "dart_ShortTermBorrowings"),
    "current portion of long-term borrowings": (
        "ifrs-full_CurrentPortionOfLongtermBorrowings",
        "dart_CurrentPortionOfLongTermBorrowings"),
    "current portion of bonds": (
        "dart_CurrentPortionOfBonds",
        "ifrs-full_CurrentBondsIssuedAndCurrentPortionOfNoncurrentBondsIssued"),
    "long-term borrowings": (
        "dart_LongTermBorrowingsGross", "ifrs-full_LongtermBorrowings",
        "ifrs-full_NoncurrentPortionOfNoncurrentLoansReceived"),
    "bonds": ("dart_BondsIssued", "ifrs-full_BondsIssued",
              "ifrs-full_NoncurrentPortionOfNoncurrentBondsIssued"),
}

# QBT statement item -> the XBRL item ids (항목코드) read, in order of preference. Ids match
# case-blind and `ifrs_X` (the taxonomy before 2019) as `ifrs-full_X`.
DART_ITEMS: dict[str, tuple[str, ...]] = {
    "revenue": ("ifrs-full_Revenue",),
    "gross_profit": ("ifrs-full_GrossProfit",),
    "operating_income": ("dart_OperatingIncomeLoss", "ifrs-full_ProfitLossFromOperatingActivities"),
    "net_income": ("ifrs-full_ProfitLossAttributableToOwnersOfParent", "ifrs-full_ProfitLoss"),
    "total_assets": ("ifrs-full_Assets",),
    "total_liabilities": ("ifrs-full_Liabilities",),
    "total_equity": ("ifrs-full_EquityAttributableToOwnersOfParent", "ifrs-full_Equity"),
    "current_assets": ("ifrs-full_CurrentAssets",),
    "current_liabilities": ("ifrs-full_CurrentLiabilities",),
    "cash": ("ifrs-full_CashAndCashEquivalents",),
    "total_debt": tuple(i for ids in DEBT_PARTS.values() for i in ids),  # summed, see above
    "operating_cash_flow": ("ifrs-full_CashFlowsFromUsedInOperatingActivities",),
    "capex": ("ifrs-full_PurchaseOfPropertyPlantAndEquipmentClassifiedAsInvestingActivities",
              "ifrs-full_PurchaseOfPropertyPlantAndEquipment"),
    "depreciation": (
        "ifrs-full_AdjustmentsForDepreciationExpense", "dart_AdjustmentsForDepreciationExpense",
        "ifrs-full_DepreciationExpense", "dart_DepreciationExpense",
        "ifrs-full_AdjustmentsForDepreciationAndAmortisationExpense",
        "ifrs-full_DepreciationAndAmortisationExpense"),
    # interest lines first (the income statement's, then the cash flow's add-back);
    # finance costs, which also hold FX and derivative losses, only where none is filed
    "interest_expense": (
        "ifrs-full_InterestExpense", "dart_InterestExpenseFinanceExpense",
        "dart_AdjustmentsForInterestExpenses", "ifrs-full_AdjustmentsForInterestExpense",
        "ifrs-full_FinanceCosts"),
    "dividends_per_share": (),  # not in the bulk statement files
}
BALANCE_ITEMS = ("total_assets", "total_liabilities", "total_equity", "current_assets",
                 "current_liabilities", "cash", "total_debt")
FLOW_ITEMS = tuple(i for i in STATEMENT_ITEMS if i not in BALANCE_ITEMS and DART_ITEMS[i])
POSITIVE = ("capex", "depreciation", "interest_expense")  # filers differ in sign: kept > 0
REPORTS = {"1분기보고서": 1, "반기보고서": 2, "3분기보고서": 3, "사업보고서": 4}
# statement -> preference for an item both carry (손익계산서 before 포괄손익계산서)
STATEMENTS = {"BS": 0, "IS": 0, "CIS": 1, "CF": 2}
# 재무제표종류 (or the file name) -> statement; 포괄손익계산서 before 손익계산서, which it contains
MARKS = (("재무상태표", "BS"), ("포괄손익", "CIS"), ("손익계산서", "IS"), ("현금흐름", "CF"))
KIND, CODE, MARKET, PERIOD, REPORT, CURRENCY, ITEM = (
    "재무제표종류", "종목코드", "시장구분", "결산기준일", "보고서종류", "통화", "항목코드")
REQUIRED = (KIND, CODE, PERIOD, REPORT, ITEM)
KEY = ["code", "consolidated", "period_end", "fiscal_quarter"]
YEAR = ["code", "consolidated", "fiscal_year", "fiscal_quarter"]

_STATEMENTS_SCHEMA = {"code": pl.String, "consolidated": pl.Boolean, "period_end": pl.Date,
                      "fiscal_quarter": pl.Int16, ORIGIN: pl.String, LINE: pl.Int64}
_LINES_SCHEMA = {**_STATEMENTS_SCHEMA, "statement": pl.String, "item": pl.String,
                 "part": pl.String, "rank": pl.Int32, "three": pl.Float64, "cum": pl.Float64}


def _mapping() -> pl.DataFrame:
    """One row per XBRL id read: (id lower-cased, QBT item, debt part or the item, rank)."""
    rows = [(i.lower(), item, item, rank) for item, ids in DART_ITEMS.items()
            if item != "total_debt" for rank, i in enumerate(ids)]
    rows += [(i.lower(), "total_debt", part, rank) for part, ids in DEBT_PARTS.items()
             for rank, i in enumerate(ids)]
    return pl.DataFrame(rows, schema={"id": pl.String, "item": pl.String, "part": pl.String,
                                      "rank": pl.Int32}, orient="row")


def dart_statements(files: list[RawFile], findings: Findings) -> pl.DataFrame:
    """Quarterly statements from DART bulk files."""
    mapping = _mapping()
    read = [part for raw in files if (part := _file_lines(raw, mapping, findings)) is not None]
    statements = pl.concat([s for s, _ in read]) if read else \
        pl.DataFrame(schema=_STATEMENTS_SCHEMA)
    lines = pl.concat([lines for _, lines in read]) if read else \
        pl.DataFrame(schema=_LINES_SCHEMA)
    return _assemble(statements, _quarters(_items(lines)), findings)


def _compact(header: str) -> str:
    return re.sub(r"\s", "", header)


def _value_columns(raw: RawFile) -> tuple[str | None, str | None]:
    """The file's current-period columns: (3-month, cumulative or period-end)."""
    current = [c for c in raw.columns if _compact(c).startswith("당기")]
    three = next((c for c in current if _compact(c).endswith("3개월")), None)
    rest = [c for c in current if c != three]
    cumulative = [c for c in rest if _compact(c).endswith("누적")]
    if cumulative:
        return three, cumulative[0]
    return three, rest[0] if len(rest) == 1 else None


def _statement_in_name(name: str) -> str | None:
    for mark, statement in MARKS:
        if mark in name:
            return statement
    return None


def _file_lines(
    raw: RawFile, mapping: pl.DataFrame, findings: Findings
) -> tuple[pl.DataFrame, pl.DataFrame] | None:
    """(the statements the file holds, its lines QBT reads), or None when it cannot be read."""
    missing = [c for c in REQUIRED if c not in raw.columns]
    three, cum = _value_columns(raw)
    if missing or cum is None:
        what = f"no column {', '.join(missing)}" if missing else \
            "no single current-period value column (당기 ...)"
        findings.error(Problem(raw.name, None, missing[0] if missing else None,
                               f"not a DART bulk statement file: {what} (found: "
                               f"{', '.join(raw.columns)})"))
        return None
    identity = [c for c in (KIND, CODE, MARKET, PERIOD, REPORT, CURRENCY) if c in raw.columns]
    statements = _statements_of(raw, identity, findings)
    read = raw.frame.with_columns(
        values.text(ITEM).str.to_lowercase().str.replace(r"^ifrs_", "ifrs-full_").alias("id")
    ).join(mapping, on="id", how="inner") \
        .join(statements, on=identity, how="inner", nulls_equal=True)
    read = read.filter(pl.col("item").is_in(BALANCE_ITEMS) == (pl.col("statement") == "BS"))
    for column in (three, cum):
        if column is not None:
            bad = values.text(column).is_not_null() & values.number(column).is_null()
            check(findings, read, bad, column=column, message="not a number",
                  show=(column, ITEM))
    positive = pl.col("item").is_in(POSITIVE)
    numbers = {"three": values.number(three) if three else pl.lit(None, pl.Float64),
               "cum": values.number(cum)}
    lines = read.select(
        *_STATEMENTS_SCHEMA, "statement", "item", "part", "rank",
        *(pl.when(positive).then(number.abs()).otherwise(number).alias(label)
          for label, number in numbers.items()),
    )
    statements = statements.group_by(KEY).agg(pl.col(f"{ORIGIN}__first").first().alias(ORIGIN),
                                              pl.col(f"{LINE}__first").min().alias(LINE))
    return statements.select(list(_STATEMENTS_SCHEMA)), lines


def _statements_of(raw: RawFile, identity: list[str], findings: Findings) -> pl.DataFrame:
    """The file's distinct statement cells (`identity`) parsed, with their first line: the
    statements QBT reads (KONEX and non-KRW ones skipped, bad cells reported)."""
    name = raw.name.rsplit("!", 1)[-1]
    kind = values.text(KIND).fill_null("")
    statement = pl.lit(_statement_in_name(name), dtype=pl.String)
    for mark, short in reversed(MARKS):  # the first mark that matches decides
        statement = pl.when(kind.str.contains(mark)).then(pl.lit(short)).otherwise(statement)
    market = values.text(MARKET) if MARKET in identity else pl.lit(None, pl.String)
    currency = values.text(CURRENCY) if CURRENCY in identity else pl.lit(None, pl.String)
    combos = raw.frame.group_by(identity).agg(
        pl.col(ORIGIN).first().alias(f"{ORIGIN}__first"),
        pl.col(LINE).min().alias(f"{LINE}__first"), pl.len().alias("__rows"),
    ).with_columns(
        values.code(CODE).alias("code"),
        values.date(PERIOD).alias("period_end"),
        values.text(REPORT).replace_strict(REPORTS, default=None, return_dtype=pl.Int16)
        .alias("fiscal_quarter"),
        (kind.str.contains("연결") | pl.lit("_연결" in name)).alias("consolidated"),
        statement.alias("statement"),
        market.str.contains("코넥스").fill_null(False).alias("__konex"),
        (currency.is_not_null() & (currency != "KRW")).fill_null(False).alias("__currency"),
    )
    konex = combos.filter(pl.col("__konex"))
    findings.default("KONEX (코넥스시장상장법인) lines skipped", int(konex["__rows"].sum()))
    combos = combos.filter(~pl.col("__konex"))
    _flag(raw, identity, combos, pl.col("__currency"), findings, column=CURRENCY, warning=True,
          message="statement values in a currency other than KRW: the lines are skipped")
    bad = {
        CODE: (~pl.col("code").str.contains(r"^[0-9A-Z]{6}$").fill_null(False),
               "not a stock code ([005930])"),
        PERIOD: (pl.col("period_end").is_null(), "not a date (2023-03-31)"),
        REPORT: (pl.col("fiscal_quarter").is_null(),
                 f"unknown report kind: use {', '.join(REPORTS)}"),
    }
    for column, (rule, message) in bad.items():
        _flag(raw, identity, combos, rule, findings, column=column, message=message)
    unread = pl.any_horizontal(rule for rule, _ in bad.values()) | pl.col("__currency")
    return combos.filter(~unread & pl.col("statement").is_not_null())


def _flag(raw: RawFile, identity: list[str], combos: pl.DataFrame, bad: pl.Expr,
          findings: Findings, *, column: str, message: str, warning: bool = False) -> None:
    """Report the file's rows whose statement cells break a rule (found on `combos`, the
    distinct cells, then named by line on the file's rows)."""
    hits = combos.filter(bad)
    if hits.height:
        rows = raw.frame.join(hits.select(identity), on=identity, how="semi", nulls_equal=True)
        check(findings, rows, pl.lit(True), column=column, message=message, warning=warning,
              show=(column,) if column != CURRENCY else (CODE, CURRENCY))


def _items(lines: pl.DataFrame) -> pl.DataFrame:
    """Per statement and QBT item: (three, cum) of its most preferred id with a value, the
    parts of total_debt summed."""
    ranked = lines.filter(pl.col("three").is_not_null() | pl.col("cum").is_not_null()) \
        .with_columns(pl.col("statement").replace_strict(STATEMENTS, return_dtype=pl.Int32)
                      .alias("statement_rank")) \
        .sort(["rank", "statement_rank", ORIGIN, LINE], descending=[False, False, True, False])
    best = ranked.unique(subset=[*KEY, "item", "part"], keep="first", maintain_order=True)
    present = [pl.when(pl.col(c).count() > 0).then(pl.col(c).sum()).alias(c)
               for c in ("three", "cum")]
    return best.group_by([*KEY, "item"]).agg(*present).with_columns(_fiscal_year())


def _fiscal_year() -> pl.Expr:
    """The fiscal year as the month count of its end (a March fiscal year keeps its own)."""
    end = pl.col("period_end")
    return (end.dt.year().cast(pl.Int32) * 12 + end.dt.month().cast(pl.Int32)
            + 3 * (4 - pl.col("fiscal_quarter").cast(pl.Int32))).alias("fiscal_year")


def _quarters(items: pl.DataFrame) -> pl.DataFrame:
    """(YEAR, item, value, underivable): balance items as reported, flows per 3 months."""
    balance = items.filter(pl.col("item").is_in(BALANCE_ITEMS)).select(
        *YEAR, "item", pl.col("cum").alias("value"), pl.lit(False).alias("underivable"))
    by_quarter = items.filter(~pl.col("item").is_in(BALANCE_ITEMS)) \
        .group_by(["code", "consolidated", "fiscal_year", "item"]).agg(
            pl.col(c).filter(pl.col("fiscal_quarter") == q).first().alias(f"{c}{q}")
            for c in ("three", "cum") for q in (1, 2, 3, 4))
    flows = by_quarter.with_columns(
        pl.coalesce(_three(1), _cum(1)).alias("flow1"),
        pl.coalesce(_three(2), _cum(2) - _cum(1)).alias("flow2"),
        pl.coalesce(_three(3), _cum(3) - _cum(2)).alias("flow3"),
    ).with_columns((_cum(4) - (pl.col("flow1") + pl.col("flow2") + pl.col("flow3")))
                   .alias("flow4"))
    quarters = pl.concat([
        flows.filter(_three(q).is_not_null() | _cum(q).is_not_null()).select(
            "code", "consolidated", "fiscal_year", pl.lit(q, pl.Int16).alias("fiscal_quarter"),
            "item", pl.col(f"flow{q}").alias("value"),
            pl.col(f"flow{q}").is_null().alias("underivable"))
        for q in (1, 2, 3, 4)
    ])
    return pl.concat([balance, quarters])


def _three(quarter: int) -> pl.Expr:
    return pl.col(f"three{quarter}")


def _cum(quarter: int) -> pl.Expr:
    return pl.col(f"cum{quarter}")


def _assemble(statements: pl.DataFrame, quarters: pl.DataFrame,
              findings: Findings) -> pl.DataFrame:
    """One row per (code, period_end): the consolidated statement, else the separate one."""
    statements = statements.sort(ORIGIN, LINE).unique(subset=KEY, keep="first",
                                                      maintain_order=True)
    chosen = statements.filter(
        pl.col("consolidated") == pl.col("consolidated").any().over("code", "period_end"))
    findings.default("separate statements used where no consolidated ones were filed",
                     chosen.filter(~pl.col("consolidated")).height)
    wide = quarters.group_by(YEAR).agg(
        *(pl.col("value").filter(pl.col("item") == item).first().alias(item)
          for item in STATEMENT_ITEMS if DART_ITEMS[item]),
        pl.col("underivable").any().alias("__underivable"),
        (pl.col("item").is_in(FLOW_ITEMS) & pl.col("value").is_not_null()).any()
        .alias("__flows"),
    )
    out = chosen.with_columns(_fiscal_year()).join(wide, on=YEAR, how="left")
    findings.default("quarterly flows not derivable: an earlier quarter of the fiscal year is "
                     "missing (left empty)", out.filter(pl.col("__underivable")).height)
    findings.default("Q4 flows derived as the annual report's value minus Q1 + Q2 + Q3",
                     out.filter((pl.col("fiscal_quarter") == 4) & pl.col("__flows")).height)
    out = out.sort(["code", "period_end", "fiscal_quarter"], descending=[False, False, True])
    later = pl.int_range(pl.len()).over("code", "period_end") > 0
    check(findings, out, later, column=REPORT, warning=True, show=("code", "period_end"),
          message="two report kinds end on the same day: the later quarter is kept")
    out = out.unique(subset=["code", "period_end"], keep="first", maintain_order=True)
    return out.select(
        "code", "period_end", pl.col("fiscal_quarter").cast(pl.Int16),
        *(pl.col(item).cast(pl.Float64) if DART_ITEMS[item] else
          pl.lit(None, pl.Float64).alias(item) for item in STATEMENT_ITEMS),
        ORIGIN, LINE,
    )
