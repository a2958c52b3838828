"""Tiny hand-made FactorPanels and specs for engine tests (no database, no Ray)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from backtest.spec import StrategySpec
from dataprep.panel import FactorPanel

ENGINE_FACTORS = ("MARKET_CAP", "AVG_TRADING_VALUE_20D", "VOL_60D")
NO_COSTS = {"commission_bps": 0.0, "slippage_bps": 0.0, "sell_tax": []}


def weekdays(first: str, n: int) -> list[str]:
    """`n` consecutive Monday-Friday dates from `first` (ISO strings)."""
    days = np.busday_offset(np.datetime64(first), np.arange(n), roll="forward")
    return [str(day) for day in days]


def toy_panel(
    *,
    close: Sequence[Sequence[float]],
    factors: Mapping[str, Sequence[Sequence[float]]] | None = None,
    dates: Sequence[str] | None = None,
    codes: Sequence[str] | None = None,
    market: Sequence[str] | None = None,
    sector: Sequence[str] | None = None,
    tradable: Sequence[Sequence[bool]] | None = None,
    benchmark: Sequence[float] | None = None,
    engine_factors: bool = True,
    kind: Sequence[str] | None = None,
    status: Sequence[Sequence[int]] | None = None,
) -> FactorPanel:
    """A read-only panel (so a test fails if the engine writes to its input).

    `close` [n_days][n_stocks] (NaN: not listed); `tradable` defaults to "has a close";
    the engine factors MARKET_CAP, AVG_TRADING_VALUE_20D and VOL_60D default to 1.0 where
    the stock has a close (none if `engine_factors` is False); codes default to "A", "B",
    ...; dates to weekdays from 2024-01-02; markets to KOSPI; sectors to "Tech"; the
    benchmark to 100 flat; `kind` to all common; `status` [n_days][n_stocks] (STATUS_BITS)
    to none.
    """
    closes = np.asarray(close, dtype=np.float64)
    n_days, n_stocks = closes.shape
    listed = ~np.isnan(closes)
    named = {name: np.asarray(v, dtype=np.float64) for name, v in (factors or {}).items()}
    for name in ENGINE_FACTORS if engine_factors else ():
        named.setdefault(name, np.where(listed, 1.0, np.nan))
    returns = np.full_like(closes, np.nan)
    returns[1:] = closes[1:] / closes[:-1] - 1.0
    index = np.asarray(benchmark if benchmark is not None else [100.0] * n_days, dtype=float)
    panel = FactorPanel(
        version="toy",
        dates=np.array(dates or weekdays("2024-01-02", n_days), dtype="datetime64[D]"),
        codes=np.array(codes or [chr(ord("A") + i) for i in range(n_stocks)]),
        names=np.array([f"Stock {i}" for i in range(n_stocks)]),
        market=np.array(market or ["KOSPI"] * n_stocks),
        sector=np.array(sector or ["Tech"] * n_stocks),
        factor_names=tuple(named),
        values=np.ascontiguousarray(np.stack(list(named.values())).astype(np.float32)),
        close=closes,
        returns=returns,
        tradable=np.asarray(tradable, dtype=bool) if tradable is not None else listed,
        benchmarks={"KOSPI": index, "KOSDAQ": index.copy()},
        **({"kind": np.array(kind)} if kind is not None else {}),
        **({"status": np.asarray(status, dtype=np.uint8)} if status is not None else {}),
    )
    arrays = [panel.values, panel.close, panel.returns, panel.tradable, panel.dates]
    for array in [*arrays, panel.codes, panel.market, panel.sector, panel.kind, panel.status,
                  index]:
        array.setflags(write=False)
    return panel


def toy_spec(panel: FactorPanel, **fields: Any) -> StrategySpec:
    """A spec over the whole panel but its first day, zero costs, capital 1000, top_n 1,
    ranked by factor "F" (higher is better), monthly, no price-limit lock (toy prices move
    in big steps; the lock has its own tests); `fields` override."""
    document: dict[str, Any] = {
        "start": str(panel.dates[1]),
        "end": str(panel.dates[-1]),
        "ranking": [{"factor": "F"}],
        "top_n": 1,
        "rebalance": "monthly",
        "costs": NO_COSTS,
        "initial_capital": 1000.0,
        "limit_lock": False,
    }
    document.update(fields)
    return StrategySpec.model_validate(document)


def flat(n_days: int, n_stocks: int, price: float = 10.0) -> list[list[float]]:
    return [[price] * n_stocks for _ in range(n_days)]


def rows(*row: Sequence[float]) -> list[list[float]]:
    return [list(r) for r in row]
