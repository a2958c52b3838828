"""Each fixed factor against a naive numpy reference on a tiny hand-made market.

The market (`tiny_market`): 320 weekdays from 2022-01-03 and five stocks:
- A 000010 KOSPI: a row every day, statements for nine quarters (the last one disclosed on
  trading day 280, inside the panel);
- B 000020 KOSDAQ: halted (volume 0, close carried) on days 275-276, no row on day 280;
- C 000030 KOSPI: delisted after day 290;
- D 000040 KOSDAQ: listed on day 100, three quarters of statements, the fourth disclosed
  on day 290 (TTM starts on day 291);
- E 000050 KOSPI: delisted after day 200, before the panel: not in the panel.
Panels start on day 270 (`START`), so every 252-day window is full on the first day.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import date, timedelta

import numpy as np
import polars as pl
import psycopg
import pytest

import dataprep
from dataprep.factors import (
    CATALOG,
    CATEGORIES,
    DuplicateFactorError,
    FactorRegistry,
    catalog_table,
    get_factor,
    markdown_table,
)
from dataprep.panel import FactorPanel, UnknownFactorError

N_DAYS = 320
START = 270
DAYS = np.busday_offset(np.datetime64("2022-01-03"), np.arange(N_DAYS), roll="forward")
SHARES = {"000010": 1_000_000, "000020": 500_000, "000030": 2_000_000, "000040": 300_000,
          "000050": 100_000}  # fmt: skip


def day(i: int) -> date:
    return DAYS[i].astype(date)


@dataclass
class Stock:
    code: str
    market: str
    close: np.ndarray  # [N_DAYS], NaN where there is no row
    volume: np.ndarray
    first: int
    last: int
    statements: list[dict[str, object]] = field(default_factory=list)


def _statement(period_end: date, disclosed_on: date, k: int) -> dict[str, object]:
    return {
        "period_end": period_end,
        "fiscal_quarter": (period_end.month - 1) // 3 + 1,
        "disclosed_on": disclosed_on,
        "revenue": 100.0 + 5 * k,
        "gross_profit": 40.0 + k,
        "operating_income": 15.0 + k,
        "net_income": 10.0 + k,
        "total_assets": 3000.0 + 20 * k,
        "total_liabilities": 2000.0 + 10 * k,
        "total_equity": 1000.0 + 10 * k,
        "current_assets": 900.0,
        "current_liabilities": 600.0,
        "cash": 200.0,
        "total_debt": 500.0,
        "operating_cash_flow": 12.0 + k,
        "capex": 4.0,
        "depreciation": 3.0,
        "interest_expense": 2.0,
        "dividends_per_share": 50.0 if period_end.month == 12 else None,
    }


QUARTER_ENDS = [date(2020, 12, 31), date(2021, 3, 31), date(2021, 6, 30), date(2021, 9, 30),
                date(2021, 12, 31), date(2022, 3, 31), date(2022, 6, 30), date(2022, 9, 30),
                date(2022, 12, 31)]  # fmt: skip


def tiny_market() -> dict[str, Stock]:
    i = np.arange(N_DAYS, dtype=np.float64)
    volume = 1000.0 + (np.arange(N_DAYS) % 7) * 100
    stocks = {
        "000010": Stock("000010", "KOSPI", 100 * np.exp(0.0005 * i + 0.02 * np.sin(i / 3)),
                        volume.copy(), 0, N_DAYS - 1),
        "000020": Stock("000020", "KOSDAQ", 50 + 0.1 * i + (np.arange(N_DAYS) % 5),
                        volume.copy(), 0, N_DAYS - 1),
        "000030": Stock("000030", "KOSPI", 20 + 0.05 * i + np.cos(i / 5), volume.copy(), 0, 290),
        "000040": Stock("000040", "KOSDAQ", 10 + 0.01 * i + 0.3 * np.sin(i / 2), volume.copy(),
                        100, N_DAYS - 1),
        "000050": Stock("000050", "KOSPI", 30 + 0.02 * i, volume.copy(), 0, 200),
    }  # fmt: skip
    beta = stocks["000020"]
    beta.close[275:277] = beta.close[274]
    beta.volume[275:277] = 0
    beta.close[280] = np.nan  # no row that day
    for stock in stocks.values():
        stock.close[: stock.first] = np.nan
        stock.close[stock.last + 1 :] = np.nan
    alpha, delta = stocks["000010"], stocks["000040"]
    for k, end in enumerate(QUARTER_ENDS):
        disclosed = day(280) if k == 8 else end + timedelta(days=45)
        alpha.statements.append(_statement(end, disclosed, k))
    for k, end in enumerate(QUARTER_ENDS[5:], start=5):
        disclosed = day(290) if k == 8 else end + timedelta(days=45)
        delta.statements.append(_statement(end, disclosed, k))
    return stocks


def index_closes() -> dict[str, np.ndarray]:
    i = np.arange(N_DAYS, dtype=np.float64)
    kospi = 2500 * np.exp(0.0003 * i + 0.01 * np.sin(i / 4))
    kosdaq = 800 * np.exp(-0.0002 * i + 0.015 * np.cos(i / 6))
    kosdaq[285] = np.nan  # a missing index day: carried forward in the panel
    return {"KOSPI": kospi, "KOSDAQ": kosdaq}


def write_tiny_market(database_url: str, stocks: dict[str, Stock] | None = None) -> None:
    stocks = stocks or tiny_market()
    with psycopg.connect(database_url) as conn, conn.cursor() as cur:
        for stock in stocks.values():
            delisted = day(stock.last) if stock.last < N_DAYS - 1 else None
            cur.execute(
                "INSERT INTO stocks VALUES (%s, %s, %s, %s, %s, %s)",
                (stock.code, f"Name {stock.code}", stock.market, "Sector", day(stock.first),
                 delisted),
            )  # fmt: skip
        with cur.copy("COPY stock_prices FROM STDIN") as copy:
            for stock in stocks.values():
                for i in np.flatnonzero(~np.isnan(stock.close)):
                    c, v = float(stock.close[i]), int(stock.volume[i])
                    copy.write_row((stock.code, day(i), c, c, c, c, v, c * v, SHARES[stock.code]))
        columns = list(_statement(date(2020, 12, 31), date(2021, 2, 1), 0))
        with cur.copy(f"COPY financials (code, {', '.join(columns)}) FROM STDIN") as copy:
            for stock in stocks.values():
                for row in stock.statements:
                    copy.write_row((stock.code, *row.values()))
        with cur.copy("COPY index_prices FROM STDIN") as copy:
            for name, closes in index_closes().items():
                for i in np.flatnonzero(~np.isnan(closes)):
                    copy.write_row((name, day(i), float(closes[i])))


@pytest.fixture
def market(database_url: str) -> dict[str, Stock]:
    stocks = tiny_market()
    write_tiny_market(database_url, stocks)
    return stocks


@pytest.fixture
def panel(database_url: str, market: dict[str, Stock]) -> FactorPanel:
    return dataprep.build_panel(database_url=database_url, start=day(START))


# ---- naive references -------------------------------------------------------------------


def carried(stock: Stock) -> np.ndarray:
    """Close carried over missing days between the first and last row."""
    out = stock.close.copy()
    for i in range(stock.first + 1, stock.last + 1):
        if np.isnan(out[i]):
            out[i] = out[i - 1]
    return out


def latest(stock: Stock, i: int) -> list[dict[str, object]]:
    """Statements usable on day i (disclosed strictly before it), by period end."""
    usable = [s for s in stock.statements if s["disclosed_on"] < day(i)]
    return sorted(usable, key=lambda s: s["period_end"])


def ttm(stock: Stock, i: int, item: str) -> float:
    rows = latest(stock, i)[-4:]
    if len(rows) < 4:
        return math.nan
    return float(sum(row[item] for row in rows))


def value(panel: FactorPanel, name: str, code: str, i: int) -> float:
    column = int(np.flatnonzero(panel.codes == code)[0])
    return float(panel.factor(name)[i - START, column])


def panel_days() -> range:
    return range(START, N_DAYS)


# ---- the fixed factors ---------------------------------------------------------------------


def test_market_cap(panel: FactorPanel, market: dict[str, Stock]) -> None:
    for code, stock in market.items():
        if code == "000050":
            continue
        close = carried(stock)
        for i in panel_days():
            expected = close[i] * SHARES[code]
            got = value(panel, "MARKET_CAP", code, i)
            assert got == pytest.approx(expected, rel=1e-6, nan_ok=True), (code, i)


def test_pbr_per_roe(panel: FactorPanel, market: dict[str, Stock]) -> None:
    alpha = market["000010"]
    for i in panel_days():
        cap = alpha.close[i] * SHARES["000010"]
        equity = latest(alpha, i)[-1]["total_equity"]
        income = ttm(alpha, i, "net_income")
        assert value(panel, "PBR", "000010", i) == pytest.approx(cap / equity, rel=1e-6)
        assert value(panel, "PER", "000010", i) == pytest.approx(cap / income, rel=1e-6)
        assert value(panel, "ROE", "000010", i) == pytest.approx(income / equity, rel=1e-6)


def test_momentum(panel: FactorPanel, market: dict[str, Stock]) -> None:
    close = carried(market["000010"])
    for i in panel_days():
        assert value(panel, "MOM_12_1", "000010", i) == pytest.approx(
            close[i - 21] / close[i - 252] - 1, rel=1e-5, abs=1e-7
        )
        assert value(panel, "MOM_3M", "000010", i) == pytest.approx(
            close[i] / close[i - 63] - 1, rel=1e-5, abs=1e-7
        )


def test_vol_60d(panel: FactorPanel, market: dict[str, Stock]) -> None:
    for code in ("000010", "000020"):
        close = carried(market[code])
        for i in panel_days():
            returns = close[i - 59 : i + 1] / close[i - 60 : i] - 1
            expected = np.std(returns, ddof=1) * math.sqrt(252)
            assert value(panel, "VOL_60D", code, i) == pytest.approx(expected, rel=1e-5)


def test_avg_trading_value_20d(panel: FactorPanel, market: dict[str, Stock]) -> None:
    for code in ("000010", "000020"):
        stock = market[code]
        traded = np.nan_to_num(stock.close * stock.volume, nan=0.0)  # no row: nothing traded
        for i in panel_days():
            expected = traded[i - 19 : i + 1].mean()
            got = value(panel, "AVG_TRADING_VALUE_20D", code, i)
            assert got == pytest.approx(expected, rel=1e-6), (code, i)


def test_more_windows_against_naive_references(
    panel: FactorPanel, market: dict[str, Stock]
) -> None:
    close = carried(market["000010"])
    index = index_closes()["KOSPI"]
    for i in panel_days():
        window = close[i - 251 : i + 1]
        drawdown = (window / np.maximum.accumulate(window) - 1).min()
        assert value(panel, "MAX_DD_252D", "000010", i) == pytest.approx(drawdown, rel=1e-5)
        r = close[i - 251 : i + 1] / close[i - 252 : i] - 1
        m = index[i - 251 : i + 1] / index[i - 252 : i] - 1
        beta = np.cov(r, m, ddof=1)[0, 1] / np.var(m, ddof=1)
        assert value(panel, "BETA_252D", "000010", i) == pytest.approx(beta, rel=1e-4)
        moves = np.diff(close[i - 14 : i + 1])
        rsi = 100 * moves.clip(min=0).sum() / np.abs(moves).sum()
        assert value(panel, "RSI_14", "000010", i) == pytest.approx(rsi, rel=1e-5)


# ---- point in time, statements, halts, delisting -----------------------------------------


def test_statement_counts_from_the_next_trading_day(panel: FactorPanel) -> None:
    """A's last quarter is disclosed on day 280: PBR moves on day 281, not on day 280."""
    cap = panel.factor("MARKET_CAP")[:, 0].astype(np.float64)
    pbr = panel.factor("PBR")[:, 0].astype(np.float64)
    equity = cap / pbr
    assert equity[280 - START] == pytest.approx(1070.0, rel=1e-5)  # quarter k=7
    assert equity[281 - START] == pytest.approx(1080.0, rel=1e-5)  # quarter k=8


def test_ttm_needs_four_quarters(panel: FactorPanel, market: dict[str, Stock]) -> None:
    """D has three quarters until its fourth is disclosed on day 290."""
    per = panel.factor("PER")[:, 3]
    pbr = panel.factor("PBR")[:, 3]
    assert panel.codes[3] == "000040"
    assert np.isnan(per[: 291 - START]).all()
    assert not np.isnan(pbr[: 291 - START]).any()  # the latest balance exists
    assert not np.isnan(per[291 - START :]).any()
    cap = market["000040"].close[300] * SHARES["000040"]
    assert value(panel, "PER", "000040", 300) == pytest.approx(cap / (15 + 16 + 17 + 18), rel=1e-6)


def test_halts_are_untradable_with_carried_close(panel: FactorPanel) -> None:
    beta = 1
    assert panel.codes[beta] == "000020"
    for i in (275, 276, 280):
        assert not panel.tradable[i - START, beta]
        assert panel.close[i - START, beta] == panel.close[i - START - 1, beta]
        assert panel.returns[i - START, beta] == 0.0
    assert panel.tradable[277 - START, beta] and panel.tradable[281 - START, beta]


def test_delisted_stock_has_no_stale_values(panel: FactorPanel) -> None:
    gamma = 2
    assert panel.codes[gamma] == "000030"
    last = 290 - START
    assert not np.isnan(panel.close[last, gamma])
    assert np.isnan(panel.close[last + 1 :, gamma]).all()
    assert np.isnan(panel.returns[last + 1 :, gamma]).all()
    assert not panel.tradable[last + 1 :, gamma].any()
    assert np.isnan(panel.values[:, last + 1 :, gamma]).all()
    assert panel.delisting_index()[gamma] == last


def test_stock_delisted_before_the_window_is_left_out(panel: FactorPanel) -> None:
    assert list(panel.codes) == ["000010", "000020", "000030", "000040"]


def test_benchmarks_are_aligned_and_carried(panel: FactorPanel) -> None:
    closes = index_closes()
    np.testing.assert_allclose(panel.benchmarks["KOSPI"], closes["KOSPI"][START:])
    assert panel.benchmarks["KOSDAQ"][285 - START] == closes["KOSDAQ"][284]


def test_build_is_deterministic(database_url: str, market: dict[str, Stock]) -> None:
    one = dataprep.build_panel(database_url=database_url, start=day(START))
    two = dataprep.build_panel(database_url=database_url, start=day(START))
    assert one.version == two.version
    np.testing.assert_array_equal(one.values, two.values)
    np.testing.assert_array_equal(one.close, two.close)
    np.testing.assert_array_equal(one.tradable, two.tradable)


def test_every_factor_exists_for_a_fully_covered_stock(panel: FactorPanel) -> None:
    """A has 252 days of history and nine quarters: nothing may be NaN on its first day."""
    missing = [n for n in panel.factor_names if np.isnan(panel.factor(n)[0, 0])]
    assert missing == []


# ---- the catalog ---------------------------------------------------------------------------


def test_catalog_has_54_unique_factors_in_every_category() -> None:
    names = [spec.name for spec in CATALOG]
    assert len(names) == 54 == len(set(names))
    assert {spec.category for spec in CATALOG} == set(CATEGORIES)
    assert all(spec.lookback >= 1 for spec in CATALOG)
    assert CATALOG.max_lookback() == 253
    fixed = {"MARKET_CAP", "PBR", "PER", "ROE", "MOM_12_1", "MOM_3M", "VOL_60D",
             "AVG_TRADING_VALUE_20D"}  # fmt: skip
    assert fixed <= set(names)


def test_registry_refuses_a_duplicate_name() -> None:
    spec = get_factor("PBR")
    with pytest.raises(DuplicateFactorError, match="PBR"):
        FactorRegistry([spec, get_factor("PER"), spec])


def test_unknown_factor_is_a_typed_error(panel: FactorPanel) -> None:
    with pytest.raises(UnknownFactorError, match="NOPE"):
        get_factor("NOPE")
    with pytest.raises(UnknownFactorError, match="NOPE"):
        panel.factor("NOPE")


def test_catalog_tables() -> None:
    rows = catalog_table()
    assert [row["name"] for row in rows] == list(CATALOG.names)
    assert set(rows[0]) == {"name", "category", "formula", "lookback", "inputs"}
    table = markdown_table()
    assert table.count("\n") == 54 + 2
    assert "| `MOM_12_1` |" in table


def test_expressions_are_polars_expressions() -> None:
    assert all(isinstance(spec.expr(), pl.Expr) for spec in CATALOG)


def test_no_factor_before_its_lookback(database_url: str, market: dict[str, Stock]) -> None:
    """Windows never reach into another stock or before a listing: a factor is NaN on the
    first `lookback - 1` days of each stock's history (all the data, no lookback loaded)."""
    full = dataprep.build_panel(database_url=database_url)
    for spec in CATALOG:
        values = full.factor(spec.name)
        for column, code in enumerate(full.codes):
            first = market[str(code)].first
            assert np.isnan(values[: first + spec.lookback - 1, column]).all(), (spec.name, code)
