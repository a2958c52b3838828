"""Market timing: on which run days the strategy may be invested (DESIGN.md, "Market timing").

The trend rule is on on day d while index(d-1) >= the mean of its `ma_days` closes up to and
including d-1; the seasonal rule is on in the listed months; given both, on when both are.
A mean the data cannot compute yet (fewer than `ma_days` closes before d, or a missing one)
counts as off: no trend is known.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from backtest.spec import Timing
from backtest.window import RunWindow

if TYPE_CHECKING:  # no runtime import: dataprep's package imports the database stack
    from dataprep.panel import FactorPanel


def trend_on(index: np.ndarray, *, ma_days: int) -> np.ndarray:
    """Bool [n]: index[i] >= mean(index[i - ma_days + 1 .. i]); False where that window
    starts before the data or holds a missing close."""
    index = np.asarray(index, dtype=np.float64)
    on = np.zeros(len(index), dtype=bool)
    if len(index) >= ma_days:
        mean = np.lib.stride_tricks.sliding_window_view(index, ma_days).mean(axis=1)
        on[ma_days - 1 :] = index[ma_days - 1 :] >= mean  # NaN compares False
    return on


def invested_days(timing: Timing | None, *, panel: FactorPanel, window: RunWindow) -> np.ndarray:
    """Bool [n_days] over the run's days: timing is on (all True without timing)."""
    on = np.ones(window.n_days, dtype=bool)
    if timing is None:
        return on
    if timing.index is not None and timing.ma_days is not None:
        signal = trend_on(panel.benchmarks[timing.index], ma_days=timing.ma_days)
        on &= signal[window.first - 1 : window.last]  # day d reads d-1
    if timing.months is not None:
        months = panel.dates[window.rows].astype("datetime64[M]").astype(np.int64) % 12 + 1
        on &= np.isin(months, timing.months)
    return on
