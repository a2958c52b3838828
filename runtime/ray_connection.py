"""One place that connects to Ray: the configured cluster, the head `qbt up` started, or a
local Ray for this process alone."""

from __future__ import annotations

import os
import socket
from typing import Any

import ray

from runtime.config import Settings
from runtime.names import NAMESPACE
from runtime.state import head_alive, read_state


def detached_actor_options(name: str, **extra: Any) -> dict[str, Any]:
    """Options of one of QBT's named service actors (registry, dispatcher): one per cluster in
    namespace NAMESPACE, created by the first caller and found by the others, outliving its
    creator, restarted by Ray whenever its process dies (its calls retried), holding no CPU."""
    return {"name": name, "namespace": NAMESPACE, "lifetime": "detached", "get_if_exists": True,
            "max_restarts": -1, "max_task_retries": -1, "num_cpus": 0, **extra}


class RayConnectionError(RuntimeError):
    """The configured Ray cluster cannot be reached."""


def cluster_address(settings: Settings) -> str | None:
    """`QBT_RAY_ADDRESS`, else `RAY_ADDRESS` (set inside Ray jobs), else the head of `qbt up`."""
    if settings.ray_address or os.environ.get("RAY_ADDRESS"):
        return settings.ray_address or os.environ.get("RAY_ADDRESS")
    state = read_state(settings.home)
    if state.head_pgid is not None and not head_alive(state.head_pgid):
        return None  # a head `qbt up` started has stopped: ignore the stale record
    return state.ray_address


def check_reachable(address: str, *, timeout_s: float = 3.0) -> None:
    """Fail fast (Ray itself retries for minutes) when a host:port address does not answer."""
    host, _, port = address.removeprefix("ray://").rpartition(":")
    if not host or not port.isdigit():
        return  # "auto" and other forms: let Ray resolve them
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as err:
        raise RayConnectionError(
            f"cannot reach the Ray cluster at {address}: {err.strerror or err}"
        ) from None


def connect_ray(settings: Settings, *, log_to_driver: bool = True) -> None:
    """Join the cluster (see `cluster_address`), else start a local Ray. Idempotent."""
    if ray.is_initialized():
        return
    address = cluster_address(settings)
    if address:
        check_reachable(address)
        try:
            ray.init(address=address, namespace=NAMESPACE, log_to_driver=log_to_driver)
        except (ConnectionError, TimeoutError, RuntimeError) as err:
            raise RayConnectionError(f"cannot reach the Ray cluster at {address}: {err}") from None
        return
    ray.init(
        address="local",  # a new Ray for this process, never a stale one from /tmp/ray
        namespace=NAMESPACE,
        object_store_memory=settings.object_store_memory,
        include_dashboard=False,
        log_to_driver=log_to_driver,
    )
