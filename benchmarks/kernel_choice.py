"""Why the sweep kernel is compiled: the same day loop two ways, measured side by side.

    python -m benchmarks.kernel_choice

500 variants (top_n 5..100, three commission rates) x 252 days x 600 candidate stocks,
monthly rebalances to equal weights with halted holdings kept: (a) numpy arrays over
variants x candidates, one vector operation per step; (b) a numba-compiled loop over each
variant's held stocks. Both give the same equity (the largest relative difference is
printed). Measured on the 2-core development machine: (a) 173 us a variant, (b) 7.4 us;
`backtest/kernel.py` is (b) with every rule.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numba
import numpy as np

N_DAYS, N_STOCKS, DEPTH, N_VARIANTS = 252, 600, 100, 500
SELL_TAX = 0.002


def market(seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    rebalance = np.zeros(N_DAYS, dtype=bool)
    rebalance[::21] = True
    return {
        "relatives": np.exp(rng.normal(0, 0.02, (N_DAYS, N_STOCKS))),
        "tradable": rng.random((N_DAYS, N_STOCKS)) > 0.003,
        "rebalance": rebalance,
        "ranked": np.stack([rng.choice(N_STOCKS, DEPTH, replace=False)
                            for _ in range(int(rebalance.sum()))]),
        "top_n": rng.choice([5, 10, 20, 30, 50, 100], N_VARIANTS),
        "rate": rng.choice([0.0005, 0.001, 0.002], N_VARIANTS),
    }


def numpy_dense(m: dict[str, np.ndarray]) -> np.ndarray:
    """Equity [N_DAYS, N_VARIANTS]: positions [variants, stocks], vector operations."""
    position = np.zeros((N_VARIANTS, N_STOCKS))
    cash = np.full(N_VARIANTS, 1e8)
    equity_out = np.empty((N_DAYS, N_VARIANTS))
    picked = np.arange(DEPTH)[None, :] < m["top_n"][:, None]  # [variants, depth]
    count = picked.sum(axis=1)
    r = 0
    for t in range(N_DAYS):
        position *= m["relatives"][t]
        if m["rebalance"][t]:
            equity = cash + position.sum(axis=1)
            frozen = (position != 0) & ~m["tradable"][t]
            budget = equity - np.where(frozen, position, 0.0).sum(axis=1)
            target = np.zeros((N_VARIANTS, N_STOCKS))
            columns = np.broadcast_to(m["ranked"][r], (N_VARIANTS, DEPTH))
            np.put_along_axis(target, columns, np.where(picked, (budget / count)[:, None], 0.0),
                              axis=1)
            target = np.where(frozen, position, target)
            change = target - position
            traded = np.abs(change).sum(axis=1)
            sold = np.maximum(-change, 0.0).sum(axis=1)
            cash = equity - target.sum(axis=1) - traded * m["rate"] - sold * SELL_TAX
            position = target
            r += 1
        equity_out[t] = cash + position.sum(axis=1)
    return equity_out


@numba.njit(cache=True)
def _loop(relatives, tradable, rebalance, ranked, top_n, rate, tax, capital):  # noqa: PLR0913
    n_days, n_stocks = relatives.shape
    n_variants, depth = top_n.shape[0], ranked.shape[1]
    equity_out = np.empty((n_days, n_variants))
    slots = depth + 64
    held, values = np.empty(slots, np.int64), np.empty(slots)
    new_held, new_values = np.empty(slots, np.int64), np.empty(slots)
    slot_of = np.full(n_stocks, -1, np.int64)
    for v in range(n_variants):
        n_held, cash, r = 0, capital, 0
        for t in range(n_days):
            total = 0.0
            for i in range(n_held):
                values[i] *= relatives[t, held[i]]
                total += values[i]
            if rebalance[t]:
                equity = cash + total
                frozen = 0.0
                for i in range(n_held):
                    if not tradable[t, held[i]]:
                        frozen += values[i]
                weight = (equity - frozen) / top_n[v]
                traded, sold, m = 0.0, 0.0, 0
                for i in range(n_held):
                    slot_of[held[i]] = i
                for j in range(top_n[v]):
                    stock = ranked[r, j]
                    i = slot_of[stock]
                    old = values[i] if i >= 0 else 0.0
                    new = old if i >= 0 and not tradable[t, stock] else weight
                    traded += abs(new - old)
                    sold += max(old - new, 0.0)
                    if i >= 0:
                        slot_of[stock] = -2  # kept
                    new_held[m], new_values[m] = stock, new
                    m += 1
                for i in range(n_held):
                    stock = held[i]
                    kept = slot_of[stock] == -2
                    slot_of[stock] = -1
                    if kept:
                        continue
                    if not tradable[t, stock]:
                        new_held[m], new_values[m] = stock, values[i]
                        m += 1
                    else:
                        traded += values[i]
                        sold += values[i]
                total = 0.0
                for i in range(m):
                    held[i], values[i] = new_held[i], new_values[i]
                    total += new_values[i]
                n_held = m
                cash = equity - total - traded * rate[v] - sold * tax
                r += 1
            equity_out[t, v] = cash + total
    return equity_out


def numba_loop(m: dict[str, np.ndarray]) -> np.ndarray:
    return _loop(m["relatives"], m["tradable"], m["rebalance"], m["ranked"], m["top_n"],
                 m["rate"], SELL_TAX, 1e8)


def timed(run: Callable[[dict[str, np.ndarray]], np.ndarray], m: dict[str, np.ndarray],
          repeats: int = 3) -> float:
    run(m)
    started = time.perf_counter()
    for _ in range(repeats):
        run(m)
    return (time.perf_counter() - started) / repeats


def main() -> int:
    m = market()
    started = time.perf_counter()
    numba_loop(m)
    seconds = time.perf_counter() - started
    print(f"numba: first call (compile, or load from its cache) {seconds:.2f} s")
    for name, run in (("numpy arrays over variants x stocks", numpy_dense),
                      ("numba loop over held stocks", numba_loop)):
        seconds = timed(run, m)
        print(f"{name}: {seconds * 1e3:.1f} ms for {N_VARIANTS} variants = "
              f"{seconds / N_VARIANTS * 1e6:.1f} us a variant")
    a, b = numpy_dense(m), numba_loop(m)
    print(f"largest relative difference of the equity: {np.max(np.abs(a - b) / a):.1e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
