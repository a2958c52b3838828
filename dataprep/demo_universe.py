"""The demo market's universe (see `dataprep.demo`): what each stock is and when it trades.

`build_universe` draws codes, names (`dataprep.demo_names`), the KOSPI/KOSDAQ split,
sectors, log-normal caps (a Zipf-like head up to ~400tn KRW), value tilt, listings and
delistings inside the period, halt spans (`_halts`), and the kinds (markets of >= 30
stocks): ~1.5 % preferred shares (the common's code ending in 5 / 7 / K, names ending in
우 / 2우B / 우(전환)), ~1 % SPACs (KOSDAQ "XX스팩N호", listed at 2,000 KRW, merged or failed
after 1-3 years: both end as a delisting, `_spac_lives`), ~0.7 % REITs (KOSPI "..리츠",
calm). Distress delistings (`dataprep.demo_status.administrative`): 관리종목 1-6 months
before (most of them), a review halt for half, then 정리매매 over the last
LIQUIDATION_DAYS sessions; a few 관리종목 on survivors, lifted or not.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dataprep.demo_names import (
    PREFERRED_WORDS,
    company_names,
    preferred_suffixes,
    reit_names,
    spac_names,
)
from dataprep.demo_status import LIQUIDATION_DAYS, administrative

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
PREFERRED_SHARE, SPAC_SHARE, REIT_SHARE = 0.015, 0.01, 0.007  # of n_stocks (when >= 30)
SPAC_PRICE, SPAC_GROWTH = 2_000.0, 0.00008  # listing price; daily growth of the trust value


@dataclass(frozen=True, eq=False)
class Universe:
    """The demo market's stocks, one per column, sorted by code (a preferred share right
    after its common share); sessions are indexes into the XKRX sessions of the period."""

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


def build_universe(rng: np.random.Generator, *, n_stocks: int, days: np.ndarray) -> Universe:
    n_days = len(days)
    special = n_stocks >= 30  # a smaller market is common shares only
    suffixes = preferred_suffixes(rng, round(PREFERRED_SHARE * n_stocks) if special else 0)
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
    admin = administrative(
        rng, dying=np.flatnonzero(liquidating), survivors=survivors[size_z[survivors] < 0],
        first=first, last=last, n_days=n_days,
    )

    names = company_names(rng, words=np.array([s[5] for s in SECTORS])[sector])
    names[spac] = spac_names(rng, offset)
    names[reit] = reit_names(rng, len(reit))

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
    liquidating, admin[:, 0] = liquidating[src], at[admin[:, 0]]
    halted = _halts(rng, first=first, last=last, kind=kind, parent=parent,
                    review=at[gone[: (n_gone + 1) // 2]], liquidating=liquidating, n_days=n_days)
    return Universe(
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
        administrative=admin,
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
