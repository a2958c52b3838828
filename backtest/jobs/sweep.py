"""Ray job entry point: a sweep through QBT's durable queue, followed until it ends.

    ray job submit --address http://127.0.0.1:8265 --working-dir . -- \\
        python -m backtest.jobs.sweep SWEEP.json [--owner NAME]

Steps: read and validate the SweepSpec -> join the cluster (RAY_ADDRESS, set by Ray jobs) ->
hand the sweep to the Dispatcher actor, which queues it as `POST /v1/sweeps` does (checked
against the current data version, the owner's sweep limit, one transaction) -> follow the
progress its Ray tasks make on the registry's shared panel (`ray job logs`) -> print the best
variants, the overfitting statistics and the walk-forward folds. The job reaches the service
through its named actors, not its modules: an interrupted job leaves the sweep queued, and
it runs to its end like any other.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import ray

from backtest.sweep import SweepSpec
from backtest.sweep_analysis import SweepAnalysis, describe
from backtest.version import ENGINE_VERSION
from runtime.names import DISPATCHER_ACTOR, FINISHED, NAMESPACE, REGISTRY_ACTOR

POLL_S = 1.0


def _actor(name: str) -> Any:
    try:
        return ray.get_actor(name, namespace=NAMESPACE)
    except ValueError:
        raise SystemExit(f"no {name} actor in this Ray cluster: start QBT with `qbt up`") from None


def follow(dispatcher: Any, *, owner: str, sweep_id: str) -> dict[str, Any]:
    started, shown = time.perf_counter(), -1
    while True:
        progress = ray.get(dispatcher.sweep_progress.remote(owner, sweep_id))
        if progress["n_done"] != shown:
            analysing = progress["n_done"] == progress["n_total"]
            print(f"progress {progress['n_done']}/{progress['n_total']} variants "
                  f"({progress['n_failed']} failed), {time.perf_counter() - started:.1f} s"
                  + ("; analysing (overfitting, walk-forward)" if analysing else ""),
                  flush=True)
            shown = progress["n_done"]
        if progress["status"] in FINISHED:
            return progress  # type: ignore[no-any-return]
        time.sleep(POLL_S)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m backtest.jobs.sweep")
    parser.add_argument("spec", type=Path, help="SweepSpec JSON file")
    parser.add_argument("--owner", default=os.environ.get("QBT_JOB_OWNER", "jobs"))
    args = parser.parse_args(argv)

    sweep = SweepSpec.model_validate(json.loads(args.spec.read_text()))
    ray.init(address=os.environ.get("RAY_ADDRESS", "auto"), namespace=NAMESPACE)
    # Which code runs: the installed package, or what `--working-dir` uploaded.
    print(f"engine {ENGINE_VERSION} from {Path(__file__).resolve().parents[2]}", flush=True)
    handle = ray.get(_actor(REGISTRY_ACTOR).get.remote())
    print(f"data version {handle.version} (panel {handle.nbytes / 1e6:,.0f} MB, shared from "
          "the object store)", flush=True)
    dispatcher = _actor(DISPATCHER_ACTOR)
    started = time.perf_counter()
    queued = ray.get(dispatcher.submit_sweep.remote(args.owner, sweep.model_dump(mode="json")))
    print(f"queued sweep {queued['id']}: {queued['n_variants']} variants on data version "
          f"{queued['data_version']}", flush=True)
    result = follow(dispatcher, owner=args.owner, sweep_id=queued["id"])
    seconds = time.perf_counter() - started
    print(f"sweep {result['id']} {result['status']}: {result['n_total']} variants "
          f"({result['n_failed']} failed) in {seconds:.1f} s, "
          f"{result['n_total'] / seconds:.1f} backtests/s", flush=True)
    print(f"top {len(result['variants'])} by {sweep.rank_by}:")
    for place, variant in enumerate(result["variants"], start=1):
        value = (variant["statistics"] or {}).get(sweep.rank_by)
        print(f"{place:>3}. variant {variant['variant']:>4}  {sweep.rank_by}={value}  "
              f"{variant['overrides']}")
    analysis = SweepAnalysis(overfitting=result["overfitting"],
                             walk_forward=result["walk_forward"],
                             errors=result["analysis_errors"])
    for line in describe(analysis, rank_by=sweep.rank_by):
        print(line, flush=True)
    return 0 if result["status"] == "done" else 1


if __name__ == "__main__":
    sys.exit(main())
