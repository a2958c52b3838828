"""A deterministic KRX-like demo market: stocks, daily prices, statements and indexes.

Pure numpy/polars, no I/O. Steps:
1. `_universe`: codes, names, KOSPI/KOSDAQ split, sectors, log-normal caps (a Zipf-like head
   up to ~400tn KRW), value tilt, listings and delistings inside the period, halt spans.
2. `_simulate`: one pass over days (burn-in first, for momentum and GARCH state), vectorised
   over stocks: r = beta x market (GARCH, student-t) + KOSDAQ factor + sector factor
   + size/value/momentum premia + GARCH idiosyncratic t-noise (+ distress drift before a
   delisting); zero on halts; closes rounded to 0.01 and kept inside the +-30% limit band.
3. `_price_rows`: OHLC, volume, trading value; rows only while listed.
4. `_index_rows`: cap-weighted KOSPI / KOSDAQ from the stocks' caps and returns.
5. `dataprep.demo_financials.generate_financials`: quarterly statements.
Trading days are the real XKRX sessions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import exchange_calendars as xc
import numpy as np
import polars as pl

from dataprep.defaults import DEMO_END, DEMO_SEED, DEMO_START, DEMO_STOCKS
from dataprep.demo_financials import generate_financials
from dataprep.tables import INDEXES_SCHEMA, PRICES_SCHEMA, STOCKS_SCHEMA, MarketData

# name, KOSPI weight, KOSDAQ weight, volatility multiplier, beta shift, word in company names
SECTORS: tuple[tuple[str, float, float, float, float, str], ...] = (
    ("Electrical & Electronics", 10, 9, 1.0, 0.10, "Electronics"),
    ("Semiconductors", 4, 12, 1.2, 0.25, "Semicon"),
    ("IT Software & Services", 3, 11, 1.2, 0.15, "Soft"),
    ("Chemicals", 10, 6, 1.0, 0.05, "Chemical"),
    ("Pharmaceuticals", 7, 12, 1.35, 0.05, "Pharm"),
    ("Medical Devices", 1, 6, 1.3, 0.0, "Medical"),
    ("Transport Equipment", 8, 4, 1.0, 0.10, "Motors"),
    ("Machinery", 6, 8, 1.05, 0.10, "Machinery"),
    ("Steel & Metals", 6, 3, 0.95, 0.10, "Steel"),
    ("Construction", 5, 3, 0.95, 0.0, "E&C"),
    ("Food & Beverage", 5, 3, 0.75, -0.25, "Foods"),
    ("Textiles & Apparel", 4, 2, 0.95, -0.10, "Textile"),
    ("Distribution", 7, 4, 0.85, -0.10, "Retail"),
    ("Services", 5, 5, 1.0, -0.05, "Service"),
    ("Media & Entertainment", 2, 6, 1.25, 0.05, "Media"),
    ("Telecom", 2, 1, 0.7, -0.35, "Telecom"),
    ("Utilities", 2, 1, 0.7, -0.40, "Energy"),
    ("Transportation & Storage", 4, 2, 0.9, 0.0, "Logistics"),
    ("Banks", 3, 1, 0.75, 0.0, "Financial"),
    ("Securities & Insurance", 5, 1, 0.85, 0.10, "Securities"),
)
NAME_HEADS = tuple("Han Dae Sam Dong Kum Se Hyo Shin Il Kuk Yu Seo Nam Tae Hwa".split())
NAME_HEADS += tuple("Sung Kwang Jin Young Woo".split())
NAME_TAILS = tuple("il won yang bu ho jin sung san lim kwang do hwa myung heung".split())
NAME_TAILS += tuple("chang a bo kyung dong jeon".split())
NAME_FORMS = ("", " Holdings", " Industries", " Tech", " Global", " Korea")
INDEX_BASES = {"KOSPI": 2900.0, "KOSDAQ": 950.0}
BURN_IN = 260  # simulated days before `start`: momentum needs a year of history
LIMIT = 0.30  # KRX daily price limit


@dataclass(frozen=True, eq=False)
class _Universe:
    codes: np.ndarray  # str [n]
    names: np.ndarray
    kosdaq: np.ndarray  # bool [n]
    sector: np.ndarray  # int [n]
    cap: np.ndarray  # float [n], KRW at the start
    size_z: np.ndarray  # standardised log cap
    value_z: np.ndarray  # standardised value tilt
    shares: np.ndarray  # int64 [n]
    first: np.ndarray  # int [n], first session index with a row
    last: np.ndarray  # int [n], last session index with a row
    listed_on: np.ndarray  # datetime64[D] [n]
    delisted: np.ndarray  # bool [n]
    halted: np.ndarray  # bool [n_days, n]


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
    universe = _universe(rng, n_stocks=n_stocks, days=days)
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
            "kind": ["common"] * len(universe.codes),
        },
        schema=STOCKS_SCHEMA,
    )
    financials = generate_financials(
        rng,
        stocks=stocks,
        cap=universe.cap,
        value_z=universe.value_z,
        sector=universe.sector,
        shares=universe.shares,
        start=start,
        end=end,
    )
    return MarketData(stocks=stocks, prices=prices, financials=financials, indexes=indexes)


def _universe(rng: np.random.Generator, *, n_stocks: int, days: np.ndarray) -> _Universe:
    n, n_days = n_stocks, len(days)
    codes = np.char.zfill((np.sort(rng.choice(99_990, n, replace=False)) + 10).astype(str), 5)
    codes = np.char.add(codes, "0")  # common shares end in 0, like 005930
    kosdaq = rng.permutation(np.arange(n) >= round(0.4 * n))
    weights = np.array([[s[1], s[2]] for s in SECTORS], dtype=float)
    weights /= weights.sum(axis=0)
    sector = np.where(
        kosdaq,
        rng.choice(len(SECTORS), n, p=weights[:, 1]),
        rng.choice(len(SECTORS), n, p=weights[:, 0]),
    )
    cap = np.exp(rng.normal(np.where(kosdaq, np.log(1.3e11), np.log(4.5e11)), 1.1))
    kospi_rank = np.empty(n, dtype=int)
    order = np.argsort(-np.where(kosdaq, -np.inf, cap))
    kospi_rank[order] = np.arange(1, n + 1)
    head = np.where(kosdaq, 0.0, 4e14 / kospi_rank.astype(float) ** 1.3)  # Samsung-like head
    cap = np.clip(np.maximum(cap, head), 8e9, 4e14)
    log_cap = np.log(cap)
    size_z = (log_cap - log_cap.mean()) / log_cap.std()
    value_z = rng.normal(0.0, 1.0, n) - 0.3 * size_z
    value_z = (value_z - value_z.mean()) / value_z.std()
    price = np.exp(rng.uniform(np.log(1_500), np.log(150_000), n) + 0.25 * size_z)
    shares = np.maximum(np.round(cap / price), 1).astype(np.int64)

    years = n_days / 248
    n_new = max(1, round(0.04 * years * n))
    n_gone = max(1, round(0.01 * years * n))
    picked = rng.choice(n, n_new + n_gone, replace=False)
    new, gone = picked[:n_new], picked[n_new:]
    first = np.zeros(n, dtype=int)
    last = np.full(n, n_days - 1)
    first[new] = rng.integers(1, max(2, n_days - 60), n_new)
    last[gone] = rng.integers(min(120, n_days // 2), n_days - 1, n_gone)
    epoch = np.datetime64("1976-01-02")
    old_listing = np.busday_offset(
        epoch + rng.integers(0, (days[0] - epoch).astype(int), n), 0, roll="backward"
    )
    listed_on = np.where(first > 0, days[first], np.minimum(old_listing, days[0] - 1))
    delisted = np.zeros(n, dtype=bool)
    delisted[gone] = True

    halted = np.zeros((n_days, n), dtype=bool)
    n_spans = max(1, round(0.03 * years * n))
    span_stock = rng.choice(n, n_spans)
    span_len = np.minimum(rng.geometric(1 / 8, n_spans), 120)
    span_start = first[span_stock] + rng.integers(1, 10_000, n_spans) % np.maximum(
        last[span_stock] - first[span_stock], 1
    )
    # half of the delisted stocks are halted for their last days (delisting review)
    review = gone[: (n_gone + 1) // 2]
    review_len = rng.integers(3, 25, len(review))
    span_stock = np.concatenate([span_stock, review])
    span_len = np.concatenate([span_len, review_len])
    span_start = np.concatenate([span_start, last[review] - review_len + 1])
    span_start = np.maximum(span_start, first[span_stock] + 1)
    span_end = np.minimum(span_start + span_len, last[span_stock] + 1)
    lengths = np.maximum(span_end - span_start, 0)
    offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    halted[np.repeat(span_start, lengths) + offsets, np.repeat(span_stock, lengths)] = True

    name_index = rng.choice(
        len(NAME_HEADS) * len(NAME_TAILS) * len(NAME_FORMS),
        n,
        replace=n > len(NAME_HEADS) * len(NAME_TAILS) * len(NAME_FORMS),
    )
    pair, form = np.divmod(name_index, len(NAME_FORMS))
    head_i, tail_i = np.divmod(pair, len(NAME_TAILS))
    words = np.array([s[5] for s in SECTORS])[sector]
    names = np.char.add(
        np.char.add(np.char.add(np.array(NAME_HEADS)[head_i], np.array(NAME_TAILS)[tail_i]), " "),
        np.char.add(words, np.array(NAME_FORMS)[form]),
    )
    return _Universe(
        codes=codes.astype(object),
        names=names.astype(object),
        kosdaq=kosdaq,
        sector=sector,
        cap=cap,
        size_z=size_z,
        value_z=value_z,
        shares=shares,
        first=first,
        last=last,
        listed_on=listed_on,
        delisted=delisted,
        halted=halted,
    )


def _student_t(rng: np.random.Generator, df: float, shape: tuple[int, ...]) -> np.ndarray:
    """Student-t draws scaled to unit variance."""
    return rng.standard_t(df, shape) / np.sqrt(df / (df - 2))


def _simulate(
    rng: np.random.Generator, u: _Universe
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
    distress = np.zeros((total, n))  # delisted stocks slide for their last 120 sessions
    gone = np.flatnonzero(u.delisted)
    lags = np.arange(120)[:, None]
    distress[BURN_IN + np.maximum(u.last[gone] - lags, 0), gone] = -0.004

    market_z = _student_t(rng, 5.0, (total,))
    kosdaq_f = 0.006 * _student_t(rng, 5.0, (total,))
    sector_f = 0.007 * _student_t(rng, 4.0, (total, len(SECTORS)))
    value_f = rng.normal(0.00015, 0.003, total)
    momentum_f = rng.normal(0.0002, 0.004, total)
    noise = _student_t(rng, 4.0, (total, n))

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
            momentum = np.clip((past - past.mean()) / (past.std() + 1e-12), -3, 3)
        r = (
            drift
            + distress[t]
            + beta * (0.0003 + market_shock)
            + kosdaq_f[t] * u.kosdaq
            + sector_f[t, u.sector]
            + value_f[t] * u.value_z
            + momentum_f[t] * momentum
            + shock
        )
        day = t - BURN_IN
        if day >= 0:
            r = np.where(u.halted[day], 0.0, r)
        down, up = _limits(level)
        new = np.clip(np.round(level * (1 + r), 2), down, up)
        # the close before a stock's first row (`start` or its listing) makes `u.cap` exact
        new = np.where(u.first - 1 == day, np.round(u.cap / u.shares, 2), new)
        log_price[t + 1] = log_price[t] + np.log(new / level)
        if day == -1:
            close[0] = new
        elif day >= 0:
            close[day + 1] = new
            sigma[day] = np.sqrt(var + beta**2 * market_var)
        level = new
    returns = close[1:] / close[:-1] - 1
    return close, sigma, returns


def _limits(previous: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lowest and highest price allowed after `previous` (+-30%, on the 0.01 grid)."""
    down = np.maximum(np.ceil(previous * (1 - LIMIT) * 100) / 100, 0.01)
    up = np.floor(previous * (1 + LIMIT) * 100) / 100
    return down, np.maximum(up, previous)


def _price_rows(
    rng: np.random.Generator,
    *,
    universe: _Universe,
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
    *, universe: _Universe, days: np.ndarray, close: np.ndarray, returns: np.ndarray
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
