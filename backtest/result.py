"""BacktestResult: the JSON-serialisable, NaN-free output of one run."""

from __future__ import annotations

import datetime as dt
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from backtest.spec import StrategySpec
from backtest.statistics import Statistics, finite, returns_from_equity


class _Output(BaseModel):
    model_config = ConfigDict(frozen=True, allow_inf_nan=False)


class Holding(_Output):
    code: str = Field(description="Stock code.")
    weight: float = Field(description="Position value / equity before that day's trading.")


class Trades(_Output):
    """One rebalance's trades as parallel lists, one entry per trade, in stock-code order
    (compact: a daily-rebalanced run trades thousands of times)."""

    code: list[str] = Field(default_factory=list, description="Stock codes.")
    side: list[Literal["buy", "sell"]] = Field(default_factory=list, description="buy or sell.")
    value: list[float] = Field(default_factory=list, description="Traded values (KRW), > 0.")
    costs: list[float] = Field(
        default_factory=list, description="Commission and slippage on each (KRW)."
    )
    tax: list[float] = Field(
        default_factory=list, description="Securities transaction tax on each (KRW; sells only)."
    )

    def records(self) -> list[dict[str, object]]:
        """The trades as one dict each: code, side, value, costs, tax."""
        names = ("code", "side", "value", "costs", "tax")
        columns = zip(self.code, self.side, self.value, self.costs, self.tax, strict=True)
        return [dict(zip(names, row, strict=True)) for row in columns]


class Rebalance(_Output):
    date: dt.date = Field(description="Rebalance day (trades at its close).")
    holdings: list[Holding] = Field(
        description=(
            "Positions after trading, best score first, then halted holdings (kept at their "
            "value). The traded weights sum to at most 1 minus the halted ones."
        )
    )
    turnover: float = Field(description="Traded value (buys + sells) / equity before trading.")
    costs: float = Field(description="Costs paid for this rebalance's trades (KRW).")
    trades: Trades = Field(
        default_factory=Trades, description="The trades, buys and sells, in stock-code order."
    )


EventKind = Literal["delisting_sale", "stop_exit", "timing_exit", "halt_blocked", "lock_blocked"]


class Event(_Output):
    date: dt.date = Field(description="The day it happened (at its close).")
    code: str = Field(description="The stock held.")
    kind: EventKind = Field(
        description=(
            "delisting_sale (sold at close x (1 - delisting_return) on its last trading "
            "day), stop_exit (stop-loss / take-profit sale), timing_exit (sold when market "
            "timing turned off), halt_blocked / lock_blocked (a trade a halt or a price-limit "
            "lock stopped: the position kept its value)."
        )
    )
    value: float = Field(description="Value sold, or value left untraded (KRW).")
    pnl: float | None = Field(
        description=(
            "Its P&L effect (KRW): a delisting sale's haircut and costs; an exit's gain "
            "since entry at the size sold, after costs; null for a blocked trade."
        )
    )


class Stock(_Output):
    name: str = Field(description="The stock's name.")
    market: str = Field(description="KOSPI or KOSDAQ.")
    sector: str = Field(description="Its sector.")


class BacktestResult(_Output):
    engine_version: str = Field(description="backtest.ENGINE_VERSION that produced this.")
    data_version: str = Field(description="FactorPanel.version the run read.")
    spec: StrategySpec = Field(description="The strategy that ran.")
    dates: list[dt.date] = Field(description="The run's trading days.")
    equity: list[float] = Field(description="Equity at each close (KRW), after trading.")
    benchmark_equity: list[float | None] = Field(
        description="initial_capital x index(t) / index(first day); null where no index."
    )
    returns: list[float | None] = Field(
        description="Daily returns; the first is against the initial capital."
    )
    rebalances: list[Rebalance] = Field(description="Every rebalance, in date order.")
    exposure: list[float] = Field(
        default_factory=list, description="Invested value / equity at each close."
    )
    monthly_returns: dict[str, float | None] = Field(
        default_factory=dict, description='Return of each calendar month ("YYYY-MM").'
    )
    yearly_returns: dict[str, float | None] = Field(
        default_factory=dict, description='Return of each calendar year ("YYYY").'
    )
    events: list[Event] = Field(
        default_factory=list, description="What touched a holding, in date order."
    )
    stocks: dict[str, Stock] = Field(
        default_factory=dict, description="Name, market and sector of every stock held."
    )
    statistics: Statistics = Field(description="Summary statistics.")


def nan_free(values: np.ndarray) -> list[float | None]:
    """A float list with None in place of NaN / inf."""
    out: list[float | None] = values.tolist()
    if not np.isfinite(values).all():
        out = [finite(v) for v in out]  # type: ignore[arg-type]
    return out


def rebalance_record(
    *,
    day: dt.date,
    codes: list[str],
    values: np.ndarray,
    equity_before: float,
    turnover: float,
    costs: float,
    trades: dict[str, list],
) -> dict:
    """One rebalance as plain data; BacktestResult validates it (fast, in pydantic-core)."""
    scale = 1.0 / equity_before if equity_before > 0 else 0.0
    weights = (values * scale).tolist()
    return {
        "date": day,
        "holdings": [{"code": c, "weight": w} for c, w in zip(codes, weights, strict=True)],
        "turnover": turnover,
        "costs": costs,
        "trades": trades,
    }


def trade_columns(
    *, codes: np.ndarray, change: np.ndarray, costs: np.ndarray, tax: np.ndarray
) -> dict[str, list]:
    """The trades of one rebalance (signed values: + buy, - sell) as `Trades` columns, in
    stock-code order."""
    order = np.argsort(codes, kind="stable")
    signed = change[order]
    return {
        "code": codes[order].tolist(),
        "side": np.where(signed > 0, "buy", "sell").tolist(),
        "value": np.abs(signed).tolist(),
        "costs": costs[order].tolist(),
        "tax": tax[order].tolist(),
    }


def equity_returns(equity: np.ndarray, *, initial: float) -> list[float | None]:
    return nan_free(returns_from_equity(equity, initial=initial))
