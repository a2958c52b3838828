"""A deterministic KRX-like demo market: stocks, daily prices, statements, indexes, designations.

Pure numpy/polars, no I/O. Steps:
1. `_universe`: codes, names, KOSPI/KOSDAQ split, sectors, log-normal caps (a Zipf-like head
   up to ~400tn KRW), value tilt, listings and delistings inside the period, halt spans
   (`_halts`), and the kinds (markets of >= 30 stocks): ~1.5 % preferred shares (the
   common's code ending in 5 / 7 / K, names ending in 우 / 2우B / 우(전환)), ~1 % SPACs
   (KOSDAQ "XX스팩N호", listed at 2,000 KRW, merged or failed after 1-3 years: both end as a
   delisting, `_spac_lives`), ~0.7 % REITs (KOSPI "..리츠", calm). Distress delistings
   (`_administrative`): 관리종목 1-6 months before (most of them), a review halt for half,
   then 정리매매 over the last 7 sessions; a few 관리종목 on survivors, lifted or not.
2. `_simulate`: one pass over days (burn-in first, for momentum and GARCH state), vectorised
   over stocks: r = beta x market (GARCH, student-t) + KOSDAQ factor + sector factor
   + size/value/momentum premia + GARCH idiosyncratic t-noise (+ distress drift before a
   delisting, a slide during 정리매매); zero on halts; closes rounded to 0.01 and kept inside
   the +-30% limit band. A preferred share closes at its common's close x a discount that
   wanders a little (AR(1)); a SPAC wanders around its trust value (2,000 KRW, ~2 %/y).
3. `_price_rows`: OHLC, volume, trading value; rows only while listed.
4. `_index_rows`: cap-weighted KOSPI / KOSDAQ from the stocks' caps and returns.
5. `_status_rows`: the designations of step 1, and 투자경고 (warning) / 투자주의 (caution)
   spells after a 5-day run-up of +60 % / +40 %.
6. `dataprep.demo_financials.generate_financials`: quarterly statements of each company
   (a preferred share has none: its company reports on the common's code, as in DART).
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
from dataprep.tables import INDEXES_SCHEMA, PRICES_SCHEMA, STATUS_SCHEMA, STOCKS_SCHEMA, MarketData

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
    ("Real Estate", 0, 0, 0.45, -0.55, "REIT"),  # REITs only
)
SPAC_SECTOR, REIT_SECTOR = len(SECTORS) - 2, len(SECTORS) - 1
NAME_HEADS = tuple("Han Dae Sam Dong Kum Se Hyo Shin Il Kuk Yu Seo Nam Tae Hwa".split())
NAME_HEADS += tuple("Sung Kwang Jin Young Woo".split())
NAME_TAILS = tuple("il won yang bu ho jin sung san lim kwang do hwa myung heung".split())
NAME_TAILS += tuple("chang a bo kyung dong jeon".split())
NAME_FORMS = ("", " Holdings", " Industries", " Tech", " Global", " Korea")
PREFERRED_WORDS = {"5": "우", "7": "2우B", "K": "우(전환)"}  # code suffix -> name suffix
SPAC_HOUSES = tuple("미래에셋 하나금융 NH KB 삼성 신한 IBKS 유안타 교보 DB금융".split())
SPAC_HOUSES += tuple("한화플러스 SK증권 대신밸런스 키움 한국투자".split())
SPAC_HOUSES += tuple("유진 하이 상상인 이베스트 신영".split())
REIT_HEADS = tuple("신한알파 롯데 이지스 코람코 미래에셋 한화 KB스타 NH올원".split())
REIT_HEADS += tuple("SK ESR 마스턴 디앤디".split())
REIT_WORDS = ("", "글로벌", "밸류", "오피스", "물류", "인프라", "프라임")
PREFERRED_SHARE, SPAC_SHARE, REIT_SHARE = 0.015, 0.01, 0.007  # of n_stocks (when >= 30)
SPAC_PRICE, SPAC_GROWTH = 2_000.0, 0.00008  # listing price; daily growth of the trust value
LIQUIDATION_DAYS = 7  # 정리매매: the last sessions before a distress delisting
WARNING_RUN_UP, CAUTION_RUN_UP = 0.6, 0.4  # 5-day gains after which KRX designates
WARNING_DAYS, CAUTION_DAYS, MAX_SPELL = 10, 2, 12  # sessions after the last trigger; cap
INDEX_BASES = {"KOSPI": 2900.0, "KOSDAQ": 950.0}
BURN_IN = 260  # simulated days before `start`: momentum needs a year of history
LIMIT = 0.30  # KRX daily price limit


@dataclass(frozen=True, eq=False)
class _Universe:
    codes: np.ndarray  # str [n]
    names: np.ndarray
    kind: np.ndarray  # str [n]: common, preferred, spac, reit
    kosdaq: np.ndarray  # bool [n]
    sector: np.ndarray  # int [n]
    cap: np.ndarray  # float [n], KRW at the start
    size_z: np.ndarray  # standardised log cap (a preferred share: its common's)
    value_z: np.ndarray  # standardised value tilt
    shares: np.ndarray  # int64 [n]
    first: np.ndarray  # int [n], first session index with a row
    last: np.ndarray  # int [n], last session index with a row
    listed_on: np.ndarray  # datetime64[D] [n]
    delisted: np.ndarray  # bool [n]
    halted: np.ndarray  # bool [n_days, n]
    parent: np.ndarray  # int [n]: a preferred share's common share, else -1
    ratio: np.ndarray  # float [n]: a preferred share's price / its common's (mean)
    anchor_day: np.ndarray  # int [n]: the session (may be < 0) a SPAC was worth 2,000 KRW
    liquidating: np.ndarray  # bool [n]: 정리매매 over its last LIQUIDATION_DAYS sessions
    administrative: np.ndarray  # int [k, 3]: stock, first and last session (-1: in force)


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
    status = _status_rows(universe=universe, days=days, close=close)
    return MarketData(
        stocks=stocks, prices=prices, financials=financials, indexes=indexes, status=status
    )


def _universe(rng: np.random.Generator, *, n_stocks: int, days: np.ndarray) -> _Universe:
    n_days = len(days)
    special = n_stocks >= 30  # a smaller market is common shares only
    suffixes = _preferred_suffixes(rng, round(PREFERRED_SHARE * n_stocks) if special else 0)
    n = n_stocks - sum(len(s) for s in suffixes)  # companies; their preferred shares follow
    prefixes = np.char.zfill((np.sort(rng.choice(99_990, n, replace=False)) + 10).astype(str), 5)
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

    kind = np.full(n, "common", dtype=object)
    kospi_tail = np.flatnonzero(~kosdaq & (kospi_rank > 30))
    spac = np.sort(rng.choice(np.flatnonzero(kosdaq), min(round(SPAC_SHARE * n_stocks) * special,
                                                          kosdaq.sum()), replace=False))
    reit = np.sort(rng.choice(kospi_tail, min(round(REIT_SHARE * n_stocks) * special,
                                              len(kospi_tail)), replace=False))
    kind[spac], kind[reit] = "spac", "reit"
    sector[spac], sector[reit] = SPAC_SECTOR, REIT_SECTOR
    cap[reit] = np.exp(rng.uniform(np.log(1e11), np.log(1.5e12), len(reit)))
    common = np.flatnonzero(kind == "common")
    pull = cap[common] ** 0.3 * np.where(kosdaq[common], 1.0, 3.0)  # big KOSPI names issue them
    parents = np.sort(rng.choice(common, len(suffixes), replace=False, p=pull / pull.sum()))

    years = n_days / 248
    n_new = max(1, round(0.04 * years * n_stocks))
    n_gone = max(1, round(0.01 * years * n_stocks))
    picked = rng.choice(np.setdiff1d(common, parents), n_new + n_gone, replace=False)
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

    lives = _spac_lives(rng, count=len(spac), days=days)
    first[spac], last[spac], delisted[spac], listed_on[spac], offset, merged = lives
    anchor_day = np.zeros(n, dtype=int)
    anchor_day[spac] = offset - 1
    spac_shares = rng.integers(4_000_000, 15_000_000, len(spac))
    cap[spac] = SPAC_PRICE * np.exp(SPAC_GROWTH * (first[spac] - offset)) * spac_shares

    log_cap = np.log(cap)
    size_z = (log_cap - log_cap.mean()) / log_cap.std()
    value_z = rng.normal(0.0, 1.0, n) - 0.3 * size_z
    value_z = (value_z - value_z.mean()) / value_z.std()
    price = np.exp(rng.uniform(np.log(1_500), np.log(150_000), n) + 0.25 * size_z)
    price[reit] = np.exp(rng.uniform(np.log(3_500), np.log(6_500), len(reit)))
    price[spac] = cap[spac] / spac_shares
    shares = np.maximum(np.round(cap / price), 1).astype(np.int64)

    liquidating = delisted.copy()  # distress delistings and failed SPACs
    liquidating[spac[merged]] = False
    survivors = np.setdiff1d(common, np.concatenate([parents, picked]))
    administrative = _administrative(
        rng, dying=np.flatnonzero(liquidating), survivors=survivors[size_z[survivors] < 0],
        first=first, last=last, n_days=n_days,
    )

    names = _company_names(rng, sector=sector)
    names[spac] = _spac_names(rng, offset)
    names[reit] = _reit_names(rng, len(reit))

    # preferred shares: right after their common share (so codes stay sorted)
    sizes = np.array([len(s) for s in suffixes], dtype=int)
    of = np.repeat(parents, sizes)
    src = np.insert(np.arange(n), of + 1, of)  # the company of each stock
    pref = np.flatnonzero(np.insert(np.zeros(n, dtype=bool), of + 1, True))
    at = np.flatnonzero(np.insert(np.ones(n, dtype=bool), of + 1, False))  # company -> stock
    suffix = np.full(n_stocks, "0", dtype=object)
    suffix[pref] = [c for s in suffixes for c in s]
    parent = np.full(n_stocks, -1)
    parent[pref] = at[of]
    ratio = np.ones(n_stocks)
    ratio[pref] = rng.uniform(0.56, 0.74, len(pref))
    pref_shares = np.maximum(shares[of] * rng.uniform(0.03, 0.2, len(pref)), 1000).astype(int)
    pref_cap = cap[of] / shares[of] * ratio[pref] * pref_shares
    kind, names, shares, cap = kind[src], names[src], shares[src], cap[src]
    kind[pref], shares[pref], cap[pref] = "preferred", pref_shares, pref_cap
    names[pref] = [
        name + PREFERRED_WORDS[c] for name, c in zip(names[pref], suffix[pref], strict=True)
    ]
    codes = np.char.add(prefixes[src].astype(str), suffix.astype(str))
    first, last, delisted = first[src], last[src], delisted[src]
    liquidating, administrative[:, 0] = liquidating[src], at[administrative[:, 0]]
    halted = _halts(rng, first=first, last=last, kind=kind, parent=parent,
                    review=at[gone[: (n_gone + 1) // 2]], liquidating=liquidating, n_days=n_days)
    return _Universe(
        codes=codes.astype(object),
        names=names,
        kind=kind,
        kosdaq=kosdaq[src],
        sector=sector[src],
        cap=cap,
        size_z=size_z[src],
        value_z=value_z[src],
        shares=shares,
        first=first,
        last=last,
        listed_on=listed_on[src],
        delisted=delisted,
        halted=halted,
        parent=parent,
        ratio=ratio,
        anchor_day=anchor_day[src],
        liquidating=liquidating,
        administrative=administrative,
    )


def _spac_lives(
    rng: np.random.Generator, *, count: int, days: np.ndarray
) -> tuple[np.ndarray, ...]:
    """First and last session, delisted, listing date, session of the first row (<= 0: listed
    before `start`) and merged of `count` SPACs: listed at 2,000 KRW up to ~3 years before
    `start` or inside the period; merged after 1-2.8 years or failed at ~3 (those delist
    after 관리종목 and 정리매매); a merger also ends the SPAC's rows (its code lives on)."""
    n_days = len(days)
    merged = rng.random(count) < 0.7
    life = np.where(merged, rng.integers(250, 700, count), rng.integers(700, 745, count))
    offset = rng.integers(20 - life, n_days - 60)
    offset += offset >= 0
    listed_on = np.where(
        offset > 0, days[np.maximum(offset, 0)], np.busday_offset(days[0], np.minimum(offset, 0))
    )
    last = np.minimum(offset + life, n_days - 1)
    return np.maximum(offset, 0), last, offset + life < n_days - 1, listed_on, offset, merged


def _administrative(
    rng: np.random.Generator,
    *,
    dying: np.ndarray,
    survivors: np.ndarray,
    first: np.ndarray,
    last: np.ndarray,
    n_days: int,
) -> np.ndarray:
    """관리종목 [k, 3] (stock, first and last session; -1: in force at the end): 80 % of the
    `dying` from 1-6 months before their delisting to it; a few `survivors`, for 3-12
    months from a random session, lifted (or not yet)."""
    doomed = rng.choice(dying, int(np.ceil(0.8 * len(dying))), replace=False)
    lifted = rng.choice(survivors, min(round(0.3 * len(doomed)), len(survivors)), replace=False)
    lifted_start = rng.integers(0, max(1, n_days - 40), len(lifted))
    lifted_end = lifted_start + rng.integers(60, 250, len(lifted))
    doomed_start = np.maximum(last[doomed] - rng.integers(21, 127, len(doomed)), first[doomed])
    return np.column_stack([
        np.concatenate([doomed, lifted]),
        np.concatenate([doomed_start, lifted_start]),
        np.concatenate([last[doomed], np.where(lifted_end < n_days - 1, lifted_end, -1)]),
    ])


def _preferred_suffixes(rng: np.random.Generator, target: int) -> list[tuple[str, ...]]:
    """Per issuing company, the last code characters of its preferred shares, ~`target` in
    all: 5 (우), 5 and 7 (우, 2우B) or K (우(전환))."""
    groups = [("5",), ("5", "7"), ("K",)]
    drawn = rng.choice(len(groups), target, p=(0.75, 0.12, 0.13))
    out: list[tuple[str, ...]] = []
    for g in drawn:
        if sum(len(s) for s in out) + len(groups[g]) <= target:
            out.append(groups[g])
    return out


def _company_names(rng: np.random.Generator, *, sector: np.ndarray) -> np.ndarray:
    n = len(sector)
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
    return names.astype(object)


def _spac_names(rng: np.random.Generator, listing: np.ndarray) -> list[str]:
    """"XX스팩N호": each house numbers its SPACs in listing order."""
    house = rng.integers(0, len(SPAC_HOUSES), len(listing))
    number = rng.integers(1, 25, len(SPAC_HOUSES))
    names = [""] * len(listing)
    for k in np.argsort(listing, kind="stable"):
        names[k] = f"{SPAC_HOUSES[house[k]]}스팩{number[house[k]]}호"
        number[house[k]] += 1
    return names


def _reit_names(rng: np.random.Generator, count: int) -> list[str]:
    combos = len(REIT_HEADS) * len(REIT_WORDS)
    picks = rng.permutation(max(count, combos))[:count]
    return [
        f"{REIT_HEADS[i % len(REIT_HEADS)]}{REIT_WORDS[i // len(REIT_HEADS) % len(REIT_WORDS)]}"
        f"{'' if i < combos else i // combos + 1}리츠"
        for i in picks
    ]


def _halts(
    rng: np.random.Generator,
    *,
    first: np.ndarray,
    last: np.ndarray,
    kind: np.ndarray,
    parent: np.ndarray,
    review: np.ndarray,
    liquidating: np.ndarray,
    n_days: int,
) -> np.ndarray:
    """Random halt spans (~3 % of the stocks a year, not SPACs), the delisting-review halt of
    `review` (ending just before its 정리매매, during which every stock trades), and a
    preferred share halts with its common."""
    n = len(first)
    halted = np.zeros((n_days, n), dtype=bool)
    n_spans = max(1, round(0.03 * n_days / 248 * n))
    span_stock = rng.choice(np.flatnonzero((kind == "common") | (kind == "reit")), n_spans)
    span_len = np.minimum(rng.geometric(1 / 8, n_spans), 120)
    span_start = first[span_stock] + rng.integers(1, 10_000, n_spans) % np.maximum(
        last[span_stock] - first[span_stock], 1
    )
    review_len = rng.integers(3, 25, len(review))
    span_stock = np.concatenate([span_stock, review])
    span_len = np.concatenate([span_len, review_len])
    span_start = np.concatenate([span_start, last[review] - LIQUIDATION_DAYS - review_len + 1])
    span_start = np.maximum(span_start, first[span_stock] + 1)
    span_end = np.minimum(span_start + span_len, last[span_stock] + 1)
    span_end[n_spans:] = np.minimum(span_end[n_spans:], last[review] - LIQUIDATION_DAYS + 1)
    lengths = np.maximum(span_end - span_start, 0)
    offsets = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    halted[np.repeat(span_start, lengths) + offsets, np.repeat(span_stock, lengths)] = True
    dying = np.flatnonzero(liquidating)
    halted[np.maximum(last[dying] - np.arange(LIQUIDATION_DAYS)[:, None], 0), dying] = False
    pref = np.flatnonzero(parent >= 0)
    halted[:, pref] = halted[:, parent[pref]]
    return halted


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


def _status_rows(*, universe: _Universe, days: np.ndarray, close: np.ndarray) -> pl.DataFrame:
    """stock_status rows, sorted by (code, status, start_date): 관리종목 and 정리매매 as planned
    in `_universe`; 투자경고 from the session after a 5-day gain of WARNING_RUN_UP until
    WARNING_DAYS after the last such gain, 투자주의 likewise (CAUTION_RUN_UP, CAUTION_DAYS)
    outside warnings; spells at most MAX_SPELL sessions; end -1 (NULL): still in force."""
    u = universe
    n_days = len(days)
    run_up = np.zeros((n_days, len(u.codes)))
    run_up[5:] = close[6:] / close[1:-5] - 1  # day t against day t-5
    t = np.arange(n_days)[:, None]
    run_up[(t < u.first + 5) | (t > u.last)] = 0.0  # five visible sessions back
    warning = _spells(run_up >= WARNING_RUN_UP, window=WARNING_DAYS, last=u.last)
    caution = _outside(
        _spells(run_up >= CAUTION_RUN_UP, window=CAUTION_DAYS, last=u.last), warning, n_days
    )
    dying = np.flatnonzero(u.liquidating)
    liquidation = np.column_stack(
        [dying, np.maximum(u.last[dying] - LIQUIDATION_DAYS + 1, u.first[dying]), u.last[dying]]
    )
    parts = [(u.administrative, "administrative"), (warning, "warning"), (caution, "caution"),
             (liquidation, "liquidation")]
    spells = np.concatenate([p for p, _ in parts])
    open_ended = spells[:, 2] < 0
    return pl.DataFrame(
        {
            "code": u.codes[spells[:, 0]],
            "status": np.repeat([s for _, s in parts], [len(p) for p, _ in parts]),
            "start_date": days[spells[:, 1]],
            "end_date": np.where(open_ended, np.datetime64("NaT", "D"),
                                 days[np.where(open_ended, 0, spells[:, 2])]),
        },
        schema=STATUS_SCHEMA,
    ).sort("code", "status", "start_date")


def _spells(trigger: np.ndarray, *, window: int, last: np.ndarray) -> np.ndarray:
    """[k, 3] (stock, first, last session; -1 = in force at the end) of the designations that
    the trigger days [n_days, n] start the next session and `window` triggerless sessions
    end; triggers closer than `window` extend one spell; at most MAX_SPELL sessions."""
    n_days = trigger.shape[0]
    day, stock = np.nonzero(trigger.T)[::-1]  # sorted by (stock, day)
    fresh = np.ones(len(day), dtype=bool)
    fresh[1:] = (stock[1:] != stock[:-1]) | (day[1:] - day[:-1] > window)
    final = np.append(fresh[1:], True)[: len(day)]
    begin, spell_stock = day[fresh] + 1, stock[fresh]
    end = np.minimum(day[final] + window, begin + MAX_SPELL - 1)
    keep = begin <= last[spell_stock]
    end = np.where(end > n_days - 1, -1, np.minimum(end, last[spell_stock]))
    end = np.where((end < 0) & (last[spell_stock] < n_days - 1), last[spell_stock], end)
    return np.column_stack([spell_stock, begin, end])[keep]


def _outside(spells: np.ndarray, other: np.ndarray, n_days: int) -> np.ndarray:
    """`spells` cut short where a spell of `other` (same stock) begins, dropped inside one."""
    if len(other) == 0:
        return spells
    span = n_days + 1
    begins = other[:, 0] * span + other[:, 1]  # sorted: other is by (stock, first)
    ends = other[:, 0] * span + np.where(other[:, 2] < 0, n_days - 1, other[:, 2])
    key = spells[:, 0] * span + spells[:, 1]
    at = np.searchsorted(begins, key, side="right")
    inside = (at > 0) & (ends[np.maximum(at - 1, 0)] >= key)
    nxt = np.append(begins, np.iinfo(np.int64).max)[at]
    stop = spells[:, 0] * span + np.where(spells[:, 2] < 0, n_days - 1, spells[:, 2])
    cut = nxt <= stop  # then nxt > key: the cut spell keeps its first session
    out = spells.copy()
    out[cut, 2] = nxt[cut] - 1 - spells[cut, 0] * span
    return out[~inside]
