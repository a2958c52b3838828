"""/v1/sweeps in-process, without Ray: submit (one queued runs row per variant), refusals
that write nothing, progress counted from variant rows moved by SQL, owners, cancel."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.serve.fake_registry import (
    SPEC,
    VERSION,
    Api,
    FakeRegistry,
    error_of,
    panel_index,
    serving,
)

pytestmark = pytest.mark.anyio

MAX_VARIANTS = 8
SWEEP: dict[str, Any] = {
    "base": SPEC,
    "grid": {"top_n": [5, 10], "rebalance": ["monthly", "quarterly"]},
    "rank_by": "sharpe",
    "top": 3,
}


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[Api]:
    async with serving(database_url, max_sweep_variants=MAX_VARIANTS) as served:
        yield served


async def _submit(client: httpx.AsyncClient, sweep: dict[str, Any] = SWEEP) -> dict[str, Any]:
    response = await client.post("/v1/sweeps", json=sweep)
    assert response.status_code == 202, response.text
    return response.json()  # type: ignore[no-any-return]


async def _variants(api: Api, sweep_id: str) -> list[tuple[int, str, str]]:
    rows = await api.sql(
        "SELECT variant, id::text, status FROM runs WHERE sweep_id = %s ORDER BY variant",
        (sweep_id,),
    )
    return [(int(v), str(i), str(s)) for v, i, s in rows]


async def test_submit_answers_202_with_n_variants_and_queues_each(api: Api):
    key = {"Idempotency-Key": f"sweep-{uuid.uuid4()}"}
    async with api.client() as client:
        response = await client.post("/v1/sweeps", json=SWEEP, headers=key)
        replayed = await client.post("/v1/sweeps", json=SWEEP, headers=key)
        changed = await client.post("/v1/sweeps", json={**SWEEP, "top": 2}, headers=key)
        progress = await client.get(response.headers["location"])
        listing = (await client.get("/v1/backtests")).json()
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["n_variants"] == 4 and body["data_version"] == VERSION
    assert response.headers["location"] == body["location"] == f"/v1/sweeps/{body['id']}"
    assert replayed.json() == body and replayed.headers["idempotent-replayed"] == "true"
    assert changed.status_code == 409
    assert error_of(changed)["code"] == "idempotency_key_reused"
    rows = await api.sql(
        "SELECT variant, status, data_version, owner, spec->>'top_n', spec->>'rebalance'"
        " FROM runs WHERE sweep_id = %s ORDER BY variant", (body["id"],),
    )
    assert rows == [  # grid order: the last field varies fastest
        (0, "queued", VERSION, "alice", "5", "monthly"),
        (1, "queued", VERSION, "alice", "5", "quarterly"),
        (2, "queued", VERSION, "alice", "10", "monthly"),
        (3, "queued", VERSION, "alice", "10", "quarterly"),
    ]
    assert await api.rows() == {"runs": 4, "sweeps": 1}
    sweep = progress.json()
    assert (sweep["status"], sweep["n_total"], sweep["n_done"]) == ("queued", 4, 0)
    assert sweep["variants"] == [] and sweep["finished_at"] is None
    assert listing["items"] == []  # variants are not single runs


BAD_SWEEPS = {
    "too many variants": (
        {"top_n": [1, 2, 3], "rebalance": ["weekly", "monthly", "quarterly"]}, "grid", "8"
    ),
    "grid field that does not exist": ({"leverage": [1, 2]}, "grid['leverage']", "leverage"),
    "variant that fails the spec's own checks": (
        {"top_n": [5, 0]}, "grid (variant 1: {'top_n': 0})", "top_n"
    ),
    "variant ending after the data": (
        {"end": ["2022-05-31", "2023-01-02"]}, "base.end", "variant 1"
    ),
    "variant on an unknown factor": (
        {"ranking": [[{"factor": "PBR"}], [{"factor": "NOPE"}]]}, "base.ranking[0].factor",
        "NOPE",
    ),
    "empty grid": ({}, "grid", "grid"),
}


@pytest.mark.parametrize("case", list(BAD_SWEEPS), ids=list(BAD_SWEEPS))
async def test_a_sweep_that_cannot_run_is_422_naming_the_field_and_writes_nothing(
    api: Api, case: str
):
    grid, field, named = BAD_SWEEPS[case]
    async with api.client() as client:
        response = await client.post("/v1/sweeps", json={"base": SPEC, "grid": grid})
    assert response.status_code == 422, response.text
    error = error_of(response)
    assert (error["code"], error["field"]) == ("invalid", field)
    assert named in error["message"]
    assert await api.rows() == {"runs": 0, "sweeps": 0}


async def test_a_sweep_ranking_by_a_factor_without_values_is_422_and_writes_nothing(
    database_url: str,
):
    registry = FakeRegistry(index=panel_index(empty={"PBR": ("total_equity",)}))
    async with serving(database_url, registry=registry) as api:
        async with api.client() as client:
            response = await client.post("/v1/sweeps", json=SWEEP)
        assert response.status_code == 422, response.text
        error = error_of(response)
        assert (error["code"], error["field"]) == ("invalid", "base.ranking[0].factor")
        assert error["message"] == (
            "variant 0 {'top_n': 5, 'rebalance': 'monthly'}: Got \"PBR\" for ranking[0].factor:"
            f" it has no values in data version {VERSION} (its input total_equity was never"
            " imported)"
        )
        assert await api.rows() == {"runs": 0, "sweeps": 0}


async def test_progress_counts_variants_moved_by_sql_and_ranks_the_best(api: Api):
    async with api.client() as client:
        sweep_id = (await _submit(client))["id"]
        variants = await _variants(api, sweep_id)
        sharpe = {
            n: (await api.finish(variants[n][1], seed=n, with_result=False)).sharpe
            for n in (0, 2)
        }
        await api.finish(variants[3][1], status="failed")
        await api.sql(
            "UPDATE runs SET status = 'running', attempts = 1, started_at = now(),"
            " lease_until = now() + interval '1 minute' WHERE id = %s", (variants[1][1],),
        )
        running = (await client.get(f"/v1/sweeps/{sweep_id}")).json()
        grid = (await client.get(f"/v1/sweeps/{sweep_id}/variants")).json()
        returns = (await client.get(f"/v1/sweeps/{sweep_id}/variants?statistic=total_return"))
        refused = await client.get(f"/v1/sweeps/{sweep_id}/variants?statistic=luck")
        await api.finish(variants[1][1], seed=1, with_result=False)
        analysing = (await client.get(f"/v1/sweeps/{sweep_id}")).json()
        await api.analyse()
        ended = (await client.get(f"/v1/sweeps/{sweep_id}")).json()
    assert running["status"] == "running"
    assert (running["n_total"], running["n_done"], running["n_failed"], running["n_running"]) == (
        4, 3, 1, 1
    )
    assert running["finished_at"] is None
    assert None not in sharpe.values()
    best = sorted(sharpe, key=lambda n: sharpe[n] or 0.0, reverse=True)
    assert [v["variant"] for v in running["variants"]] == [*best, 3]  # failures rank last
    first = running["variants"][0]
    assert first["statistics"]["sharpe"] == pytest.approx(sharpe[best[0]])
    assert first["overrides"] == {
        "top_n": [5, 5, 10][best[0]], "rebalance": ["monthly", "quarterly", "monthly"][best[0]]
    }
    assert first["run_id"] == variants[best[0]][1] and first["status"] == "done"
    assert running["variants"][-1]["error"] == "boom"
    # Every variant's rank_by (or another statistic) and status, compact, in grid order.
    assert grid["statistic"] == "sharpe" and grid["grid"] == SWEEP["grid"]
    assert grid["status"] == ["done", "running", "done", "failed"]
    assert grid["values"] == [pytest.approx(sharpe[0]), None, pytest.approx(sharpe[2]), None]
    assert returns.json()["statistic"] == "total_return" and returns.json()["values"][0] != (
        grid["values"][0])
    assert refused.status_code == 422 and error_of(refused)["field"] == "statistic"
    # Every variant ended: the sweep is done once its analysis is stored.
    assert analysing["status"] == "running" and analysing["n_done"] == 4
    assert analysing["overfitting"] is None and analysing["finished_at"] is None
    assert ended["status"] == "done" and ended["n_done"] == 4 and ended["n_running"] == 0
    assert ended["finished_at"] is not None
    report = ended["overfitting"]
    assert report["n_trials"] == 3 and report["best_variant"] == ended["variants"][0]["variant"]
    assert 0 <= report["deflated_sharpe"] <= report["probabilistic_sharpe"] <= 1
    assert report["pbo"] is None  # 20 days: too few for 16 blocks, and it says so
    assert any(e.startswith("pbo:") for e in ended["analysis_errors"])
    assert ended["walk_forward"] is None
    assert len(ended["variants"]) == SWEEP["top"]  # the best `top` of four


async def test_a_variant_reads_as_a_backtest_of_its_sweep(api: Api):
    async with api.client() as client:
        sweep_id = (await _submit(client))["id"]
        (number, run_id, _), *_ = await _variants(api, sweep_id)
        run = (await client.get(f"/v1/backtests/{run_id}")).json()
    assert run["sweep_id"] == sweep_id and run["variant"] == number == 0
    assert run["spec"]["top_n"] == 5 and run["status"] == "queued"


async def test_another_owners_sweep_is_404(api: Api):
    async with api.client("alice") as client:
        location = (await _submit(client))["location"]
    async with api.client("bob") as client:
        read = await client.get(location)
        cancel = await client.delete(location)
        unknown = await client.get(f"/v1/sweeps/{uuid.uuid4()}")
    for response in (read, cancel, unknown):
        assert response.status_code == 404
        assert error_of(response)["code"] == "not_found"
    assert await api.sql("SELECT DISTINCT status FROM runs") == [("queued",)]


async def test_cancel_ends_the_unfinished_variants_and_keeps_the_done_ones(api: Api):
    async with api.client() as client:
        sweep_id = (await _submit(client))["id"]
        variants = await _variants(api, sweep_id)
        await api.finish(variants[0][1], with_result=False)
        cancelled = await client.delete(f"/v1/sweeps/{sweep_id}")
        again = await client.delete(f"/v1/sweeps/{sweep_id}")
    assert cancelled.status_code == 200, cancelled.text
    body = cancelled.json()
    assert body["status"] == "cancelled"
    assert (body["n_total"], body["n_done"], body["n_failed"]) == (4, 4, 0)
    assert [v["variant"] for v in body["variants"]] == [0]
    assert again.status_code == 409 and error_of(again)["code"] == "conflict"
    assert [status for _, _, status in await _variants(api, sweep_id)] == [
        "done", "cancelled", "cancelled", "cancelled"
    ]


async def test_cancelling_a_sweep_wakes_a_waiter_on_a_variant(api: Api):
    """Regression: the sweep's DELETE sent no qbt_done notice for the variants it ended."""
    async with api.client() as client:
        sweep_id = (await _submit(client))["id"]
        (_, run_id, _), *_ = await _variants(api, sweep_id)

        async def cancel_later() -> httpx.Response:
            await asyncio.sleep(0.3)
            return await client.delete(f"/v1/sweeps/{sweep_id}")

        started = time.monotonic()
        waited, cancelled = await asyncio.gather(
            client.get(f"/v1/backtests/{run_id}", params={"wait": 6}), cancel_later()
        )
        elapsed = time.monotonic() - started
    assert cancelled.status_code == 200
    assert waited.json()["status"] == "cancelled"
    assert elapsed < 3
