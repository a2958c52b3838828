"""Small synthetic FactorPanels for tests that need a panel but not a database."""

from __future__ import annotations

import numpy as np

from dataprep.panel import FactorPanel


def synthetic_panel(
    *, n_days: int = 40, n_stocks: int = 6, n_factors: int = 3, version: str = "v1", seed: int = 0
) -> FactorPanel:
    rng = np.random.default_rng(seed)
    dates = np.arange(np.datetime64("2022-01-03"), np.datetime64("2022-01-03") + n_days)
    close = 1000 * np.cumprod(1 + rng.normal(0, 0.01, (n_days, n_stocks)), axis=0)
    returns = np.full_like(close, np.nan)
    returns[1:] = close[1:] / close[:-1] - 1
    return FactorPanel(
        version=version,
        dates=dates,
        codes=np.array([f"{i:06d}" for i in range(n_stocks)]),
        names=np.array([f"Stock {i}" for i in range(n_stocks)]),
        market=np.array(["KOSPI", "KOSDAQ"] * (n_stocks // 2) + ["KOSPI"] * (n_stocks % 2)),
        sector=np.array(["Tech"] * n_stocks),
        factor_names=tuple(f"F{i}" for i in range(n_factors)),
        values=rng.normal(size=(n_factors, n_days, n_stocks)).astype(np.float32),
        close=close,
        returns=returns,
        tradable=np.ones((n_days, n_stocks), dtype=bool),
        benchmarks={"KOSPI": close.mean(axis=1), "KOSDAQ": close.mean(axis=1)},
    )
