"""One place that connects to Ray: the configured cluster, or a local head."""

from __future__ import annotations

import os

import ray

from cluster.config import Settings

NAMESPACE = "qbt"


def connect_ray(settings: Settings, *, log_to_driver: bool = True) -> None:
    """Join `QBT_RAY_ADDRESS` (or a cluster this process already belongs to), else start
    a local Ray. Idempotent."""
    if ray.is_initialized():
        return
    address = settings.ray_address or os.environ.get("RAY_ADDRESS")
    if address:
        ray.init(address=address, namespace=NAMESPACE, log_to_driver=log_to_driver)
        return
    ray.init(
        namespace=NAMESPACE,
        object_store_memory=settings.object_store_memory,
        include_dashboard=False,
        log_to_driver=log_to_driver,
    )
