"""Time `run_backtest` on a synthetic panel shaped like the demo market, on one core.

    python -m benchmarks.engine_bench [--stocks 2000] [--days 1000] [--repeats 9] [--json PATH]

The panel: 2,000 stocks x ~4 years of trading days x 54 float32 factors (MARKET_CAP,
AVG_TRADING_VALUE_20D, VOL_60D, PER, PBR, ROE, MOM_12_1, EARNINGS_YIELD and fillers),
random-walk closes with a few limit-up / limit-down days, late listings, delistings, halts,
realistic NaNs (lookbacks, loss makers, gaps), 2 % preferred shares, SPACs and REITs, and KRX
designations (administrative, warning, caution spells).
Each case reports the median (and min) wall time of several runs after one warm-up, and the
median CPU time of the process (less sensitive to other load on the machine). The KRX-rules
pair runs one 1-year monthly spec with every rule off and with every rule on (exclusions and
the standard preset, limit lock, holding buffer, a fixed-months schedule, market timing) and
reports the ratio (target: at most 1.5x); timing adds rebalance days (each day it turns on
again) and exits, so the same pair without timing is reported too.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core: set before numpy loads its BLAS

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from dataclasses import asdict, dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402

from backtest import ENGINE_VERSION, StrategySpec, run_backtest  # noqa: E402
from dataprep.panel import FactorPanel  # noqa: E402

NAMED_FACTORS = ("MARKET_CAP", "AVG_TRADING_VALUE_20D", "VOL_60D", "PER", "PBR", "ROE", "MOM_12_1",
                 "EARNINGS_YIELD")
N_FACTORS = 54
SECTORS = tuple(f"Sector{i:02d}" for i in range(20))


def synthetic_market(*, n_stocks: int, n_days: int, seed: int = 7) -> FactorPanel:
    """A demo-market-shaped panel (float32 factors [54, n_days, n_stocks])."""
    rng = np.random.default_rng(seed)
    dates = np.busday_offset(np.datetime64("2020-01-02"), np.arange(n_days), roll="forward")
    listed_from = np.where(rng.random(n_stocks) < 0.15, rng.integers(0, n_days, n_stocks), 0)
    delists = rng.random(n_stocks) < 0.06
    listed_to = np.where(delists, rng.integers(listed_from + 1, n_days + 1), n_days)
    day = np.arange(n_days)[:, None]
    listed = (day >= listed_from) & (day < listed_to)

    steps = rng.normal(0.0003, 0.025, (n_days, n_stocks))
    limit_days = rng.random((n_days, n_stocks)) < 0.002  # a limit-up or limit-down close
    steps[limit_days] = np.log(np.where(rng.random(limit_days.sum()) < 0.6, 1.3, 0.7))
    close = 10_000 * np.exp(np.cumsum(steps, axis=0))
    close[~listed] = np.nan
    halted = (rng.random((n_days, n_stocks)) < 0.004) | (rng.random(n_stocks) < 0.01)
    tradable = listed & ~halted
    returns = np.full_like(close, np.nan)
    returns[1:] = close[1:] / close[:-1] - 1

    names = [*NAMED_FACTORS, *(f"FILLER_{i:02d}" for i in range(N_FACTORS - len(NAMED_FACTORS)))]
    values = rng.standard_normal((N_FACTORS, n_days, n_stocks), dtype=np.float32)
    shares = rng.lognormal(16, 1.2, n_stocks).astype(np.float32)
    values[0] = close.astype(np.float32) * shares  # MARKET_CAP
    values[1] = values[0] * rng.uniform(0.001, 0.02, n_stocks).astype(np.float32)
    values[2] = np.abs(values[2]) * 0.1 + 0.2  # VOL_60D
    values[3] = np.where(values[3] < -1.2, np.nan, np.exp(values[3]) * 10)  # PER: losses NaN
    values[4] = np.exp(values[4] * 0.5)  # PBR
    values[:, ~listed] = np.nan
    values[2:, day < listed_from + 60] = np.nan  # 60-day lookbacks
    values[6, day < listed_from + 252] = np.nan  # MOM_12_1 needs a year
    gaps = rng.random((n_days, n_stocks)) < 0.03
    values[3:, gaps] = np.nan
    values[7] = np.where(np.isnan(values[3]), -0.05, 1 / values[3])  # EARNINGS_YIELD

    kind = rng.choice(["common", "preferred", "spac", "reit"], n_stocks, p=[0.95, 0.02, 0.02, 0.01])
    status = np.zeros((n_days, n_stocks), dtype=np.uint8)
    for bit, share, length in ((1, 0.02, 120), (2, 0.01, 10), (4, 0.03, 5)):
        for stock in np.flatnonzero(rng.random(n_stocks) < share):
            first = rng.integers(0, n_days)
            status[first : first + length, stock] |= bit

    index = 2_500 * np.exp(np.cumsum(rng.normal(0.0002, 0.01, n_days)))
    return FactorPanel(
        version="bench",
        dates=dates.astype("datetime64[D]"),
        codes=np.array([f"{i:06d}" for i in range(n_stocks)]),
        names=np.array([f"Stock {i}" for i in range(n_stocks)]),
        market=np.where(rng.random(n_stocks) < 0.4, "KOSPI", "KOSDAQ"),
        sector=np.array(SECTORS)[rng.integers(0, len(SECTORS), n_stocks)],
        factor_names=tuple(names),
        values=np.ascontiguousarray(values),
        close=close,
        returns=returns,
        tradable=tradable,
        benchmarks={"KOSPI": index, "KOSDAQ": index * 0.35},
        kind=kind,
        status=status,
    )


@dataclass(frozen=True)
class Case:
    name: str
    years: int
    rebalance: Any
    target_ms: float
    rules: dict[str, Any] = field(default_factory=dict)  # spec fields on top of the base


RULES_OFF = {"limit_lock": False}
RULES_ON = {
    "universe": {"min_market_cap": 1e10, "preset": "standard",
                 "exclude": ["caution", "loss_making"]},
    "limit_lock": True,
    "hold_buffer": 10,
    "rebalance": {"months": list(range(1, 13)), "day": 1},  # monthly, through the months rule
    "timing": {"index": "KOSPI", "ma_days": 60, "months": list(range(1, 13))},
}
RULES_BUT_TIMING = {key: value for key, value in RULES_ON.items() if key != "timing"}
RULES_PAIR = ("1y monthly, KRX rules off", "1y monthly, every KRX rule on")

CASES = (
    Case("1y monthly, 3 factors, top 20", 1, "monthly", 20.0),
    Case("1y daily, 3 factors, top 20", 1, "daily", 100.0),
    Case("3y monthly, 3 factors, top 20", 3, "monthly", 60.0),
    Case(RULES_PAIR[0], 1, "monthly", 20.0, RULES_OFF),
    Case(RULES_PAIR[1], 1, "monthly", 30.0, RULES_ON),
    Case("1y monthly, every KRX rule but timing", 1, "monthly", 30.0, RULES_BUT_TIMING),
)


def case_spec(case: Case, panel: FactorPanel) -> StrategySpec:
    end = panel.dates[-1]
    start = panel.dates[-1 - 252 * case.years + 1]
    return StrategySpec.model_validate(
        {
            "start": str(start),
            "end": str(end),
            "universe": {"min_market_cap": 1e10},
            "ranking": [
                {"factor": "PER", "ascending": True},
                {"factor": "ROE"},
                {"factor": "MOM_12_1"},
            ],
            "top_n": 20,
            "rebalance": case.rebalance,
            **case.rules,
        }
    )


def time_case(case: Case, panel: FactorPanel, *, repeats: int) -> dict[str, Any]:
    spec = case_spec(case, panel)
    result = run_backtest(spec, panel)  # warm-up
    seconds, cpu_seconds = [], []
    for _ in range(repeats):
        started, cpu_started = time.perf_counter(), time.process_time()
        run_backtest(spec, panel)
        seconds.append(time.perf_counter() - started)
        cpu_seconds.append(time.process_time() - cpu_started)
    median_ms = statistics.median(seconds) * 1e3
    row = asdict(case)
    row.pop("rules")
    return {
        **row,
        "rebalance": str(row["rebalance"]),
        "events": len(result.events),
        "days": result.statistics.n_days,
        "rebalances": result.statistics.n_rebalances,
        "median_ms": round(median_ms, 2),
        "min_ms": round(min(seconds) * 1e3, 2),
        "median_cpu_ms": round(statistics.median(cpu_seconds) * 1e3, 2),
        "meets_target": median_ms < case.target_ms,
    }


def markdown(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| case | days | rebalances | median ms | min ms | median CPU ms | target ms | ok |",
        "|---|---:|---:|---:|---:|---:|---:|:-:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['name']} | {row['days']} | {row['rebalances']} | {row['median_ms']:.1f} "
            f"| {row['min_ms']:.1f} | {row['median_cpu_ms']:.1f} | < {row['target_ms']:.0f} | "
            f"{'yes' if row['meets_target'] else 'NO'} |"
        )
    return "\n".join(lines)


def rules_ratio(rows: list[dict[str, Any]]) -> float:
    """Median time with every KRX rule on over the same spec with them off."""
    by_name = {row["name"]: row for row in rows}
    return by_name[RULES_PAIR[1]]["median_ms"] / by_name[RULES_PAIR[0]]["median_ms"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stocks", type=int, default=2000)
    parser.add_argument("--days", type=int, default=1000, help="trading days (~4 years)")
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--json", type=Path, help="also write the results to this file")
    args = parser.parse_args(argv)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    started = time.perf_counter()
    panel = synthetic_market(n_stocks=args.stocks, n_days=args.days)
    print(
        f"panel: {args.stocks} stocks x {args.days} days x {N_FACTORS} factors "
        f"({panel.nbytes / 1e6:.0f} MB), built in {time.perf_counter() - started:.1f} s"
    )
    rows = [time_case(case, panel, repeats=args.repeats) for case in CASES]
    print(markdown(rows))
    ratio = rules_ratio(rows)
    but_timing = rows[-1]["median_ms"] / rows[-3]["median_ms"]
    print(f"every KRX rule on / off (1y monthly): {ratio:.2f}x (target <= 1.5x); "
          f"every rule but timing / off: {but_timing:.2f}x")
    if args.json:
        report = {
            "engine_version": ENGINE_VERSION,
            "python": platform.python_version(),
            "numpy": np.__version__,
            "machine": platform.machine(),
            "stocks": args.stocks,
            "days": args.days,
            "factors": N_FACTORS,
            "cases": rows,
            "krx_rules_ratio": round(ratio, 3),
            "krx_rules_but_timing_ratio": round(but_timing, 3),
        }
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
