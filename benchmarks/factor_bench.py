"""Factor research speed: QBT's factor report beside alphalens-reloaded, on the same panel.

    python -m benchmarks.factor_bench --database-url URL [--alphalens-factors 2] [--json PATH]

1. Build the panel (the whole database: the 3-year demo market is 739 days x 2,000 stocks x
   54 factors) once.
2. `backtest.research.factor_report` for all its factors at horizons 1, 5, 21 and 63: on
   every CPU (threads) and on one; the best of `--repeat` runs each (target: <= 5 s).
3. alphalens-reloaded on the same prices (forward-filled after a delisting, as QBT's
   forward returns run to the last close) and factor values, for `--alphalens-factors` of
   them (a full run takes minutes): `get_clean_factor_and_forward_returns` (quantiles 5,
   the same periods, no z-score filter), `factor_information_coefficient`,
   `mean_return_by_quantile` and `factor_rank_autocorrelation` per period. Its time per
   factor is scaled linearly to all factors, and the ratio reported (target: >= 50x).
"""

from __future__ import annotations

import argparse
import json
import os
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

HORIZONS = (1, 5, 21, 63)


def time_report(panel: Any, *, threads: int, repeat: int) -> float:
    from backtest.research import factor_report

    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        factor_report(panel, horizons=HORIZONS, threads=threads)
        best = min(best, time.perf_counter() - started)
    return best


def time_alphalens(panel: Any, names: list[str]) -> float:
    """Seconds alphalens-reloaded takes for `names`, all of them."""
    import alphalens as al
    import pandas as pd

    dates = pd.DatetimeIndex(panel.dates.astype("datetime64[ns]"), name="date")
    codes = pd.Index(panel.codes, name="asset")
    prices = pd.DataFrame(panel.close, index=dates, columns=codes).ffill()
    tradable = panel.tradable & np.isfinite(panel.close)
    started = time.perf_counter()
    for name in names:
        values = np.where(tradable, panel.factor(name), np.nan).astype(np.float64)
        factor = pd.DataFrame(values, index=dates, columns=codes).stack().dropna()
        factor.index.names = ["date", "asset"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data = al.utils.get_clean_factor_and_forward_returns(
                factor, prices, quantiles=5, periods=HORIZONS, filter_zscore=None,
                max_loss=1.0)
            al.performance.factor_information_coefficient(data)
            al.performance.mean_return_by_quantile(data, demeaned=False)
            for h in HORIZONS:
                al.performance.factor_rank_autocorrelation(data, period=h)
    return time.perf_counter() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--alphalens-factors", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)

    from dataprep import build_panel

    started = time.perf_counter()
    panel = build_panel(database_url=args.database_url)
    n_factors = len(panel.factor_names)
    report: dict[str, Any] = {
        "panel": {"days": len(panel.dates), "stocks": len(panel.codes), "factors": n_factors,
                  "build_s": round(time.perf_counter() - started, 1)},
        "horizons": list(HORIZONS), "cpus": os.cpu_count(),
    }
    print(f"panel: {report['panel']}", flush=True)
    time_report(panel, threads=1, repeat=1)  # compile or load the compiled loops
    every = time_report(panel, threads=os.cpu_count() or 1, repeat=args.repeat)
    one = time_report(panel, threads=1, repeat=args.repeat)
    report["qbt"] = {"all_cpus_s": round(every, 2), "one_cpu_s": round(one, 2)}
    print(f"QBT factor report, {n_factors} factors x {len(HORIZONS)} horizons: "
          f"{every:.2f} s on {os.cpu_count()} CPUs, {one:.2f} s on one", flush=True)
    names = list(panel.factor_names[: args.alphalens_factors])
    seconds = time_alphalens(panel, names)
    scaled = seconds / len(names) * n_factors
    report["alphalens"] = {"factors": names, "seconds": round(seconds, 1),
                           "per_factor_s": round(seconds / len(names), 1),
                           "scaled_to_all_s": round(scaled, 1),
                           "ratio_all_cpus": round(scaled / every, 1),
                           "ratio_one_cpu": round(scaled / one, 1)}
    print(f"alphalens-reloaded: {seconds:.1f} s for {len(names)} factors "
          f"({seconds / len(names):.1f} s each), {scaled:.0f} s scaled to {n_factors}: "
          f"QBT is {scaled / every:.0f}x faster ({scaled / one:.0f}x on one CPU)", flush=True)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
