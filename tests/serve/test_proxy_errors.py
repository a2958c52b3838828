"""serve.proxy_errors: what the HTTP proxy answers when no replica could (no Ray: fake
ASGI apps stand in for the proxy's app)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from cluster.head import SERVE_ENVIRONMENT
from serve.proxy_errors import RETRY_AFTER_S, ReplicaLossMiddleware, proxy_middlewares


async def replica_died(scope: Scope, receive: Receive, send: Send) -> None:
    """Serve's proxy when the replica dies: it sends nothing and returns."""
    replica_died.seen = dict(scope["headers"])  # type: ignore[attr-defined]


async def proxy_raised(scope: Scope, receive: Receive, send: Send) -> None:
    raise RuntimeError("ActorDiedError")


async def backpressure(scope: Scope, receive: Receive, send: Send) -> None:
    """The proxy's own plain-text 503 (ray/serve/_private/http_util.py)."""
    await send({"type": "http.response.start", "status": 503,
                "headers": [(b"content-type", b"text/plain; charset=utf-8")]})
    await send({"type": "http.response.body", "body": b"Request dropped due to backpressure"})


async def app_error(scope: Scope, receive: Receive, send: Send) -> None:
    """QBT's own JSON 503 (the database is gone): passed through untouched."""
    body = json.dumps({"error": {"code": "unavailable", "message": "db"}}).encode()
    await send({"type": "http.response.start", "status": 503,
                "headers": [(b"content-type", b"application/json"), (b"retry-after", b"5")]})
    await send({"type": "http.response.body", "body": body})


async def started_then_died(scope: Scope, receive: Receive, send: Send) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    raise RuntimeError("replica died mid-body")


def call(app: Any, method: str, path: str, **kwargs: Any) -> httpx.Response:
    async def go() -> httpx.Response:
        transport = httpx.ASGITransport(app=ReplicaLossMiddleware(app))
        async with httpx.AsyncClient(transport=transport, base_url="http://qbt") as client:
            return await client.request(method, path, **kwargs)

    return asyncio.run(go())


@pytest.mark.parametrize("app", [replica_died, proxy_raised])
def test_no_answer_from_a_replica_is_a_json_503_with_retry_after(app: Any):
    answer = call(app, "GET", "/v1/backtests/abc")
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == str(RETRY_AFTER_S)
    error = answer.json()["error"]
    assert error["code"] == "unavailable" and "replica" in error["message"]
    assert "idempotency_key" not in error  # nothing was being created


def test_a_submit_gets_an_idempotency_key_and_the_error_names_it():
    answer = call(replica_died, "POST", "/v1/backtests", json={})
    key = answer.json()["error"]["idempotency_key"]
    assert key.startswith("proxy-")
    assert replica_died.seen[b"idempotency-key"] == key.encode()  # type: ignore[attr-defined]
    assert "may have been created" in answer.json()["error"]["message"]
    assert f"Idempotency-Key: {key}" in answer.json()["error"]["message"]


def test_the_clients_own_idempotency_key_is_kept():
    answer = call(replica_died, "POST", "/v1/sweeps/", json={}, headers={"Idempotency-Key": "k1"})
    assert answer.json()["error"]["idempotency_key"] == "k1"
    assert "sweep may have been created" in answer.json()["error"]["message"]
    assert replica_died.seen[b"idempotency-key"] == b"k1"  # type: ignore[attr-defined]


def test_only_creating_posts_get_a_key():
    call(replica_died, "POST", "/v1/backtests/abc/cancel")
    assert b"idempotency-key" not in replica_died.seen  # type: ignore[attr-defined]


def test_the_proxys_plain_text_503_becomes_json_with_retry_after():
    answer = call(backpressure, "GET", "/healthz")
    assert answer.status_code == 503 and answer.headers["retry-after"] == str(RETRY_AFTER_S)
    assert "backpressure" in answer.json()["error"]["message"]


def test_the_apps_own_answers_pass_through():
    answer = call(app_error, "GET", "/v1/backtests")
    assert answer.status_code == 503 and answer.headers["retry-after"] == "5"
    assert answer.json() == {"error": {"code": "unavailable", "message": "db"}}


def test_an_answer_already_started_is_not_rewritten():
    with pytest.raises(RuntimeError, match="mid-body"):
        call(started_then_died, "GET", "/v1/backtests")


def test_the_head_environment_names_the_callback():
    module, _, name = SERVE_ENVIRONMENT["RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH"].partition(":")
    assert (module, name) == ("serve.proxy_errors", "proxy_middlewares")
    assert [m.cls for m in proxy_middlewares()] == [ReplicaLossMiddleware]
