"""Data preparation: PostgreSQL -> 54 factors -> one FactorPanel per data version.

The names below load lazily: a Ray worker that only receives a FactorPanel imports
`dataprep.panel` (numpy) without pulling in polars and psycopg.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from dataprep.panel import FactorPanel, UnknownFactorError

_LAZY = {
    "BuildReport": "dataprep.build",
    "build_panel": "dataprep.build",
    "build_panel_timed": "dataprep.build",
    "DateRangeError": "dataprep.loaders",
    "EmptyDatabaseError": "dataprep.loaders",
    "PanelBuildError": "dataprep.loaders",
}

__all__ = ["FactorPanel", "UnknownFactorError", *_LAZY]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'dataprep' has no attribute {name!r}")
