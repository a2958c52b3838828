"""A real `qbt up` deployment for the reliability tests: its own Ray head (dashboard and token
auth on, free ports), over a throwaway PostgreSQL server that the tests may stop and start.

The PostgreSQL server is pgserver's (socket only, no TCP port), never the machine's shared one.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from dataprep.schema import migrate
from dataprep.warehouse import load_demo
from serve.keys import create_key
from tests.ports import free_port
from tests.reliability.ledger import install_audit

REPO = Path(__file__).resolve().parents[2]
DEMO = {"n_stocks": 60, "start": date(2021, 1, 1), "end": date(2023, 12, 31), "seed": 5}


class ThrowawayPostgres:
    """pgserver's PostgreSQL in `folder`, with stop() and start() for outage tests."""

    def __init__(self, folder: Path) -> None:
        import pgserver

        self.folder = folder
        self._server = pgserver.get_server(folder, cleanup_mode="stop")
        self.url = self._server.get_uri("postgres")
        self.socket_dir = parse_qs(urlsplit(self.url).query)["host"][0]
        self._user = "pgserver" if os.geteuid() == 0 else None  # pgserver runs as that user
        self._restarted = False

    def create_database(self, name: str) -> str:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        params = conninfo_to_dict(self.url)
        params["dbname"] = name
        return make_conninfo(**params)

    def _pg_ctl(self, *args: str) -> None:
        from pgserver import pg_ctl

        pg_ctl(["-w", *args], pgdata=self.folder, user=self._user, timeout=60)

    def running(self) -> bool:
        return (self.folder / "postmaster.pid").exists()

    def stop(self) -> None:
        self._pg_ctl("stop", "-m", "fast")

    def start(self) -> None:
        """Start again as pgserver does: no TCP listener, the same socket folder."""
        self._pg_ctl("-o", '-h ""', "-o", f"-k {self.socket_dir}", "-l",
                     str(self.folder / "log"), "start")
        self._restarted = True

    def close(self) -> None:
        """Stop the server (pgserver stops the one it started; a restarted one is ours)."""
        if self._restarted and self.running():
            self.stop()
        self._server.cleanup()


def qbt(*args: str, env: dict[str, str], timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cluster.cli", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=timeout)


@dataclass
class Deployment:
    env: dict[str, str]
    database_url: str
    postgres: ThrowawayPostgres
    folder: Path
    keys: dict[str, str] = field(default_factory=dict)
    up_output: str = ""  # what `qbt up` printed

    @property
    def http_port(self) -> int:
        return int(self.env["QBT_HTTP_PORT"])

    @property
    def dashboard_port(self) -> int:
        return int(self.env["QBT_DASHBOARD_PORT"])

    @property
    def gcs_port(self) -> int:
        return int(self.env["QBT_RAY_GCS_PORT"])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dashboard(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    def client(self, who: str, **kwargs: Any) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.keys[who]}"}
        return httpx.Client(base_url=self.url, headers=headers, timeout=70.0, **kwargs)

    def up(self) -> subprocess.CompletedProcess:
        return qbt("up", "--no-example", env=self.env)

    def down(self) -> subprocess.CompletedProcess:
        return qbt("down", env=self.env, timeout=180)

    def stop_later(self) -> Callable[[], None]:
        """Start `qbt down` now (it spends most of its ~20 s waiting for Ray's daemons to
        exit) and answer the call that waits for it, then stops PostgreSQL and removes the
        folder; the tests go on meanwhile."""
        down = None
        if "QBT_HOME" in self.env:
            down = subprocess.Popen([sys.executable, "-m", "cluster.cli", "down"], cwd=REPO,
                                    env=self.env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)

        def finish() -> None:
            try:
                if down is not None:
                    down.wait(timeout=180)
            finally:
                self.postgres.close()
                shutil.rmtree(self.folder, ignore_errors=True)

        return finish

    def sql(self, statement: str, params: Any = ()) -> list[tuple[Any, ...]]:
        with psycopg.connect(self.database_url, autocommit=True) as conn:
            cur = conn.execute(statement, params)
            return cur.fetchall() if cur.description else []


def start_deployment(folder: Path) -> Deployment:
    """`qbt up --no-example` over a 60-stock demo market in a throwaway PostgreSQL under
    `folder` (cleaned up here if the start fails; else by `Deployment.stop_later`)."""
    (folder / "pg").mkdir()
    postgres = ThrowawayPostgres(folder / "pg")
    env = {k: v for k, v in os.environ.items() if k not in ("QBT_RAY_ADDRESS", "RAY_ADDRESS")}
    deployment = Deployment(env=env, database_url="", postgres=postgres, folder=folder)
    try:
        deployment.database_url = postgres.create_database("qbt")
        migrate(deployment.database_url)
        load_demo(deployment.database_url, **DEMO)  # type: ignore[arg-type]
        install_audit(deployment.database_url)
        env.update(
            QBT_DATABASE_URL=deployment.database_url, QBT_HOME=str(folder / "home"),
            QBT_RAY_GCS_PORT=str(free_port()), QBT_DASHBOARD_PORT=str(free_port()),
            QBT_METRICS_PORT=str(free_port()), QBT_HTTP_PORT=str(free_port()),
            QBT_DASHBOARD_AGENT_PORT=str(free_port()),  # the test session's Ray has 52365
            QBT_OBJECT_STORE_MEMORY=str(200 * 1024**2),
        )
        started = deployment.up()
        assert started.returncode == 0, started.stdout[-2000:] + started.stderr[-3000:]
        deployment.up_output = started.stdout
        deployment.keys = {
            who: create_key(deployment.database_url, owner=who)
            for who in ("alice", "bob", "carol")
        }
    except BaseException:
        deployment.stop_later()()
        raise
    return deployment
