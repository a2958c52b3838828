"""What a finished sweep says beyond its ranking: how much of the best is luck (the Deflated
Sharpe Ratio of the best variant, the Probability of Backtest Overfitting, each variant's
neighbourhood and the robust choice; `backtest.overfitting`) and, when the sweep asks for
it, walk-forward validation (`backtest.walk_forward`). Pure: the sweep, the panel and the
variants' statistic and daily returns in, a `SweepAnalysis` out.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from backtest.overfitting import (
    deflated_sharpe,
    expected_max_sharpe,
    moments,
    neighbourhood_medians,
    pbo,
    probabilistic_sharpe,
    robust_choice,
)
from backtest.statistics import DAYS_PER_YEAR, daily_rate, finite
from backtest.sweep import LOWER_IS_BETTER, SweepSpec, overrides_of, variant_spec
from backtest.walk_forward import WalkForwardResult, best_in_sample, walk_forward

if TYPE_CHECKING:
    from dataprep.panel import FactorPanel

PBO_BLOCKS = 16


class Overfitting(BaseModel):
    model_config = ConfigDict(frozen=True)

    n_trials: int = Field(description="Variants with daily returns: the trials N.")
    n_obs: int = Field(description="Trading days T.")
    best_variant: int = Field(description="The best variant by rank_by.")
    best_overrides: dict[str, Any]
    best_value: float | None = Field(description="Its rank_by.")
    best_sharpe: float | None = Field(description="Its Sharpe ratio (annualised).")
    sharpe_variance: float | None = Field(
        description="V: variance of the variants' daily (non-annualised) Sharpe ratios."
    )
    expected_max_sharpe: float | None = Field(
        description="SR0, annualised: the best Sharpe ratio N unskilled variants reach."
    )
    probabilistic_sharpe: float | None = Field(
        description="PSR: probability that the best variant's true Sharpe ratio exceeds 0."
    )
    deflated_sharpe: float | None = Field(
        description="DSR: probability that it exceeds SR0 (low: the best is mostly luck)."
    )
    pbo: float | None = Field(
        description=(
            "Probability of Backtest Overfitting (CSCV, Sharpe ratio): the share of "
            "in-sample/out-of-sample splits in which the in-sample best ranks at or below "
            "the out-of-sample median."
        )
    )
    pbo_blocks: int = Field(description="Blocks the days were cut into for CSCV.")
    best_neighbourhood_median: float | None = Field(
        description="Median rank_by of the best variant's grid neighbours."
    )
    robust_variant: int | None = Field(
        description="The variant whose grid neighbourhood has the best median rank_by."
    )
    robust_overrides: dict[str, Any] | None
    robust_value: float | None = Field(description="The robust variant's own rank_by.")
    robust_neighbourhood_median: float | None


class SweepAnalysis(BaseModel):
    model_config = ConfigDict(frozen=True)

    overfitting: Overfitting | None
    walk_forward: WalkForwardResult | None
    errors: list[str] = Field(description="What could not be computed, and why.")


def daily_sharpe_ratios(returns: np.ndarray, *, risk_free_rate: float | np.ndarray) -> np.ndarray:
    """Float [n]: mean / std (ddof=1) of each column's daily excess returns (NaN where
    undefined)."""
    r = np.asarray(returns, dtype=np.float64)
    rf = np.broadcast_to(np.asarray(daily_rate(np.asarray(risk_free_rate)), dtype=np.float64),
                         (r.shape[1],))
    excess = r - rf[None, :]
    with np.errstate(divide="ignore", invalid="ignore"):
        deviation = excess.std(axis=0, ddof=1)
        return np.where(deviation > 0, excess.mean(axis=0) / deviation, np.nan)


def overfitting(
    sweep: SweepSpec, *, values: np.ndarray, variants: np.ndarray, returns: np.ndarray,
    errors: list[str],
) -> Overfitting | None:
    """The overfitting statistics; what cannot be computed is None, with its reason added
    to `errors`."""
    best = best_in_sample(values, rank_by=sweep.rank_by)
    if best is None:
        errors.append(f"overfitting: no variant has a finite {sweep.rank_by}")
        return None
    n_obs, n_trials = returns.shape
    rates: float | np.ndarray = sweep.base.risk_free_rate
    if "risk_free_rate" in sweep.grid:
        rates = np.array([variant_spec(sweep, int(v)).risk_free_rate for v in variants])
    ratios = daily_sharpe_ratios(returns, risk_free_rate=rates)
    finite_ratios = ratios[np.isfinite(ratios)]
    variance = float(np.var(finite_ratios, ddof=1)) if len(finite_ratios) > 1 else math.nan
    column = np.flatnonzero(variants == best)
    psr = dsr = best_sharpe = sr0 = math.nan
    if len(column) == 0:
        errors.append(f"deflated_sharpe: the best variant {best} has no daily returns")
    else:
        rf = rates[column[0]] if isinstance(rates, np.ndarray) else rates
        excess = returns[:, column[0]].astype(np.float64) - daily_rate(rf)
        daily, skew, kurtosis = moments(excess)
        best_sharpe = daily * math.sqrt(DAYS_PER_YEAR)
        psr = probabilistic_sharpe(sharpe=daily, benchmark=0.0, n_obs=n_obs, skew=skew,
                                   kurtosis=kurtosis)
        dsr = deflated_sharpe(sharpe=daily, n_trials=n_trials, sharpe_variance=variance,
                              n_obs=n_obs, skew=skew, kurtosis=kurtosis)
        sr0 = expected_max_sharpe(n_trials=n_trials, sharpe_variance=variance) * math.sqrt(
            DAYS_PER_YEAR)
    probability = math.nan
    if n_trials < 2:
        errors.append(f"pbo: {n_trials} variant(s) with daily returns; PBO compares at least 2")
    elif n_obs < 2 * PBO_BLOCKS:
        errors.append(f"pbo: {n_obs} days, fewer than 2 a block for {PBO_BLOCKS} blocks")
    else:
        probability = pbo(returns, n_blocks=PBO_BLOCKS)
    shape = tuple(len(v) for v in sweep.grid.values())
    medians = neighbourhood_medians(values, shape)
    robust = robust_choice(medians, lower_is_better=sweep.rank_by in LOWER_IS_BETTER)
    return Overfitting(
        n_trials=n_trials, n_obs=n_obs, best_variant=best,
        best_overrides=overrides_of(sweep, best), best_value=finite(float(values[best])),
        best_sharpe=finite(best_sharpe), sharpe_variance=finite(variance),
        expected_max_sharpe=finite(sr0), probabilistic_sharpe=finite(psr),
        deflated_sharpe=finite(dsr), pbo=finite(probability), pbo_blocks=PBO_BLOCKS,
        best_neighbourhood_median=finite(float(medians[best])),
        robust_variant=robust,
        robust_overrides=None if robust is None else overrides_of(sweep, robust),
        robust_value=None if robust is None else finite(float(values[robust])),
        robust_neighbourhood_median=None if robust is None else finite(float(medians[robust])),
    )


def returns_matrix(variants: list[int], blobs: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """(variant numbers [n], returns [n_days, n]) from each variant's daily returns as
    float32 little-endian bytes; variants of another length than the most common (another
    window) are left out."""
    if not blobs:
        return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32)
    lengths = np.array([len(b) for b in blobs])
    common = int(np.bincount(lengths).argmax())
    keep = np.flatnonzero(lengths == common)
    joined = b"".join(blobs[i] for i in keep)
    matrix = np.frombuffer(joined, dtype="<f4").reshape(len(keep), common // 4).T
    return np.asarray(variants, dtype=np.int64)[keep], matrix


def analyse_sweep(
    sweep: SweepSpec,
    panel: FactorPanel | None,
    *,
    values: np.ndarray,
    variants: np.ndarray,
    returns: np.ndarray,
) -> SweepAnalysis:
    """`values` [n_variants]: every variant's rank_by (NaN where it has none); `returns`
    [n_days, n]: the daily returns of the finished variants numbered `variants` [n]. The
    panel is needed for walk-forward only."""
    errors: list[str] = []
    values = np.asarray(values, dtype=np.float64)
    report = overfitting(sweep, values=values, variants=variants, returns=returns,
                         errors=errors) if len(variants) else None
    if not len(variants):
        errors.append("no variant has daily returns")
    validation = None
    if sweep.validation is not None and sweep.validation.walk_forward is not None:
        if panel is None or not len(variants):
            errors.append("walk_forward: no panel or no variant with daily returns")
        else:
            try:
                validation = walk_forward(sweep, panel, variants=variants, returns=returns)
            except ValueError as err:
                errors.append(f"walk_forward: {err}")
    return SweepAnalysis(overfitting=report, walk_forward=validation, errors=errors)


def describe(analysis: SweepAnalysis, *, rank_by: str) -> list[str]:
    """The analysis as lines of text (the CLI and the Ray job print them)."""
    lines = []
    report = analysis.overfitting
    if report is not None:
        lines.append(
            f"overfitting: best variant {report.best_variant} {report.best_overrides}: "
            f"Sharpe {_num(report.best_sharpe)}, deflated Sharpe ratio "
            f"{_num(report.deflated_sharpe)} (PSR {_num(report.probabilistic_sharpe)}; "
            f"SR0 {_num(report.expected_max_sharpe)} for {report.n_trials} trials over "
            f"{report.n_obs} days); PBO {_num(report.pbo)} ({report.pbo_blocks} blocks)")
        if report.robust_variant is not None:
            lines.append(
                f"robust choice: variant {report.robust_variant} {report.robust_overrides}: "
                f"{rank_by} {_num(report.robust_value)}, neighbourhood median "
                f"{_num(report.robust_neighbourhood_median)} (the best's: "
                f"{_num(report.best_neighbourhood_median)})")
    validation = analysis.walk_forward
    if validation is not None:
        stats = validation.statistics
        lines.append(
            f"walk-forward ({validation.train_days} days in sample, {validation.test_days} "
            f"out): {len(validation.folds)} folds, out of sample {validation.dates[0]} .. "
            f"{validation.dates[-1]}: total return {_num(stats.total_return)}, Sharpe "
            f"{_num(stats.sharpe)}, max drawdown {_num(stats.max_drawdown)}; mean {rank_by} in "
            f"sample {_num(validation.in_sample_mean)}, out of sample "
            f"{_num(validation.out_of_sample_mean)}")
        for fold in validation.folds:
            lines.append(
                f"  fold {fold.fold}: {fold.test_start} .. {fold.test_end} variant "
                f"{fold.variant} {fold.overrides}: {rank_by} in {_num(fold.in_sample)}, out "
                f"{_num(fold.out_of_sample)}")
    lines += [f"not computed: {error}" for error in analysis.errors]
    return lines


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"
