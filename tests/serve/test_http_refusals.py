"""Every refused request answers a JSON 4xx/503 naming the problem, and writes nothing.

The dispatcher is stopped for this module, so submitted runs stay queued (the per-owner
limit is then exact).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import psycopg
import pytest
import ray
from psycopg.conninfo import conninfo_to_dict

from runtime.names import DISPATCHER_ACTOR, NAMESPACE
from tests.serve.harness import SPEC, Deployed, running_service

pytestmark = [pytest.mark.ray, pytest.mark.slow]

OWNER_LIMIT = 3
MAX_ONGOING, MAX_QUEUED = 4, 4


@pytest.fixture(scope="module")
def api(server_url, ray_session):
    with running_service(
        server_url,
        owner_run_limit=OWNER_LIMIT,
        max_span_days=400,
        max_sweep_variants=8,
        max_ongoing_requests=MAX_ONGOING,
        max_queued_requests=MAX_QUEUED,
    ) as deployed:
        ray.kill(ray.get_actor(DISPATCHER_ACTOR, namespace=NAMESPACE), no_restart=True)
        yield deployed


def _spec(**changes: Any) -> dict[str, Any]:
    return {**SPEC, **changes}


BAD_BACKTESTS = {
    "unknown factor": (_spec(ranking=[{"factor": "NOPE"}]), 422, "ranking[0].factor"),
    "factor name carrying SQL": (
        _spec(ranking=[{"factor": "PBR'); DROP TABLE runs; --"}]),
        422,
        "ranking[0].factor",
    ),
    "start after end": (_spec(start="2022-05-31", end="2021-06-01"), 422, "end"),
    "end after the data": (_spec(end="2030-01-01"), 422, "end"),
    "start before the data": (_spec(start="2020-12-01", end="2021-03-31"), 422, "start"),
    "span above the limit": (_spec(start="2021-02-01", end="2022-12-01"), 422, "end"),
    "top_n 0": (_spec(top_n=0), 422, "top_n"),
    "negative costs": (_spec(costs={"commission_bps": -1}), 422, "costs.commission_bps"),
    "unknown field": (_spec(leverage=3), 422, "leverage"),
    "missing ranking": ({k: v for k, v in SPEC.items() if k != "ranking"}, 422, "ranking"),
    "filter on unknown factor": (
        _spec(filters=[{"factor": "X; SELECT 1", "min": 0}]), 422, "filters[0].factor"
    ),
}


@pytest.mark.parametrize("case", list(BAD_BACKTESTS), ids=list(BAD_BACKTESTS))
def test_bad_backtest_is_refused_and_writes_nothing(api: Deployed, case: str):
    body, status, field = BAD_BACKTESTS[case]
    before = api.rows()
    with api.client("bob") as client:
        response = client.post("/v1/backtests", json=body)
    assert response.status_code == status, response.text
    error = response.json()["error"]
    assert error["field"] == field
    assert field.split(".")[-1].split("[")[0] in error["message"]
    assert api.rows() == before


def test_malformed_json_oversized_body_and_bad_wait(api: Deployed):
    before = api.rows()
    with api.client("bob") as client:
        json_type = {"content-type": "application/json"}
        malformed = client.post(
            "/v1/backtests", content=b'{"start": "2021-06-01",', headers=json_type
        )
        huge = client.post(
            "/v1/backtests", content=b'{"pad": "' + b"x" * 1_100_000 + b'"}', headers=json_type
        )
        bad_wait = client.post("/v1/backtests", params={"wait": 600}, json=SPEC)
        empty = client.post("/v1/backtests")
    assert malformed.status_code == 400
    assert malformed.json()["error"]["code"] == "malformed_json"
    assert huge.status_code == 413
    assert huge.json()["error"]["code"] == "payload_too_large"
    assert bad_wait.status_code == 422 and bad_wait.json()["error"]["field"] == "wait"
    assert empty.status_code == 422
    assert api.rows() == before


BAD_SWEEPS = {
    "too many variants": ({"top_n": [1, 2, 3], "rebalance": ["weekly", "monthly", 5]}, "grid"),
    "grid field that does not exist": ({"leverage": [1, 2]}, "grid['leverage']"),
    "variant that fails validation": ({"top_n": [5, 0]}, "grid (variant 1: {'top_n': 0})"),
}


@pytest.mark.parametrize("case", list(BAD_SWEEPS), ids=list(BAD_SWEEPS))
def test_bad_sweep_is_refused_and_writes_nothing(api: Deployed, case: str):
    grid, field = BAD_SWEEPS[case]
    before = api.rows()
    with api.client("bob") as client:
        response = client.post("/v1/sweeps", json={"base": SPEC, "grid": grid})
    assert response.status_code == 422, response.text
    assert response.json()["error"]["field"] == field
    assert api.rows() == before


def test_sweep_variant_outside_the_data_is_refused(api: Deployed):
    before = api.rows()
    with api.client("bob") as client:
        response = client.post(
            "/v1/sweeps", json={"base": SPEC, "grid": {"end": ["2022-05-31", "2031-01-01"]}}
        )
        unknown_statistic = client.post(
            "/v1/sweeps", json={"base": SPEC, "grid": {"top_n": [5]}, "rank_by": "luck"}
        )
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "base.end"
    assert "variant 1" in response.json()["error"]["message"]
    assert unknown_statistic.status_code == 422
    assert unknown_statistic.json()["error"]["field"] == "rank_by"
    assert api.rows() == before


def test_owner_limit_answers_429_with_retry_after(api: Deployed):
    with api.client("alice") as client:
        accepted = [client.post("/v1/backtests", json=SPEC) for _ in range(OWNER_LIMIT)]
        before = api.rows()
        refused = client.post("/v1/backtests", json=SPEC)
    with api.client("bob") as client:
        other_owner = client.post("/v1/backtests", json=SPEC)
    assert [r.status_code for r in accepted] == [202] * OWNER_LIMIT
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) > 0
    assert refused.json()["error"]["code"] == "too_many_runs"
    assert other_owner.status_code == 202
    assert api.rows()["runs"] == before["runs"] + 1


def test_cancelling_a_queued_sweep_cancels_every_variant(api: Deployed):
    sweep = {"base": SPEC, "grid": {"top_n": [5, 10], "weighting": ["equal", "market_cap"]}}
    with api.client("alice") as client:
        location = client.post("/v1/sweeps", json=sweep).headers["location"]
        with api.client("bob") as other:
            assert other.delete(location).status_code == 404
        cancelled = client.delete(location)
        again = client.delete(location)
    assert cancelled.status_code == 200, cancelled.text
    body = cancelled.json()
    assert body["status"] == "cancelled"
    assert body["n_done"] == body["n_total"] == 4 and body["variants"] == []
    assert again.status_code == 409 and again.json()["error"]["code"] == "conflict"
    assert api.sql(
        "SELECT DISTINCT status FROM runs WHERE sweep_id = %s", (body["id"],)
    ) == [("cancelled",)]


def test_overload_answers_503_at_once(api: Deployed):
    """More requests than the replica takes plus the proxy queues: the rest get 503 now."""
    with api.client("bob") as client:
        run_id = client.post("/v1/backtests", json=_spec(top_n=4)).json()["id"]  # stays queued

    async def hold(client: httpx.AsyncClient) -> tuple[int, float]:
        started = time.monotonic()
        response = await client.get(f"/v1/backtests/{run_id}", params={"wait": 3})
        return response.status_code, time.monotonic() - started

    async def crowd() -> list[tuple[int, float]]:
        clients = [api.async_client("bob") for _ in range(3 * (MAX_ONGOING + MAX_QUEUED))]
        try:
            return await asyncio.gather(*(hold(c) for c in clients))
        finally:
            await asyncio.gather(*(c.aclose() for c in clients))

    answers = asyncio.run(crowd())
    refused = [seconds for status, seconds in answers if status == 503]
    assert refused and max(refused) < 2.0
    assert {status for status, _ in answers} == {200, 503}


def test_unknown_route_and_method_answer_json(api: Deployed):
    with api.client("bob") as client:
        assert client.get("/v1/nothing").json()["error"]["code"] == "not_found"
        assert client.put("/v1/factors").json()["error"]["code"] == "method_not_allowed"


def test_database_down_answers_503_quickly_then_recovers(api: Deployed, server_url: str):
    name = conninfo_to_dict(api.database_url)["dbname"]

    def allow(flag: bool) -> None:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS {str(flag).lower()}')
            if not flag:
                conn.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                    (name,),
                )

    allow(False)
    try:
        with api.client("bob") as client:
            started = time.monotonic()
            down = client.post("/v1/backtests", json=_spec(top_n=3))
            elapsed = time.monotonic() - started
            listing = client.get("/v1/backtests")
            asked = time.monotonic()
            health = client.get("/healthz")
            health_s = time.monotonic() - asked
    finally:
        allow(True)
    assert down.status_code == 503, down.text
    assert int(down.headers["retry-after"]) > 0
    assert down.json()["error"]["code"] == "unavailable"
    assert elapsed < 5
    assert listing.status_code == 503
    assert health.status_code == 200 and health.json()["database"] == "unavailable"
    assert health.json()["status"] == "degraded" and health_s < 1.5  # 0.8 s a check
    with api.client("bob") as client:
        deadline = time.monotonic() + 15
        while (again := client.get("/v1/backtests")).status_code != 200:
            assert time.monotonic() < deadline, again.text
            time.sleep(0.5)
