"""The processes of the test session's Ray (from its raylet, so no other Ray on the machine
counts): role, unique memory (USS), ObjectRefs in scope; and the object store's bytes."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import psutil
import ray
from ray._private.internal_api import get_memory_info_reply, get_state_from_address, node_stats

ROLES = {
    "ray::ServeReplica:qbt:qbt_ingress": "ingress",
    "ray::ProxyActor": "proxy",
    "ray::ServeController": "controller",
    "ray::Dispatcher": "dispatcher",
    "ray::DatasetRegistry": "registry",
}


@dataclass(frozen=True)
class Proc:
    pid: int
    role: str  # ingress, proxy, controller, dispatcher, registry, worker
    uss: int
    refs_in_scope: int
    owned_objects: int


def _role(title: str) -> str | None:
    for prefix, role in ROLES.items():
        if title.startswith(prefix):
            return role
    if title.startswith(("ray::IDLE", "ray::run_specs_task")):
        return "worker"
    return None


def snapshot() -> list[Proc]:
    """Every worker and actor process of this Ray node that QBT uses."""
    node = next(n for n in ray.nodes() if n["Alive"])
    reply = node_stats(node["NodeManagerAddress"], node["NodeManagerPort"],
                       include_memory_info=False)
    procs = []
    for stats in reply.core_workers_stats:
        try:
            process = psutil.Process(stats.pid)
            role = _role(" ".join(process.cmdline()))
            if role is None:
                continue
            uss = process.memory_full_info().uss
        except psutil.Error:
            continue
        procs.append(Proc(pid=stats.pid, role=role, uss=uss,
                          refs_in_scope=stats.num_object_refs_in_scope,
                          owned_objects=stats.num_owned_objects))
    return procs


def by_role(procs: list[Proc]) -> dict[str, list[Proc]]:
    roles: dict[str, list[Proc]] = defaultdict(list)
    for proc in procs:
        roles[proc.role].append(proc)
    return dict(roles)


def object_store_bytes() -> int:
    state = get_state_from_address(ray.get_runtime_context().gcs_address)
    return int(get_memory_info_reply(state).store_stats.object_store_bytes_used)
