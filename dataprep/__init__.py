"""Data preparation: PostgreSQL -> 54 factors -> one FactorPanel per data version."""

from __future__ import annotations

from dataprep.build import BuildTimings, build_panel, build_panel_timed
from dataprep.loaders import DateRangeError, EmptyDatabaseError, PanelBuildError
from dataprep.panel import FactorPanel, UnknownFactorError

__all__ = [
    "BuildTimings",
    "DateRangeError",
    "EmptyDatabaseError",
    "FactorPanel",
    "PanelBuildError",
    "UnknownFactorError",
    "build_panel",
    "build_panel_timed",
]
