"""How long `qbt down` takes while backtests run.

    python -m benchmarks.down_under_load [--runs 120] [--settle 6] [--rounds 3] [--json PATH]

Each round: `qbt up --no-example` (the QBT_* environment says where; nothing may be running
yet), `--runs` daily-rebalanced 3-year backtests submitted through the API by an owner of the
round's own, `--settle` seconds for them to start executing, then `qbt down` timed from its
process start to its exit, and a check that no process of the head's session is left.
Reported: each round's seconds, how many runs were still queued or running, and what was
left alive (the bound, from the reliability suite: 10 s).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
import psutil
import psycopg

DAILY_3Y: dict[str, Any] = {
    "start": "2021-03-02", "end": "2023-12-28", "rebalance": "daily",
    "ranking": [{"factor": "PBR", "ascending": True}, {"factor": "MOM_3M"},
                {"factor": "VOL_60D", "ascending": True}],
}


def qbt(*args: str) -> subprocess.CompletedProcess[str]:
    command = [str(Path(sys.executable).with_name("qbt")), *args]
    return subprocess.run(command, capture_output=True, text=True, check=True)


def one_round(*, runs: int, settle_s: float) -> dict[str, Any]:
    from cluster.head import session_processes
    from runtime.config import Settings
    from runtime.database import resolve_database_url
    from runtime.state import read_state
    from serve.app import base_url
    from serve.keys import create_key

    qbt("up", "--no-example")
    settings = Settings.from_env()
    head = read_state(settings.home).head_pgid
    if head is None:
        raise SystemExit("QBT_RAY_ADDRESS points at a cluster `qbt up` did not start: unset it")
    database_url = resolve_database_url(settings)
    owner = f"down-{uuid.uuid4().hex[:8]}"
    key = create_key(database_url, owner=owner)
    capital = 1e8 + time.time_ns() % 10**6
    with httpx.Client(base_url=base_url(settings), timeout=60,
                      headers={"Authorization": f"Bearer {key}"}) as http:
        for n in range(runs):
            answer = http.post("/v1/backtests", json={**DAILY_3Y, "top_n": 5 + n % 40,
                                                      "initial_capital": capital + n})
            answer.raise_for_status()
    time.sleep(settle_s)
    with psycopg.connect(database_url) as conn:
        row = conn.execute("SELECT count(*) FROM runs WHERE owner = %s"
                           " AND status IN ('queued', 'running')", (owner,)).fetchone()
    started = time.perf_counter()
    qbt("down")
    seconds = time.perf_counter() - started
    time.sleep(1)
    left = [p.pid for p in session_processes(head)
            if _alive(p)]  # not the zombies init has yet to reap
    return {"down_s": round(seconds, 2), "open_runs": row[0] if row else None, "left": left}


def _alive(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.down_under_load",
                                     description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=120)
    parser.add_argument("--settle", type=float, default=6.0, help="Seconds before the down.")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--json", type=Path, help="Also write the report here.")
    args = parser.parse_args(argv)
    rounds = [one_round(runs=args.runs, settle_s=args.settle) for _ in range(args.rounds)]
    report = {"runs": args.runs, "settle_s": args.settle, "rounds": rounds,
              "max_down_s": max(r["down_s"] for r in rounds)}
    print(json.dumps(report, indent=2))
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
