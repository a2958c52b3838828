"""The Serve application: one FastAPI ingress deployment (no CPU reserved), plus the
detached DatasetRegistry and Dispatcher actors it needs.

Three ways to start it, one builder underneath (`build_application`):
- `qbt up` calls `deploy(settings, database_url)`;
- `serve run serve.builder:build_app` (import path, arguments as key=value);
- `serve deploy serve-config.yaml` (a Serve config file whose import_path is the same builder).

Each replica makes sure the registry and the dispatcher exist (`get_if_exists`), so every way
ends up with the same actors, and a replica started after a crash finds them again.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import ray
from fastapi import FastAPI
from ray import serve

from runtime.config import Settings
from runtime.names import SERVE_APP
from serve.options import ServiceOptions

HEALTH_TIMEOUT_S = 120.0


@serve.deployment(name="qbt_ingress", ray_actor_options={"num_cpus": 0})
@serve.ingress()
class Ingress:
    """One ingress replica: its own Service (pool, key cache, waiters, data-version index)."""

    def __init__(self, *, database_url: str, settings: Settings, options: ServiceOptions) -> None:
        from serve.service import Service

        registry = ensure_service_actors(database_url, settings=settings, options=options)
        self._service = Service(database_url=database_url, options=options, registry=registry,
                                max_sweep_variants=settings.max_sweep_variants)

    def __serve_build_asgi_app__(self) -> FastAPI:
        from serve.api import create_api

        return create_api(self._service)


def ensure_service_actors(
    database_url: str, *, settings: Settings, options: ServiceOptions
) -> Any:
    """The cluster's DatasetRegistry and Dispatcher (created by the first caller, found by
    the others); answers the registry."""
    from dataprep.registry import ensure_registry
    from serve.dispatcher import ensure_dispatcher

    registry = ensure_registry(
        database_url,
        memory_budget=settings.panel_memory_budget,
        refresh_interval_s=settings.refresh_interval_s,
    )
    ensure_dispatcher(database_url, options=options, batch_size=settings.sweep_batch_size,
                      max_sweep_variants=settings.max_sweep_variants)
    return registry


def build_application(
    *, settings: Settings, database_url: str, options: ServiceOptions
) -> serve.Application:
    """The bound application (nothing starts until Serve runs it)."""
    return Ingress.options(  # type: ignore[attr-defined]
        num_replicas=options.replicas,
        max_ongoing_requests=options.max_ongoing_requests,
        max_queued_requests=options.max_queued_requests,
        logging_config=logging_config(options),
    ).bind(database_url=database_url, settings=settings, options=options)


def logging_config(options: ServiceOptions) -> dict[str, Any]:
    return {"enable_access_log": options.access_log}


def http_options(settings: Settings, options: ServiceOptions) -> dict[str, Any]:
    return {
        "host": settings.http_host,
        "port": settings.http_port,
        "request_timeout_s": options.request_timeout_s,
    }


def deploy(
    settings: Settings, database_url: str, *, options: ServiceOptions | None = None
) -> None:
    """Start Serve on the cluster of `settings`, create the registry (its panel built) and the
    dispatcher, run the app and return once /healthz answers."""
    from runtime.ray_connection import connect_ray

    options = options or ServiceOptions()
    connect_ray(settings, log_to_driver=False)
    registry = ensure_service_actors(database_url, settings=settings, options=options)
    ray.get(registry.get.remote())  # build the panel before the first request needs it
    serve.start(http_options=http_options(settings, options),
                logging_config=logging_config(options))
    serve.run(
        build_application(settings=settings, database_url=database_url, options=options),
        name=SERVE_APP,
        route_prefix="/",
    )
    wait_healthy(base_url(settings))


def base_url(settings: Settings) -> str:
    host = "127.0.0.1" if settings.http_host in ("0.0.0.0", "::") else settings.http_host
    return f"http://{host}:{settings.http_port}"


def wait_healthy(
    url: str, *, timeout_s: float = HEALTH_TIMEOUT_S, path: str = "/healthz"
) -> None:
    """Return once `url` + `path` answers 200; TimeoutError after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(f"{url}{path}", timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url}{path} did not answer within {timeout_s:.0f} s")
        time.sleep(0.25)
