"""The file layouts QBT reads, as records (like the factor catalog): which columns a layout
has under which headers, how it is recognised from its header line, and where a value the
layout lacks comes from. The reading, parsing, checking and writing are shared.

Headers are matched ignoring case, spaces, `_` and `-` (`ListingDate` = `listing_date` =
`listingdate`). A file's layout is the first format of its kind whose `detect` columns all
appear (most specific first); `qbt db import --format NAME` names it instead.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

Kind = Literal["stocks", "prices", "shares", "delistings", "financials", "indexes", "status"]
Parse = Literal["text", "code", "date", "number"]

# target column -> (how its cells parse, header aliases). One vocabulary per kind.
COLUMNS: dict[Kind, dict[str, tuple[Parse, tuple[str, ...]]]] = {
    "stocks": {
        "code": ("code", ("code", "종목코드", "단축코드", "symbol", "ticker", "티커",
                          "isu_srt_cd")),
        "name": ("text", ("name", "종목명", "회사명", "한글종목약명", "한글종목명", "isu_abbrv",
                          "isu_nm")),
        "market": ("text", ("market", "시장구분", "시장", "mkt_nm", "mkt_tp_nm")),
        "sector": ("text", ("sector", "업종", "업종명", "idx_ind_nm")),
        "listed_on": ("date", ("listed_on", "listing_date", "상장일", "상장일자", "list_dd")),
        "delisted_on": ("date", ("delisted_on", "delisting_date", "상장폐지일", "폐지일자",
                                 "폐지일")),
        "security": ("text", ("secu_group", "증권구분", "secugrp_nm", "kind_stkcert_tp_nm")),
        "kind": ("text", ("kind", "주식종류", "종류")),
    },
    "prices": {
        "code": ("code", ("code", "종목코드", "단축코드", "티커", "ticker", "symbol",
                          "isu_srt_cd")),
        "date": ("date", ("date", "날짜", "일자", "trd_dd", "기준일")),
        "open": ("number", ("open", "시가", "tdd_opnprc")),
        "high": ("number", ("high", "고가", "tdd_hgprc")),
        "low": ("number", ("low", "저가", "tdd_lwprc")),
        "close": ("number", ("close", "종가", "tdd_clsprc")),
        "volume": ("number", ("volume", "거래량", "acc_trdvol")),
        "trading_value": ("number", ("trading_value", "거래대금", "amount", "acc_trdval")),
        "shares_outstanding": ("number", ("shares_outstanding", "상장주식수", "stocks",
                                          "list_shrs")),
        "market": ("text", ("market", "시장구분", "mkt_nm")),
    },
    "shares": {
        "code": ("code", ("code", "종목코드", "단축코드", "티커", "ticker", "symbol",
                          "isu_srt_cd")),
        "date": ("date", ("date", "날짜", "일자", "trd_dd", "기준일")),
        "shares_outstanding": ("number", ("shares_outstanding", "shares", "상장주식수",
                                          "stocks", "list_shrs")),
    },
    "delistings": {
        "code": ("code", ("code", "종목코드", "단축코드", "symbol", "ticker", "isu_srt_cd")),
        "name": ("text", ("name", "회사명", "종목명", "isu_abbrv")),
        "market": ("text", ("market", "시장구분", "mkt_nm")),
        "listed_on": ("date", ("listed_on", "listing_date", "상장일")),
        "delisted_on": ("date", ("delisted_on", "delisting_date", "폐지일자", "상장폐지일",
                                 "폐지일")),
        "security": ("text", ("secu_group", "증권구분")),
    },
    "financials": {
        "code": ("code", ("code", "종목코드", "symbol", "ticker")),
        "period_end": ("date", ("period_end", "결산기준일", "기준일")),
        "fiscal_quarter": ("text", ("fiscal_quarter", "quarter", "분기")),
        "disclosed_on": ("date", ("disclosed_on", "공시일", "접수일자", "rcept_dt")),
    },  # + one number column per statement item (dataprep.tables.STATEMENT_ITEMS)
    "status": {
        "code": ("code", ("code", "종목코드", "단축코드", "symbol", "ticker")),
        "status": ("text", ("status", "구분", "지정구분", "종류")),
        "start_date": ("date", ("start_date", "지정일", "지정일자", "시작일", "start")),
        "end_date": ("date", ("end_date", "해제일", "해제일자", "종료일", "end")),
    },
    "indexes": {
        "index_code": ("text", ("index_code", "지수명", "index", "symbol")),
        "date": ("date", ("date", "날짜", "일자", "trd_dd")),
        "close": ("number", ("close", "종가", "clsprc_idx")),
    },
}


@dataclass(frozen=True)
class Format:
    """One layout: its name, what it holds, its header signature and where values it lacks
    come from."""

    name: str
    kind: Kind
    description: str
    detect: tuple[str, ...]  # target columns whose header must appear
    code_from_name: bool = False  # one file per stock: the code is in the file name
    date_from_name: bool = False  # one file per day: the date is in the file name
    index_from_name: bool = False  # one file per index: KS11 / KQ11 / KOSPI / KOSDAQ
    status_from_name: bool = False  # one file per designation: 관리종목, 투자경고, ...
    own_names: bool = False  # QBT's own tables: the headers are the column names


FORMATS: tuple[Format, ...] = (
    Format("qbt", "stocks", "QBT's own stocks table (code, name, market, sector, listed_on, "
           "delisted_on)", ("code", "name", "market", "sector", "listed_on"), own_names=True),
    Format("fdr-listing", "stocks", "FinanceDataReader / KRX listing (Code, Name, Market, "
           "Sector, ListingDate, ...; KIND 상장법인목록 as well)", ("code", "name", "market")),
    Format("qbt", "prices", "QBT's own stock_prices table", (
        "code", "date", "open", "high", "low", "close", "volume", "trading_value",
        "shares_outstanding"), own_names=True),
    Format("krx-daily", "prices", "KRX full-market daily file (Code, Market, Close, Open, "
           "High, Low, Volume, Amount, Marcap, Stocks; the day from a Date column or the "
           "file name)", ("code", "close", "volume", "shares_outstanding"),
           date_from_name=True),
    Format("long", "prices", "one long OHLCV file with a code column (pykrx or "
           "FinanceDataReader headers)", ("code", "date", "open", "high", "low", "close")),
    Format("per-stock", "prices", "pykrx (날짜, 시가, 고가, 저가, 종가, 거래량) or "
           "FinanceDataReader (Date, Open, High, Low, Close, Volume) OHLCV, a file per stock "
           "named by its code", ("date", "open", "high", "low", "close"), code_from_name=True),
    Format("shares", "shares", "dated shares outstanding (code, date, shares; pykrx "
           "get_market_cap's 상장주식수, KRX daily files' Stocks)",
           ("code", "shares_outstanding"), date_from_name=True, code_from_name=True),
    Format("delistings", "delistings", "KIND 상장폐지현황 (회사명, 종목코드, 폐지일자, "
           "폐지사유) or FinanceDataReader KRX-DELISTING (Symbol, Name, Market, ..., "
           "DelistingDate)", ("code", "delisted_on")),
    Format("qbt", "financials", "QBT's own financials table (code, period_end, "
           "fiscal_quarter, disclosed_on, statement items; empty items allowed)",
           ("code", "period_end", "fiscal_quarter"), own_names=True),
    Format("dart", "financials", "DART 재무정보 일괄다운로드 (tab-separated cp949 text, zip "
           "or extracted: 재무제표종류, 종목코드, 결산기준일, 보고서종류, 항목코드, ...)",
           ("code", "period_end")),
    Format("status", "status", "KRX designations (code, status, start_date, end_date; KIND's "
           "관리종목 / 투자경고 / 투자주의 / 정리매매 lists: 종목코드, 지정일, 해제일), the "
           "designation from a column, NAME= or the file name", ("code", "start_date"),
           status_from_name=True),
    Format("qbt", "indexes", "QBT's own index_prices table (index_code, date, close)",
           ("index_code", "date", "close"), own_names=True),
    Format("fdr-index", "indexes", "FinanceDataReader / pykrx index file (Date, Close, ... "
           "or 날짜, 종가, ...), the index from NAME= or the file name (KS11 = KOSPI, "
           "KQ11 = KOSDAQ)", ("date", "close"), index_from_name=True),
)

DART_HEADERS = ("재무제표종류", "항목코드", "보고서종류")  # what marks a DART bulk file


def normalized(header: str) -> str:
    return re.sub(r"[\s_\-]", "", header.strip().lower())


def mapping(kind: Kind, headers: list[str]) -> dict[str, str]:
    """Target column -> the file's header for it (the first alias found)."""
    by_normal = {normalized(h): h for h in headers}
    found = {}
    for target, (_, aliases) in COLUMNS[kind].items():
        for alias in (target, *aliases):
            header = by_normal.get(normalized(alias))
            if header is not None:
                found[target] = header
                break
    return found


def formats_of(kind: Kind) -> list[Format]:
    return [f for f in FORMATS if f.kind == kind]


def detect(kind: Kind, headers: list[str], *, forced: str | None = None) -> Format | None:
    """The layout of a file of `kind` with these headers (None: none fits)."""
    if kind == "financials" and set(DART_HEADERS) <= {h.strip() for h in headers}:
        return next(f for f in formats_of(kind) if f.name == "dart")
    candidates = [f for f in formats_of(kind) if f.name != "dart"]
    if forced is not None:
        return next((f for f in candidates if f.name == forced), None)
    found = mapping(kind, headers)
    for fmt in candidates:
        from_name = {"code"} if fmt.code_from_name else set()
        if fmt.date_from_name:
            from_name.add("date")
        own = {normalized(h) for h in headers} if fmt.own_names else None
        if all((normalized(column) in own) if own is not None else (column in found)
               for column in fmt.detect if column not in from_name):
            return fmt
    return None


CODE_IN_NAME = re.compile(r"(?<![0-9A-Za-z])A?([0-9][0-9A-Z]{5})(?![0-9A-Za-z])")
DATE_IN_NAME = re.compile(r"(?<!\d)(\d{4})-?(\d{2})-?(\d{2})(?!\d)")
INDEX_NAMES = {"KS11": "KOSPI", "KOSPI": "KOSPI", "코스피": "KOSPI",
               "KQ11": "KOSDAQ", "KOSDAQ": "KOSDAQ", "코스닥": "KOSDAQ"}


def code_in_name(name: str) -> str | None:
    stem = name.rsplit("/", 1)[-1].rsplit("!", 1)[-1]
    match = CODE_IN_NAME.search(stem)
    return match.group(1) if match else None


def date_in_name(name: str) -> str | None:
    stem = name.rsplit("/", 1)[-1].rsplit("!", 1)[-1]
    match = DATE_IN_NAME.search(stem)
    return f"{match.group(1)}-{match.group(2)}-{match.group(3)}" if match else None


def index_in_name(name: str) -> str | None:
    stem = name.rsplit("/", 1)[-1].rsplit("!", 1)[-1].split(".")[0].upper()
    for token in re.split(r"[^0-9A-Z가-힣]+", stem):
        if token in INDEX_NAMES:
            return INDEX_NAMES[token]
    return None


STATUS_NAMES = {"관리종목": "administrative", "administrative": "administrative",
                "투자경고": "warning", "투자위험": "warning", "warning": "warning",
                "투자주의": "caution", "caution": "caution",
                "정리매매": "liquidation", "liquidation": "liquidation"}


def status_in_name(name: str) -> str | None:
    stem = name.rsplit("/", 1)[-1].rsplit("!", 1)[-1].lower()
    return next((status for word, status in STATUS_NAMES.items() if word in stem), None)
