"""The mix of strategies every mode runs: the same documents, in the same order.

Backtest i runs `mix[i % len(mix)]`. The mix varies what costs the engine time: ranking
factors (1 to 3), top_n, rebalance rule, universe floors, filters and weighting; every
strategy covers the benchmark window [start, end].
"""

from __future__ import annotations

from datetime import date
from typing import Any

RANKINGS: tuple[tuple[tuple[str, bool, float], ...], ...] = (
    (("PBR", True, 1.0), ("MOM_12_1", False, 1.0), ("ROE", False, 0.5)),
    (("PER", True, 1.0), ("GPA", False, 1.0)),
    (("MOM_3M", False, 1.0),),
    (("EARNINGS_YIELD", False, 1.0), ("VOL_60D", True, 0.5)),
    (("ROA", False, 1.0), ("DEBT_TO_EQUITY", True, 0.5), ("REVERSAL_5D", True, 0.5)),
    (("DIVIDEND_YIELD", False, 1.0), ("PBR", True, 1.0)),
    (("F_SCORE", False, 1.0), ("MOM_6M", False, 1.0)),
    (("LOG_MARKET_CAP", True, 1.0), ("PSR", True, 1.0)),
)
REBALANCES: tuple[str | int, ...] = ("monthly", "weekly", "quarterly", 10, "monthly")
TOP_N = (20, 30, 10, 50, 25, 40)
WEIGHTINGS = ("equal", "equal", "market_cap", "inverse_vol")


def strategy_mix(*, start: date, end: date, count: int = 20) -> list[dict[str, Any]]:
    """`count` distinct StrategySpec documents over [start, end]."""
    mix = []
    for i in range(count):
        ranking = [
            {"factor": factor, "ascending": ascending, "weight": weight}
            for factor, ascending, weight in RANKINGS[i % len(RANKINGS)]
        ]
        spec: dict[str, Any] = {
            "start": start.isoformat(),
            "end": end.isoformat(),
            "ranking": ranking,
            "top_n": TOP_N[i % len(TOP_N)],
            "rebalance": REBALANCES[i % len(REBALANCES)],
            "weighting": WEIGHTINGS[i % len(WEIGHTINGS)],
            "benchmark": "KOSPI" if i % 2 == 0 else "KOSDAQ",
        }
        if i % 3 == 1:
            spec["universe"] = {"min_market_cap": 5e10, "min_avg_trading_value": 1e8}
        if i % 4 == 2:
            spec["filters"] = [{"factor": "PER", "min": 0, "max": 40}]
        mix.append(spec)
    return mix
