"""Serve's application builder for `serve run` and `serve deploy`.

    serve run serve.builder:build_app                       # QBT_* environment, port 8000
    serve run serve.builder:build_app owner_run_limit=50    # any ServiceOptions field
    serve deploy serve-config.yaml                         # import_path: serve.builder:build_app

Settings are read here, when Serve builds the application, never at import time.
`database_url=...` overrides QBT_DATABASE_URL.
"""

from __future__ import annotations

from typing import Any

from ray import serve

from runtime.config import Settings
from runtime.database import resolve_database_url
from serve.app import build_application
from serve.options import ServiceOptions


def build_app(args: dict[str, Any]) -> serve.Application:
    overrides = dict(args)
    settings = Settings.from_env()
    database_url = overrides.pop("database_url", None) or resolve_database_url(settings)
    options = ServiceOptions.model_validate(overrides)
    return build_application(settings=settings, database_url=database_url, options=options)


app = build_app  # `serve run serve.builder:app` works too (the same builder)
