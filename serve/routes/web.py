"""The web app at `/`, its files at `/static/...`, and the OpenAPI page at `/docs` with
Swagger UI's files from the fastapi-offline package (an air-gapped network sees a working
page). Every answer carries the app's Content-Security-Policy (serve.api)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse, HTMLResponse, Response

from serve.web.assets import MEDIA, STATIC, resolve, swagger_folder

router = APIRouter(include_in_schema=False)
NOT_FOUND = Response('{"error": {"code": "not_found", "message": "No such file", '
                     '"field": null}}', status_code=404, media_type="application/json")


def _file(path: Path | None) -> Response:
    if path is None:
        return NOT_FOUND
    media = MEDIA.get(path.suffix.lower(), "application/octet-stream")
    return FileResponse(path, media_type=media, headers={"Cache-Control": "no-cache"})


@router.get("/")
async def index() -> Response:
    return _file(resolve(STATIC, "index.html"))


@router.get("/static/swagger/{relative:path}")
async def swagger_file(relative: str) -> Response:
    return _file(resolve(swagger_folder(), relative))


@router.get("/static/{relative:path}")
async def static_file(relative: str) -> Response:
    return _file(resolve(STATIC, relative))


@router.get("/docs")
async def docs() -> HTMLResponse:
    return HTMLResponse((STATIC / "docs.html").read_text())
