"""The web app's files: only those under `static/` (and Swagger UI's, from the
fastapi-offline package, for /docs), never a path outside them."""

from __future__ import annotations

from pathlib import Path

STATIC = Path(__file__).resolve().parent / "static"
ECHARTS = "vendor/echarts-6.1.0.min.js"

# Everything from the app's own origin; nothing inline, no eval, no other host.
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
       "frame-ancestors 'none'; form-action 'self'")

MEDIA = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
         ".css": "text/css; charset=utf-8", ".txt": "text/plain; charset=utf-8",
         ".png": "image/png", ".svg": "image/svg+xml", ".map": "application/json"}


def swagger_folder() -> Path:
    import fastapi_offline

    return Path(fastapi_offline.__file__).resolve().parent / "static"


def resolve(root: Path, relative: str) -> Path | None:
    """`root`/`relative` if it is a file inside `root` (no `..`, no links out), else None."""
    if not relative or "\x00" in relative:
        return None
    candidate = (root / relative).resolve()
    try:
        candidate.relative_to(root.resolve())
    except ValueError:
        return None
    return candidate if candidate.is_file() else None


def read_static(relative: str) -> str:
    path = resolve(STATIC, relative)
    if path is None:
        raise FileNotFoundError(relative)
    return path.read_text(encoding="utf-8")
