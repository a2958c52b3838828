"""PostgreSQL connections: the configured URL, or the embedded server under `.qbt/`."""

from __future__ import annotations

from pathlib import Path

import psycopg

from cluster.config import Settings

EMBEDDED_DATABASE = "qbt"


class DatabaseUnavailableError(RuntimeError):
    """No database is configured and none can be started."""


def start_embedded_postgres(home: Path) -> str:
    """Start (or reuse) the embedded PostgreSQL under `home`/postgres; return its URL."""
    try:
        import pgserver
    except ImportError:
        raise DatabaseUnavailableError(
            "QBT_DATABASE_URL is unset and the embedded server is not installed: "
            "pip install 'qbt[embedded]' or set QBT_DATABASE_URL"
        ) from None
    home.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(home.absolute() / "postgres", cleanup_mode=None)
    admin_url = server.get_uri("postgres")
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (EMBEDDED_DATABASE,)
        ).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{EMBEDDED_DATABASE}"')
    return server.get_uri(EMBEDDED_DATABASE)


def resolve_database_url(settings: Settings) -> str:
    """The URL to use: `QBT_DATABASE_URL`, else the embedded server (started if needed)."""
    if settings.database_url:
        return settings.database_url
    return start_embedded_postgres(settings.home)


def connect(database_url: str, *, autocommit: bool = False) -> psycopg.Connection:
    return psycopg.connect(database_url, autocommit=autocommit)
