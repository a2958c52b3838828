"""Row-wise average ranks, percentiles and percentile filters against a naive reference."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as hs

from backtest.ranking import percentile_pass, percentiles, tie_counts


def naive_percentiles(values: list[float]) -> list[float]:
    n = len(values)
    out = []
    for v in values:
        less = sum(1 for w in values if w < v)
        equal = sum(1 for w in values if w == v)
        rank = less + (equal + 1) / 2
        out.append(1.0 if n == 1 else (rank - 1) / (n - 1))
    return out


def test_ties_share_their_average_rank():
    values = np.array([[3.0, 1.0, 3.0, 2.0, 3.0]])
    mask = np.ones_like(values, dtype=bool)
    less, less_equal = tie_counts(values, mask)
    assert less.tolist() == [[2, 0, 2, 1, 2]]
    assert less_equal.tolist() == [[5, 1, 5, 2, 5]]
    assert percentiles(values, mask).tolist() == [[0.75, 0.0, 0.75, 0.25, 0.75]]


def test_single_stock_has_percentile_one_and_masked_cells_are_ignored():
    values = np.array([[5.0, np.nan, 1.0], [2.0, 7.0, 9.0]])
    mask = np.array([[True, False, False], [False, True, True]])
    assert percentiles(values, mask).tolist() == [[1.0, 0.0, 0.0], [0.0, 0.0, 1.0]]


@settings(max_examples=200, deadline=None)
@given(
    hs.lists(
        hs.lists(hs.sampled_from([-1.0, 0.0, 0.5, 2.0, 3.0, math.inf]), min_size=6, max_size=6),
        min_size=1,
        max_size=4,
    ),
    hs.integers(0, 2**31 - 1),
)
def test_percentiles_match_the_naive_reference(rows, seed):
    values = np.array(rows, dtype=np.float32)
    mask = np.random.default_rng(seed).random(values.shape) < 0.7
    got = percentiles(values, mask)
    for row in range(len(rows)):
        kept = [float(v) for v, m in zip(values[row], mask[row], strict=True) if m]
        expected = naive_percentiles(kept)
        assert np.allclose(got[row][mask[row]], expected)


def test_percentile_pass_keeps_ceil_of_the_share_and_boundary_ties():
    values = np.array([[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]])
    mask = np.ones_like(values, dtype=bool)
    top = percentile_pass(values, mask, top_pct=25, bottom_pct=None)  # ceil(2.5) = 3
    assert np.flatnonzero(top[0]).tolist() == [7, 8, 9]
    bottom = percentile_pass(values, mask, top_pct=None, bottom_pct=10)
    assert np.flatnonzero(bottom[0]).tolist() == [0]
    tied = np.array([[1.0, 2.0, 2.0, 3.0]])
    both = percentile_pass(tied, np.ones_like(tied, dtype=bool), top_pct=50, bottom_pct=None)
    assert np.flatnonzero(both[0]).tolist() == [1, 2, 3]
    everything = percentile_pass(values, mask, top_pct=100, bottom_pct=None)
    assert everything.all()
