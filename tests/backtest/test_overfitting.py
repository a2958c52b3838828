"""Overfitting statistics against values worked out by hand and the papers' own properties."""

from __future__ import annotations

import math

import numpy as np
import pytest

from backtest.overfitting import (
    deflated_sharpe,
    expected_max_sharpe,
    moments,
    neighbourhood_medians,
    pbo,
    probabilistic_sharpe,
    robust_choice,
)


def test_expected_max_sharpe_by_hand():
    # N = 10, V = 0.0025: Z^-1(0.9) = 1.281552, Z^-1(1 - 1/(10e)) = Z^-1(0.963212) = 1.789242;
    # SR0 = 0.05 x (0.422784 x 1.281552 + 0.577216 x 1.789242) = 0.05 x 1.574598 = 0.078730.
    assert expected_max_sharpe(n_trials=10, sharpe_variance=0.0025) == pytest.approx(
        0.078730, abs=1e-6
    )
    assert expected_max_sharpe(n_trials=1, sharpe_variance=0.0025) == 0.0
    assert expected_max_sharpe(n_trials=10, sharpe_variance=0.0) == 0.0


def test_deflated_sharpe_by_hand():
    # SR 0.1 over 252 days, normal returns (skew 0, kurtosis 3): the spread is
    # 1 + (3 - 1) / 4 x 0.01 = 1.005; (0.1 - 0.078730) x sqrt(251) / sqrt(1.005) = 0.336142;
    # DSR = Z(0.336142) = 0.631618.
    value = deflated_sharpe(sharpe=0.1, n_trials=10, sharpe_variance=0.0025, n_obs=252, skew=0.0,
                            kurtosis=3.0)
    assert value == pytest.approx(0.631618, abs=1e-6)
    # With one trial there is nothing to deflate: PSR at 0 = Z(0.1 x sqrt(251) / sqrt(1.005))
    # = Z(1.580352) = 0.942987.
    one = deflated_sharpe(sharpe=0.1, n_trials=1, sharpe_variance=0.0025, n_obs=252, skew=0.0,
                          kurtosis=3.0)
    assert one == pytest.approx(0.942987, abs=1e-6)


@pytest.mark.parametrize("n_trials", [2, 10, 100, 5000])
def test_the_deflated_sharpe_is_below_the_psr_at_zero_once_there_are_trials(n_trials):
    psr = probabilistic_sharpe(sharpe=0.08, benchmark=0.0, n_obs=500, skew=-0.3, kurtosis=5.0)
    dsr = deflated_sharpe(sharpe=0.08, n_trials=n_trials, sharpe_variance=0.001, n_obs=500,
                          skew=-0.3, kurtosis=5.0)
    assert dsr < psr


def test_fat_tails_and_negative_skew_lower_the_psr():
    normal = probabilistic_sharpe(sharpe=0.1, benchmark=0.0, n_obs=252, skew=0.0, kurtosis=3.0)
    tails = probabilistic_sharpe(sharpe=0.1, benchmark=0.0, n_obs=252, skew=-1.0, kurtosis=9.0)
    assert tails < normal
    assert math.isnan(probabilistic_sharpe(sharpe=0.1, benchmark=0, n_obs=1, skew=0, kurtosis=3))


def test_moments_of_a_known_series():
    # 1, -1, 1, -1: mean 0; symmetric (skew 0); all deviations 1 (kurtosis 1).
    sharpe, skew, kurtosis = moments(np.array([1.0, -1.0, 1.0, -1.0]))
    assert (sharpe, skew, kurtosis) == (0.0, 0.0, 1.0)
    sharpe, _, _ = moments(np.array([0.01, 0.03]))  # mean 0.02, std 0.014142 (ddof 1)
    assert sharpe == pytest.approx(0.02 / 0.0141421356, rel=1e-8)


def test_pbo_by_hand_on_four_blocks():
    # 4 blocks of 2 days (mean +- 0.001), 2 variants. A's block means 3 3 1 1 %, B's 2 2 2 2 %.
    # Sharpe of a set of blocks: B ~ 2 / 0.1 = 20 always; A ~ 30 on {0,1}, ~ 10 on {2,3}, and
    # ~ 2 / 1 = 2 on a mixed set (its block means differ). Splits (in sample | out):
    #   {0,1} | {2,3}: A wins (30 > 20), then ranks 1 of 2: w = 1/3 <= 1/2, overfit;
    #   {2,3} | {0,1}: B wins (20 > 10), then ranks 1 (20 < 30): overfit;
    #   {0,2}, {0,3}, {1,2}, {1,3} | the rest: B wins (20 > 2) and ranks 2 out of sample:
    #   w = 2/3, not overfit. PBO = 2 / 6.
    def days(means: list[float]) -> list[float]:
        return [r for m in means for r in (m + 0.001, m - 0.001)]

    returns = np.array([days([0.03, 0.03, 0.01, 0.01]), days([0.02] * 4)]).T
    assert pbo(returns, n_blocks=4) == pytest.approx(2 / 6)
    # Ties count as overfit: two identical variants rank 1.5 of 2, w = 1/2.
    assert pbo(np.array([days([0.02] * 4)] * 2).T, n_blocks=4) == 1.0


def test_pbo_is_near_zero_when_one_variant_dominates_every_block():
    rng = np.random.default_rng(1)
    noise = rng.normal(0, 0.01, size=(800, 20))
    noise[:, 7] += 0.01  # variant 7 is better on every block, by a lot
    assert pbo(noise) < 0.02


def test_pbo_is_near_one_half_for_pure_noise():
    rng = np.random.default_rng(2)
    values = [pbo(rng.normal(0, 0.01, size=(640, 40))) for _ in range(5)]
    assert 0.35 < float(np.mean(values)) < 0.65


def test_pbo_refuses_what_it_cannot_split():
    with pytest.raises(ValueError, match="even"):
        pbo(np.zeros((100, 3)), n_blocks=5)
    with pytest.raises(ValueError, match="at least 2"):
        pbo(np.zeros((100, 1)))
    with pytest.raises(ValueError, match="each block needs at least 2 days"):
        pbo(np.zeros((20, 3)), n_blocks=16)


def test_neighbourhood_medians_on_a_three_by_three_grid():
    # Sharpe by (top_n, rebalance), last dimension fastest:
    #   1 2 3
    #   4 9 5      the 9 is a lucky spike: its neighbours 2, 4, 5, 8 -> median 4.5
    #   6 8 7
    values = np.array([1, 2, 3, 4, 9, 5, 6, 8, 7], dtype=float)
    medians = neighbourhood_medians(values, (3, 3))
    # (0,0): 2, 4 -> 3; (0,1): 1, 3, 9 -> 3; (0,2): 2, 5 -> 3.5; (1,0): 1, 6, 9 -> 6;
    # (1,2): 3, 7, 9 -> 7; (2,0): 4, 8 -> 6; (2,1): 9, 6, 7 -> 7; (2,2): 5, 8 -> 6.5.
    assert medians.tolist() == [3.0, 3.0, 3.5, 6.0, 4.5, 7.0, 6.0, 7.0, 6.5]
    assert robust_choice(medians) == 5  # (1,2) and (2,1) tie at 7: the lower number; not 4
    assert robust_choice(medians, lower_is_better=True) == 0


def test_neighbourhood_medians_skip_missing_values_and_lonely_variants():
    medians = neighbourhood_medians(np.array([1.0, np.nan, 3.0]), (3,))
    assert np.isnan(medians[0]) and medians[1] == 2.0 and np.isnan(medians[2])
    assert np.isnan(neighbourhood_medians(np.array([1.0]), (1,))).all()
    assert robust_choice(np.array([np.nan])) is None
