"""PostgreSQL connections: the configured URL, or the embedded server under `.qbt/`."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg

from runtime.config import Settings

EMBEDDED_DATABASE = "qbt"


class DatabaseUnavailableError(RuntimeError):
    """No database is configured and none can be started."""


def embedded_pgdata(home: Path) -> Path:
    """The data folder of the embedded server of `home`."""
    return home.absolute() / "postgres"


def _pgserver() -> Any:
    try:
        import pgserver
    except ImportError:
        raise DatabaseUnavailableError(
            "QBT_DATABASE_URL is unset and the embedded server is not installed: "
            "pip install 'qbt[embedded]' or set QBT_DATABASE_URL"
        ) from None
    return pgserver


def start_embedded_postgres(home: Path) -> str:
    """Start (or reuse) the embedded PostgreSQL under `home`/postgres; return its URL."""
    pgserver = _pgserver()
    home.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(embedded_pgdata(home), cleanup_mode=None)
    admin_url = server.get_uri("postgres")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (EMBEDDED_DATABASE,)
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{EMBEDDED_DATABASE}"')
    return server.get_uri(EMBEDDED_DATABASE)


def embedded_postgres_running(pgdata: Path) -> bool:
    return (pgdata / "postmaster.pid").exists()


def stop_embedded_postgres(pgdata: Path) -> bool:
    """Stop the embedded server of `pgdata` (fast shutdown); False when it is not running."""
    if not embedded_postgres_running(pgdata):
        return False
    pg_ctl = _pgserver().pg_ctl  # made when pgserver is imported
    system_user = "pgserver" if os.geteuid() == 0 else None  # the user pgserver runs as
    pg_ctl(["-w", "stop", "-m", "fast"], pgdata=pgdata, user=system_user)
    return True


@contextmanager
def database_for_command(settings: Settings) -> Iterator[str]:
    """The database URL for one CLI command: the configured one, else the embedded server,
    which is stopped again afterwards if this command had to start it (a `qbt up` that
    started it keeps it)."""
    if settings.database_url:
        yield settings.database_url
        return
    pgdata = embedded_pgdata(settings.home)
    was_running = embedded_postgres_running(pgdata)
    url = start_embedded_postgres(settings.home)
    try:
        yield url
    finally:
        if not was_running:
            stop_embedded_postgres(pgdata)


def resolve_database_url(settings: Settings) -> str:
    """The URL to use: `QBT_DATABASE_URL`, else the embedded server (started if needed)."""
    if settings.database_url:
        return settings.database_url
    return start_embedded_postgres(settings.home)
