"""The demo market: deterministic, on the XKRX calendar, and shaped like a market."""

from __future__ import annotations

from datetime import date

import exchange_calendars as xc
import numpy as np
import polars as pl
import psycopg
import pytest
from polars.testing import assert_frame_equal

from dataprep.demo import generate_market
from dataprep.demo_universe import SECTORS
from dataprep.importing.problems import Findings
from dataprep.importing.rules import kinds
from dataprep.tables import KINDS, STATUSES, TABLES, MarketData
from dataprep.warehouse import table_counts, write_market

START, END = date(2022, 1, 1), date(2023, 12, 31)
WIDE = {"n_stocks": 1000, "start": date(2021, 1, 1), "end": date(2023, 12, 31), "seed": 7}


@pytest.fixture(scope="module")
def market() -> MarketData:
    return generate_market(n_stocks=300, start=START, end=END, seed=11)


@pytest.fixture(scope="module")
def wide() -> MarketData:
    """Enough stocks and years for the rarer kinds and designations."""
    return generate_market(**WIDE)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def wide_prices(wide: MarketData) -> pl.DataFrame:
    """Prices with the daily return `r` and the session number `t` (0 = the first one)."""
    days = sorted(wide.prices["date"].unique())
    return wide.prices.with_columns(
        r=pl.col("close") / pl.col("close").shift(1).over("code", order_by="date") - 1,
        t=pl.col("date").replace_strict({d: i for i, d in enumerate(days)}, return_dtype=pl.Int64),
    )


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
    # a common share's code ends in 0; a preferred share's in 5, 7 or K (00088K)
    assert market.stocks["code"].str.contains(r"^\d{5}[0-9A-Z]$").all()
    companies = market.stocks.filter(pl.col("kind") != "preferred")
    assert companies["code"].str.ends_with("0").all()
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
    # a preferred share is no company: its company reports on the common's code (as in DART)
    stocks = market.stocks.filter(pl.col("kind") != "preferred")
    old = stocks.filter(pl.col("listed_on") < START)["code"]
    known = market.financials.filter(pl.col("disclosed_on") < START).group_by("code").len()
    assert set(old) <= set(known.filter(pl.col("len") >= 4)["code"])
    preferred = market.stocks.filter(pl.col("kind") == "preferred")["code"]
    assert not market.financials["code"].is_in(preferred.implode()).any()
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


def test_kinds_are_mostly_common_with_a_few_preferred_spacs_and_reits(wide: MarketData) -> None:
    count = dict(wide.stocks["kind"].value_counts().iter_rows())
    assert set(count) == set(KINDS) - {"other"}
    assert 0.01 <= count["preferred"] / wide.stocks.height <= 0.02
    assert 5 <= count["spac"] <= 20 and 3 <= count["reit"] <= 15
    assert wide.stocks.height == WIDE["n_stocks"]  # the special stocks count in n_stocks


def test_the_importer_infers_the_same_kinds_from_names_and_codes(wide: MarketData) -> None:
    findings = Findings()
    inferred = kinds(wide.stocks.drop("kind"), findings)
    assert_frame_equal(inferred.select("code", "kind"), wide.stocks.select("code", "kind"))
    names = dict(wide.stocks.group_by("kind").agg("name").iter_rows())
    assert all(n.endswith(("우", "우B", "우(전환)")) for n in names["preferred"])
    assert all("스팩" in n and n.endswith("호") for n in names["spac"])
    assert all(n.endswith("리츠") for n in names["reit"])
    assert not any(w in n for n in names["common"] for w in ("우", "스팩", "리츠"))


def test_preferred_shares_track_their_common_share_at_a_discount(
    wide: MarketData, wide_prices: pl.DataFrame
) -> None:
    preferred = wide.stocks.filter(pl.col("kind") == "preferred").with_columns(
        common=pl.col("code").str.slice(0, 5) + "0"
    )
    assert preferred["code"].str.contains(r"[57K]$").all()
    pairs = wide.stocks.join(preferred, left_on="code", right_on="common", suffix="_pref")
    assert pairs.height == preferred.height  # each has its common share, in the same market
    assert (pairs["market"] == pairs["market_pref"]).all()
    assert (pairs["sector"] == pairs["sector_pref"]).all()
    assert (pairs["name_pref"].str.starts_with(pairs["name"])).all()
    common = wide_prices.select(
        common="code", date="date", c_close="close", c_r="r", c_volume="volume"
    )
    joined = wide_prices.join(preferred.select("code", "common"), on="code").join(
        common, on=["common", "date"]
    )
    per_share = joined.group_by("code").agg(
        n=pl.len(),
        low=(pl.col("close") / pl.col("c_close")).min(),
        high=(pl.col("close") / pl.col("c_close")).max(),
        corr=pl.corr("r", "c_r"),
        volume=pl.col("volume").median() / pl.col("c_volume").median(),
    )
    assert per_share.height == preferred.height
    assert (per_share["n"] == per_share["n"].max()).all()  # listed all along, like the common
    assert (per_share["corr"] > 0.9).all()
    assert (per_share["low"] >= 0.5).all() and (per_share["high"] <= 0.8).all()
    assert (per_share["volume"] < 1).all()  # fewer shares trade
    halted_apart = joined.filter((pl.col("volume") == 0) != (pl.col("c_volume") == 0))
    assert halted_apart.height == 0  # halted with the company


def test_spacs_trade_flat_near_2000_won_and_end_within_three_years(
    wide: MarketData, wide_prices: pl.DataFrame
) -> None:
    spacs = wide.stocks.filter(pl.col("kind") == "spac")
    assert (spacs["market"] == "KOSDAQ").all()
    prices = wide_prices.join(spacs.select("code"), on="code")
    assert prices["close"].min() >= 1_800 and prices["close"].max() <= 2_400
    moves = prices["r"].drop_nulls()
    assert moves.abs().max() < 0.05 and moves.std() < 0.01
    new = spacs.filter(pl.col("listed_on") >= WIDE["start"])
    first = prices.group_by("code").agg(pl.col("close").sort_by("date").first())
    listed_at = new.join(first, on="code")["close"] / 2_000 - 1
    assert new.height > 0 and listed_at.abs().max() < 0.05
    gone = spacs.filter(pl.col("delisted_on").is_not_null())
    assert gone.height > 0
    life = (gone["delisted_on"] - gone["listed_on"]).dt.total_days()
    assert life.max() <= 3 * 366
    alive = spacs.filter(pl.col("delisted_on").is_null())
    assert (alive["listed_on"] > date(2020, 12, 31)).all()  # young: listed < 3 years ago
    assert (wide.financials.join(spacs, on="code")["dividends_per_share"] == 0).all()


def test_reits_are_calm_and_pay_high_dividends(
    wide: MarketData, wide_prices: pl.DataFrame
) -> None:
    reits = wide.stocks.filter(pl.col("kind") == "reit")
    assert (reits["market"] == "KOSPI").all() and (reits["sector"] == "Real Estate").all()
    vol = wide_prices.join(wide.stocks.select("code", "kind"), on="code").group_by("kind").agg(
        pl.col("r").std()
    )
    by_kind = dict(vol.iter_rows())
    assert by_kind["reit"] < 0.6 * by_kind["common"]
    # yield = the annual dividend / the close when it is disclosed, years with a full TTM
    annual = wide.financials.filter(
        (pl.col("fiscal_quarter") == 4) & (pl.col("period_end") >= date(2020, 12, 31))
    ).join(wide.stocks.select("code", "kind"), on="code")
    closes = wide_prices.select("code", disclosed_on="date", close="close")
    yields = (
        annual.sort("disclosed_on")
        .join_asof(closes.sort("disclosed_on"), on="disclosed_on", by="code",
                   check_sortedness=False)
        .group_by("kind")
        .agg(
            mean=(pl.col("dividends_per_share") / pl.col("close")).mean(),
            paid=(pl.col("dividends_per_share") > 0).mean(),
        )
    )
    by_kind = {kind: (mean, paid) for kind, mean, paid in yields.iter_rows()}
    assert by_kind["reit"][1] == 1  # every REIT distributes, every year
    assert by_kind["reit"][0] > 0.035 and by_kind["reit"][0] > 2.5 * by_kind["common"][0]


def test_designations_name_listed_stocks_and_known_statuses(wide: MarketData) -> None:
    status = wide.status.join(wide.stocks, on="code")
    assert status.height == wide.status.height > 0
    assert set(status["status"]) == set(STATUSES)
    first_row = pl.max_horizontal("listed_on", pl.lit(WIDE["start"]))
    assert status.select((pl.col("start_date") >= first_row).all()).item()
    assert (status["end_date"].fill_null(WIDE["end"]) >= status["start_date"]).all()
    delisted = status.filter(pl.col("delisted_on").is_not_null())
    assert (delisted["end_date"] <= delisted["delisted_on"]).all()
    assert not wide.status.select("code", "status", "start_date").is_duplicated().any()
    assert wide.status.equals(wide.status.sort("code", "status", "start_date"))


def test_administrative_designations_mostly_precede_a_delisting(wide: MarketData) -> None:
    admin = wide.status.filter(pl.col("status") == "administrative").join(wide.stocks, on="code")
    soon = (pl.col("delisted_on") - pl.col("start_date")).dt.total_days() <= 366
    assert admin.select(soon.fill_null(False).mean()).item() > 0.6
    lifted = admin.filter(pl.col("delisted_on").is_null() & pl.col("end_date").is_not_null())
    assert lifted.height > 0  # sometimes lifted
    before = admin.filter(pl.col("delisted_on").is_not_null())
    months = (before["delisted_on"] - before["start_date"]).dt.total_days() / 30.4
    assert months.min() >= 0.9 and months.max() <= 6.5


def test_warning_and_caution_spells_are_short_and_follow_a_run_up(
    wide: MarketData, wide_prices: pl.DataFrame
) -> None:
    last_t = wide_prices["t"].max()
    spells = wide.status.filter(pl.col("status").is_in(["warning", "caution"]))
    t_of = wide_prices.select("code", "date", "t")
    spells = spells.join(t_of.rename({"date": "start_date", "t": "t0"}), on=["code", "start_date"])
    spells = spells.join(
        t_of.rename({"date": "end_date", "t": "t1"}), on=["code", "end_date"], how="left"
    ).with_columns(t1=pl.col("t1").fill_null(last_t))
    assert spells.height == wide.status["status"].is_in(["warning", "caution"]).sum()
    counts = dict(spells["status"].value_counts().iter_rows())
    assert counts["warning"] >= 10 and counts["caution"] >= 10
    assert (spells["t1"] - spells["t0"] + 1).max() < 15
    closes = wide_prices.select("code", "t", "close")
    run_up = (
        spells.with_columns(t_signal=pl.col("t0") - 1, t_base=pl.col("t0") - 6)
        .join(closes.rename({"t": "t_signal", "close": "signal"}), on=["code", "t_signal"])
        .join(closes.rename({"t": "t_base", "close": "base"}), on=["code", "t_base"])
        .with_columns(gain=pl.col("signal") / pl.col("base") - 1)
    )
    assert run_up.height == spells.height  # five sessions of history before each
    assert (run_up.filter(pl.col("status") == "warning")["gain"] >= 0.6 - 1e-9).all()
    assert (run_up.filter(pl.col("status") == "caution")["gain"] >= 0.4 - 1e-9).all()
    # 투자주의 escalates to 투자경고: a stock is not in both on the same day
    w = spells.filter(pl.col("status") == "warning").select("code", "t0", "t1")
    c = spells.filter(pl.col("status") == "caution").select("code", c0="t0", c1="t1")
    overlap = (pl.col("c0") <= pl.col("t1")) & (pl.col("t0") <= pl.col("c1"))
    both = w.join(c, on="code").filter(overlap)
    assert both.height == 0


def test_liquidation_trading_ends_on_the_delisting_day(
    wide: MarketData, wide_prices: pl.DataFrame
) -> None:
    liquidation = wide.status.filter(pl.col("status") == "liquidation").join(
        wide.stocks, on="code"
    )
    assert liquidation.height > 0
    assert (liquidation["end_date"] == liquidation["delisted_on"]).all()
    days = wide_prices.join(liquidation.select("code", "start_date", "end_date"), on="code").filter(
        pl.col("date").is_between("start_date", "end_date")
    )
    per_stock = days.group_by("code").agg(
        n=pl.len(),
        traded=(pl.col("volume") > 0).all(),
        change=pl.col("close").sort_by("date").last() / pl.col("close").sort_by("date").first() - 1,
    )
    assert (per_stock["n"] == 7).all() and per_stock["traded"].all()
    assert (per_stock["change"] < -0.2).mean() > 0.6  # mostly falling (a failed SPAC: flat)
    distress = wide.stocks.filter(
        pl.col("delisted_on").is_not_null() & (pl.col("kind") == "common")
    )
    assert set(distress["code"]) <= set(liquidation["code"])


def test_same_seed_same_kinds_and_designations(market: MarketData) -> None:
    again = generate_market(n_stocks=300, start=START, end=END, seed=11)
    for field in TABLES:
        assert_frame_equal(getattr(again, field), getattr(market, field))
    other = generate_market(n_stocks=300, start=START, end=END, seed=12)
    assert not other.status.equals(market.status)


@pytest.mark.parametrize("n_stocks", [2, 12, 40])
def test_small_markets_have_few_or_no_special_stocks(n_stocks: int) -> None:
    small = generate_market(
        n_stocks=n_stocks, start=date(2022, 7, 1), end=date(2023, 6, 30), seed=3
    )
    assert small.stocks.height == n_stocks
    special = small.stocks.filter(pl.col("kind") != "common")
    assert special.height <= max(1, round(0.02 * n_stocks))


def test_a_small_market_with_its_designations_writes_to_the_database(database_url: str) -> None:
    small = generate_market(n_stocks=40, start=date(2022, 7, 1), end=date(2023, 6, 30), seed=3)
    assert small.status.height > 0
    with psycopg.connect(database_url) as conn:
        written = write_market(conn, small)
        conn.commit()
        assert table_counts(conn) == written == small.counts()
        kinds_back = conn.execute("SELECT code, kind FROM stocks ORDER BY code").fetchall()
        status_back = conn.execute(
            "SELECT code, status, start_date, end_date FROM stock_status ORDER BY 1, 2, 3"
        ).fetchall()
    assert kinds_back == small.stocks.select("code", "kind").rows()
    assert status_back == small.status.rows()
