"""DART bulk statements (재무정보 일괄다운로드) -> quarterly statements, from files in the real
layout: cp949 tab-separated text with the real headers (lines ending with a tab), in a zip.

The fiscal year 2023 of three companies:
- A (000100, KOSPI) files consolidated and separate statements for all four reports: the
  consolidated ones are used; its 반기 report restates Q1 (the 3-month column wins over the
  cumulative difference), its 반기 operating income has no 3-month value (the difference).
- B (000200, KOSDAQ) files separate statements only, a 포괄손익계산서 without a 손익계산서,
  old `ifrs_` ids, and no 반기 report: Q3 cash flow and every Q4 flow are not derivable.
- M (000400, KOSDAQ) has a fiscal year ending in March: its quarters end in June,
  September, December and March.
- K (000300) is on KONEX: skipped.
"""

from __future__ import annotations

import zipfile
from datetime import date
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from dataprep.importing.dart import DART_ITEMS, dart_statements
from dataprep.importing.problems import LINE, ORIGIN, Findings
from dataprep.importing.reading import RawFile, read, read_bytes
from dataprep.tables import STATEMENT_ITEMS

HEAD = ["재무제표종류", "종목코드", "회사명", "시장구분", "업종", "업종명", "결산월", "결산기준일",
        "보고서종류", "통화", "항목코드", "항목명"]
REPORTS = {"1분기보고서": ("1분기", "2023-03-31"), "반기보고서": ("반기", "2023-06-30"),
           "3분기보고서": ("3분기", "2023-09-30"), "사업보고서": (None, "2023-12-31")}
FILES = {"BS": ("01", "재무상태표", "재무상태표, 유동/비유동법"),
         "IS": ("02", "손익계산서", "손익계산서, 기능별 분류"),
         "CIS": ("03", "포괄손익계산서", "포괄손익계산서, 세후기타포괄손익"),
         "CF": ("04", "현금흐름표", "현금흐름표, 간접법")}
COMPANIES = {"A": ("[000100]", "가나전자", "유가증권시장상장법인"),
             "B": ("[000200]", "다라바이오", "코스닥시장상장법인"),
             "K": ("[000300]", "마바로보", "코넥스시장상장법인"),
             "M": ("[000400]", "사아유통", "코스닥시장상장법인")}
MARCH = {"1분기보고서": "2023-06-30", "반기보고서": "2023-09-30", "3분기보고서": "2023-12-31",
         "사업보고서": "2024-03-31"}  # M's 결산기준일 (결산월 3)
Q1, H1, Q3, FY = "1분기보고서", "반기보고서", "3분기보고서", "사업보고서"

# (company, consolidated, statement, 항목코드, 항목명, {report: cell or (3-month, cumulative)})
Line = tuple[str, bool, str, str, str, dict[str, str | tuple[str, str]]]
LINES: list[Line] = [
    ("A", True, "BS", "ifrs-full_Assets", "자산총계",
     {Q1: "10,000", H1: "10,200", Q3: "10,400", FY: "10,800"}),
    ("A", True, "BS", "ifrs-full_Liabilities", "부채총계",
     {Q1: "4,000", H1: "4,100", Q3: "4,150", FY: "4,300"}),
    ("A", True, "BS", "ifrs-full_EquityAttributableToOwnersOfParent", "지배기업 소유주지분",
     {Q1: "5,500", H1: "5,550", Q3: "5,650", FY: "5,900"}),
    ("A", True, "BS", "ifrs-full_Equity", "자본총계",
     {Q1: "6,000", H1: "6,100", Q3: "6,250", FY: "6,500"}),
    ("A", True, "BS", "ifrs-full_CurrentAssets", "유동자산",
     {Q1: "3,000", H1: "3,100", Q3: "3,200", FY: "3,300"}),
    ("A", True, "BS", "ifrs-full_CurrentLiabilities", "유동부채",
     {Q1: "2,000", H1: "2,050", Q3: "2,100", FY: "2,150"}),
    ("A", True, "BS", "ifrs-full_CashAndCashEquivalents", "현금및현금성자산",
     {Q1: "800", H1: "820", Q3: "840", FY: "900"}),
    ("A", True, "BS", "ifrs-full_ShorttermBorrowings", "단기차입금",
     {Q1: "1,000", H1: "1,000", Q3: "900", FY: "800"}),
    ("A", True, "BS", "ifrs-full_CurrentPortionOfLongtermBorrowings", "유동성장기차입금",
     {Q1: "", H1: "100", Q3: "100", FY: "100"}),
    ("A", True, "BS", "dart_LongTermBorrowingsGross", "장기차입금",
     {Q1: "2,000", H1: "2,000", Q3: "2,000", FY: "1,900"}),
    ("A", True, "BS", "dart_BondsIssued", "사채",
     {Q1: "500", H1: "500", Q3: "500", FY: "500"}),
    ("A", True, "BS", "entity00100_udf_BS_2023", "기타부채",
     {Q1: "77", H1: "77", Q3: "77", FY: "77"}),
    ("A", True, "IS", "ifrs-full_Revenue", "매출액",
     {Q1: ("1,000", "1,000"), H1: ("1,200", "2,250"), Q3: ("1,100", "3,350"), FY: "4,500"}),
    ("A", True, "IS", "ifrs-full_GrossProfit", "매출총이익",
     {Q1: ("300", "300"), H1: ("360", "660"), Q3: ("330", "990"), FY: "1,350"}),
    ("A", True, "IS", "dart_OperatingIncomeLoss", "영업이익",
     {Q1: ("100", "100"), H1: ("", "230"), Q3: ("90", "320"), FY: "450"}),
    ("A", True, "IS", "ifrs-full_FinanceCosts", "금융원가",
     {Q1: ("30", "30"), H1: ("30", "60"), Q3: ("30", "90"), FY: "120"}),
    ("A", True, "IS", "ifrs-full_ProfitLoss", "당기순이익",
     {Q1: ("80", "80"), H1: ("85", "165"), Q3: ("70", "235"), FY: "340"}),
    ("A", True, "IS", "ifrs-full_ProfitLossAttributableToOwnersOfParent", "지배기업 소유주지분",
     {Q1: ("70", "70"), H1: ("75", "145"), Q3: ("60", "205"), FY: "300"}),
    ("A", True, "CIS", "ifrs-full_Revenue", "매출액",  # the 손익계산서's wins
     {Q1: ("9,999", "9,999"), FY: "9,999"}),
    ("A", True, "CIS", "ifrs-full_ComprehensiveIncome", "총포괄손익",
     {Q1: ("90", "90"), H1: ("90", "180"), Q3: ("90", "270"), FY: "360"}),
    ("A", True, "CF", "ifrs-full_ProfitLoss", "당기순이익",
     {Q1: "80", H1: "165", Q3: "235", FY: "340"}),
    ("A", True, "CF", "ifrs-full_AdjustmentsForDepreciationExpense", "감가상각비",
     {Q1: "20", H1: "40", Q3: "60", FY: "85"}),
    ("A", True, "CF", "dart_AdjustmentsForInterestExpenses", "이자비용",
     {Q1: "12", H1: "25", Q3: "40", FY: "55"}),
    ("A", True, "CF", "ifrs-full_CashFlowsFromUsedInOperatingActivities", "영업활동현금흐름",
     {Q1: "150", H1: "260", Q3: "400", FY: "560"}),
    ("A", True, "CF",
     "ifrs-full_PurchaseOfPropertyPlantAndEquipmentClassifiedAsInvestingActivities",
     "유형자산의 취득", {Q1: "-50", H1: "-120", Q3: "-160", FY: "-230"}),
    # A's separate statements: never used, as A filed consolidated ones for every period
    ("A", False, "BS", "ifrs-full_Assets", "자산총계",
     {Q1: "7,000", H1: "7,100", Q3: "7,200", FY: "7,300"}),
    ("A", False, "IS", "ifrs-full_Revenue", "매출액",
     {Q1: ("600", "600"), H1: ("700", "1,300"), Q3: ("650", "1,950"), FY: "2,600"}),
    ("A", False, "CF", "ifrs-full_CashFlowsFromUsedInOperatingActivities", "영업활동현금흐름",
     {Q1: "90", H1: "170", Q3: "250", FY: "330"}),
    ("B", False, "BS", "ifrs_Assets", "자산총계", {Q1: "3,000", Q3: "3,300", FY: "3,500"}),
    ("B", False, "BS", "ifrs_Equity", "자본총계", {Q1: "2,000", Q3: "2,100", FY: "2,150"}),
    ("B", False, "BS", "dart_ShortTermBorrowings", "단기차입금", {Q1: "400", Q3: "", FY: "-"}),
    ("B", False, "CIS", "ifrs_Revenue", "매출액",
     {Q1: ("500", "500"), Q3: ("300", "1,200"), FY: "1,600"}),
    ("B", False, "CIS", "ifrs_ProfitLoss", "당기순이익",
     {Q1: ("40", "40"), Q3: ("20", "90"), FY: "130"}),
    ("B", False, "CF", "ifrs_CashFlowsFromUsedInOperatingActivities", "영업활동현금흐름",
     {Q1: "60", Q3: "150", FY: "210"}),
    ("M", True, "BS", "ifrs-full_Assets", "자산총계",
     {Q1: "2,000", H1: "2,100", Q3: "2,200", FY: "2,300"}),
    ("M", True, "IS", "ifrs-full_Revenue", "매출액",
     {Q1: ("100", "100"), H1: ("110", "210"), Q3: ("120", "330"), FY: "460"}),
    ("K", False, "BS", "ifrs-full_Assets", "자산총계", {Q1: "900"}),
    ("K", False, "BS", "ifrs-full_Equity", "자본총계", {Q1: "500"}),
]


def _value_headers(report: str, statement: str) -> list[str]:
    period = REPORTS[report][0]
    if period is None:
        return ["당기", "전기", "전전기"]
    if statement == "BS":
        return [f"당기 {period}말", "전기말", "전전기말"]
    if statement == "CF":
        return [f"당기 {period}", f"전기 {period}", "전기", "전전기"]
    return [f"당기 {period} 3개월", f"당기 {period} 누적", f"전기 {period} 3개월",
            f"전기 {period} 누적", "전기", "전전기"]


def dart_files(lines: list[Line] = LINES) -> dict[str, bytes]:
    """File name -> cp949 bytes, one file per report x statement x consolidated or not."""
    files = {}
    for report, (_, period_end) in REPORTS.items():
        for statement, (number, title, kind) in FILES.items():
            for consolidated in (True, False):
                rows = []
                for company, cons, stmt, item, label, cells in lines:
                    if (cons, stmt) != (consolidated, statement) or report not in cells:
                        continue
                    code, name, market = COMPANIES[company]
                    cell = cells[report]
                    current = list(cell) if isinstance(cell, tuple) else [cell]
                    blank = len(_value_headers(report, statement)) - len(current)
                    basis = "연결재무제표" if consolidated else "별도재무제표"
                    ends = (MARCH[report], "3") if company == "M" else (period_end, "12")
                    rows.append([f"{kind} - {basis}", code, name, market, "264", "통신 장비 제조업",
                                 ends[1], ends[0], report, "KRW", item, label, *current,
                                 *[""] * blank])
                if not rows:
                    continue
                header = HEAD + _value_headers(report, statement)
                text = "".join("\t".join(r) + "\t\r\n" for r in [header, *rows])
                suffix = "_연결" if consolidated else ""
                files[f"2023_{report}_{number}_{title}{suffix}_20240401.txt"] = \
                    text.encode("cp949")
    return files


def statements_of(files: list[RawFile]) -> tuple[pl.DataFrame, Findings]:
    findings = Findings()
    return dart_statements(files, findings), findings


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> tuple[pl.DataFrame, Findings]:
    path = tmp_path_factory.mktemp("dart") / "2023_재무제표.zip"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in dart_files().items():
            archive.writestr(name, data)
    return statements_of(read(path))


def row(frame: pl.DataFrame, code: str, period_end: str) -> dict[str, Any]:
    found = frame.filter((pl.col("code") == code)
                         & (pl.col("period_end") == date.fromisoformat(period_end)))
    assert found.height == 1, found
    return found.row(0, named=True)


def column(frame: pl.DataFrame, code: str, item: str) -> list[float | None]:
    return frame.filter(pl.col("code") == code).sort("period_end")[item].to_list()


def test_the_columns_and_one_row_per_statement(imported: tuple[pl.DataFrame, Findings]) -> None:
    frame, findings = imported
    assert frame.columns == ["code", "period_end", "fiscal_quarter", *STATEMENT_ITEMS,
                             ORIGIN, LINE]
    assert frame.schema["fiscal_quarter"] == pl.Int16
    assert all(frame.schema[item] == pl.Float64 for item in STATEMENT_ITEMS)
    assert frame.select("code", "period_end", "fiscal_quarter").rows() == [
        ("000100", date(2023, 3, 31), 1), ("000100", date(2023, 6, 30), 2),
        ("000100", date(2023, 9, 30), 3), ("000100", date(2023, 12, 31), 4),
        ("000200", date(2023, 3, 31), 1), ("000200", date(2023, 9, 30), 3),
        ("000200", date(2023, 12, 31), 4),
        ("000400", date(2023, 6, 30), 1), ("000400", date(2023, 9, 30), 2),
        ("000400", date(2023, 12, 31), 3), ("000400", date(2024, 3, 31), 4),
    ]
    assert findings.errors == [] and findings.warnings == []
    first = row(frame, "000100", "2023-03-31")
    assert first[ORIGIN].endswith("!2023_1분기보고서_01_재무상태표_연결_20240401.txt")
    assert first[LINE] == 2
    assert frame["dividends_per_share"].null_count() == frame.height


def test_income_statement_quarters(imported: tuple[pl.DataFrame, Findings]) -> None:
    frame, _ = imported
    # Q2 and Q3 from the 3-month columns (the 반기 report restated Q1: 2,250 - 1,000 is not
    # used), Q4 = 4,500 - (1,000 + 1,200 + 1,100); the 포괄손익계산서's 9,999 is not used
    assert column(frame, "000100", "revenue") == [1000, 1200, 1100, 1200]
    assert column(frame, "000100", "gross_profit") == [300, 360, 330, 360]
    # no 3-month value in the 반기 report: Q2 = 230 - 100; Q4 = 450 - (100 + 130 + 90)
    assert column(frame, "000100", "operating_income") == [100, 130, 90, 130]
    # owners of the parent before the profit of all: Q4 = 300 - (70 + 75 + 60)
    assert column(frame, "000100", "net_income") == [70, 75, 60, 95]


def test_cash_flow_quarters_from_cumulative_values(
    imported: tuple[pl.DataFrame, Findings],
) -> None:
    frame, _ = imported
    assert column(frame, "000100", "operating_cash_flow") == [150, 110, 140, 160]
    assert column(frame, "000100", "capex") == [50, 70, 40, 70]  # outflows, kept positive
    assert column(frame, "000100", "depreciation") == [20, 20, 20, 25]
    # the interest add-back of the cash flow before the income statement's finance costs
    assert column(frame, "000100", "interest_expense") == [12, 13, 15, 15]


def test_balance_items_as_reported_and_debt_summed(
    imported: tuple[pl.DataFrame, Findings],
) -> None:
    frame, _ = imported
    assert column(frame, "000100", "total_assets") == [10000, 10200, 10400, 10800]  # not 7,000
    assert column(frame, "000100", "total_liabilities") == [4000, 4100, 4150, 4300]
    assert column(frame, "000100", "total_equity") == [5500, 5550, 5650, 5900]  # owners'
    assert column(frame, "000100", "current_assets") == [3000, 3100, 3200, 3300]
    assert column(frame, "000100", "current_liabilities") == [2000, 2050, 2100, 2150]
    assert column(frame, "000100", "cash") == [800, 820, 840, 900]
    # short-term + current portion (empty in Q1) + long-term + bonds
    assert column(frame, "000100", "total_debt") == [3500, 3600, 3500, 3300]
    # B: one part in Q1, none filed with a value later
    assert column(frame, "000200", "total_debt") == [400, None, None]


def test_separate_statements_are_the_fallback(imported: tuple[pl.DataFrame, Findings]) -> None:
    frame, findings = imported
    assert findings.defaults["separate statements used where no consolidated ones were filed"] \
        == 3
    assert row(frame, "000200", "2023-03-31")[ORIGIN].endswith(
        "!2023_1분기보고서_01_재무상태표_20240401.txt")
    # only a 포괄손익계산서, `ifrs_` ids of the older taxonomy
    assert column(frame, "000200", "revenue") == [500, 300, None]
    assert column(frame, "000200", "net_income") == [40, 20, None]
    assert column(frame, "000200", "total_assets") == [3000, 3300, 3500]
    assert column(frame, "000200", "total_equity") == [2000, 2100, 2150]
    assert column(frame, "000200", "gross_profit") == [None, None, None]


def test_a_missing_quarter_leaves_the_flows_that_need_it_empty(
    imported: tuple[pl.DataFrame, Findings],
) -> None:
    frame, findings = imported
    # no 반기 report: Q3 cash flow needs the 반기 cumulative, every Q4 flow needs Q2
    assert column(frame, "000200", "operating_cash_flow") == [60, None, None]
    assert findings.defaults[
        "quarterly flows not derivable: an earlier quarter of the fiscal year is missing "
        "(left empty)"] == 2
    assert findings.defaults[
        "Q4 flows derived as the annual report's value minus Q1 + Q2 + Q3"] == 2  # A and M


def test_a_march_fiscal_year_keeps_its_own_quarters(
    imported: tuple[pl.DataFrame, Findings],
) -> None:
    frame, _ = imported
    assert column(frame, "000400", "revenue") == [100, 110, 120, 130]  # Q4: 460 - 330
    assert column(frame, "000400", "total_assets") == [2000, 2100, 2200, 2300]
    assert row(frame, "000400", "2024-03-31")["fiscal_quarter"] == 4


def test_konex_is_skipped(imported: tuple[pl.DataFrame, Findings]) -> None:
    frame, findings = imported
    assert "000300" not in frame["code"].to_list()
    assert findings.defaults["KONEX (코넥스시장상장법인) lines skipped"] == 2


def test_a_bad_number_names_file_line_column_and_value() -> None:
    lines = [(c, cons, s, i, label, dict(cells)) for c, cons, s, i, label, cells in LINES]
    revenue = next(line for line in lines if line[:4] == ("A", True, "IS", "ifrs-full_Revenue"))
    revenue[5][Q1] = ("1,000", "1,0x0")
    files = [f for name, data in dart_files(lines).items()
             for f in read_bytes(name, data)]
    _, findings = statements_of(files)
    assert findings.n_errors == 1
    problem = findings.errors[0]
    assert problem.file == "2023_1분기보고서_02_손익계산서_연결_20240401.txt"
    assert (problem.where, problem.column) == ("line 2", "당기 1분기 누적")
    assert "'1,0x0'" in (problem.value or "")
    assert "not a number" in str(problem)


def test_every_item_is_mapped_or_said_absent() -> None:
    assert set(DART_ITEMS) == set(STATEMENT_ITEMS)
    assert DART_ITEMS["dividends_per_share"] == ()


def test_no_files_give_an_empty_frame() -> None:
    frame, findings = statements_of([])
    assert frame.height == 0 and findings.errors == []
    assert frame.columns == ["code", "period_end", "fiscal_quarter", *STATEMENT_ITEMS,
                             ORIGIN, LINE]


def test_bad_statement_cells_are_named_by_line() -> None:
    header = HEAD + _value_headers(Q1, "BS")
    base = ["재무상태표, 유동/비유동법-연결재무제표", "[000100]", "가나전자",
            "유가증권시장상장법인", "264", "통신 장비 제조업", "12", "2023-03-31", Q1,
            "KRW", "ifrs-full_Assets", "자산총계", "100", "", ""]
    rows = [base, [*base[:7], "2023-02-30", *base[8:]], [*base[:8], "4분기보고서", *base[9:]],
            [*base[:9], "USD", *base[10:]], [base[0], "[12345678]", *base[2:]]]
    text = "".join("\t".join(r) + "\t\n" for r in [header, *rows])
    frame, findings = statements_of(read_bytes("bs.txt", text.encode("cp949")))
    assert sorted((p.where, p.column) for p in findings.errors) == [
        ("line 3", "결산기준일"), ("line 4", "보고서종류"), ("line 6", "종목코드")]
    assert [(p.where, p.column) for p in findings.warnings] == [("line 5", "통화")]
    assert frame.select("code", "total_assets").rows() == [("000100", 100.0)]


def test_not_a_bulk_file_is_an_error() -> None:
    data = "종목코드\t결산기준일\n[005930]\t2023-03-31\n".encode("cp949")
    _, findings = statements_of(read_bytes("x.txt", data))
    assert findings.n_errors == 1 and "재무제표종류" in str(findings.errors[0])


def test_a_dart_zip_imports_through_qbt_db_import(database_url: str, tmp_path: Path) -> None:
    """The whole door: the zip, the stocks it names, one `import_market` call."""
    import psycopg

    from dataprep.importing import ImportRequest, import_market

    stocks = tmp_path / "stocks.csv"
    stocks.write_text("code,name,market,sector,listed_on\n"
                      "000100,가나전자,KOSPI,IT,2001-01-02\n000200,다라,KOSDAQ,IT,2001-01-02\n"
                      "000400,사아유통,KOSDAQ,IT,2001-01-02\n")
    archive = tmp_path / "2023_재무제표.zip"
    with zipfile.ZipFile(archive, "w") as out:
        for name, data in dart_files().items():
            out.writestr(name, data)
    report = import_market(ImportRequest(stocks=[str(stocks)], financials=[str(archive)]),
                           database_url=lambda: database_url)
    with psycopg.connect(database_url) as conn:
        stored = conn.execute(
            "SELECT fiscal_quarter, disclosed_on, disclosure_estimated FROM financials"
            " WHERE code = '000100' ORDER BY period_end").fetchall()
    assert stored[0] == (1, date(2023, 5, 15), True)  # 45 days after 2023-03-31
    assert stored[-1][:2] == (4, date(2024, 3, 30))  # 90 days after 2023-12-31
    assert report.written["financials"].inserted == statements_of(read(archive))[0].height
