"""ray-object-store: QBT's data path on a local Ray started for the benchmark.

`start_ray` starts Ray sized for the largest concurrency (logical CPUs: concurrency 16 on
2 cores measures memory, not speed) without pre-started workers, so at concurrency c
there are c task workers, started on demand. `start_registry` creates the DatasetRegistry
as `qbt up` does (`ensure_registry`, with a builder that counts what it reads) and waits
for its first build: once, from PostgreSQL, into the object store.

Each backtest is one task given the registry's ObjectRef inside a list, so the task itself
resolves it (`ray.get`: the panel's arrays are read-only views of the object store) and the
data access is timed in the worker like the other modes'.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

os.environ["RAY_AUTH_MODE"] = "token"  # before Ray loads: QBT keeps token auth on

import ray  # noqa: E402

from benchmarks.datapath.memory import Involved  # noqa: E402
from benchmarks.datapath.modes import Fetched, run_job  # noqa: E402


@ray.remote(max_retries=0)
def ray_backtest(box: list[ray.ObjectRef], job: dict[str, Any]) -> dict[str, Any]:
    return run_job(lambda: Fetched(ray.get(box[0])), job)


def start_ray(*, num_cpus: int, object_store_bytes: int) -> float:
    """A private local Ray (never a stale or shared one); answers its start-up seconds."""
    began = time.perf_counter()
    ray.init(
        address="local",
        num_cpus=num_cpus,
        object_store_memory=object_store_bytes,
        include_dashboard=False,
        log_to_driver=False,
        namespace="qbt-bench",
        _system_config={"prestart_worker_first_driver": False, "enable_worker_prestart": False},
    )
    return time.perf_counter() - began


def stop_ray() -> None:
    ray.shutdown()


def start_registry(database_url: str, *, memory_budget: int) -> tuple[Any, Any, float]:
    """(registry actor, PanelHandle, seconds until the panel was in the object store)."""
    from benchmarks.datapath.market import registry_builder
    from dataprep.registry import ensure_registry

    began = time.perf_counter()
    registry = ensure_registry(database_url, memory_budget=memory_budget,
                               builder=registry_builder)
    handle = ray.get(registry.get.remote())
    return registry, handle, time.perf_counter() - began


class RayExecutor:
    """Backtest tasks against one panel ObjectRef, at most `size` in flight."""

    def __init__(self, panel_ref: ray.ObjectRef, *, size: int, involved: Involved) -> None:
        self.size = size
        self._box = [panel_ref]
        self._involved = involved
        self._flight: dict[ray.ObjectRef, tuple[dict[str, Any], float]] = {}

    def idle(self) -> int:
        return self.size - len(self._flight)

    def in_flight(self) -> int:
        return len(self._flight)

    def submit(self, job: dict[str, Any]) -> None:
        handed = time.perf_counter()
        self._flight[ray_backtest.remote(self._box, job)] = (job, handed)

    def next_result(self, timeout_s: float) -> dict[str, Any] | None:
        ready, _ = ray.wait(list(self._flight), num_returns=1, timeout=timeout_s)
        if not ready:
            return None
        job, handed = self._flight.pop(ready[0])
        try:
            answer = ray.get(ready[0])
        except Exception as err:  # a killed or failed task
            return {"number": job["number"], "spec": job["spec_index"], "pid": None,
                    "error": f"{type(err).__name__}: {str(err).splitlines()[0]}"}
        answer["e2e_s"] = time.perf_counter() - handed
        return answer

    def kill(self) -> None:
        """The memory guard's action: kill the task workers (the tasks then fail)."""
        for pid, role in self._involved.roles().items():
            if role == "workers":
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def close(self) -> None:
        if self._flight:
            ray.wait(list(self._flight), num_returns=len(self._flight), timeout=60)
        self._flight.clear()
