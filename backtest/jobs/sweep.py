"""Ray job entry point: run a sweep on the running cluster against the registry's panel.

    ray job submit --address http://127.0.0.1:8265 --working-dir . -- \\
        python -m backtest.jobs.sweep SWEEP.json [--owner NAME]

Steps: read and validate the SweepSpec -> join the cluster (RAY_ADDRESS, set by Ray jobs) ->
ask the DatasetRegistry for the current panel's ObjectRef (the shared copy, not a private
one) -> run the variants in batches as Ray tasks, logging progress (`ray job logs`) -> store
the sweep and one row per variant in PostgreSQL, in one transaction -> print the best ones.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import psycopg
import ray
from psycopg.types.json import Jsonb

from backtest.jobs.batches import run_on_ray
from backtest.sweep import SweepSpec, expand, overrides_of, rank
from backtest.version import ENGINE_VERSION
from cluster.config import Settings
from dataprep.registry import get_registry


def store_sweep(
    database_url: str,
    *,
    sweep: SweepSpec,
    rows: list[dict[str, Any]],
    owner: str,
    data_version: str,
) -> uuid.UUID:
    """One `sweeps` row and one finished `runs` row per variant, all or nothing."""
    sweep_id = uuid.uuid4()
    variants = expand(sweep, max_variants=len(rows))
    with psycopg.connect(database_url) as conn, conn.transaction():
        conn.execute(
            "INSERT INTO sweeps (id, owner, spec, n_variants, data_version)"
            " VALUES (%s, %s, %s, %s, %s)",
            (sweep_id, owner, Jsonb(sweep.model_dump(mode="json")), len(rows), data_version),
        )
        with conn.cursor().copy(
            "COPY runs (id, owner, sweep_id, variant, spec, status, data_version,"
            " engine_version, attempts, error, statistics, started_at, finished_at)"
            " FROM STDIN"
        ) as copy:
            for row, spec in zip(rows, variants, strict=True):
                copy.write_row((
                    uuid.uuid4(), owner, sweep_id, row["variant"],
                    Jsonb(spec.model_dump(mode="json")),
                    "done" if row["error"] is None else "failed",
                    data_version, ENGINE_VERSION, 1, row["error"],
                    Jsonb(row["statistics"]) if row["statistics"] is not None else None,
                    "now", "now",
                ))
    return sweep_id


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m backtest.jobs.sweep")
    parser.add_argument("spec", type=Path, help="SweepSpec JSON file")
    parser.add_argument("--owner", default=os.environ.get("QBT_JOB_OWNER", "jobs"))
    args = parser.parse_args(argv)

    settings = Settings.from_env()
    sweep = SweepSpec.model_validate(json.loads(args.spec.read_text()))
    variants = expand(sweep, max_variants=settings.max_sweep_variants)
    ray.init(address=os.environ.get("RAY_ADDRESS", "auto"), namespace="qbt")
    # Which code runs: the installed package, or what `--working-dir` uploaded.
    print(f"engine {ENGINE_VERSION} from {Path(__file__).resolve().parents[2]}", flush=True)
    registry = get_registry()
    handle = ray.get(registry.get.remote())
    database_url = settings.database_url or ray.get(registry.database_url.remote())
    print(f"sweep of {len(variants)} variants on data version {handle.version} "
          f"(panel {handle.nbytes / 1e6:,.0f} MB, shared from the object store)", flush=True)

    started = time.perf_counter()

    def progress(done: int, total: int) -> None:
        print(f"progress {done}/{total} variants, {time.perf_counter() - started:.1f} s",
              flush=True)

    rows = run_on_ray(handle.ref, variants, batch_size=settings.sweep_batch_size,
                      on_progress=progress)
    seconds = time.perf_counter() - started
    sweep_id = store_sweep(database_url, sweep=sweep, rows=rows, owner=args.owner,
                           data_version=handle.version)
    failed = sum(1 for row in rows if row["error"] is not None)
    print(f"stored sweep {sweep_id}: {len(rows)} variants ({failed} failed) in {seconds:.1f} s, "
          f"{len(rows) / seconds:.1f} backtests/s", flush=True)
    print(f"top {sweep.top} by {sweep.rank_by}:")
    for place, row in enumerate(rank(rows, rank_by=sweep.rank_by)[: sweep.top], start=1):
        value = (row["statistics"] or {}).get(sweep.rank_by)
        print(f"{place:>3}. variant {row['variant']:>4}  {sweep.rank_by}={value}  "
              f"{overrides_of(sweep, row['variant'])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
