"""A sweep on a three-node Ray cluster on one machine (ray.cluster_utils.Cluster).

Run as a subprocess by test_multinode.py (it needs its own Ray, not the test session's):
    python -m tests.cluster.multinode_scenario spread|remove-node
prints one JSON line: per-variant statistics, the nodes that ran them, the object store
summary, and (for comparison) the same variants run in-process without Ray.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("RAY_AUTH_MODE", "token")

import numpy as np  # noqa: E402
import ray  # noqa: E402
from ray._private.internal_api import memory_summary  # noqa: E402
from ray.cluster_utils import Cluster  # noqa: E402

from backtest.batch import RunRequest, run_specs  # noqa: E402
from backtest.spec import StrategySpec  # noqa: E402
from backtest.tasks import run_on_ray  # noqa: E402
from dataprep.panel import FactorPanel  # noqa: E402
from dataprep.registry import HEAD_NODE_RESOURCE, DatasetRegistry  # noqa: E402
from runtime.names import NAMESPACE  # noqa: E402

STORE = 200 * 1024**2


def synthetic_builder(_database_url: str) -> tuple[FactorPanel, dict[str, float]]:
    rng = np.random.default_rng(11)
    n_days, n_stocks = 300, 400
    dates = np.busday_offset(np.datetime64("2022-01-03"), np.arange(n_days), roll="forward")
    close = 1000 * np.cumprod(1 + rng.normal(0, 0.02, (n_days, n_stocks)), axis=0)
    returns = np.full_like(close, np.nan)
    returns[1:] = close[1:] / close[:-1] - 1
    names = ("MARKET_CAP", "AVG_TRADING_VALUE_20D", "VOL_60D", "F", "G")
    values = rng.lognormal(size=(len(names), n_days, n_stocks)).astype(np.float32)
    panel = FactorPanel(
        version="multinode", dates=dates.astype("datetime64[D]"),
        codes=np.array([f"{i:06d}" for i in range(n_stocks)]),
        names=np.array([f"S{i}" for i in range(n_stocks)]),
        market=np.array(["KOSPI", "KOSDAQ"] * (n_stocks // 2)),
        sector=np.array(["Tech"] * n_stocks), factor_names=names, values=values,
        close=close, returns=returns, tradable=np.ones_like(close, dtype=bool),
        benchmarks={"KOSPI": close.mean(axis=1), "KOSDAQ": close.mean(axis=1)},
    )
    return panel, {"load_s": 0.0}


def specs(n: int) -> list[StrategySpec]:
    return [
        StrategySpec.model_validate({
            "start": "2022-02-01", "end": "2023-01-31", "top_n": 5 + i % 20,
            "ranking": [{"factor": "F"}, {"factor": "G", "ascending": bool(i % 2)}],
            "rebalance": ["daily", "weekly", 2][i % 3],
        })
        for i in range(n)
    ]


def main(mode: str) -> None:
    cluster = Cluster(initialize_head=True,
                      head_node_args={"num_cpus": 1, "object_store_memory": STORE})
    workers = [cluster.add_node(num_cpus=1, object_store_memory=STORE) for _ in range(2)]
    cluster.wait_for_nodes()
    ray.init(address=cluster.address, namespace=NAMESPACE, log_to_driver=False)

    registry = ray.remote(DatasetRegistry).options(
        num_cpus=0, resources={HEAD_NODE_RESOURCE: 0.001}  # as ensure_registry places it
    ).remote("unused", builder=synthetic_builder, version_reader=lambda _: "multinode")
    handle = ray.get(registry.get.remote())
    variants = specs(120)
    removed: list[int] = []

    def remove_a_worker_mid_sweep(done: int, total: int) -> None:
        if mode == "remove-node" and not removed and done < total:
            removed.append(done)
            cluster.remove_node(workers[0])  # its running tasks die and are retried elsewhere

    requests = [RunRequest(spec=v.model_dump(mode="json")) for v in variants]
    outcomes = run_on_ray(handle.ref, requests, batch_size=1,
                          on_progress=remove_a_worker_mid_sweep)
    summary = memory_summary(cluster.address, stats_only=True)
    panel, _ = synthetic_builder("")
    direct = run_specs(panel, requests)
    print(json.dumps({
        "nodes": len(ray.nodes()),
        "alive_nodes": sum(1 for node in ray.nodes() if node["Alive"]),
        "removed_after": removed,
        "task_nodes": sorted({outcome.node for outcome in outcomes if outcome.node}),
        "statistics": [outcome.statistics_dict() for outcome in outcomes],
        "errors": [outcome.error for outcome in outcomes],
        "direct": [outcome.statistics_dict() for outcome in direct],
        "memory_summary": summary,
        "panel_bytes": handle.nbytes,
    }))
    ray.shutdown()
    cluster.shutdown()


if __name__ == "__main__":
    main(sys.argv[1])
