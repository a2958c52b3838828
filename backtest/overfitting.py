"""How much of a sweep's best result is luck: pure functions of the variants' daily returns.

- `deflated_sharpe`: the Deflated Sharpe Ratio (Bailey and Lopez de Prado, 2014), the
  Probabilistic Sharpe Ratio of the best variant against SR0, the Sharpe ratio the best of
  N unskilled trials is expected to reach: SR0 = sqrt(V) x ((1 - g) Z^-1(1 - 1/N) +
  g Z^-1(1 - 1/(N e))), g the Euler-Mascheroni constant, V the variance of the trials'
  Sharpe ratios. PSR(SR*) = Z((SR - SR*) sqrt(T - 1) / sqrt(1 - skew SR + (kurtosis - 1) /
  4 SR^2)). Daily (non-annualised) Sharpe ratios; kurtosis not excess (3 for a normal).
- `pbo`: the Probability of Backtest Overfitting by combinatorially symmetric
  cross-validation (Bailey, Borwein, Lopez de Prado and Zhu, 2015): the days are cut into
  `n_blocks` equal blocks (the first T mod n_blocks days left out); for every way of taking
  half the blocks as in-sample and the rest as out-of-sample, the variant with the best
  in-sample Sharpe ratio is ranked out of sample (1 = worst, ties averaged), w = rank /
  (N + 1); PBO is the share of splits with logit(w) <= 0, i.e. w <= 1/2: the in-sample
  winner at or below the out-of-sample median.
- `neighbourhood_medians` and `robust_choice`: each variant's median statistic over its grid
  neighbours (one step along one grid dimension), and the variant whose neighbourhood is best.
"""

from __future__ import annotations

import itertools
import math
from statistics import NormalDist

import numba
import numpy as np

EULER_GAMMA = 0.5772156649015329
_NORMAL = NormalDist()


def expected_max_sharpe(*, n_trials: int, sharpe_variance: float) -> float:
    """SR0: the expected best Sharpe ratio of `n_trials` trials without skill (0 for one
    trial or no dispersion)."""
    if n_trials <= 1 or not sharpe_variance > 0:
        return 0.0
    z = _NORMAL.inv_cdf
    spread = (1 - EULER_GAMMA) * z(1 - 1 / n_trials) + EULER_GAMMA * z(1 - 1 / (n_trials * math.e))
    return math.sqrt(sharpe_variance) * spread


def probabilistic_sharpe(
    *, sharpe: float, benchmark: float, n_obs: int, skew: float, kurtosis: float
) -> float:
    """PSR: the probability that the true Sharpe ratio exceeds `benchmark`, given the
    observed daily `sharpe` over `n_obs` days with these moments (NaN when undefined)."""
    spread = 1 - skew * sharpe + (kurtosis - 1) / 4 * sharpe**2
    if n_obs < 2 or not spread > 0 or not math.isfinite(sharpe):
        return math.nan
    return _NORMAL.cdf((sharpe - benchmark) * math.sqrt(n_obs - 1) / math.sqrt(spread))


def deflated_sharpe(
    *,
    sharpe: float,
    n_trials: int,
    sharpe_variance: float,
    n_obs: int,
    skew: float,
    kurtosis: float,
) -> float:
    """DSR = PSR(SR0) of the best of `n_trials` variants (daily, non-annualised Sharpe
    ratios; `kurtosis` not excess)."""
    benchmark = expected_max_sharpe(n_trials=n_trials, sharpe_variance=sharpe_variance)
    return probabilistic_sharpe(
        sharpe=sharpe, benchmark=benchmark, n_obs=n_obs, skew=skew, kurtosis=kurtosis
    )


def moments(returns: np.ndarray) -> tuple[float, float, float]:
    """(daily Sharpe ratio mean / std (ddof=1), skewness, kurtosis (not excess)) of one
    return series, population moments for the shape."""
    r = np.asarray(returns, dtype=np.float64)
    r = r[np.isfinite(r)]
    if len(r) < 2:
        return math.nan, math.nan, math.nan
    deviation = r - r.mean()
    std = float(r.std(ddof=1))
    second = float(np.mean(deviation**2))
    if not second > 0:
        return math.nan, math.nan, math.nan
    skew = float(np.mean(deviation**3) / second**1.5)
    kurtosis = float(np.mean(deviation**4) / second**2)
    return float(r.mean() / std), skew, kurtosis


def _split_masks(n_blocks: int) -> np.ndarray:
    """Bool [C(n_blocks, n_blocks / 2), n_blocks]: the in-sample blocks of every split."""
    splits = list(itertools.combinations(range(n_blocks), n_blocks // 2))
    masks = np.zeros((len(splits), n_blocks), dtype=bool)
    for row, chosen in enumerate(splits):
        masks[row, list(chosen)] = True
    return masks


@numba.njit(cache=True, nogil=True)
def _overfit(inside: np.ndarray, outside: np.ndarray) -> bool:
    """Whether the best in-sample variant ranks at or below the out-of-sample median
    (rank 1 = worst, ties averaged; w = rank / (N + 1) <= 1/2)."""
    n_variants = len(inside)
    best = 0
    for v in range(1, n_variants):
        if inside[v] > inside[best]:
            best = v
    theirs, below, equal = outside[best], 0, 0
    for v in range(n_variants):  # branch-free: the compiler vectorises it
        below += outside[v] < theirs
        equal += outside[v] == theirs
    return (below + (equal + 1) / 2) / (n_variants + 1) <= 0.5


@numba.njit(cache=True, nogil=True)
def _count_overfit(masks: np.ndarray, sums: np.ndarray, squares: np.ndarray,
                   size: int) -> int:
    """Splits whose in-sample best variant ranks at or below the out-of-sample median.
    `masks` holds one split of each complementary pair (in-sample of one is the other's
    out-of-sample), so one pass over the variants scores both halves of two splits; no
    [splits x variants] temporaries. A Sharpe ratio without dispersion is -inf: it never
    wins and always ranks last."""
    n_pairs, n_blocks = masks.shape
    n_variants = sums.shape[1]
    by_variant, by_variant_sq = sums.T.copy(), squares.T.copy()  # a variant's blocks together
    total, total_sq = sums.sum(axis=0), squares.sum(axis=0)
    half = np.empty(n_variants)
    rest = np.empty(n_variants)
    chosen = np.empty(n_blocks, dtype=np.int64)
    overfit = 0
    for pair in range(n_pairs):
        n_chosen = 0
        for block in range(n_blocks):
            if masks[pair, block]:
                chosen[n_chosen] = block
                n_chosen += 1
        n_in = n_chosen * size
        n_out = n_blocks * size - n_in
        for v in range(n_variants):
            s_in, q_in = 0.0, 0.0
            for k in range(n_chosen):
                s_in += by_variant[v, chosen[k]]
                q_in += by_variant_sq[v, chosen[k]]
            half[v] = _sharpe(s_in, q_in, n_in)
            rest[v] = _sharpe(total[v] - s_in, total_sq[v] - q_in, n_out)
        overfit += _overfit(half, rest) + _overfit(rest, half)
    return overfit


@numba.njit(cache=True, nogil=True, inline="always")
def _sharpe(total: float, squares: float, n: int) -> float:
    """A number in the order of the Sharpe ratio of n days with this sum and sum of squares:
    ranks need only the order, and sign(S) S^2 / (n Q - S^2) = SR |SR| n / (n - 1), without a
    square root; -inf without dispersion."""
    dispersion = n * squares - total * total
    return total * abs(total) / dispersion if dispersion > 0.0 else -np.inf


def pbo(returns: np.ndarray, *, n_blocks: int = 16) -> float:
    """Probability of Backtest Overfitting of the variants whose daily returns are the
    columns of `returns` [n_obs, n_variants] (CSCV with Sharpe ratio; see the module)."""
    matrix = np.asarray(returns, dtype=np.float64)
    n_obs, n_variants = matrix.shape
    if n_blocks < 2 or n_blocks % 2:
        raise ValueError(f"Got {n_blocks} for n_blocks: it must be an even number >= 2")
    if n_variants < 2:
        raise ValueError(f"Got {n_variants} variants: PBO compares at least 2")
    size = n_obs // n_blocks
    if size < 2:
        raise ValueError(
            f"Got {n_obs} days for {n_blocks} blocks: each block needs at least 2 days"
        )
    blocks = np.nan_to_num(matrix[n_obs - size * n_blocks :]).reshape(n_blocks, size, n_variants)
    sums, squares = blocks.sum(axis=1), (blocks**2).sum(axis=1)
    masks = _split_masks(n_blocks)
    pairs = masks[masks[:, 0]]  # the splits with block 0 in sample; their complements: the rest
    return _count_overfit(pairs, sums, squares, size) / len(masks)


def neighbourhood_medians(values: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Float [n_variants]: for each variant of a grid of `shape` (variants in grid order,
    the last dimension varying fastest), the median of `values` over its neighbours one
    step along one dimension; NaN where no neighbour has a finite value."""
    grid = np.asarray(values, dtype=np.float64).reshape(shape)
    grid = np.where(np.isfinite(grid), grid, np.nan)
    neighbours = []
    for axis, length in enumerate(shape):
        for step in (-1, 1):
            shifted = np.full(shape, np.nan)
            target = [slice(None)] * len(shape)
            source = [slice(None)] * len(shape)
            target[axis] = slice(max(0, -step), length - max(0, step))
            source[axis] = slice(max(0, step), length - max(0, -step))
            shifted[tuple(target)] = grid[tuple(source)]
            neighbours.append(shifted)
    stacked = np.stack(neighbours)
    medians = np.full(shape, np.nan)
    some = np.isfinite(stacked).any(axis=0)
    medians[some] = np.nanmedian(stacked[:, some], axis=0)
    return medians.reshape(-1)


def robust_choice(medians: np.ndarray, *, lower_is_better: bool = False) -> int | None:
    """The variant whose neighbourhood median is best (the lowest variant number on a tie);
    None when no variant has a finite one."""
    values = np.asarray(medians, dtype=np.float64)
    finite = np.isfinite(values)
    if not finite.any():
        return None
    scored = np.where(finite, -values if lower_is_better else values, -np.inf)
    return int(np.argmax(scored))
