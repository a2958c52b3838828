"""Shared fixtures: a real PostgreSQL server (one fresh database per test) and one Ray."""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from dataprep.schema import migrate

# QBT keeps Ray's token authentication on, and `qbt` commands run in-process by tests set it:
# set it before any Ray starts here, so the test session's Ray and its drivers agree.
os.environ.setdefault("RAY_AUTH_MODE", "token")

LOCAL_SERVER = "postgresql://postgres@127.0.0.1:5432/test"


def _answers(url: str) -> bool:
    try:
        with psycopg.connect(url, connect_timeout=3):
            return True
    except psycopg.Error:
        return False


@pytest.fixture(scope="session")
def server_url() -> Iterator[str]:
    """A PostgreSQL server for tests: QBT_TEST_DATABASE_URL, the local one, or an embedded one."""
    configured = os.environ.get("QBT_TEST_DATABASE_URL")
    if configured:
        yield configured
        return
    if _answers(LOCAL_SERVER):
        yield LOCAL_SERVER
        return
    import pgserver

    with tempfile.TemporaryDirectory(prefix="qbt-pg-") as folder:
        server = pgserver.get_server(Path(folder), cleanup_mode="stop")
        yield server.get_uri("postgres")
        server.cleanup()


def create_database(server_url: str, *, prefix: str = "qbt_t") -> str:
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    params = conninfo_to_dict(server_url)
    params["dbname"] = name
    return make_conninfo(**params)


def drop_database(server_url: str, url: str) -> None:
    name = conninfo_to_dict(url)["dbname"]
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def empty_database_url(server_url: str) -> Iterator[str]:
    """A brand-new database with no tables."""
    url = create_database(server_url)
    yield url
    drop_database(server_url, url)


@pytest.fixture
def database_url(empty_database_url: str) -> str:
    """A brand-new database with the schema applied."""
    migrate(empty_database_url)
    return empty_database_url


@pytest.fixture(scope="session")
def ray_session() -> Iterator[None]:
    """One local Ray for the whole test session, with a small object store."""
    import ray

    from cluster.head import SERVE_ENVIRONMENT

    for name, value in SERVE_ENVIRONMENT.items():  # the raylet and its workers inherit them
        os.environ.setdefault(name, value)
    ray.init(
        address="local",  # never join a cluster someone else started on this machine
        num_cpus=2,
        object_store_memory=300 * 1024**2,
        include_dashboard=False,
        namespace="qbt-tests",
        log_to_driver=False,
    )
    yield
    ray.shutdown()
