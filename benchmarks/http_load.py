"""HTTP load test of a running QBT service: concurrent clients submitting 1-year backtests.

    python -m benchmarks.http_load --url http://127.0.0.1:8000 --key KEY \\
        --clients 100 --runs-per-client 1 [--json PATH]

Each client is its own httpx.AsyncClient (own connections), all made before the clock
starts. For each of its runs a client POSTs /v1/backtests (a 429 or 503 is retried after its
Retry-After), then GETs the run's Location with `?wait=` until the run ends, then submits its
next run. Reported: wall time from the
first submit until the last run ended, submit latency (p50/p99 of accepted submits), the
status codes seen, runs done/failed and transport errors. `--warmup` runs go first, unmeasured
(they start the Ray workers and map the panel).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from runtime.names import FINISHED

FACTORS = ("PBR", "PER", "ROE", "MOM_3M", "MOM_12_1", "VOL_60D", "GPA", "EARNINGS_YIELD")


@dataclass
class Tally:
    submit_latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    outcomes: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    first_submit: float | None = None
    last_end: float | None = None


def spec_for(number: int, *, start: str, end: str) -> dict[str, Any]:
    """A distinct 1-year strategy per run (factor pair and top_n vary)."""
    first = FACTORS[number % len(FACTORS)]
    second = FACTORS[(number // len(FACTORS) + 3) % len(FACTORS)]
    ranking = [{"factor": first, "ascending": first in ("PBR", "PER", "VOL_60D")}]
    if second != first:
        ranking.append({"factor": second, "weight": 0.5})
    return {"start": start, "end": end, "ranking": ranking, "top_n": 20 + number % 30}


async def _submit(client: httpx.AsyncClient, spec: dict[str, Any], tally: Tally) -> str | None:
    """POST until accepted (honouring Retry-After); the run's Location, or None."""
    for _ in range(100):
        started = time.perf_counter()
        if tally.first_submit is None:
            tally.first_submit = started
        response = await client.post("/v1/backtests", json=spec)
        tally.statuses[response.status_code] += 1
        if response.status_code == 202:
            tally.submit_latencies.append(time.perf_counter() - started)
            return str(response.headers["location"])
        if response.status_code in (429, 503):
            await asyncio.sleep(float(response.headers.get("retry-after", "1")))
            continue
        tally.errors[f"HTTP {response.status_code}: {response.text[:120]}"] += 1
        return None
    tally.errors["gave up after 100 refused submits"] += 1
    return None


async def _await_end(client: httpx.AsyncClient, location: str, tally: Tally) -> None:
    while True:
        response = await client.get(location, params={"wait": 30})
        tally.statuses[response.status_code] += 1
        if response.status_code == 200 and response.json()["status"] in FINISHED:
            tally.outcomes[response.json()["status"]] += 1
            tally.last_end = time.perf_counter()
            return
        if response.status_code not in (200, 503):
            tally.errors[f"HTTP {response.status_code} on GET: {response.text[:120]}"] += 1
            return


def make_client(*, url: str, key: str, tls: ssl.SSLContext) -> httpx.AsyncClient:
    """One client with its own connections (the TLS context is shared: building one per
    client costs ~15 ms of CPU each, which would be charged to the service)."""
    return httpx.AsyncClient(
        base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=120.0, verify=tls
    )


async def client_loop(
    client: httpx.AsyncClient, *, numbers: Sequence[int], start: str, end: str, tally: Tally
) -> None:
    async with client:
        for number in numbers:
            try:
                location = await _submit(client, spec_for(number, start=start, end=end), tally)
                if location is not None:
                    await _await_end(client, location, tally)
            except httpx.HTTPError as err:
                tally.errors[type(err).__name__] += 1


def percentile(values: Sequence[float], q: float) -> float | None:
    if not values:
        return None
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[round(q) - 1]


async def run_load(args: argparse.Namespace) -> dict[str, Any]:
    tls = ssl.create_default_context()
    if args.warmup:
        await client_loop(
            make_client(url=args.url, key=args.key, tls=tls),
            numbers=range(10_000, 10_000 + args.warmup), start=args.start, end=args.end,
            tally=Tally(),
        )
    tally = Tally()
    per = args.runs_per_client
    clients = [make_client(url=args.url, key=args.key, tls=tls) for _ in range(args.clients)]
    await asyncio.gather(
        *(
            client_loop(
                client, numbers=range(c * per, (c + 1) * per), start=args.start, end=args.end,
                tally=tally,
            )
            for c, client in enumerate(clients)
        )
    )
    wall = (
        tally.last_end - tally.first_submit
        if tally.last_end is not None and tally.first_submit is not None
        else None
    )
    done = tally.outcomes["done"]
    ms = [1000 * s for s in tally.submit_latencies]
    return {
        "url": args.url,
        "clients": args.clients,
        "runs_per_client": per,
        "runs": args.clients * per,
        "window": f"{args.start}..{args.end}",
        "wall_s": None if wall is None else round(wall, 2),
        "runs_per_s": None if not wall else round(done / wall, 2),
        "submit_ms_p50": None if not ms else round(percentile(ms, 50) or 0, 1),
        "submit_ms_p99": None if not ms else round(percentile(ms, 99) or 0, 1),
        "submit_ms_max": None if not ms else round(max(ms), 1),
        "status_codes": {str(k): v for k, v in sorted(tally.statuses.items())},
        "outcomes": dict(tally.outcomes),
        "server_errors_5xx": sum(v for k, v in tally.statuses.items() if k >= 500),
        "errors": dict(tally.errors),
    }


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.http_load", description=__doc__)
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--key", required=True, help="API key (qbt keys create --owner NAME)")
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--runs-per-client", type=int, default=1)
    parser.add_argument("--start", default="2022-01-03", help="First day of each backtest.")
    parser.add_argument("--end", default="2022-12-30", help="Last day of each backtest.")
    parser.add_argument("--warmup", type=int, default=2, help="Unmeasured runs first.")
    parser.add_argument("--json", type=Path, help="Also write the report here.")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    report = asyncio.run(run_load(args))
    for name, value in report.items():
        print(f"{name:>18}: {value}")
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0 if not report["errors"] and report["outcomes"].get("done") == report["runs"] else 1


if __name__ == "__main__":
    sys.exit(main())
