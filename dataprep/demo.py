"""A deterministic KRX-like demo market: stocks, daily prices, statements, indexes, designations.

Pure numpy/polars, no I/O. Steps:
1. `dataprep.demo_universe.build_universe`: codes, names (`dataprep.demo_names`), markets,
   sectors, caps, value tilt, listings and delistings, halts, and the kinds: preferred
   shares, SPACs, REITs; the 관리종목 and 정리매매 of distress delistings
   (`dataprep.demo_status.administrative`).
2. `_simulate`: one pass over days (burn-in first, for momentum and GARCH state), vectorised
   over stocks: r = beta x market (GARCH, student-t) + KOSDAQ factor + sector factor
   + size/value/momentum premia + GARCH idiosyncratic t-noise (+ distress drift before a
   delisting, a slide during 정리매매); zero on halts; closes rounded to 0.01 and kept inside
   the +-30% limit band. A preferred share closes at its common's close x a discount that
   wanders a little (AR(1)); a SPAC wanders around its trust value (2,000 KRW, ~2 %/y).
3. `_price_rows`: OHLC, volume, trading value; rows only while listed.
4. `_index_rows`: cap-weighted KOSPI / KOSDAQ from the stocks' caps and returns.
5. `dataprep.demo_status.status_rows`: the designations of step 1, and 투자경고 (warning) /
   투자주의 (caution) spells after a 5-day run-up of +60 % / +40 %.
6. `dataprep.demo_financials.generate_financials`: quarterly statements of each company
   (a preferred share has none: its company reports on the common's code, as in DART).
Trading days are the real XKRX sessions.
"""

from __future__ import annotations

from datetime import date

import exchange_calendars as xc
import numpy as np
import polars as pl

from dataprep.defaults import DEMO_END, DEMO_SEED, DEMO_START, DEMO_STOCKS
from dataprep.demo_financials import generate_financials
from dataprep.demo_status import LIQUIDATION_DAYS, status_rows
from dataprep.demo_universe import (
    REIT_SECTOR,
    SECTORS,
    SPAC_GROWTH,
    SPAC_PRICE,
    Universe,
    build_universe,
)
from dataprep.tables import INDEXES_SCHEMA, PRICES_SCHEMA, STOCKS_SCHEMA, MarketData

INDEX_BASES = {"KOSPI": 2900.0, "KOSDAQ": 950.0}
BURN_IN = 260  # simulated days before `start`: momentum needs a year of history
LIMIT = 0.30  # KRX daily price limit


def generate_market(
    *,
    n_stocks: int = DEMO_STOCKS,
    start: date = DEMO_START,
    end: date = DEMO_END,
    seed: int = DEMO_SEED,
) -> MarketData:
    """A market of `n_stocks` over the XKRX sessions in [start, end]; same seed, same data."""
    if n_stocks < 2:
        raise ValueError(f"Got n_stocks={n_stocks}: the demo market needs at least 2 stocks")
    sessions = xc.get_calendar("XKRX").sessions_in_range(start, end)
    if len(sessions) < 20:
        raise ValueError(f"Got {start}..{end}: the demo market needs at least 20 sessions")
    days = sessions.values.astype("datetime64[D]")
    rng = np.random.default_rng(seed)
    universe = build_universe(rng, n_stocks=n_stocks, days=days)
    close, sigma, returns = _simulate(rng, universe)
    prices = _price_rows(rng, universe=universe, days=days, close=close, sigma=sigma)
    indexes = _index_rows(universe=universe, days=days, close=close, returns=returns)
    stocks = pl.DataFrame(
        {
            "code": universe.codes,
            "name": universe.names,
            "market": np.where(universe.kosdaq, "KOSDAQ", "KOSPI"),
            "sector": np.array([s[0] for s in SECTORS])[universe.sector],
            "listed_on": universe.listed_on,
            "delisted_on": np.where(
                universe.delisted, days[universe.last], np.datetime64("NaT", "D")
            ),
            "kind": universe.kind,
        },
        schema=STOCKS_SCHEMA,
    )
    companies = universe.kind != "preferred"
    financials = generate_financials(
        rng,
        stocks=stocks.filter(pl.Series(companies)),
        cap=universe.cap[companies],
        value_z=universe.value_z[companies],
        sector=universe.sector[companies],
        shares=universe.shares[companies],
        start=start,
        end=end,
    )
    status = status_rows(
        codes=universe.codes,
        first=universe.first,
        last=universe.last,
        liquidating=universe.liquidating,
        administrative_spells=universe.administrative,
        days=days,
        close=close,
    )
    return MarketData(
        stocks=stocks, prices=prices, financials=financials, indexes=indexes, status=status
    )


def _student_t(rng: np.random.Generator, df: float, shape: tuple[int, ...]) -> np.ndarray:
    """Student-t draws scaled to unit variance."""
    return rng.standard_t(df, shape) / np.sqrt(df / (df - 2))


def _simulate(
    rng: np.random.Generator, u: Universe
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Closes [n_days + 1, n] (row 0: the day before `start`), sigma and returns [n_days, n]."""
    n_days, n = u.halted.shape
    total = BURN_IN + n_days
    vol_mult = np.array([s[3] for s in SECTORS])[u.sector]
    beta = np.clip(
        rng.normal(1.0, 0.2, n) + np.array([s[4] for s in SECTORS])[u.sector] + 0.1 * u.kosdaq,
        0.2,
        2.0,
    )
    idio_var = (0.024 * np.exp(-0.25 * u.size_z) * vol_mult) ** 2
    drift = 0.0002 - 0.00008 * u.size_z  # size premium: small caps earn a little more
    calm = np.where(u.kind == "reit", 0.3, 1.0)  # REITs: little sector, style, drift
    drift, value_z = drift * calm, u.value_z * calm
    distress = np.zeros((total, n))  # delisted stocks slide for their last 120 sessions
    gone = np.flatnonzero(u.delisted)
    lags = np.arange(120)[:, None]
    distress[BURN_IN + np.maximum(u.last[gone] - lags, 0), gone] = -0.004
    dying = np.flatnonzero(u.liquidating)  # ... and fall hard in 정리매매
    lags = np.arange(LIQUIDATION_DAYS)[:, None]
    distress[BURN_IN + np.maximum(u.last[dying] - lags, 0), dying] = -0.12

    market_z = _student_t(rng, 5.0, (total,))
    kosdaq_f = 0.006 * _student_t(rng, 5.0, (total,))
    sector_f = 0.007 * _student_t(rng, 4.0, (total, len(SECTORS)))
    sector_f[:, REIT_SECTOR] *= 0.4
    value_f = rng.normal(0.00015, 0.003, total)
    momentum_f = rng.normal(0.0002, 0.004, total)
    noise = _student_t(rng, 4.0, (total, n))
    spac = np.flatnonzero(u.kind == "spac")
    pref = np.flatnonzero(u.parent >= 0)
    parent, ratio = u.parent[pref], u.ratio[pref]
    # wanderings: a SPAC's log price around its trust value, a preferred share's log discount
    wander = _ar1(
        0.004 * rng.normal(0.0, 1.0, (total, len(spac) + len(pref))),
        np.concatenate([np.full(len(spac), 0.9), np.full(len(pref), 0.97)]),
    )
    trust_days = np.arange(total)[:, None] - BURN_IN - u.anchor_day[spac]
    spac_path = np.round(SPAC_PRICE * np.exp(SPAC_GROWTH * trust_days + wander[:, : len(spac)]), 2)
    pref_path = ratio * np.exp(np.clip(wander[:, len(spac) :], -0.06, 0.06))
    pref_halted = u.halted[:, pref]

    log_price = np.zeros((total + 1, n))
    close = np.empty((n_days + 1, n))
    sigma = np.empty((n_days, n))
    level = np.round(u.cap / u.shares, 2)
    market_var, market_shock = 0.011**2, 0.0
    var, shock = idio_var.copy(), np.zeros(n)
    for t in range(total):
        market_var = 0.011**2 * 0.05 + 0.08 * market_shock**2 + 0.87 * market_var
        market_shock = np.sqrt(market_var) * market_z[t]
        var = idio_var * 0.05 + 0.10 * shock**2 + 0.85 * var
        shock = np.sqrt(var) * noise[t]
        momentum = np.zeros(n)
        if t >= 252:
            past = log_price[t - 21] - log_price[t - 252]
            momentum = np.clip((past - past.mean()) / (past.std() + 1e-12), -3, 3) * calm
        r = (
            drift
            + distress[t]
            + beta * (0.0003 + market_shock)
            + kosdaq_f[t] * u.kosdaq
            + sector_f[t, u.sector]
            + value_f[t] * value_z
            + momentum_f[t] * momentum
            + shock
        )
        day = t - BURN_IN
        if day >= 0:
            r = np.where(u.halted[day], 0.0, r)
        down, up = _limits(level)
        new = np.clip(np.round(level * (1 + r), 2), down, up)
        if len(spac):  # a SPAC trades flat around its trust value
            new[spac] = spac_path[t]
        # the close before a stock's first row (`start` or its listing) makes `u.cap` exact
        new = np.where(u.first - 1 == day, np.round(u.cap / u.shares, 2), new)
        if len(pref):  # a preferred share: its common's close x a wandering discount
            tracked = np.round(new[parent] * pref_path[t], 2)
            if day >= 0:
                inside = np.minimum(np.maximum(tracked, down[pref]), up[pref])
                tracked = np.where(pref_halted[day], level[pref], inside)
            new[pref] = tracked
        log_price[t + 1] = log_price[t] + np.log(new / level)
        if day == -1:
            close[0] = new
        elif day >= 0:
            close[day + 1] = new
            sigma[day] = np.sqrt(var + beta**2 * market_var)
        level = new
    sigma[:, pref] = sigma[:, parent]
    sigma[:, spac] = 0.004
    returns = close[1:] / close[:-1] - 1
    return close, sigma, returns


def _ar1(shocks: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """x[t] = phi x[t-1] + shocks[t] down the rows of `shocks` [days, k], from x = 0."""
    out = np.empty_like(shocks)
    x = np.zeros(shocks.shape[1])
    for t in range(len(shocks)):
        x = phi * x + shocks[t]
        out[t] = x
    return out


def _limits(previous: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lowest and highest price allowed after `previous` (+-30%, on the 0.01 grid)."""
    down = np.maximum(np.ceil(previous * (1 - LIMIT) * 100) / 100, 0.01)
    up = np.floor(previous * (1 + LIMIT) * 100) / 100
    return down, np.maximum(up, previous)


def _price_rows(
    rng: np.random.Generator,
    *,
    universe: Universe,
    days: np.ndarray,
    close: np.ndarray,
    sigma: np.ndarray,
) -> pl.DataFrame:
    """OHLC, volume and value per listed stock-day, sorted by (code, date)."""
    u = universe
    n_days, n = sigma.shape
    prev, cur = close[:-1], close[1:]
    down, up = _limits(prev)
    move = cur / prev - 1
    gap = 0.3 * move + rng.normal(0, 0.25, (n_days, n)) * sigma
    opened = np.clip(np.round(prev * (1 + gap), 2), down, up)
    top, bottom = np.maximum(opened, cur), np.minimum(opened, cur)
    wick = np.abs(rng.normal(0, 0.4, (2, n_days, n))) * sigma
    high = np.maximum(np.minimum(np.ceil(top * (1 + wick[0]) * 100) / 100, up), top)
    low = np.minimum(np.maximum(np.floor(bottom * (1 - wick[1]) * 100) / 100, down), bottom)
    turnover = np.clip(np.exp(rng.normal(np.log(0.004) - 0.6 * u.size_z, 0.5)), 1e-4, 0.2)
    turnover *= np.select([u.kind == "spac", u.kind == "preferred"], [0.15, 0.5], 1.0)
    activity = np.exp(rng.normal(0, 0.4, (n_days, n))) * (1 + 3 * np.abs(move) / sigma)
    volume = np.maximum(np.round(u.shares * turnover * activity), 1).astype(np.int64)
    halted = u.halted
    opened, high, low = (np.where(halted, cur, x) for x in (opened, high, low))
    volume = np.where(halted, 0, volume)
    value = np.round(volume * (opened + high + low + cur) / 4)
    t = np.arange(n_days)[:, None]
    listed = (t >= u.first) & (t <= u.last)
    by_stock = listed.T  # rows come out sorted by (code, date): codes are sorted

    def rows(x: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(x.T)[by_stock]

    return pl.DataFrame(
        {
            "code": np.repeat(u.codes, by_stock.sum(axis=1)),
            "date": np.broadcast_to(days, (n, n_days))[by_stock],
            "open": rows(opened),
            "high": rows(high),
            "low": rows(low),
            "close": rows(cur),
            "volume": rows(volume),
            "trading_value": rows(value),
            "shares_outstanding": np.repeat(u.shares, by_stock.sum(axis=1)),
        },
        schema=PRICES_SCHEMA,
    )


def _index_rows(
    *, universe: Universe, days: np.ndarray, close: np.ndarray, returns: np.ndarray
) -> pl.DataFrame:
    """Cap-weighted KOSPI and KOSDAQ: day t moves by the cap-weighted return of the stocks
    listed on t-1 and t (weights: caps at t-1's close), from 2,900 and 950."""
    u = universe
    t = np.arange(len(days))[:, None]
    both = (t >= u.first) & (t <= u.last) & ((u.first == 0) | (t > u.first))
    weight = np.where(both, close[:-1] * u.shares, 0.0)
    gains = np.where(both, returns, 0.0)
    frames = []
    for code, members in (("KOSPI", ~u.kosdaq), ("KOSDAQ", u.kosdaq)):
        w = weight[:, members]
        daily = (w * gains[:, members]).sum(axis=1) / np.maximum(w.sum(axis=1), 1.0)
        frames.append(
            pl.DataFrame(
                {
                    "index_code": code,
                    "date": days,
                    "close": np.round(INDEX_BASES[code] * np.cumprod(1 + daily), 2),
                },
                schema=INDEXES_SCHEMA,
            )
        )
    return pl.concat(frames)
