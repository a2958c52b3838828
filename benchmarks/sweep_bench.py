"""Sweep throughput: a 1,000-variant 1-year sweep on Ray against one shared panel.

    python -m benchmarks.sweep_bench --database-url URL [--variants 1000] [--json PATH]

Builds the panel from PostgreSQL once, `ray.put`s it once, then times the sweep end to end
(expansion, task submission, every backtest, collection) on a local Ray using every core.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from datetime import date

import numpy as np


def sweep_document(*, start: date, end: date) -> dict:
    return {
        "base": {
            "start": start.isoformat(),
            "end": end.isoformat(),
            "ranking": [
                {"factor": "PBR", "ascending": True},
                {"factor": "MOM_12_1"},
                {"factor": "ROE", "weight": 0.5},
            ],
            "top_n": 20,
            "rebalance": "monthly",
        },
        "grid": {
            "top_n": [5, 10, 15, 20, 25, 30, 40, 50, 75, 100],
            "rebalance": ["monthly", "quarterly", "weekly", 10, 42],
            "costs.slippage_bps": [0, 5, 10, 20],
            "universe.min_market_cap": [0, 1e10, 5e10, 1e11, 5e11],
        },
        "rank_by": "sharpe",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--start", type=date.fromisoformat, default=date(2023, 1, 2))
    parser.add_argument("--end", type=date.fromisoformat, default=date(2023, 12, 28))
    parser.add_argument("--batch-size", type=int, default=25)
    parser.add_argument("--json", dest="json_path")
    args = parser.parse_args()

    os.environ.setdefault("RAY_AUTH_MODE", "token")
    import ray

    from backtest.batch import RunRequest
    from backtest.sweep import SweepSpec, expand, rank
    from backtest.tasks import run_on_ray
    from dataprep.build import build_panel

    panel = build_panel(database_url=args.database_url)
    ray.init(address="local", include_dashboard=False, log_to_driver=False)
    ref = ray.put(panel)
    sweep = SweepSpec.model_validate(sweep_document(start=args.start, end=args.end))
    def requests(variants: list) -> list[RunRequest]:
        return [RunRequest(spec=v.model_dump(mode="json")) for v in variants]

    run_on_ray(ref, requests(expand(sweep)[:4]), batch_size=2)  # warm the workers' imports

    started = time.perf_counter()
    outcomes = run_on_ray(ref, requests(expand(sweep)), batch_size=args.batch_size)
    rows = [{"variant": n, "statistics": o.statistics_dict(), "error": o.error}
            for n, o in enumerate(outcomes)]
    ranked = rank(rows, rank_by=sweep.rank_by)
    wall = time.perf_counter() - started

    per_run = np.array([o.seconds for o in outcomes])
    errors = sum(1 for o in outcomes if o.error)
    report = {
        "variants": len(rows),
        "errors": errors,
        "cpus": ray.cluster_resources().get("CPU"),
        "wall_s": round(wall, 2),
        "backtests_per_s": round(len(rows) / wall, 1),
        "per_backtest_ms_p50": round(float(np.median(per_run)) * 1000, 1),
        "per_backtest_ms_p95": round(float(np.percentile(per_run, 95)) * 1000, 1),
        "best_sharpe": ranked[0]["statistics"]["sharpe"],
    }
    print("| variants | CPUs | wall s | backtests/s | per backtest p50 ms | p95 ms | errors |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {report['variants']} | {report['cpus']:g} | {report['wall_s']} | "
          f"{report['backtests_per_s']} | {report['per_backtest_ms_p50']} | "
          f"{report['per_backtest_ms_p95']} | {errors} |")
    if args.json_path:
        with open(args.json_path, "w") as out:
            json.dump(report, out, indent=2)
    ray.shutdown()


if __name__ == "__main__":
    main()
