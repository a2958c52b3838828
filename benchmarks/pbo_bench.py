"""CSCV (backtest.overfitting.pbo) on random daily returns: seconds for 5,000 and 100,000
variants x 250 days, 16 blocks (12,870 splits), one core.

    python -m benchmarks.pbo_bench [--variants 5000 100000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from backtest.overfitting import pbo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", type=int, nargs="+", default=[5000, 100_000])
    parser.add_argument("--days", type=int, default=250)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    pbo(rng.normal(0, 0.01, (args.days, 10)).astype(np.float32))  # compile or load
    for n in args.variants:
        returns = rng.normal(0, 0.01, (args.days, n)).astype(np.float32)
        started = time.perf_counter()
        value = pbo(returns)
        print(f"{n:,} variants x {args.days} days: PBO {value:.3f} in "
              f"{time.perf_counter() - started:.2f} s", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
