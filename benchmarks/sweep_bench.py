"""Sweep throughput through the HTTP API of a running QBT, side by side in one run.

    python -m benchmarks.sweep_bench --url http://127.0.0.1:8000 --key KEY \\
        [--variants 5000] [--large 100000] [--singles 5000] [--json PATH]

1. Warm-up: a 20-variant sweep (worker imports, the kernel's compiled cache).
2. A `--variants` 1-year grid (top_n x rebalance x slippage x commission, 10 x 5 x 10 x 10 =
   5,000) through `POST /v1/sweeps`, timed from the POST until `GET /v1/sweeps/{id}` says
   done (target: <= 5 s, >= 1,000 backtests/s).
3. The same variants as independent single backtests (`POST /v1/backtests?wait=`, the
   per-variant path, 100 at a time): their statistics must equal the sweep's to 1e-9, and
   the ratio of the two rates is reported. `--singles` caps how many.
4. A `--large` sweep (the grid above x 20 minimum market caps = 100,000 variants; the service
   needs QBT_MAX_SWEEP_VARIANTS >= that), timed the same way while the summed PSS of the
   deployment's processes (Ray, the Serve app, PostgreSQL) is sampled every second
   (targets: <= 3 minutes, < 4 GB).

Each run of the benchmark gives its specs a fresh initial capital, so nothing is reused
from an earlier run (reuse of equal finished runs would answer instantly).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import psutil

RANKING = [{"factor": "PBR", "ascending": True}, {"factor": "MOM_12_1"},
           {"factor": "ROE", "weight": 0.5}]
GRID: dict[str, list[Any]] = {
    "top_n": [5, 10, 15, 20, 25, 30, 40, 50, 75, 100],
    "rebalance": ["monthly", "quarterly", "weekly", 10, 42],
    "costs.slippage_bps": [0, 5, 10, 15, 20, 25, 30, 40, 50, 60],
    "costs.commission_bps": [0, 1.5, 3, 5, 7.5, 10, 12.5, 15, 20, 25],
}
MARKET_CAPS = [0, 1e10, 2e10, 5e10, 1e11, 2e11, 5e11, 1e12, 2e12, 5e12, 1e13, 2e13, 5e13,
               1e14, 2e14, 5e14, 1e15, 2e15, 5e15, 1e16]
TOLERANCE = 1e-9
DEPLOYMENT = ("ray", "raylet", "gcs_server", "postgres", "serve", "dashboard")


def sweep_document(*, start: str, end: str, capital: float, grid: dict[str, list[Any]]) -> dict:
    return {"base": {"start": start, "end": end, "ranking": RANKING, "top_n": 20,
                     "initial_capital": capital},
            "grid": grid, "rank_by": "sharpe"}


def run_sweep(client: httpx.Client, document: dict, *, poll_s: float) -> dict[str, Any]:
    """POST the sweep, poll until it ends; its id, timings and final state."""
    started = time.perf_counter()
    response = client.post("/v1/sweeps", json=document)
    response.raise_for_status()
    submitted = time.perf_counter() - started
    sweep_id = response.json()["id"]
    while True:
        state = client.get(f"/v1/sweeps/{sweep_id}").json()
        if state["status"] not in ("queued", "running"):
            break
        time.sleep(poll_s)
    wall = time.perf_counter() - started
    return {"id": sweep_id, "variants": state["n_total"], "failed": state["n_failed"],
            "status": state["status"], "submit_s": round(submitted, 2), "wall_s": round(wall, 2),
            "backtests_per_s": round(state["n_total"] / wall, 1)}


async def run_singles(url: str, key: str, specs: list[dict], *, concurrency: int) -> tuple:
    """Every spec as a single backtest (?wait=); (statistics per spec, seconds)."""
    results: list[dict | None] = [None] * len(specs)
    queue: asyncio.Queue[int] = asyncio.Queue()
    for index in range(len(specs)):
        queue.put_nowait(index)

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            index = queue.get_nowait()
            while True:
                response = await client.post("/v1/backtests?wait=60", json=specs[index])
                if response.status_code in (429, 503):
                    await asyncio.sleep(float(response.headers.get("Retry-After", 1)))
                    continue
                break
            run = response.json()
            while run.get("status") in ("queued", "running"):
                run = (await client.get(f"/v1/backtests/{run['id']}?wait=60")).json()
            results[index] = run.get("statistics")

    headers = {"Authorization": f"Bearer {key}"}
    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=url, headers=headers, timeout=120) as client:
        await asyncio.gather(*(worker(client) for _ in range(concurrency)))
    return results, time.perf_counter() - started


def sweep_statistics(client: httpx.Client, sweep_id: str) -> list[dict[str, Any]]:
    """Every numeric statistic of every variant, in grid order, one statistic a request."""
    from backtest.statistics import NUMERIC_STATISTICS

    columns = {name: client.get(f"/v1/sweeps/{sweep_id}/variants",
                                params={"statistic": name}).json()["values"]
               for name in NUMERIC_STATISTICS}
    n = len(columns["sharpe"])
    return [{name: values[i] for name, values in columns.items()} for i in range(n)]


def differences(sweep: list[dict[str, Any]], singles: list[dict | None]) -> int:
    """Sweep variants with a numeric statistic that differs from their single run's beyond
    1e-9."""
    wrong = 0
    for a, b in zip(sweep, singles, strict=True):
        if b is None:
            wrong += 1
            continue
        for name, value in a.items():
            other = b.get(name)
            if isinstance(other, int) and not isinstance(other, bool):
                other = float(other)
            if isinstance(value, float) and isinstance(other, float):
                if not math.isclose(value, other, rel_tol=TOLERANCE, abs_tol=TOLERANCE):
                    wrong += 1
                    break
            elif value != other:
                wrong += 1
                break
    return wrong


class PssSampler(threading.Thread):
    """The largest summed PSS of the deployment's processes, sampled every second."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = 0
        self.by_name: dict[str, int] = {}
        self._done = threading.Event()

    def run(self) -> None:
        own = os.getpid()
        while not self._done.is_set():
            total, names = 0, dict[str, int]()
            for process in psutil.process_iter(["pid", "name", "cmdline"]):
                try:
                    text = " ".join(process.info["cmdline"] or []) + " " + process.info["name"]
                    if process.info["pid"] == own or not any(k in text for k in DEPLOYMENT):
                        continue
                    pss = process.memory_full_info().pss
                except (psutil.Error, OSError):
                    continue
                total += pss
                names[process.info["name"]] = names.get(process.info["name"], 0) + pss
            if total > self.peak:
                self.peak, self.by_name = total, names
            self._done.wait(1.0)

    def stop(self) -> None:
        self._done.set()
        self.join()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True)
    parser.add_argument("--key", required=True)
    parser.add_argument("--start", default="2023-01-02")
    parser.add_argument("--end", default="2023-12-28")
    parser.add_argument("--variants", type=int, default=5000, choices=[5000])
    parser.add_argument("--singles", type=int, default=5000, help="0: skip step 3")
    parser.add_argument("--large", type=int, default=100_000, choices=[0, 100_000])
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    capital = 1e8 + random.randrange(1, 10**6)  # nothing to reuse from an earlier run
    report: dict[str, Any] = {"initial_capital": capital}
    headers = {"Authorization": f"Bearer {args.key}"}
    with httpx.Client(base_url=args.url, headers=headers, timeout=300) as client:
        warm = sweep_document(start=args.start, end=args.end, capital=capital + 1,
                              grid={"top_n": [5, 10], "costs.slippage_bps": list(range(10))})
        run_sweep(client, warm, poll_s=0.2)
        document = sweep_document(start=args.start, end=args.end, capital=capital, grid=GRID)
        report["sweep"] = run_sweep(client, document, poll_s=0.2)
        print(f"sweep: {report['sweep']}")
        if args.singles:
            from_sweep = sweep_statistics(client, report["sweep"]["id"])
            from backtest.sweep import SweepSpec, expand

            specs = [v.model_dump(mode="json") for v in
                     expand(SweepSpec.model_validate(document), max_variants=10**6)]
            chosen = list(range(min(args.singles, len(specs))))
            singles, seconds = asyncio.run(run_singles(
                args.url, args.key, [specs[i] for i in chosen], concurrency=100))
            wrong = differences([from_sweep[i] for i in chosen], singles)
            rate = len(chosen) / seconds
            report["singles"] = {"runs": len(chosen), "wall_s": round(seconds, 1),
                                 "backtests_per_s": round(rate, 1), "differing": wrong,
                                 "speedup": round(report["sweep"]["backtests_per_s"] / rate, 1)}
            print(f"single runs: {report['singles']}")
        if args.large:
            grid = {**GRID, "universe.min_market_cap": MARKET_CAPS}
            large = sweep_document(start=args.start, end=args.end, capital=capital, grid=grid)
            sampler = PssSampler()
            sampler.start()
            report["large"] = run_sweep(client, large, poll_s=1.0)
            sampler.stop()
            report["large"]["peak_pss_gib"] = round(sampler.peak / 2**30, 2)
            report["large"]["peak_pss_by_process_mib"] = {
                name: round(value / 2**20) for name, value in
                sorted(sampler.by_name.items(), key=lambda item: -item[1])[:8]}
            print(f"large sweep: {report['large']}")
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
