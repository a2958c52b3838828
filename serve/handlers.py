"""The one place errors become HTTP: every error answer is
`{"error": {"code": ..., "message": ..., "field": ...}}`, never a traceback."""

from __future__ import annotations

import logging
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from serve.errors import (
    AuthenticationError,
    ConflictError,
    ForbiddenError,
    IdempotencyConflictError,
    InvalidInputError,
    MaybeCreatedError,
    NotFoundError,
    PayloadTooLargeError,
    QuotaExceededError,
    ServiceError,
    UnavailableError,
)

log = logging.getLogger(__name__)

STATUS: dict[type[ServiceError], int] = {
    InvalidInputError: 422,
    NotFoundError: 404,
    ConflictError: 409,
    IdempotencyConflictError: 409,
    AuthenticationError: 401,
    ForbiddenError: 403,
    PayloadTooLargeError: 413,
    QuotaExceededError: 429,
    UnavailableError: 503,
}
HTTP_CODES = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}
REQUEST_PARTS = ("body", "query", "path", "header", "cookie")
HTTP_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def error_response(
    status: int,
    *,
    code: str,
    message: str,
    field: str | None = None,
    headers: dict[str, str] | None = None,
    ident: str | None = None,
) -> JSONResponse:
    error = {"code": code, "message": _utf8(message), "field": _utf8(field)}
    if ident is not None:
        error["id"] = ident
    return JSONResponse({"error": error}, status_code=status, headers=headers)


def _utf8(text: str | None) -> str | None:
    """The text with anything UTF-8 cannot encode (an unpaired surrogate echoed from the input,
    e.g. "\\ud800") escaped, so the error answer itself cannot fail."""
    return None if text is None else text.encode("utf-8", "backslashreplace").decode("utf-8")


def field_name(loc: tuple[Any, ...]) -> str | None:
    """('body', 'ranking', 0, 'factor') -> 'ranking[0].factor' (the SpecError spelling)."""
    parts = loc[1:] if loc and loc[0] in REQUEST_PARTS else loc
    name = ""
    for part in parts:
        name += f"[{part}]" if isinstance(part, int) else (f".{part}" if name else str(part))
    return name or None


def _shown(value: Any) -> str:
    text = f'"{value}"' if isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _service_error(_request: Request, err: Exception) -> JSONResponse:
    assert isinstance(err, ServiceError)
    status = next(code for kind, code in STATUS.items() if isinstance(err, kind))
    headers = {}
    if isinstance(err, QuotaExceededError | UnavailableError):
        headers["Retry-After"] = str(err.retry_after_s)
    if isinstance(err, AuthenticationError):
        headers["WWW-Authenticate"] = "Bearer"
    return error_response(
        status, code=err.code, message=err.message, field=err.field, headers=headers,
        ident=err.ident if isinstance(err, MaybeCreatedError) else None,
    )


def _validation_error(_request: Request, err: Exception) -> JSONResponse:
    assert isinstance(err, RequestValidationError)
    first = err.errors()[0]
    if first["type"] == "json_invalid":
        problem = first.get("ctx", {}).get("error", first["msg"])
        return error_response(
            400,
            code="malformed_json",
            message=f"The body is not valid JSON: {problem}",
            field="body",
        )
    field = field_name(tuple(first["loc"]))
    if first["type"] == "missing":
        message = f"{field or 'The body'} is required"
    else:
        message = f"Got {_shown(first.get('input'))} for {field or 'the body'}: {first['msg']}"
    more = len(err.errors()) - 1
    if more:
        message += f" (and {more} more problem{'s' if more > 1 else ''})"
    return error_response(422, code="invalid", message=message, field=field)


def _http_error(request: Request, err: Exception) -> JSONResponse:
    assert isinstance(err, StarletteHTTPException)
    headers = dict(err.headers or {})
    if err.status_code == 405:  # Starlette names only the first route's methods
        headers["Allow"] = _allowed_methods(request)
    return error_response(
        err.status_code,
        code=HTTP_CODES.get(err.status_code, "http_error"),
        message=str(err.detail),
        headers=headers,
    )


def _allowed_methods(request: Request) -> str:
    """Every method some route of this path takes (the Allow header of a 405)."""
    routes = request.app.router.routes
    return ", ".join(
        method for method in HTTP_METHODS
        if any(r.matches({**request.scope, "method": method})[0] == Match.FULL for r in routes)
    )


def _unexpected(request: Request, err: Exception) -> JSONResponse:
    reference = uuid.uuid4().hex[:12]
    log.exception("unhandled error %s on %s %s", reference, request.method, request.url.path)
    return error_response(
        500, code="internal", message=f"Internal error (reference {reference})"
    )


def install(app: FastAPI) -> None:
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _unexpected)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI entries documenting the error body for these statuses."""
    from serve.models import ErrorBody

    return {status: {"model": ErrorBody} for status in statuses}
