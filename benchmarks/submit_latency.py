"""Submit latency of QBT beside Serve's floor, side by side in one run on one machine.

    python -m benchmarks.submit_latency [--clients 100] [--submits 5] [--rounds 4] [--json PATH]

Needs a running QBT (`qbt up`, whose QBT_DATABASE_URL and Ray this joins). It deploys a second,
do-nothing Serve application next to QBT's (route /floor, same proxy, same replica options:
an async FastAPI ingress whose POST reads the JSON body and answers 202 with a new id), then
alternates rounds: `--clients` simultaneous clients (one API key and owner each, own
connections, made before the clock starts) each POST `--submits` times to the floor, then the
same to `POST /v1/backtests` with a distinct 1-year spec each (the runs then execute, as
they would for users, while the QBT round goes on); each round starts once every run of the
last has ended, so the floor is measured on a quiet machine. Reported: p50/p99/max
of each, their ratio (target: QBT's p99 within 2x the floor's), status codes. The floor app
is deleted at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import uuid
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from benchmarks.http_load import percentile

FLOOR_APP = "qbt_floor"
FLOOR_ROUTE = "/floor"


def deploy_floor(*, max_ongoing_requests: int, max_queued_requests: int) -> None:
    """The do-nothing app on the running cluster's Serve (QBT's proxy serves it too)."""
    from ray import serve

    api = FastAPI()

    @api.post("/v1/backtests")
    async def submit(request: Request) -> JSONResponse:
        await request.json()
        return JSONResponse({"id": str(uuid.uuid4()), "status": "queued"}, status_code=202)

    @serve.deployment(name="floor_ingress", ray_actor_options={"num_cpus": 0},
                      max_ongoing_requests=max_ongoing_requests,
                      max_queued_requests=max_queued_requests)
    @serve.ingress(api)
    class Floor:
        pass

    serve.run(Floor.bind(), name=FLOOR_APP, route_prefix=FLOOR_ROUTE)  # type: ignore[attr-defined]


def spec_for(number: int, salt: int) -> dict[str, Any]:
    """A distinct monthly 1-year backtest (nothing an earlier run could answer)."""
    return {"start": "2022-01-03", "end": "2022-12-30", "rebalance": "monthly",
            "ranking": [{"factor": "PBR", "ascending": True}, {"factor": "MOM_3M"}],
            "top_n": 10 + number % 30, "initial_capital": 1e8 + salt * 1000 + number}


async def one_round(
    clients: Sequence[httpx.AsyncClient], *, path: str, submits: int, first: int, salt: int,
    statuses: Counter[int], refusals: list[str], by_turn: dict[int, list[float]] | None = None,
) -> list[float]:
    latencies: list[float] = []
    gate = asyncio.Event()

    async def client_loop(index: int, client: httpx.AsyncClient) -> None:
        await gate.wait()
        for n in range(submits):
            body = spec_for(first + index * submits + n, salt)
            started = time.perf_counter()
            response = await client.post(path, json=body)
            statuses[response.status_code] += 1
            if response.status_code == 202:
                latencies.append(time.perf_counter() - started)
                if by_turn is not None:
                    by_turn.setdefault(n, []).append(latencies[-1])
            elif len(refusals) < 5:
                refusals.append(f"{response.status_code} {response.text[:200]}")

    tasks = [asyncio.create_task(client_loop(i, c)) for i, c in enumerate(clients)]
    await asyncio.sleep(0.1)
    gate.set()  # every client starts at once
    await asyncio.gather(*tasks)
    return latencies


async def runs_ended(database_url: str, *, owner_prefix: str, timeout_s: float = 300) -> None:
    """Wait until this benchmark's runs have all ended, so that every round starts quiet."""
    from psycopg import AsyncConnection

    deadline = time.monotonic() + timeout_s
    async with await AsyncConnection.connect(database_url, autocommit=True) as conn:
        while time.monotonic() < deadline:
            cur = await conn.execute(
                "SELECT count(*) FROM runs WHERE owner LIKE %s"
                " AND status IN ('queued', 'running')", (owner_prefix + "%",))
            if (await cur.fetchone())[0] == 0:  # type: ignore[index]
                return
            await asyncio.sleep(0.5)
    raise TimeoutError(f"the benchmark's runs did not end within {timeout_s:.0f} s")


def summary(latencies: list[float]) -> dict[str, float | None]:
    ms = [1000 * s for s in latencies]
    return {"n": len(ms), "p50_ms": _round(percentile(ms, 50)),
            "p99_ms": _round(percentile(ms, 99)), "max_ms": _round(max(ms) if ms else None)}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


async def measure(args: argparse.Namespace, keys: list[str]) -> dict[str, Any]:
    salt = time.time_ns() % 1_000_000_007
    floor: list[float] = []
    qbt: list[float] = []
    statuses: dict[str, Counter[int]] = {"floor": Counter(), "qbt": Counter()}
    refusals: list[str] = []
    by_turn: dict[int, list[float]] = {}  # QBT's latencies by each client's n-th submit
    clients = [httpx.AsyncClient(base_url=args.url, timeout=120.0,
                                 headers={"Authorization": f"Bearer {key}"}) for key in keys]
    try:
        for client in clients:  # connections open before the clock starts
            await client.get("/healthz")
            await client.get(f"{FLOOR_ROUTE}/docs")
        for round_number in range(args.rounds + 1):  # round 0 warms up, unmeasured
            first = round_number * len(clients) * args.submits
            f = await one_round(clients, path=f"{FLOOR_ROUTE}/v1/backtests",
                                submits=args.submits, first=first, salt=salt,
                                statuses=statuses["floor"], refusals=refusals)
            q = await one_round(clients, path="/v1/backtests", submits=args.submits,
                                first=first, salt=salt, statuses=statuses["qbt"],
                                refusals=refusals, by_turn=by_turn if round_number else None)
            if round_number > 0:
                floor += f
                qbt += q
            await runs_ended(args.database_url, owner_prefix=args.owner_prefix)
    finally:
        for client in clients:
            await client.aclose()
    result = {"floor": summary(floor), "qbt": summary(qbt)}
    p99_floor, p99_qbt = result["floor"]["p99_ms"], result["qbt"]["p99_ms"]
    ratio = None if not p99_floor or p99_qbt is None else round(p99_qbt / p99_floor, 2)
    return {"clients": len(clients), "submits_per_client_per_round": args.submits,
            "rounds": args.rounds, **result, "p99_ratio": ratio,
            "status_codes": {k: {str(s): n for s, n in sorted(v.items())}
                             for k, v in statuses.items()},
            "qbt_by_turn": {n: summary(v) for n, v in sorted(by_turn.items())},
            "refusals": refusals}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.submit_latency",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", default=None, help="QBT's URL (default: from QBT_HTTP_*).")
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--submits", type=int, default=5, help="Per client and round.")
    parser.add_argument("--rounds", type=int, default=4,
                        help="Measured rounds (after one warm-up).")
    parser.add_argument("--json", type=Path, help="Also write the report here.")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    from ray import serve

    from runtime.config import Settings
    from runtime.database import resolve_database_url
    from runtime.ray_connection import connect_ray
    from serve.app import base_url
    from serve.keys import create_key
    from serve.options import ServiceOptions

    args = parse_args(argv)
    settings = Settings.from_env()
    args.url = args.url or base_url(settings)
    connect_ray(settings, log_to_driver=False)
    options = ServiceOptions()
    deploy_floor(max_ongoing_requests=options.max_ongoing_requests,
                 max_queued_requests=options.max_queued_requests)
    args.owner_prefix = f"latency-{uuid.uuid4().hex[:8]}-"
    args.database_url = resolve_database_url(settings)
    keys = [create_key(args.database_url, owner=f"{args.owner_prefix}{n}")
            for n in range(args.clients)]
    try:
        report = asyncio.run(measure(args, keys))
    finally:
        serve.delete(FLOOR_APP)
    for name, value in report.items():
        print(f"{name:>30}: {value}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
