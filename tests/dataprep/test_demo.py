"""The demo market: deterministic, on the XKRX calendar, and shaped like a market."""

from __future__ import annotations

from datetime import date

import exchange_calendars as xc
import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from dataprep.demo import SECTORS, generate_market
from dataprep.tables import TABLES, MarketData

START, END = date(2022, 1, 1), date(2023, 12, 31)


@pytest.fixture(scope="module")
def market() -> MarketData:
    return generate_market(n_stocks=300, start=START, end=END, seed=11)


@pytest.fixture(scope="module")
def sessions() -> list[date]:
    return [d.date() for d in xc.get_calendar("XKRX").sessions_in_range(START, END)]


@pytest.fixture(scope="module")
def returns(market: MarketData) -> pl.DataFrame:
    return market.prices.with_columns(
        prev=pl.col("close").shift(1).over("code", order_by="date")
    ).with_columns(r=pl.col("close") / pl.col("prev") - 1)


def test_same_seed_same_market_other_seed_other_market() -> None:
    first = generate_market(n_stocks=20, start=date(2023, 1, 1), end=date(2023, 6, 30), seed=5)
    again = generate_market(n_stocks=20, start=date(2023, 1, 1), end=date(2023, 6, 30), seed=5)
    other = generate_market(n_stocks=20, start=date(2023, 1, 1), end=date(2023, 6, 30), seed=6)
    for field in TABLES:
        assert_frame_equal(getattr(first, field), getattr(again, field))
    assert not first.prices.equals(other.prices)
    assert first.stocks["code"].to_list() != other.stocks["code"].to_list()


def test_columns_and_types_are_the_tables(market: MarketData) -> None:
    for field, (_, schema) in TABLES.items():
        assert getattr(market, field).schema == pl.Schema(schema)


def test_dates_are_exactly_the_xkrx_sessions(market: MarketData, sessions: list[date]) -> None:
    assert sorted(market.prices["date"].unique().to_list()) == sessions
    for code in ("KOSPI", "KOSDAQ"):
        index = market.indexes.filter(pl.col("index_code") == code)
        assert index["date"].to_list() == sessions
        assert (index["close"] > 0).all()
    kospi = market.indexes.filter(pl.col("index_code") == "KOSPI")["close"][0]
    kosdaq = market.indexes.filter(pl.col("index_code") == "KOSDAQ")["close"][0]
    assert 2_700 < kospi < 3_100 and 880 < kosdaq < 1_020


def test_keys_are_unique_and_codes_look_like_krx(market: MarketData) -> None:
    assert market.stocks["code"].is_unique().all()
    assert market.stocks["code"].str.contains(r"^\d{6}$").all()
    assert market.stocks["name"].is_unique().all()
    assert not market.prices.select("code", "date").is_duplicated().any()
    assert not market.financials.select("code", "period_end").is_duplicated().any()


def test_daily_moves_stay_inside_the_30_percent_limit(returns: pl.DataFrame) -> None:
    moves = returns["r"].drop_nulls()
    assert moves.min() >= -0.3 - 1e-9 and moves.max() <= 0.3 + 1e-9
    assert moves.kurtosis() > 3  # fat tails


def test_ohlc_volume_and_value_are_consistent(market: MarketData) -> None:
    p = market.prices
    checks = p.select(
        high=(pl.col("high") >= pl.max_horizontal("open", "close")).all(),
        low=(pl.col("low") <= pl.min_horizontal("open", "close")).all(),
        positive=(pl.col("low") > 0).all() & (pl.col("volume") >= 0).all(),
    )
    assert checks.row(0) == (True, True, True)
    trading = p.filter(pl.col("volume") > 0)
    vwap = trading["trading_value"] / trading["volume"]
    assert ((vwap >= trading["low"] * 0.999) & (vwap <= trading["high"] * 1.001)).all()
    shares = p.group_by("code").agg(pl.col("shares_outstanding").n_unique())
    assert (shares["shares_outstanding"] == 1).all()


def test_halts_have_no_trading_and_an_unchanged_flat_price(returns: pl.DataFrame) -> None:
    halted = returns.filter(pl.col("volume") == 0)
    assert halted.height > 0
    assert (halted["trading_value"] == 0).all()
    assert (halted["r"].fill_null(0.0) == 0).all()
    for column in ("open", "high", "low"):
        assert (halted[column] == halted["close"]).all()
    spans = halted.group_by("code").len()
    assert spans["len"].max() > 1  # halts last days, not single glitches


def test_listings_and_delistings_match_the_price_rows(
    market: MarketData, sessions: list[date]
) -> None:
    span = market.prices.group_by("code").agg(
        first=pl.col("date").min(), last=pl.col("date").max(), n=pl.len()
    )
    stocks = market.stocks.join(span, on="code")
    assert stocks.height == market.stocks.height  # every stock trades at some point
    new = stocks.filter(pl.col("listed_on") >= START)
    old = stocks.filter(pl.col("listed_on") < START)
    assert 0 < new.height < 0.2 * stocks.height
    assert (new["first"] == new["listed_on"]).all()
    assert (old["first"] == sessions[0]).all()
    gone = stocks.filter(pl.col("delisted_on").is_not_null())
    assert 1 <= gone.height <= 0.06 * stocks.height
    assert (gone["last"] == gone["delisted_on"]).all()
    assert (gone["last"] < sessions[-1]).all()
    alive = stocks.filter(pl.col("delisted_on").is_null())
    assert (alive["last"] == sessions[-1]).all()
    on_session = {d: i for i, d in enumerate(sessions)}
    gap_free = stocks.with_columns(
        span=pl.col("last").replace_strict(on_session) - pl.col("first").replace_strict(on_session)
    )
    assert (gap_free["span"] + 1 == gap_free["n"]).all()  # a row on every session in between


def test_market_split_sectors_and_sizes(market: MarketData) -> None:
    share = (market.stocks["market"] == "KOSPI").mean()
    assert 0.35 <= share <= 0.45
    assert set(market.stocks["market"]) == {"KOSPI", "KOSDAQ"}
    sectors = set(market.stocks["sector"])
    assert sectors <= {s[0] for s in SECTORS} and len(sectors) >= 18
    caps = market.prices.group_by("code").agg(
        cap=(pl.col("close") * pl.col("shares_outstanding")).first(),
        value=pl.col("trading_value").mean(),
    )
    assert caps["cap"].min() < 3e10 and caps["cap"].max() > 1e14
    assert caps.select(pl.corr("cap", "value", method="spearman")).item() > 0.5


def test_stocks_move_together(market: MarketData) -> None:
    wide = market.prices.pivot(on="code", index="date", values="close").sort("date").drop("date")
    closes = wide.to_numpy()
    daily = np.diff(np.log(closes), axis=0)
    full = daily[:, ~np.isnan(daily).any(axis=0)]
    corr = np.corrcoef(full.T)
    mean_pair = (corr.sum() - len(corr)) / (len(corr) * (len(corr) - 1))
    assert 0.05 < mean_pair < 0.6


def test_statements_are_disclosed_with_realistic_lags(market: MarketData) -> None:
    f = market.financials.with_columns(
        lag=(pl.col("disclosed_on") - pl.col("period_end")).dt.total_days()
    )
    assert (f["disclosed_on"] <= END).all()
    quarterly = f.filter(pl.col("fiscal_quarter") < 4)
    annual = f.filter(pl.col("fiscal_quarter") == 4)
    assert quarterly["lag"].min() >= 30 and quarterly["lag"].max() <= 45
    assert annual["lag"].min() >= 60 and annual["lag"].max() <= 90
    month = f["period_end"].dt.month()
    assert (f["fiscal_quarter"] == month // 3).all()
    assert (f["period_end"] == f["period_end"].dt.month_end()).all()


def test_every_listed_company_has_ttm_from_the_start(market: MarketData) -> None:
    old = market.stocks.filter(pl.col("listed_on") < START)["code"]
    known = market.financials.filter(pl.col("disclosed_on") < START).group_by("code").len()
    assert set(old) <= set(known.filter(pl.col("len") >= 4)["code"])
    gone = market.stocks.filter(pl.col("delisted_on").is_not_null())
    late = market.financials.join(gone, on="code").filter(
        pl.col("disclosed_on") > pl.col("delisted_on")
    )
    assert late.height == 0


def test_statements_look_like_companies(market: MarketData) -> None:
    f = market.financials
    assert (f["total_equity"] - (f["total_assets"] - f["total_liabilities"])).abs().max() <= 1
    assert (f["total_assets"] > 0).all() and (f["revenue"] > 0).all()
    assert (f["current_assets"] <= f["total_assets"]).all()
    assert (f["cash"] <= f["current_assets"]).all()
    assert 0.05 < (f["net_income"] < 0).mean() < 0.5
    assert (f["total_equity"] < 0).any()
    dps = f.filter(pl.col("fiscal_quarter") == 4)["dividends_per_share"]
    assert 0.2 < (dps > 0).mean() < 0.8
    assert (f.filter(pl.col("fiscal_quarter") < 4)["dividends_per_share"] == 0).all()
    assert (f["capex"] >= 0).all() and (f["depreciation"] >= 0).all()
