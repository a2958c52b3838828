"""A real QBT service for one test module: its own PostgreSQL database with a small demo
market, the Serve app on a free port of the session's Ray, three API keys."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

import httpx
import psycopg
import ray

from dataprep.schema import migrate
from dataprep.warehouse import load_demo
from runtime.config import Settings
from runtime.names import NAMESPACE, SERVICE_ACTORS
from serve.keys import create_key
from serve.options import ServiceOptions
from tests.conftest import create_database, drop_database
from tests.ports import free_port

DEMO = {"n_stocks": 60, "start": date(2021, 1, 1), "end": date(2022, 12, 31), "seed": 11}
ACTORS = tuple((name, NAMESPACE) for name in SERVICE_ACTORS)

# A one-year backtest that fits the demo market.
SPEC: dict[str, Any] = {
    "start": "2021-06-01",
    "end": "2022-05-31",
    "ranking": [{"factor": "PBR", "ascending": True}, {"factor": "MOM_3M"}],
    "top_n": 10,
}


@dataclass
class Deployed:
    url: str
    database_url: str
    keys: dict[str, str]

    def client(self, who: str | None = "alice", **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.keys[who]}"} if who else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=70.0, **kwargs)

    def async_client(self, who: str) -> httpx.AsyncClient:
        headers = {"Authorization": f"Bearer {self.keys[who]}"}
        return httpx.AsyncClient(base_url=self.url, headers=headers, timeout=70.0)

    def rows(self) -> dict[str, int]:
        """Rows in the service tables (to show a refused request wrote nothing)."""
        with psycopg.connect(self.database_url) as conn:
            return {
                table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # type: ignore[index]
                for table in ("runs", "sweeps")
            }

    def sql(self, statement: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            cur = conn.execute(statement, params)
            return cur.fetchall() if cur.description else []


def kill_actors() -> None:
    """Stop the detached actors, and wait until their names are free for the next module."""
    for name, namespace in ACTORS:
        try:
            ray.kill(ray.get_actor(name, namespace=namespace), no_restart=True)
        except ValueError:
            continue
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            try:
                ray.get_actor(name, namespace=namespace)
            except ValueError:
                break
            time.sleep(0.1)


@contextmanager
def running_service(server_url: str, **overrides: Any) -> Iterator[Deployed]:
    """The app on a fresh demo database; `overrides` are Settings or ServiceOptions fields."""
    from ray import serve

    from serve.app import base_url, deploy

    database_url = create_database(server_url, prefix="qbt_serve")
    try:
        migrate(database_url)
        load_demo(database_url, **DEMO)  # type: ignore[arg-type]
        cluster_wide = {k: v for k, v in overrides.items() if k in Settings.model_fields}
        settings = Settings(
            database_url=database_url, http_port=free_port(), panel_memory_budget=10**9,
            **cluster_wide,
        )
        options = ServiceOptions(**{k: v for k, v in overrides.items() if k not in cluster_wide})
        kill_actors()  # left over from an earlier module that failed to clean up
        deploy(settings, database_url, options=options)
        keys = {
            "alice": create_key(database_url, owner="alice"),
            "bob": create_key(database_url, owner="bob"),
            "root": create_key(database_url, owner="root", admin=True),
        }
        yield Deployed(url=base_url(settings), database_url=database_url, keys=keys)
    finally:
        serve.shutdown()
        kill_actors()
        drop_database(server_url, database_url)


def wait_all_ended(
    client: httpx.Client, ids: list[str], *, timeout_s: float = 60.0
) -> dict[str, dict[str, Any]]:
    """Each run's final body (GET ?wait= until it ends)."""
    deadline, ended = time.monotonic() + timeout_s, {}
    for ident in ids:
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"run {ident} did not end in {timeout_s} s"
            body = client.get(f"/v1/backtests/{ident}", params={"wait": min(left, 30)}).json()
            if body["status"] in ("done", "failed", "cancelled"):
                ended[ident] = body
                break
    return ended
