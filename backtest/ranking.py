"""Row-wise ranks with ties, vectorised over [n_rows, n_stocks] (one row per rebalance day)."""

from __future__ import annotations

import numpy as np


def tie_counts(values: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each cell, how many masked-in cells of its row hold a strictly lower value and
    how many a lower-or-equal one (itself included). Cells outside `mask` get meaningless
    counts. Masked-in values must not be NaN.

    Average rank (1-based) = (less + less_equal + 1) / 2.
    """
    rows, width = values.shape
    keyed = np.where(mask, values, np.nan)  # NaN sorts last: masked-out cells end each row
    order = np.argsort(keyed, axis=1)
    ordered = np.take_along_axis(keyed, order, axis=1)
    position = np.broadcast_to(np.arange(width), (rows, width))
    new_value = ordered[:, 1:] != ordered[:, :-1]  # NaN != NaN: each NaN is its own group
    opens = np.ones((rows, width), dtype=bool)
    opens[:, 1:] = new_value
    closes = np.ones((rows, width), dtype=bool)
    closes[:, :-1] = new_value
    group_start = np.maximum.accumulate(np.where(opens, position, 0), axis=1)
    group_end = np.minimum.accumulate(np.where(closes, position, width)[:, ::-1], axis=1)
    less = np.empty((rows, width), dtype=np.intp)
    less_equal = np.empty((rows, width), dtype=np.intp)
    np.put_along_axis(less, order, group_start, axis=1)
    np.put_along_axis(less_equal, order, group_end[:, ::-1] + 1, axis=1)
    return less, less_equal


def percentiles(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Float64 [n_rows, n_stocks]: p = (average rank - 1) / (n - 1) among the row's
    masked-in cells (p = 1 when n = 1); 0 outside the mask."""
    less, less_equal = tie_counts(values, mask)
    count = mask.sum(axis=1, keepdims=True)
    denominator = 2.0 * np.maximum(count - 1, 1)
    p = np.where(count > 1, (less + less_equal - 1) / denominator, 1.0)
    return np.where(mask, p, 0.0)


def percentile_pass(
    values: np.ndarray, mask: np.ndarray, *, top_pct: float | None, bottom_pct: float | None
) -> np.ndarray:
    """Bool [n_rows, n_stocks]: masked-in cells in the top (highest values) or bottom
    `pct` percent of their row's masked-in cells.

    With n cells in the row and K = ceil(n x pct / 100), a cell passes `top_pct` when fewer
    than K cells hold a strictly higher value (ties at the boundary all pass); `bottom_pct`
    likewise with strictly lower values.
    """
    less, less_equal = tie_counts(values, mask)
    count = mask.sum(axis=1, keepdims=True)
    pct = top_pct if top_pct is not None else bottom_pct
    if pct is None:
        raise ValueError("percentile_pass needs top_pct or bottom_pct")
    keep = np.ceil(count * (pct / 100.0) - 1e-9)
    beaten_by = count - less_equal if top_pct is not None else less
    return mask & (beaten_by < keep)
