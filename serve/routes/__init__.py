"""Thin routes: HTTP in, one Service call, a `...Public` model out."""

from __future__ import annotations

from fastapi import APIRouter

from serve.routes import backtests, catalog, picks, reports, sweeps


def api_router() -> APIRouter:
    router = APIRouter()
    router.include_router(catalog.health)
    for part in (catalog.router, backtests.router, sweeps.router, picks.router,
                 reports.router):
        router.include_router(part, prefix="/v1")
    return router
