"""Factor research (DESIGN.md "Factor research"): which factors predict returns, at which
horizon, and how they overlap, for every factor of the panel at once.

On every day t of the window with t + h in the panel, for the stocks tradable on t and
eligible by the universe rules on t:

- forward return close(t + h) / close(t) - 1, to the last close for a stock that delists
  within h;
- IC(t, h): the Spearman correlation of factor(t) and the forward return over the stocks
  with a factor value (at least MIN_STOCKS), ties ranked by their average rank;
- quantiles of factor(t) as pandas' `qcut` cuts them (edges at the linearly interpolated
  quantiles, right-closed bins), the mean forward return of each, and the top-minus-bottom
  spread, compounded over non-overlapping days (t0, t0 + h, ...);
- rank autocorrelation: the Pearson correlation of the stocks' factor ranks on t and t - h;
- coverage: the share of eligible stock-days with a factor value;
- the mean daily rank correlation between factors: the Pearson correlation of two
  factors' daily ranks over the stocks both cover.

Ranks are computed once per factor and day (one batched argsort per factor); everything
after runs in compiled loops over the sorted stocks (numba), never a Python loop over days
or stocks. With `sector_neutral` the factor values are first replaced by their percentile
rank within the stock's sector on that day. Pure: the panel in, a `FactorReport` out.
"""

from __future__ import annotations

import datetime as dt
import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import numba
import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

from backtest.selection import static_mask, status_bits
from backtest.spec import AVG_TRADING_VALUE, EARNINGS, MARKET_CAP, Universe

if TYPE_CHECKING:
    from dataprep.panel import FactorPanel

HORIZONS = (1, 5, 21, 63)
MIN_STOCKS = 20  # stocks with a factor value a day needs for its IC


class ResearchError(ValueError):
    """A factor report that cannot be computed; `field` names the argument at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(field, message)
        self.field, self.message = field, message

    def __str__(self) -> str:
        return self.message


class FactorReportSpec(BaseModel):
    """What a factor report covers: every door (HTTP, CLI, Python, web app) takes this."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    factors: list[str] | None = Field(
        default=None, max_length=200, description="Factors to report on (default: all)."
    )
    start: dt.date | None = Field(default=None, description="First day (default: the data's).")
    end: dt.date | None = Field(default=None, description="Last day (default: the data's).")
    horizons: list[int] = Field(
        default=list(HORIZONS), min_length=1, max_length=8,
        description="Forward-return horizons in trading days (1..252).",
    )
    quantiles: int = Field(default=5, ge=2, le=20, description="Quantiles of each day's values.")
    universe: Universe = Field(
        default_factory=Universe, description="Which stocks count, judged on each day."
    )
    sector_neutral: bool = Field(
        default=False, description="Rank each factor within sectors before the IC."
    )

    @field_validator("horizons")
    @classmethod
    def _horizons(cls, horizons: list[int]) -> list[int]:
        for h in horizons:
            if not 1 <= h <= 252:
                raise ValueError(f"Got {h} in horizons: each must be 1..252 trading days")
        if len(set(horizons)) != len(horizons):
            raise ValueError(f"Got {horizons} for horizons: each at most once")
        return horizons


def run_factor_report(spec: FactorReportSpec, panel: FactorPanel, *,
                      threads: int | None = None) -> FactorReport:
    """`factor_report` of a FactorReportSpec."""
    return factor_report(panel, factors=spec.factors, start=spec.start, end=spec.end,
                         horizons=spec.horizons, quantiles=spec.quantiles,
                         universe=spec.universe, sector_neutral=spec.sector_neutral,
                         threads=threads)


class _Row(BaseModel):
    model_config = ConfigDict(frozen=True)


class IcRow(_Row):
    factor: str
    horizon: int = Field(description="Trading days ahead.")
    mean_ic: float | None = Field(description="Mean daily Spearman IC.")
    ic_std: float | None = Field(description="Standard deviation of the daily IC (ddof=1).")
    ic_ir: float | None = Field(description="mean_ic / ic_std.")
    t_stat: float | None = Field(description="mean_ic / (ic_std / sqrt(n_days)).")
    positive_share: float | None = Field(description="Share of days with IC > 0.")
    n_days: int = Field(description="Days with an IC.")


class QuantileRow(_Row):
    factor: str
    horizon: int
    mean_returns: list[float | None] = Field(
        description="Mean forward return of each quantile (1 = lowest factor values), the "
                    "mean over days of each day's quantile mean."
    )
    spread: float | None = Field(description="Mean daily top-minus-bottom spread.")
    spread_dates: list[dt.date] = Field(description="The non-overlapping days t0, t0 + h, ...")
    cumulative_spread: list[float | None] = Field(
        description="The spread compounded over those days: prod(1 + spread) - 1."
    )


class AutocorrelationRow(_Row):
    factor: str
    horizon: int
    mean_autocorrelation: float | None = Field(
        description="Mean daily correlation of the factor ranks on t and t - h."
    )


class CoverageRow(_Row):
    factor: str
    share: float = Field(description="Share of eligible stock-days with a value.")


class FactorReport(BaseModel):
    model_config = ConfigDict(frozen=True)

    data_version: str
    start: dt.date
    end: dt.date
    horizons: list[int]
    quantiles: int
    sector_neutral: bool
    factors: list[str]
    n_days: int = Field(description="Trading days in the window.")
    ic_summary: list[IcRow]
    quantile_returns: list[QuantileRow]
    autocorrelation: list[AutocorrelationRow]
    coverage: list[CoverageRow]
    correlation: list[list[float | None]] = Field(
        description="Mean daily rank correlation between the factors, in `factors` order."
    )


# -- compiled loops over sorted stocks ---------------------------------------------------


@numba.njit(cache=True, nogil=True)
def _average_ranks(values: np.ndarray, order: np.ndarray, counts: np.ndarray,
                   ranks: np.ndarray) -> None:
    """ranks[t, s]: the average rank (1-based) of values[t, s] among the first counts[t]
    stocks of `order[t]` (the sorted ones with a value); NaN for the rest."""
    n_days, n_stocks = values.shape
    for t in range(n_days):
        for k in range(n_stocks):
            ranks[t, k] = np.nan
        n, i = counts[t], 0
        while i < n:
            j, value = i, values[t, order[t, i]]
            while j + 1 < n and values[t, order[t, j + 1]] == value:
                j += 1
            average = (i + j) / 2.0 + 1.0
            for k in range(i, j + 1):
                ranks[t, order[t, k]] = average
            i = j + 1


@numba.njit(cache=True, nogil=True)
def _tie_starts(returns: np.ndarray, order: np.ndarray, starts: np.ndarray) -> None:
    """starts[t, k]: whether the k-th stock by return on day t starts a new value (a tie
    group of equal returns is one run of False after a True); returns are NaN last."""
    n_days, n_stocks = returns.shape
    for t in range(n_days):
        previous = np.nan
        for k in range(n_stocks):
            value = returns[t, order[t, k]]
            starts[t, k] = not (value == previous)
            previous = value


@numba.njit(cache=True, nogil=True)
def _spearman(ranks: np.ndarray, counts: np.ndarray, n_valid: np.ndarray, order: np.ndarray,
              starts: np.ndarray, min_stocks: int, out: np.ndarray) -> None:
    """out[t]: the Spearman correlation of the factor (its average ranks `ranks[t]` among
    the counts[t] stocks with a value) and the forward return over those stocks, the returns
    ranked among the same stocks (ties averaged) in one walk of `order[t]` (the stocks by
    return, the n_valid[t] with one first; `starts`: where each run of equal returns
    starts); NaN on days with fewer than `min_stocks` stocks or no forward returns."""
    n_days = ranks.shape[0]
    for t in range(n_days):
        out[t] = np.nan
        n = counts[t]
        if n < min_stocks or n_valid[t] == 0:
            continue
        below = 0
        group_sum, group_members = 0.0, 0
        sxy = sxx = syy = 0.0
        for k in range(n_valid[t]):
            if starts[t, k] and group_members:
                average = below + (group_members + 1) / 2.0
                sxy += average * group_sum
                syy += group_members * average * average
                below += group_members
                group_sum, group_members = 0.0, 0
            x = ranks[t, order[t, k]]
            if x == x:  # not NaN: a stock with a factor value
                group_sum += x
                group_members += 1
                sxx += x * x
        if group_members:
            average = below + (group_members + 1) / 2.0
            sxy += average * group_sum
            syy += group_members * average * average
            below += group_members
        if below != n:  # a stock with a factor value but no return: not Spearman's; none
            continue
        mean = (n + 1) / 2.0
        vx, vy = sxx - n * mean * mean, syy - n * mean * mean
        if vx > 0 and vy > 0:
            out[t] = (sxy - n * mean * mean) / math.sqrt(vx * vy)


@numba.njit(cache=True, nogil=True)
def _qcut(values: np.ndarray, order: np.ndarray, counts: np.ndarray, quantiles: int,
          labels: np.ndarray) -> None:
    """labels[t, s]: the quantile (1..quantiles) of values[t, s] as pandas' qcut assigns it;
    0 for stocks without a value. The edges are computed as pandas computes them, to the
    last bit (a value on an edge must fall on the same side): shares np.linspace(0, 1, q + 1)
    rounded up where not exact, np.quantile's linear virtual index (n - 1) p and its lerp;
    bins are (e_i-1, e_i], the first closed."""
    n_days, n_stocks = values.shape
    edges = np.empty(quantiles + 1)
    step = 1.0 / quantiles
    shares = np.empty(quantiles + 1)
    for q in range(quantiles + 1):
        share = q * step if q < quantiles else 1.0  # np.linspace
        shares[q] = share if quantiles * share == q else np.nextafter(share, 1.0)
    for t in range(n_days):
        for k in range(n_stocks):
            labels[t, k] = 0
        n = counts[t]
        if n == 0:
            continue
        for q in range(quantiles + 1):
            virtual = (n - 1) * shares[q]
            if virtual >= n - 1:
                edges[q] = values[t, order[t, n - 1]]
                continue
            lo = int(math.floor(virtual))
            gamma = virtual - lo
            a, b = values[t, order[t, lo]], values[t, order[t, lo + 1]]
            diff = b - a
            edges[q] = b - diff * (1.0 - gamma) if gamma >= 0.5 else a + diff * gamma
        q = 1
        for k in range(n):
            x = values[t, order[t, k]]
            while q < quantiles and x > edges[q]:
                q += 1
            labels[t, order[t, k]] = q


@numba.njit(cache=True, nogil=True)
def _quantile_means(labels: np.ndarray, returns: np.ndarray, quantiles: int,
                    out: np.ndarray) -> None:
    """out[t, q - 1]: the mean of returns[t] over the stocks of quantile q (NaN if none)."""
    n_days, n_stocks = labels.shape
    sums = np.zeros(quantiles)
    counts = np.zeros(quantiles)
    for t in range(n_days):
        sums[:] = 0.0
        counts[:] = 0.0
        for s in range(n_stocks):
            q = labels[t, s]
            r = returns[t, s]
            if q > 0 and not np.isnan(r):
                sums[q - 1] += r
                counts[q - 1] += 1.0
        for q in range(quantiles):
            out[t, q] = sums[q] / counts[q] if counts[q] > 0 else np.nan


@numba.njit(cache=True, nogil=True)
def _lagged_correlation(ranks: np.ndarray, lag: int, out: np.ndarray) -> None:
    """out[t]: the Pearson correlation of ranks[t] and ranks[t - lag] over the stocks with
    both (NaN for t < lag, fewer than 2 stocks or no dispersion)."""
    n_days, n_stocks = ranks.shape
    for t in range(n_days):
        out[t] = np.nan
        if t < lag:
            continue
        n = 0
        sx = sy = sxx = syy = sxy = 0.0
        for s in range(n_stocks):
            x, y = ranks[t, s], ranks[t - lag, s]
            if not (np.isnan(x) or np.isnan(y)):
                n += 1
                sx += x
                sy += y
                sxx += x * x
                syy += y * y
                sxy += x * y
        if n < 2:
            continue
        vx, vy = sxx - sx * sx / n, syy - sy * sy / n
        if vx > 0 and vy > 0:
            out[t] = (sxy - sx * sy / n) / math.sqrt(vx * vy)


# -- the report ----------------------------------------------------------------------------


def universe_mask(universe: Universe, panel: FactorPanel, rows: np.ndarray) -> np.ndarray:
    """Bool [len(rows), n_stocks]: tradable on t and eligible by the universe rules on t
    (markets, sectors, kinds, designations, minimums and loss-making judged on t)."""
    keep = static_mask(universe, market=panel.market, sector=panel.sector, kind=panel.kind)
    mask = keep[None, :] & panel.tradable[rows] & np.isfinite(panel.close[rows])
    barred = status_bits(universe)
    if barred and panel.status.size:
        mask &= (panel.status[rows] & np.uint8(barred)) == 0
    if "loss_making" in universe.exclusions():
        mask &= panel.factor(EARNINGS)[rows] > 0
    if universe.min_market_cap is not None:
        mask &= panel.factor(MARKET_CAP)[rows] >= universe.min_market_cap
    if universe.min_avg_trading_value is not None:
        mask &= panel.factor(AVG_TRADING_VALUE)[rows] >= universe.min_avg_trading_value
    return mask


def forward_returns(close: np.ndarray, rows: np.ndarray, horizon: int) -> np.ndarray:
    """Float [len(rows), n_stocks]: close(t + h) / close(t) - 1, to the last close for a
    stock whose closes stop within h; NaN where t + h is past the panel's last day."""
    filled = _forward_filled(close)
    ahead = np.asarray(rows) + horizon
    out = np.full((len(rows), close.shape[1]), np.nan)
    inside = ahead < len(close)
    with np.errstate(divide="ignore", invalid="ignore"):
        out[inside] = filled[ahead[inside]] / close[np.asarray(rows)[inside]] - 1.0
    return out


def _forward_filled(close: np.ndarray) -> np.ndarray:
    """`close` with each stock's last close carried forward after its closes stop."""
    values = np.asarray(close, dtype=np.float64)
    seen = np.where(np.isnan(values), 0, np.arange(len(values))[:, None])
    np.maximum.accumulate(seen, axis=0, out=seen)
    return values[seen, np.arange(values.shape[1])]


def sector_percentiles(values: np.ndarray, sectors: np.ndarray) -> np.ndarray:
    """Each value's average rank within its sector on its day, scaled to (0, 1]
    (rank / count); NaN where missing."""
    out = np.full(values.shape, np.nan)
    for sector in np.unique(sectors):  # a handful of sectors: vectorised within each
        columns = np.flatnonzero(sectors == sector)
        part = values[:, columns]
        ranks, counts = ranks_within_days(part)
        out[:, columns] = ranks / np.maximum(counts, 1)[:, None]
    return out


def ranks_within_days(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(average ranks [n_days, n_stocks] among each day's stocks with a value (NaN
    elsewhere), counts [n_days]), from one batched argsort."""
    ranks, counts, _, _ = _ranked(values)
    return ranks, counts


def _ranked(values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """ranks_within_days, the sort order (stocks without a value last) and the values
    sorted by it (missing ones as +inf)."""
    present = np.isfinite(values)
    keyed = np.where(present, values, np.inf)
    order = np.argsort(keyed, axis=1)
    counts = present.sum(axis=1)
    ranks = np.empty(values.shape)
    _average_ranks(keyed, order, counts, ranks)
    return ranks, counts, order, keyed


class ForwardReturns:
    """One horizon's forward returns [n_days, n_stocks] (NaN where not eligible), with the
    stocks of each day sorted by them once for every factor (`order`, `n_valid`, `starts`)."""

    def __init__(self, returns: np.ndarray) -> None:
        self.returns = returns
        self.order = np.argsort(returns, axis=1)  # NaN last
        self.n_valid = np.isfinite(returns).sum(axis=1)
        self.starts = np.empty(returns.shape, dtype=np.bool_)
        _tie_starts(returns, self.order, self.starts)


def daily_statistics(
    values: np.ndarray, eligible: np.ndarray, returns: dict[int, ForwardReturns], *,
    quantiles: int,
) -> dict[str, np.ndarray]:
    """One factor's daily series: `values` [n_days, n_stocks] and the forward returns of
    each horizon. Answers ranks, counts, ic_h, quantiles_h [n_days, quantiles] and
    autocorrelation_h."""
    masked = np.where(eligible, values, np.nan)
    ranks, counts, order, keyed = _ranked(masked)
    labels = np.empty(values.shape, dtype=np.int8)
    _qcut(keyed, order, counts, quantiles, labels)
    out: dict[str, np.ndarray] = {"ranks": ranks, "counts": counts}
    for h, forward in returns.items():
        ic = np.empty(len(values))
        _spearman(ranks, counts, forward.n_valid, forward.order, forward.starts, MIN_STOCKS,
                  ic)
        means = np.empty((len(values), quantiles))
        _quantile_means(labels, forward.returns, quantiles, means)
        lagged = np.empty(len(values))
        _lagged_correlation(ranks, h, lagged)
        out[f"ic_{h}"], out[f"quantiles_{h}"], out[f"autocorrelation_{h}"] = ic, means, lagged
    return out


def factor_report(
    panel: FactorPanel,
    *,
    factors: Sequence[str] | None = None,
    start: dt.date | None = None,
    end: dt.date | None = None,
    horizons: Sequence[int] = HORIZONS,
    quantiles: int = 5,
    universe: Universe | None = None,
    sector_neutral: bool = False,
    threads: int | None = None,
) -> FactorReport:
    """The factor report of `factors` (default all) over the panel's days in [start, end]
    (default all), the factors spread over `threads` (default: every CPU); ResearchError
    naming the argument at fault."""
    names = list(factors) if factors else list(panel.factor_names)
    unknown = [n for n in names if n not in panel.factor_names]
    if unknown:
        raise ResearchError("factors", f"unknown factor(s) {', '.join(unknown)}; known: "
                                       + ", ".join(panel.factor_names))
    if not horizons or any(h < 1 for h in horizons):
        raise ResearchError("horizons", f"Got {list(horizons)} for horizons: each must be a "
                                        "number of trading days >= 1")
    if not 2 <= quantiles <= 100:
        raise ResearchError("quantiles", f"Got {quantiles} for quantiles: 2..100")
    days = panel.dates.astype("datetime64[D]")
    first = 0 if start is None else int(np.searchsorted(days, np.datetime64(start, "D")))
    last = len(days) - 1 if end is None else int(
        np.searchsorted(days, np.datetime64(end, "D"), side="right")) - 1
    if last < first:
        raise ResearchError("start", f"no trading day in {start} .. {end}")
    rows = np.arange(first, last + 1)
    eligible = universe_mask(universe or Universe(), panel, rows)
    returns = {h: ForwardReturns(np.where(eligible, forward_returns(panel.close, rows, h),
                                          np.nan)) for h in horizons}
    dates = days[rows].tolist()
    ic_rows, quantile_rows, autocorrelation_rows, coverage_rows = [], [], [], []
    standardised = np.zeros((len(names), len(rows), panel.close.shape[1]), dtype=np.float32)

    def one(name: str) -> dict[str, np.ndarray]:  # compiled loops and argsort free the GIL
        values = panel.factor(name)[rows]
        if sector_neutral:
            values = sector_percentiles(np.where(eligible, values, np.nan), panel.sector)
        daily = daily_statistics(values, eligible, returns, quantiles=quantiles)
        daily["standardised"] = _standardise(daily.pop("ranks"), daily["counts"])
        return daily

    with ThreadPoolExecutor(max_workers=threads or os.cpu_count() or 1) as pool:
        for number, (name, daily) in enumerate(zip(names, pool.map(one, names), strict=True)):
            coverage_rows.append(CoverageRow(
                factor=name, share=float(daily["counts"].sum() / max(eligible.sum(), 1))))
            for h in horizons:
                ic_rows.append(_ic_row(name, h, daily[f"ic_{h}"]))
                quantile_rows.append(_quantile_row(name, h, daily[f"quantiles_{h}"], dates))
                autocorrelation_rows.append(AutocorrelationRow(
                    factor=name, horizon=h,
                    mean_autocorrelation=_finite_mean(daily[f"autocorrelation_{h}"])))
            standardised[number] = daily["standardised"]
    return FactorReport(
        data_version=panel.version, start=dates[0], end=dates[-1], horizons=list(horizons),
        quantiles=quantiles, sector_neutral=sector_neutral, factors=names, n_days=len(rows),
        ic_summary=ic_rows, quantile_returns=quantile_rows,
        autocorrelation=autocorrelation_rows, coverage=coverage_rows,
        correlation=_correlation(standardised),
    )


def _finite_mean(values: np.ndarray) -> float | None:
    finite = values[np.isfinite(values)]
    return float(finite.mean()) if len(finite) else None


def _ic_row(name: str, horizon: int, ic: np.ndarray) -> IcRow:
    values = ic[np.isfinite(ic)]
    n = len(values)
    mean = float(values.mean()) if n else math.nan
    std = float(values.std(ddof=1)) if n > 1 else math.nan
    return IcRow(
        factor=name, horizon=horizon, mean_ic=_num(mean), ic_std=_num(std),
        ic_ir=_num(mean / std) if std > 0 else None,
        t_stat=_num(mean / (std / math.sqrt(n))) if std > 0 else None,
        positive_share=_num(float((values > 0).mean())) if n else None, n_days=n,
    )


def _quantile_row(name: str, horizon: int, means: np.ndarray, dates: list) -> QuantileRow:
    with np.errstate(invalid="ignore"):
        per_quantile = [_finite_mean(means[:, q]) for q in range(means.shape[1])]
    spread = means[:, -1] - means[:, 0]
    finite = np.flatnonzero(np.isfinite(spread))
    steps = np.arange(finite[0], len(spread), horizon) if len(finite) else finite
    steps = steps[np.isfinite(spread[steps])]
    cumulative = np.cumprod(1.0 + spread[steps]) - 1.0
    return QuantileRow(
        factor=name, horizon=horizon, mean_returns=per_quantile,
        spread=_finite_mean(spread), spread_dates=[dates[t] for t in steps],
        cumulative_spread=[_num(float(v)) for v in cumulative],
    )


def _standardise(ranks: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Float32 ranks centred and scaled within each day ((rank - mean) / std); NaN where
    missing."""
    mean = (counts + 1) / 2.0
    with np.errstate(divide="ignore", invalid="ignore"):
        centred = ranks - mean[:, None]
        scale = np.sqrt(np.nanmean(centred**2, axis=1))
        return (centred / scale[:, None]).astype(np.float32)


CORRELATION_BLOCK = 32  # days per batched matrix product (bounds temporary memory)


def _correlation(z: np.ndarray) -> list[list[float | None]]:
    """Mean over days of the Pearson correlation of every pair of factors' standardised
    ranks `z` [n_factors, n_days, n_stocks] over the stocks both cover (pairwise-complete
    sums from day-batched matrix products)."""
    n_factors, n_days, _ = z.shape
    total = np.zeros((n_factors, n_factors))
    days = np.zeros((n_factors, n_factors))
    for begin in range(0, n_days, CORRELATION_BLOCK):
        block = z[:, begin : begin + CORRELATION_BLOCK].transpose(1, 0, 2)  # [d, f, s]
        present = np.isfinite(block).astype(np.float64)
        x = np.nan_to_num(block).astype(np.float64)
        cover = present.transpose(0, 2, 1)
        n = present @ cover
        sx = x @ cover  # [d, f, g]: sum of f over the stocks g covers too
        sxx = (x * x) @ cover
        sxy = x @ x.transpose(0, 2, 1)
        with np.errstate(divide="ignore", invalid="ignore"):
            cov = sxy - sx * sx.transpose(0, 2, 1) / n
            vx = sxx - sx * sx / n
            r = cov / np.sqrt(vx * vx.transpose(0, 2, 1))
        ok = np.isfinite(r) & (n >= 2)
        total += np.where(ok, r, 0.0).sum(axis=0)
        days += ok.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = np.clip(total / days, -1.0, 1.0)
    return [[_num(float(v)) for v in row] for row in mean]


def _num(value: float) -> float | None:
    return value if math.isfinite(value) else None
