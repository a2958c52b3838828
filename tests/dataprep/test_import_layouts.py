"""`qbt db import` of the files Korean quants have, written here in their real layouts:
pykrx and FinanceDataReader OHLCV (a file per stock, Korean or English headers, cp949,
gzip), KRX daily full-market files, FDR / KIND listings and delisting lists, FDR index
files, and every default said with its count."""

from __future__ import annotations

import gzip
from datetime import date
from pathlib import Path

import psycopg
import pytest

from dataprep.importing import ImportRequest, import_market
from dataprep.importing.problems import ImportValidationError

PYKRX_HEADER = "날짜,시가,고가,저가,종가,거래량,등락률"
DAYS = ["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05", "2024-01-08"]


def write(path: Path, text: str, *, encoding: str = "utf-8", gz: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    data = text.encode(encoding)
    path.write_bytes(gzip.compress(data) if gz else data)
    return path


def fdr_listing(folder: Path, *, dated_only: bool = False) -> Path:
    """FinanceDataReader StockListing('KRX-DESC') saved by pandas (index column included);
    `dated_only` leaves out the preferred share that has no listing date."""
    lines = [
        ",Code,Name,Market,Sector,Industry,ListingDate,SettleMonth,Representative,HomePage,Region",
        "0,005930,삼성전자,KOSPI,전기·전자,반도체 제조업,1975-06-11,12월,한종희,http://x,경기도",
        "1,000660,SK하이닉스,KOSPI,전기·전자,반도체 제조업,1996-12-26,12월,곽노정,,경기도",
        "2,247540,에코프로비엠,KOSDAQ GLOBAL,,전기장비,2019-03-05,12월,,,충청북도",
        "3,005935,삼성전자우,KOSPI,,,,12월,,,",
        "4,278990,엠에이치씨앤씨,KONEX,,,2017-06-28,12월,,,",
    ]
    return write(folder / "krx_desc.csv", "\n".join(
        line for line in lines if not (dated_only and "005935" in line)))


def pykrx_prices(folder: Path) -> Path:
    """pykrx get_market_ohlcv(ticker) saved per ticker: Korean headers, cp949, one gzipped,
    a halted day written with open/high/low 0, a high one tick under the close."""
    rows = {
        "005930": ["71000,71500,70500,71000,1000,0.0", "71100,72000,71000,71900,1200,1.27",
                   "0,0,0,71900,0,0.0", "71900,72500,71800,72400,900,0.7",
                   "72400,72900,72000,72950,800,0.76"],
        "000660": ["130000,131000,129000,130500,500,0.0", "130500,132000,130000,131000,400,0.38",
                   "131000,133000,130500,132500,300,1.15", "132500,134000,132000,133500,600,0.75",
                   "133500,135000,133000,134000,700,0.37"],
    }
    for code, lines in rows.items():
        dated = [f"{d},{line}" for d, line in zip(DAYS, lines, strict=True)]
        body = "\n".join([PYKRX_HEADER, *dated])
        write(folder / (f"{code}.csv" + (".gz" if code == "000660" else "")), body + "\n",
              encoding="cp949", gz=code == "000660")
    write(folder / "005935.csv", "\n".join(
        [PYKRX_HEADER] + [f"{d},60000,60500,59500,60000,100,0.0" for d in DAYS]) + "\n",
          encoding="cp949")
    write(folder / "247540.csv", "\n".join(
        [PYKRX_HEADER] + [f"{d.replace('-', '')},250000,255000,249000,252000,300,0.0"
                          for d in DAYS]) + "\n", encoding="cp949")
    return folder


def krx_daily(folder: Path) -> list[Path]:
    """KRX full-market daily files (FDR StockListing('KRX') columns), the day in the name."""
    header = "Code,ISU_CD,Name,Market,Dept,Close,ChangeCode,Changes,ChagesRatio,Open,High,Low," \
             "Volume,Amount,Marcap,Stocks,MarketId"
    paths = []
    for day in DAYS[:2]:
        lines = [header,
                 "005930,KR7005930003,삼성전자,KOSPI,,71000,1,0,0,71000,71500,70500,1000,"
                 "\"71,000,000\",423845000000000,5969782550,STK",
                 "000660,KR7000660001,SK하이닉스,KOSPI,,130500,1,0,0,130000,131000,129000,500,"
                 "65250000,95000000000000,728002365,STK",
                 "005935,KR7005931001,삼성전자우,KOSPI,,60000,1,0,0,60000,60500,59500,100,"
                 "6000000,49000000000000,822886700,STK",
                 "247540,KR7247540008,에코프로비엠,KOSDAQ GLOBAL,우량기업부,252000,1,0,0,250000,"
                 "255000,249000,300,75600000,24600000000000,97801344,KSQ",
                 "278990,KR7278990007,엠에이치씨앤씨,KONEX,,3000,1,0,0,3000,3000,3000,10,30000,"
                 "9000000000,3000000,KNX"]
        paths.append(write(folder / f"krx_{day.replace('-', '')}.csv", "\n".join(lines) + "\n",
                           encoding="cp949"))
    return paths


def fdr_index(folder: Path, name: str, level: float) -> Path:
    lines = ["Date,Close,Open,High,Low,Volume,Change"] + [
        f"{d},{level + i},{level},{level + 5},{level - 5},1000000,0.001" for i, d in
        enumerate(DAYS)]
    return write(folder / f"{name}.csv", "\n".join(lines) + "\n")


def run(url: str, **files: list) -> object:
    request = ImportRequest(**{k: [str(p) for p in v] for k, v in files.items()})
    return import_market(request, database_url=lambda: url)


def rows(url: str, query: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(query).fetchall()


def test_fdr_listing_pykrx_folder_krx_shares_and_fdr_indexes_import_as_they_are(
    database_url: str, tmp_path: Path
):
    report = run(database_url, stocks=[fdr_listing(tmp_path)],
                 prices=[pykrx_prices(tmp_path / "ohlcv")],
                 shares=krx_daily(tmp_path / "krx"),
                 indexes=[fdr_index(tmp_path, "KS11", 2600.0), fdr_index(tmp_path, "KQ11", 860.0)])

    stocks = rows(database_url, "SELECT code, market, sector, listed_on FROM stocks ORDER BY code")
    assert stocks == [
        ("000660", "KOSPI", "전기·전자", date(1996, 12, 26)),
        ("005930", "KOSPI", "전기·전자", date(1975, 6, 11)),
        ("005935", "KOSPI", "unknown", date(2024, 1, 2)),  # no listing date: first price day
        ("247540", "KOSDAQ", "unknown", date(2019, 3, 5)),  # KOSDAQ GLOBAL is KOSDAQ
    ]
    halted = rows(database_url, "SELECT open, high, low, close, volume, shares_outstanding FROM"
                                " stock_prices WHERE code = '005930' AND date = '2024-01-04'")
    assert halted == [(71900.0, 71900.0, 71900.0, 71900.0, 0, 5969782550)]  # shares carried
    clamped = rows(database_url, "SELECT high, close, trading_value FROM stock_prices"
                                 " WHERE code = '005930' AND date = '2024-01-08'")
    assert clamped == [(72950.0, 72950.0, 72950.0 * 800)]  # one tick: clamped; value derived
    assert rows(database_url, "SELECT index_code, count(*) FROM index_prices GROUP BY 1"
                              " ORDER BY 1") == [("KOSDAQ", 5), ("KOSPI", 5)]
    lines = "\n".join(report.findings.lines())
    for said in ("KONEX listings skipped (QBT holds KOSPI and KOSDAQ): 1 rows",
                 "missing sector set to 'unknown': 2 rows",
                 "missing listing date set to the stock's first price day: 1 rows",
                 "halted days written with open/high/low 0 kept as halted (volume 0), prices "
                 "filled from the close: 1 rows",
                 "high or low off by at most one tick (price adjustment rounding) clamped: 1",
                 "trading_value = close x volume (absent in the file): 20 rows",
                 "shares_outstanding from the --shares file(s), carried forward: 20 rows",
                 "columns not used by the fdr-listing layout: Industry, SettleMonth"):
        assert said in lines, lines


def test_index_names_from_name_prefix_and_a_tab_separated_file(database_url: str,
                                                              tmp_path: Path):
    run(database_url, stocks=[fdr_listing(tmp_path, dated_only=True)])
    text = "날짜\t종가\t시가\n" + "\n".join(f"{d.replace('-', '/')}\t\"2,6{i}0.5\"\t2600"
                                          for i, d in enumerate(DAYS)) + "\n"
    tsv = write(tmp_path / "kospi_index.tsv", text, encoding="cp949")
    request = ImportRequest(indexes=[f"KOSPI={tsv}"])
    import_market(request, database_url=lambda: database_url)
    assert rows(database_url, "SELECT date, close FROM index_prices ORDER BY date")[:2] == [
        (date(2024, 1, 2), 2600.5), (date(2024, 1, 3), 2610.5)]


def test_kind_and_fdr_delisting_lists(database_url: str, tmp_path: Path):
    run(database_url, stocks=[fdr_listing(tmp_path, dated_only=True)])
    kind = write(tmp_path / "상장폐지현황.csv", "\n".join([
        "번호,회사명,종목코드,폐지일자,폐지사유,비고",
        "1,에코프로비엠,247540,2024-06-28,신청에 의한 상장폐지,",
        "2,오래된회사,012345,1999-01-05,부도,",
    ]) + "\n", encoding="cp949")
    fdr = write(tmp_path / "krx_delisting.csv", "\n".join([
        "Symbol,Name,Market,SecuGroup,Kind,ListingDate,DelistingDate,Reason",
        "034830,한국토지신탁,KOSPI,주권,보통주,2001-01-30,2023-05-02,자진상장폐지",
        "580001,ETN어떤것,KOSPI,ETN,,2019-01-02,2023-01-02,만기",
    ]) + "\n")
    report = run(database_url, delistings=[kind, fdr])
    assert rows(database_url, "SELECT code, delisted_on FROM stocks WHERE delisted_on IS NOT"
                              " NULL ORDER BY code") == [("034830", date(2023, 5, 2)),
                                                         ("247540", date(2024, 6, 28))]
    lines = "\n".join(report.findings.lines())
    assert "delisted stocks added from the delisting list: 1 rows" in lines
    assert "delistings of stocks not in the stocks files nor the database skipped" in lines
    assert "non-stock securities skipped (ETN): 1 rows" in lines


def test_statements_without_a_disclosure_date_get_the_statutory_deadline(database_url: str,
                                                                       tmp_path: Path):
    run(database_url, stocks=[fdr_listing(tmp_path, dated_only=True)])
    statements = write(tmp_path / "fin.csv", "\n".join([
        "code,period_end,fiscal_quarter,revenue,net_income",
        "005930,2023-09-30,Q3,67404,5844",
        "005930,2023-12-31,4Q,67780,6345",
        "000660,2023-06-30,2분기,7306,-2988",
    ]) + "\n")
    report = run(database_url, financials=[statements])
    stored = rows(database_url, "SELECT code, period_end, fiscal_quarter, disclosed_on,"
                                " disclosure_estimated, total_assets FROM financials ORDER BY 1, 2")
    assert stored == [
        ("000660", date(2023, 6, 30), 2, date(2023, 8, 14), True, None),
        ("005930", date(2023, 9, 30), 3, date(2023, 11, 14), True, None),
        ("005930", date(2023, 12, 31), 4, date(2024, 3, 30), True, None),
    ]
    assert "disclosed_on missing: the statutory deadline" in "\n".join(report.findings.lines())


def test_warnings_are_written_but_said(database_url: str, tmp_path: Path):
    run(database_url, stocks=[fdr_listing(tmp_path, dated_only=True)])
    jumpy = write(tmp_path / "005930.csv", "\n".join([
        "Date,Open,High,Low,Close,Volume",
        "1975-06-10,100,100,100,100,1",  # before the listing
        "2024-01-02,71000,71500,70500,71000,1000",
        "2024-01-03,1330000,1330000,1330000,1330000,10",  # an unadjusted consolidation
    ]) + "\n")
    shares = write(tmp_path / "shares.csv", "code,date,shares\n005930,1975-01-01,1000000\n")
    report = run(database_url, prices=[jumpy], shares=[shares])
    warned = [str(w) for w in report.findings.warnings]
    assert any("outside the stock's listing" in w and "line 2" in w for w in warned), warned
    assert any("±30 % daily limit" in w and "line 4" in w for w in warned), warned
    assert report.written["stock_prices"].inserted == 3


def test_problems_of_real_layouts_are_all_named(database_url: str, tmp_path: Path):
    folder = pykrx_prices(tmp_path / "ohlcv")
    write(folder / "005380.csv", PYKRX_HEADER + "\n2024-01-02,abc,1,1,1,1,0\n", encoding="cp949")
    write(folder / "notes.csv", "who,what\nme,nothing\n")
    with pytest.raises(ImportValidationError) as caught:
        run(database_url, stocks=[fdr_listing(tmp_path)], prices=[folder])
    text = str(caught.value)
    assert "005380.csv, line 2, column 'open': expected a number (got open='abc')" in text
    assert "notes.csv: not a prices layout QBT knows (found: who, what)" in text
    assert "no shares outstanding for this day: add a --shares file" in text
    assert rows(database_url, "SELECT count(*) FROM stocks") == [(0,)]


def test_bytes_that_are_neither_utf8_nor_cp949_name_the_line(database_url: str, tmp_path: Path):
    bad = tmp_path / "stocks.csv"
    bad.write_bytes("code,name\n005930,삼성\n".encode() + b"000660,\xff\xfe\n")
    with pytest.raises(ImportValidationError, match=r"stocks\.csv, line 3: the text is neither"):
        run(database_url, stocks=[bad])


def test_the_imported_files_backtest_without_a_conversion_script(database_url: str,
                                                                tmp_path: Path):
    from backtest import StrategySpec, run_backtest
    from dataprep import build_panel

    run(database_url, stocks=[fdr_listing(tmp_path)], prices=[pykrx_prices(tmp_path / "o")],
        shares=krx_daily(tmp_path / "krx"),
        indexes=[fdr_index(tmp_path, "KS11", 2600.0), fdr_index(tmp_path, "KQ11", 860.0)])
    panel = build_panel(database_url=database_url, start="2024-01-02", end="2024-01-08")
    spec = StrategySpec.model_validate({
        "start": "2024-01-03", "end": "2024-01-08", "ranking": [{"factor": "MARKET_CAP"}],
        "top_n": 2, "rebalance": "daily"})
    result = run_backtest(spec, panel)
    assert [h.code for h in result.rebalances[0].holdings] == ["005930", "000660"]
    assert result.statistics.n_days == 4 and result.statistics.final_equity > 0


def test_kinds_are_inferred_and_designations_import(database_url: str, tmp_path: Path):
    listing = write(tmp_path / "listing.csv", "\n".join([
        "Code,Name,Market,Sector,ListingDate",
        "005930,삼성전자,KOSPI,전기·전자,1975-06-11",
        "005935,삼성전자우,KOSPI,전기·전자,1989-09-25",
        "00088K,한화3우B,KOSPI,화학,1996-07-01",
        "440790,하나28호스팩,KOSDAQ,금융,2022-11-04",
        "330590,롯데리츠,KOSPI,부동산,2019-10-30",
    ]) + "\n")
    report = run(database_url, stocks=[listing])
    assert rows(database_url, "SELECT code, kind FROM stocks ORDER BY code") == [
        ("00088K", "preferred"), ("005930", "common"), ("005935", "preferred"),
        ("330590", "reit"), ("440790", "spac")]
    assert "kind 'preferred' inferred from the name and code: 2 rows" in \
        "\n".join(report.findings.lines())
    administrative = write(tmp_path / "관리종목_지정현황.csv", "\n".join([
        "번호,회사명,종목코드,지정일,해제일,지정사유",
        "1,하나28호스팩,440790,2024/03/22,,감사의견 거절",
    ]) + "\n", encoding="cp949")
    mixed = write(tmp_path / "designations.csv", "\n".join([
        "code,status,start_date,end_date",
        "005930,투자주의,2024-01-02,2024-01-02",
        "330590,정리매매,2024-05-01,2024-05-09",
    ]) + "\n")
    warned = write(tmp_path / "w.csv", "종목코드,지정일,해제일\n005935,20240105,20240112\n")
    run(database_url, status=[administrative, mixed, f"warning={warned}"])
    assert rows(database_url, "SELECT code, status, start_date, end_date FROM stock_status"
                              " ORDER BY code") == [
        ("005930", "caution", date(2024, 1, 2), date(2024, 1, 2)),
        ("005935", "warning", date(2024, 1, 5), date(2024, 1, 12)),
        ("330590", "liquidation", date(2024, 5, 1), date(2024, 5, 9)),
        ("440790", "administrative", date(2024, 3, 22), None),
    ]


def test_bad_designations_are_named(database_url: str, tmp_path: Path):
    run(database_url, stocks=[fdr_listing(tmp_path, dated_only=True)])
    bad = write(tmp_path / "designations.csv", "\n".join([
        "code,status,start_date,end_date",
        "005930,단기과열,2024-01-02,",
        "005930,투자주의,2024-01-09,2024-01-02",
    ]) + "\n")
    with pytest.raises(ImportValidationError) as caught:
        run(database_url, status=[bad])
    text = str(caught.value)
    assert "designations.csv, line 2, column 'status': unknown designation" in text
    assert "line 3, column 'end_date': end_date is before start_date" in text
    unknown = write(tmp_path / "unknown.csv",
                    "code,status,start_date\n999999,투자주의,2024-01-09\n")
    with pytest.raises(ImportValidationError, match=r"line 2, column 'code': unknown stock"):
        run(database_url, status=[unknown])
    assert rows(database_url, "SELECT count(*) FROM stock_status") == [(0,)]
