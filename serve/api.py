"""create_api: the FastAPI application of one ingress replica, around its Service."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from serve import handlers
from serve.headers import SecurityHeaders
from serve.limits import BodySizeLimit
from serve.routes import api_router, web
from serve.service import Service

API_VERSION = "1"
DESCRIPTION = """\
Factor backtests on Korean equities (KOSPI + KOSDAQ), run on a Ray cluster.

Every `/v1` route needs `Authorization: Bearer <key>` (`qbt keys create --owner NAME`).
A submitted run is stored before the answer and runs from a durable queue; poll its
`Location` or pass `?wait=SECONDS`. Errors are `{"error": {"code", "message", "field"}}`.
"""


def create_api(service: Service) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await service.start()
        try:
            yield
        finally:
            await service.close()

    app = FastAPI(
        title="QBT",
        version=API_VERSION,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # serve.routes.web serves /docs with Swagger UI's files from a package
        redoc_url=None,
    )
    app.state.service = service
    app.include_router(api_router())
    app.include_router(web.router)
    handlers.install(app)
    app.add_middleware(BodySizeLimit, max_bytes=service.options.max_body_bytes)
    app.add_middleware(SecurityHeaders)
    return app
