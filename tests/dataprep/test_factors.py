"""Each fixed factor against a naive numpy reference on the tiny market (`tiny_market.py`:
five stocks, 320 trading days, panels from day 270), and the catalog's own rules.
"""

from __future__ import annotations

import math

import numpy as np
import polars as pl
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
from tests.dataprep.tiny_market import (
    N_DAYS,
    SHARES,
    START,
    Stock,
    day,
    index_closes,
    tiny_market,
    write_tiny_market,
)


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
