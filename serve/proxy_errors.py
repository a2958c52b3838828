"""What Serve's HTTP proxy answers when no replica could: QBT's JSON error with Retry-After.

When an ingress replica dies with requests in flight, Serve's proxy gets an ActorDiedError,
sends nothing, and uvicorn answers a plain-text `500 Internal Server Error`
(ray/serve/_private/http_util.py `get_http_response_status`: only 408, 429 and 503 get a
body, as text). Serve runs Starlette middlewares in the proxy from the function named by
`RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH` (set in the head's environment,
`cluster.head.SERVE_ENVIRONMENT`). This one:

- answers a request the proxy could not get answered (nothing sent back, or an exception)
  with `{"error": {"code": "unavailable", ...}}`, status 503 and `Retry-After`;
- rewrites the proxy's own plain-text errors (backpressure 503, timeout 408) into the same
  JSON, with Retry-After;
- gives a POST that creates something (a backtest, a sweep, a factor report) an
  Idempotency-Key when the client sent none, and names it in the error: the replica may have
  committed before it died, and a retry with that key answers what it created instead of
  creating it twice. Responses the app started are passed through untouched.

Pure ASGI (no Ray, no QBT imports): it runs inside the proxy actor.
"""

from __future__ import annotations

import json
import logging
import uuid
from typing import Any

from starlette.middleware import Middleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("ray.serve")

RETRY_AFTER_S = 2
IDEMPOTENCY_HEADER = b"idempotency-key"
PROXY_ERRORS = frozenset({408, 429, 500, 502, 503, 504})  # the proxy's own, as plain text
CREATED = {"/v1/backtests": "backtest", "/v1/sweeps": "sweep",  # POSTs that create: path
           "/v1/factor-reports": "factor report"}  # -> what they create
CREATING_PATHS = frozenset(CREATED)


def proxy_middlewares() -> list[Middleware]:
    """The callback Serve's proxy calls (RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH)."""
    return [Middleware(ReplicaLossMiddleware)]


class ReplicaLossMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        key = None
        if scope["method"] == "POST" and scope["path"].rstrip("/") in CREATING_PATHS:
            scope, key = with_idempotency_key(scope)
        started = False
        held: Message | None = None  # a plain-text error start of the proxy's own
        held_body = b""

        async def guarded_send(message: Message) -> None:
            nonlocal started, held, held_body
            if message["type"] == "http.response.start" and not started:
                if is_proxy_error(message):
                    held = message
                    return
                started = True
            elif message["type"] == "http.response.body" and held is not None:
                held_body += message.get("body", b"")
                if message.get("more_body", False):
                    return
                status, text = held["status"], held_body.decode("utf-8", "replace").strip()
                held = None
                started = True
                for part in error_messages(status, scope=scope, key=key, detail=text):
                    await send(part)
                return
            await send(message)

        try:
            await self.app(scope, receive, guarded_send)
        except Exception:
            if started:
                raise
            log.warning("no replica answered %s %s", scope["method"], scope["path"],
                        exc_info=True)
        if not started:
            for part in error_messages(503, scope=scope, key=key, detail=None):
                await send(part)


def with_idempotency_key(scope: Scope) -> tuple[Scope, str]:
    """The scope with an Idempotency-Key header (the client's, else a new one) and the key."""
    headers: list[tuple[bytes, bytes]] = list(scope.get("headers", []))
    for name, value in headers:
        if name.lower() == IDEMPOTENCY_HEADER:
            return scope, value.decode("latin-1")
    key = f"proxy-{uuid.uuid4()}"
    return {**scope, "headers": [*headers, (IDEMPOTENCY_HEADER, key.encode())]}, key


def is_proxy_error(message: Message) -> bool:
    if message["status"] not in PROXY_ERRORS:
        return False
    types = [v for k, v in message.get("headers", []) if k.lower() == b"content-type"]
    return bool(types) and types[0].startswith(b"text/plain")


def error_body(status: int, *, scope: Scope, key: str | None, detail: str | None) -> dict[str, Any]:
    if status == 408:
        code, what = "timeout", "The request took longer than the service allows"
    elif detail:
        code, what = "unavailable", f"The service cannot take the request now ({detail})"
    else:
        code, what = "unavailable", "The service replica handling the request stopped"
    error: dict[str, Any] = {"code": code, "message": what, "field": None}
    if key is not None:
        kind = CREATED[scope["path"].rstrip("/")]
        error["message"] += (
            f"; the {kind} may have been created. Retry with the header Idempotency-Key: {key}"
            f" to get it without creating it twice"
        )
        error["idempotency_key"] = key
    else:
        error["message"] += f"; retry in {RETRY_AFTER_S} s"
    return {"error": error}


def error_messages(
    status: int, *, scope: Scope, key: str | None, detail: str | None
) -> list[Message]:
    body = json.dumps(error_body(status, scope=scope, key=key, detail=detail)).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
               (b"retry-after", str(RETRY_AFTER_S).encode())]
    return [{"type": "http.response.start", "status": status, "headers": headers},
            {"type": "http.response.body", "body": body}]
