"""How much the price-limit lock changes existing specs on the demo market.

    python -m benchmarks.lock_effect --database-url URL [--start 2022-01-03] [--json PATH]

Engine 2.0 changed one thing for specs written before the KRX rules: `limit_lock` defaults
to true. This runs a grid of such specs (7 rankings x top 10 / 20 / 50 x monthly / weekly /
daily, from `--start` to the data's last day) twice, with `limit_lock` false (engine 1.x's
semantics) and true, and reports how many runs changed and by how much: final equity, CAGR,
the largest daily equity difference, and the lock events behind it.
"""

from __future__ import annotations

import argparse
import itertools
import json
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np

from backtest import StrategySpec, run_backtest
from dataprep.build import build_panel

RANKINGS: dict[str, list[dict[str, Any]]] = {
    "value (PBR)": [{"factor": "PBR", "ascending": True}],
    "value (PER)": [{"factor": "PER", "ascending": True}],
    "momentum 12-1": [{"factor": "MOM_12_1"}],
    "momentum 3m": [{"factor": "MOM_3M"}],
    "value + momentum": [{"factor": "PBR", "ascending": True}, {"factor": "MOM_12_1"}],
    "quality + value": [{"factor": "ROE"}, {"factor": "PBR", "ascending": True}],
    "low volatility": [{"factor": "VOL_60D", "ascending": True}],
}
TOP_N = (10, 20, 50)
REBALANCE = ("monthly", "weekly", "daily")


def specs(*, start: str, end: str) -> list[tuple[str, dict[str, Any]]]:
    return [
        (f"{name}, top {top_n}, {rule}",
         {"start": start, "end": end, "ranking": ranking, "top_n": top_n, "rebalance": rule})
        for (name, ranking), top_n, rule in itertools.product(RANKINGS.items(), TOP_N, REBALANCE)
    ]


def compare(label: str, document: dict[str, Any], panel: Any) -> dict[str, Any]:
    off = run_backtest(StrategySpec.model_validate({**document, "limit_lock": False}), panel)
    on = run_backtest(StrategySpec.model_validate({**document, "limit_lock": True}), panel)
    difference = np.abs(np.array(on.equity) - np.array(off.equity))
    locks = [e for e in on.events if e.kind == "lock_blocked"]
    cagr_off, cagr_on = off.statistics.cagr or 0.0, on.statistics.cagr or 0.0
    return {
        "spec": label,
        "changed": bool(difference.max() > 0),
        "final_equity_change": on.statistics.final_equity / off.statistics.final_equity - 1,
        "cagr_change_points": (cagr_on - cagr_off) * 100,
        "max_daily_difference_share": float((difference / np.array(off.equity)).max()),
        "lock_events": len(locks),
    }


def summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    changed = [row for row in rows if row["changed"]]
    changes = [abs(row["final_equity_change"]) for row in changed]
    points = [abs(row["cagr_change_points"]) for row in changed]
    return {
        "runs": len(rows),
        "changed": len(changed),
        "median_abs_final_equity_change": statistics.median(changes) if changes else 0.0,
        "max_abs_final_equity_change": max(changes, default=0.0),
        "median_abs_cagr_change_points": statistics.median(points) if points else 0.0,
        "max_abs_cagr_change_points": max(points, default=0.0),
        "lock_events": sum(row["lock_events"] for row in rows),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--start", default="2022-01-03")
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    panel = build_panel(database_url=args.database_url)
    end = str(panel.dates[-1])
    print(f"panel {panel.version}: {panel.n_days} days x {panel.n_stocks} stocks "
          f"({time.perf_counter() - started:.1f} s)")
    rows = [compare(label, document, panel) for label, document in specs(start=args.start, end=end)]
    print("| spec | changed | final equity | CAGR (points) | max daily gap | lock events |")
    print("|---|:-:|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['spec']} | {'yes' if row['changed'] else 'no'} | "
              f"{row['final_equity_change']:+.3%} | {row['cagr_change_points']:+.3f} | "
              f"{row['max_daily_difference_share']:.3%} | {row['lock_events']} |")
    total = summary(rows)
    print(f"{total['changed']} of {total['runs']} runs changed; |final equity change| median "
          f"{total['median_abs_final_equity_change']:.3%}, max "
          f"{total['max_abs_final_equity_change']:.3%}; |CAGR change| median "
          f"{total['median_abs_cagr_change_points']:.3f} points, max "
          f"{total['max_abs_cagr_change_points']:.3f}; {total['lock_events']} lock events")
    if args.json:
        args.json.write_text(json.dumps({"version": panel.version, "start": args.start,
                                         "end": end, "summary": total, "runs": rows}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
