"""Coverage, so nothing is silent: each factor's first day with a value and share of listed
stock-days, the inputs never imported, and dividend factors NaN (not 0) when dividends were
never imported."""

from __future__ import annotations

import pickle
from datetime import date

import numpy as np
import psycopg
import pytest

import dataprep
from dataprep.panel import FactorCoverage, FactorPanel, coverage_rows
from tests.dataprep.tiny_market import START, Stock, day, tiny_market, write_tiny_market

NAN = np.nan
DAYS = np.array(["2024-01-02", "2024-01-03", "2024-01-04", "2024-01-05"], dtype="datetime64[D]")
DIVIDEND_FACTORS = ("DIVIDEND_YIELD", "PAYOUT_RATIO", "DPS_GROWTH")


def hand_made_panel() -> FactorPanel:
    """4 days x 3 stocks; C lists on day 2: 10 listed stock-days.
    EARLY: A from day 1, B on day 3, plus a value where C is not listed yet (not counted);
    FULL: every listed stock-day; NONE: nothing."""
    close = np.array([[10, 10, NAN], [10, 10, NAN], [10, 10, 10], [10, 10, 10]], dtype=float)
    early = [[NAN, NAN, 5], [1, NAN, NAN], [1, NAN, NAN], [1, 2, NAN]]
    full = np.where(np.isnan(close), NAN, 1.0)
    values = np.stack([early, full, np.full((4, 3), NAN)]).astype(np.float32)
    returns = np.full_like(close, NAN)
    returns[1:] = close[1:] / close[:-1] - 1
    return FactorPanel(
        version="hand",
        dates=DAYS,
        codes=np.array(["A", "B", "C"]),
        names=np.array(["a", "b", "c"]),
        market=np.array(["KOSPI"] * 3),
        sector=np.array(["Tech"] * 3),
        factor_names=("EARLY", "FULL", "NONE"),
        values=np.ascontiguousarray(values),
        close=close,
        returns=returns,
        tradable=~np.isnan(close),
        benchmarks={"KOSPI": np.full(4, 100.0)},
    )


def test_coverage_is_the_first_day_with_a_value_and_the_share_of_listed_stock_days():
    panel = hand_made_panel()
    assert panel.coverage == {
        "EARLY": FactorCoverage(first_day=date(2024, 1, 3), share=4 / 10),
        "FULL": FactorCoverage(first_day=date(2024, 1, 2), share=1.0),
        "NONE": FactorCoverage(first_day=None, share=0.0),
    }
    assert panel.coverage["NONE"].empty and not panel.coverage["EARLY"].empty


def test_the_index_carries_the_coverage_small_and_it_survives_pickling():
    panel = hand_made_panel()
    index = panel.index()
    assert index.coverage == panel.coverage
    assert all(isinstance(c, FactorCoverage) for c in index.coverage.values())
    assert len(pickle.dumps(index.coverage)) < 2_000  # a tuple per factor, no arrays
    assert pickle.loads(pickle.dumps(panel)).coverage == panel.coverage
    assert coverage_rows(index) == {
        "EARLY": {"first_day": "2024-01-03", "share": 4 / 10, "missing_inputs": []},
        "FULL": {"first_day": "2024-01-02", "share": 1.0, "missing_inputs": []},
        "NONE": {"first_day": None, "share": 0.0, "missing_inputs": []},
    }


def test_coverage_given_must_name_the_panels_factors():
    panel = hand_made_panel()
    with pytest.raises(ValueError, match="coverage"):
        FactorPanel(**{**_fields(panel), "coverage": {"EARLY": panel.coverage["EARLY"]}})


def _fields(panel: FactorPanel) -> dict[str, object]:
    names = ("version", "dates", "codes", "names", "market", "sector", "factor_names", "values",
             "close", "returns", "tradable", "benchmarks")  # fmt: skip
    return {name: getattr(panel, name) for name in names}


def without_statements() -> dict[str, Stock]:
    stocks = tiny_market()
    for stock in stocks.values():
        stock.statements = []
    return stocks


def test_a_built_panel_says_which_inputs_were_never_imported(database_url: str):
    """Regression: prices and indexes but no statements gave 17+ all-NaN factors, silently."""
    write_tiny_market(database_url, without_statements())
    panel = dataprep.build_panel(database_url=database_url)
    coverage = panel.coverage
    assert coverage["PBR"] == FactorCoverage(
        first_day=None, share=0.0, missing_inputs=("total_equity",)
    )
    assert coverage["EV_EBITDA"].missing_inputs == (
        "total_debt", "cash", "operating_income_ttm", "depreciation_ttm"
    )
    assert coverage["DIVIDEND_YIELD"].missing_inputs == ("dividends_per_share_ttm",)
    assert coverage["MARKET_CAP"] == FactorCoverage(first_day=day(0), share=1.0)
    # MOM_12_1 reads 253 days: its first value is on day 252, for the stocks listed then
    listed = ~np.isnan(panel.close)
    has = ~np.isnan(panel.factor("MOM_12_1")) & listed
    assert coverage["MOM_12_1"].first_day == day(252)
    assert coverage["MOM_12_1"].share == pytest.approx(has.sum() / listed.sum())
    assert coverage["MOM_12_1"].missing_inputs == ()
    assert coverage["BETA_252D"].missing_inputs == ()  # the indexes were imported
    empty = {name for name, c in coverage.items() if c.empty}
    assert {name for name, c in coverage.items() if c.missing_inputs} == empty
    assert panel.index().coverage == coverage


def test_no_index_prices_means_market_return_was_never_imported(database_url: str):
    with psycopg.connect(database_url) as conn:
        conn.execute(
            "INSERT INTO stocks VALUES ('000001', 'One', 'KOSPI', 'S', '2022-01-03', NULL)"
        )
        conn.execute(
            "INSERT INTO stock_prices SELECT '000001', date '2022-01-03' + i, 10 + i, 10 + i,"
            " 10 + i, 10 + i, 100, 100 * (10 + i), 1000 FROM generate_series(0, 29) i"
        )
    coverage = dataprep.build_panel(database_url=database_url).coverage
    assert coverage["BETA_252D"].missing_inputs == ("market_return",)
    assert coverage["PER"].missing_inputs == ("net_income_ttm",)
    assert coverage["MOM_3M"] == FactorCoverage(first_day=None, share=0.0)  # 30 days: too few


def _column(panel: FactorPanel, code: str) -> int:
    return int(np.flatnonzero(panel.codes == code)[0])


def test_dividend_factors_are_nan_when_no_dividend_was_ever_imported(database_url: str):
    """Regression: DIVIDEND_YIELD and PAYOUT_RATIO were 0 for every stock when no statement
    carried dividends, so a top-yield strategy bought in code order."""
    stocks = tiny_market()
    for stock in stocks.values():
        for row in stock.statements:
            row["dividends_per_share"] = None
    write_tiny_market(database_url, stocks)
    panel = dataprep.build_panel(database_url=database_url, start=day(START))
    for name in DIVIDEND_FACTORS:
        assert np.isnan(panel.factor(name)).all(), name
        assert panel.coverage[name].empty, name
    assert panel.coverage["DIVIDEND_YIELD"].missing_inputs == ("dividends_per_share_ttm",)
    assert not np.isnan(panel.factor("PER")).all()  # the other statement items are there


def test_a_stock_reporting_no_dividend_has_yield_0_when_dividends_were_imported(
    database_url: str,
):
    """D (000040) reports every other item but never a dividend; A reports December ones:
    the data carries dividends, so D paid none (0), and A's yield is its dividend."""
    stocks = tiny_market()
    for row in stocks["000040"].statements:
        row["dividends_per_share"] = None
    write_tiny_market(database_url, stocks)
    panel = dataprep.build_panel(database_url=database_url, start=day(START))
    d, a = _column(panel, "000040"), _column(panel, "000010")
    ttm_from = 291 - START  # D's fourth quarter counts from day 291
    yield_d = panel.factor("DIVIDEND_YIELD")[:, d]
    assert np.isnan(yield_d[:ttm_from]).all()  # no four quarters yet: unknown
    assert (yield_d[ttm_from:] == 0).all()
    assert (panel.factor("PAYOUT_RATIO")[ttm_from:, d] == 0).all()
    expected = 50.0 / panel.close[:, a]  # one December dividend of 50 in every TTM window
    np.testing.assert_allclose(panel.factor("DIVIDEND_YIELD")[:, a], expected, rtol=1e-6)
    assert not panel.coverage["DIVIDEND_YIELD"].empty
    assert panel.coverage["DIVIDEND_YIELD"].missing_inputs == ()
