"""/v1/backtests in-process, without Ray: submit (committed, validated against the fake
registry's index), refusals that write nothing, idempotency, the owner limit, `?wait=`,
owners, listing and cancelling. No dispatcher: runs move only by SQL."""

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

OWNER_LIMIT = 4
MAX_SPAN_DAYS = 400


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[Api]:
    async with serving(
        database_url, owner_run_limit=OWNER_LIMIT, max_span_days=MAX_SPAN_DAYS
    ) as served:
        yield served


def _spec(**changes: Any) -> dict[str, Any]:
    return {**SPEC, **changes}


async def _submit(client: httpx.AsyncClient, **changes: Any) -> str:
    response = await client.post("/v1/backtests", json=_spec(**changes))
    assert response.status_code == 202, response.text
    return str(response.json()["id"])


async def test_submit_answers_202_with_location_and_commits_a_queued_run(api: Api):
    async with api.client() as client:
        response = await client.post("/v1/backtests", json=SPEC)
        assert response.status_code == 202, response.text
        body = response.json()
        read = await client.get(response.headers["location"])
    assert response.headers["location"] == body["location"] == f"/v1/backtests/{body['id']}"
    assert "idempotent-replayed" not in response.headers
    assert body["status"] == "queued" and body["data_version"] == VERSION
    rows = await api.sql(
        "SELECT owner, status, data_version, sweep_id, attempts, spec FROM runs WHERE id = %s",
        (body["id"],),
    )
    assert len(rows) == 1
    owner, status, data_version, sweep_id, attempts, spec = rows[0]
    assert (owner, status, data_version, sweep_id, attempts) == ("alice", "queued", VERSION,
                                                                  None, 0)
    assert spec["top_n"] == SPEC["top_n"] and spec["ranking"][0]["factor"] == "PBR"
    assert spec["rebalance"] == "monthly"  # stored with its defaults filled in
    run = read.json()
    assert read.status_code == 200
    assert run["status"] == "queued" and run["result"] is None and run["statistics"] is None
    assert run["spec"] == spec and run["timings"]["total_s"] is None


BAD_BACKTESTS = {
    "unknown factor": (_spec(ranking=[{"factor": "NOPE"}]), "ranking[0].factor"),
    "unknown second factor": (
        _spec(ranking=[{"factor": "PBR"}, {"factor": "PBR2"}]), "ranking[1].factor"
    ),
    "filter on unknown factor": (_spec(filters=[{"factor": "X", "min": 0}]), "filters[0].factor"),
    "end after the data's last day": (_spec(start="2022-06-01", end="2023-01-02"), "end"),
    "start on the data's first day": (_spec(start="2021-01-04", end="2021-06-01"), "start"),
    "span above max_span_days": (_spec(start="2021-02-01", end="2022-12-01"), "end"),
    "start after end": (_spec(start="2022-05-31", end="2021-06-01"), "end"),
    "top_n 0": (_spec(top_n=0), "top_n"),
    "unknown field": (_spec(leverage=3), "leverage"),
    "missing ranking": ({k: v for k, v in SPEC.items() if k != "ranking"}, "ranking"),
    "not an object": ([SPEC], None),
}


@pytest.mark.parametrize("case", list(BAD_BACKTESTS), ids=list(BAD_BACKTESTS))
async def test_a_spec_that_does_not_fit_is_422_naming_the_field_and_writes_nothing(
    api: Api, case: str
):
    body, field = BAD_BACKTESTS[case]
    async with api.client() as client:
        response = await client.post("/v1/backtests", json=body)
    assert response.status_code == 422, response.text
    error = error_of(response)
    assert error["code"] == "invalid"
    assert error["field"] == field
    if field is not None:
        assert field.split(".")[-1].split("[")[0] in error["message"]
    assert await api.rows() == {"runs": 0, "sweeps": 0}


async def test_the_error_messages_name_the_value_and_the_data(api: Api):
    async with api.client() as client:
        late = error_of(
            await client.post("/v1/backtests", json=_spec(start="2022-06-01", end="2023-01-02"))
        )
        long = error_of(
            await client.post("/v1/backtests", json=_spec(start="2021-02-01", end="2022-12-01"))
        )
        unknown = error_of(
            await client.post("/v1/backtests", json=_spec(ranking=[{"factor": "NOPE"}]))
        )
    assert '"2023-01-02"' in late["message"] and "2022-12-30" in late["message"]
    assert str(MAX_SPAN_DAYS) in long["message"]
    assert '"NOPE"' in unknown["message"] and "PBR" in unknown["message"]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({}, "ranking[0].factor"),  # SPEC ranks by PBR first
        ({"ranking": [{"factor": "MOM_3M"}], "filters": [{"factor": "PBR", "max": 1}]},
         "filters[0].factor"),
    ],
)
async def test_a_factor_without_values_in_the_data_is_422_naming_the_field_and_the_inputs(
    database_url: str, changes: dict[str, Any], field: str
):
    """Regression: a PBR strategy on data without balance sheets held nothing all year and
    reported a total return of 0.0."""
    registry = FakeRegistry(index=panel_index(empty={"PBR": ("total_equity",)}))
    async with serving(database_url, registry=registry) as api:
        async with api.client() as client:
            response = await client.post("/v1/backtests", json=_spec(**changes))
        assert response.status_code == 422, response.text
        error = error_of(response)
        assert (error["code"], error["field"]) == ("invalid", field)
        assert error["message"] == (
            f'Got "PBR" for {field}: it has no values in data version {VERSION} '
            "(its input total_equity was never imported)"
        )
        assert await api.rows() == {"runs": 0, "sweeps": 0}


async def test_malformed_json_is_400_and_writes_nothing(api: Api):
    json_type = {"content-type": "application/json"}
    async with api.client() as client:
        malformed = await client.post(
            "/v1/backtests", content=b'{"start": "2021-06-01",', headers=json_type
        )
        empty = await client.post("/v1/backtests")
        bad_wait = await client.post("/v1/backtests", params={"wait": 600}, json=SPEC)
        huge = await client.post(
            "/v1/backtests", content=b'{"pad": "' + b"x" * 1_100_000 + b'"}', headers=json_type
        )
    assert malformed.status_code == 400
    assert (error_of(malformed)["code"], error_of(malformed)["field"]) == ("malformed_json", "body")
    assert empty.status_code == 422
    assert bad_wait.status_code == 422 and error_of(bad_wait)["field"] == "wait"
    assert huge.status_code == 413 and error_of(huge)["code"] == "payload_too_large"
    assert await api.rows() == {"runs": 0, "sweeps": 0}


async def test_idempotency_key_replays_the_run_and_refuses_another_body(api: Api):
    key = {"Idempotency-Key": f"retry-{uuid.uuid4()}"}
    async with api.client() as client:
        first = await client.post("/v1/backtests", json=SPEC, headers=key)
        again = await client.post("/v1/backtests", json=SPEC, headers=key)
        changed = await client.post("/v1/backtests", json=_spec(top_n=11), headers=key)
    async with api.client("bob") as client:
        other_owner = await client.post("/v1/backtests", json=SPEC, headers=key)
    assert first.status_code == again.status_code == other_owner.status_code == 202
    assert again.json() == first.json()
    assert again.headers["location"] == first.headers["location"]
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert changed.status_code == 409
    error = error_of(changed)
    assert (error["code"], error["field"]) == ("idempotency_key_reused", "Idempotency-Key")
    assert other_owner.json()["id"] != first.json()["id"]  # keys are per owner
    assert await api.rows() == {"runs": 2, "sweeps": 0}


async def test_the_owner_run_limit_answers_429_with_retry_after(api: Api):
    async with api.client() as client:
        ids = [await _submit(client, top_n=n) for n in range(5, 5 + OWNER_LIMIT)]
        refused = await client.post("/v1/backtests", json=SPEC)
        async with api.client("bob") as other:
            other_owner = await other.post("/v1/backtests", json=SPEC)
        await api.finish(ids[0])  # a finished run frees a place
        freed = await client.post("/v1/backtests", json=SPEC)
    assert refused.status_code == 429
    assert int(refused.headers["retry-after"]) > 0
    error = error_of(refused)
    assert error["code"] == "too_many_runs" and str(OWNER_LIMIT) in error["message"]
    assert other_owner.status_code == 202
    assert freed.status_code == 202
    assert await api.rows() == {"runs": OWNER_LIMIT + 2, "sweeps": 0}


async def _finish_when_queued(api: Api, *, owner: str, seed: int = 3) -> str:
    """Wait for `owner`'s first queued run to appear, then finish it (SQL + NOTIFY)."""
    deadline = time.monotonic() + 5
    while not (rows := await api.sql(
        "SELECT id FROM runs WHERE owner = %s AND status = 'queued'", (owner,)
    )):
        assert time.monotonic() < deadline, "the submit never committed its run"
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)  # the submit is waiting by now
    run_id = str(rows[0][0])
    await api.finish(run_id, seed=seed)
    return run_id


async def test_submit_with_wait_answers_200_with_the_whole_run_once_it_finishes(api: Api):
    async with api.client() as client:
        started = time.monotonic()
        response, run_id = await asyncio.gather(
            client.post("/v1/backtests", params={"wait": 8}, json=SPEC),
            _finish_when_queued(api, owner="alice"),
        )
        elapsed = time.monotonic() - started
    assert response.status_code == 200, response.text
    assert elapsed < 4, "the NOTIFY did not wake the waiting submit"
    run = response.json()
    assert run["id"] == run_id
    assert response.headers["location"] == f"/v1/backtests/{run_id}"
    assert run["status"] == "done" and run["error"] is None and run["attempts"] == 1
    assert run["data_version"] == VERSION and run["engine_version"] == "engine-test"
    assert run["result"]["statistics"] == run["statistics"]
    assert run["result"]["spec"] == run["spec"]
    assert run["timings"]["total_s"] >= run["timings"]["run_s"] >= 0


async def test_get_with_wait_answers_as_soon_as_the_run_ends(api: Api):
    async with api.client() as client:
        run_id = await _submit(client)

        async def finish_later() -> None:
            await asyncio.sleep(0.3)
            await api.finish(run_id, status="failed")

        started = time.monotonic()
        response, _ = await asyncio.gather(
            client.get(f"/v1/backtests/{run_id}", params={"wait": 8}), finish_later()
        )
        elapsed = time.monotonic() - started
    assert response.status_code == 200
    assert response.json()["status"] == "failed" and response.json()["error"] == "boom"
    assert 0.3 <= elapsed < 4


async def test_submit_with_wait_answers_202_when_the_run_is_not_finished_in_time(api: Api):
    async with api.client() as client:
        started = time.monotonic()
        response = await client.post("/v1/backtests", params={"wait": 0.3}, json=SPEC)
        elapsed = time.monotonic() - started
        still = await client.get(response.headers["location"], params={"wait": 0.2})
    assert response.status_code == 202
    assert response.json()["status"] == "queued"
    assert 0.3 <= elapsed < 3
    assert still.status_code == 200 and still.json()["status"] == "queued"


async def test_a_finished_run_reads_back_whole(api: Api):
    async with api.client() as client:
        run_id = await _submit(client)
        stats = await api.finish(run_id, seed=5)
        response = await client.get(f"/v1/backtests/{run_id}")
    run = response.json()
    assert response.status_code == 200
    assert run["statistics"] == stats.model_dump(mode="json")
    assert run["result"]["engine_version"] == "engine-test"
    assert len(run["result"]["equity"]) == stats.n_days
    assert run["finished_at"] is not None and run["timings"]["run_s"] >= 0


async def test_another_owners_run_is_404(api: Api):
    async with api.client("alice") as client:
        run_id = await _submit(client)
    async with api.client("bob") as client:
        read = await client.get(f"/v1/backtests/{run_id}")
        waited = await client.get(f"/v1/backtests/{run_id}", params={"wait": 1})
        cancel = await client.delete(f"/v1/backtests/{run_id}")
        unknown = await client.get(f"/v1/backtests/{uuid.uuid4()}")
        not_an_id = await client.get("/v1/backtests/nonsense")
    for response in (read, waited, cancel, unknown):
        assert response.status_code == 404
        assert error_of(response)["code"] == "not_found"
    assert run_id in error_of(read)["message"]
    assert not_an_id.status_code == 422 and error_of(not_an_id)["field"] == "run_id"
    assert (await api.sql("SELECT status FROM runs WHERE id = %s", (run_id,))) == [("queued",)]


async def test_listing_is_paginated_newest_first_and_filters_by_status(api: Api):
    async with api.client() as client:
        ids = [await _submit(client, top_n=n) for n in range(5, 5 + OWNER_LIMIT)]
        await api.finish(ids[1])
        await api.sql(
            "INSERT INTO sweeps (id, owner, spec, n_variants, data_version)"
            " VALUES (%s, 'alice', '{}', 1, 'v')", (uuid.uuid4(),)
        )
        seen, cursor, pages = [], None, 0
        while True:
            params: dict[str, Any] = {"limit": 3, **({"cursor": cursor} if cursor else {})}
            page = (await client.get("/v1/backtests", params=params)).json()
            seen += [item["id"] for item in page["items"]]
            pages += 1
            if (cursor := page["next_cursor"]) is None:
                break
        done = (await client.get("/v1/backtests", params={"status": "done"})).json()
        queued = (await client.get("/v1/backtests", params={"status": "queued"})).json()
        bad_status = await client.get("/v1/backtests", params={"status": "lost"})
        bad_cursor = await client.get("/v1/backtests", params={"cursor": "nonsense"})
        too_big = await client.get("/v1/backtests", params={"limit": 101})
    async with api.client("bob") as client:
        bobs = (await client.get("/v1/backtests")).json()
    assert seen == ids[::-1] and pages == 2
    assert [item["id"] for item in done["items"]] == [ids[1]]
    assert done["items"][0]["statistics"]["n_days"] > 0 and done["next_cursor"] is None
    assert [item["id"] for item in queued["items"]] == [i for i in ids[::-1] if i != ids[1]]
    assert bad_status.status_code == 422 and error_of(bad_status)["field"] == "status"
    assert bad_cursor.status_code == 422 and error_of(bad_cursor)["field"] == "cursor"
    assert too_big.status_code == 422 and error_of(too_big)["field"] == "limit"
    assert bobs == {"items": [], "next_cursor": None}


async def test_delete_cancels_a_queued_run_and_a_second_delete_is_409(api: Api):
    async with api.client() as client:
        run_id = await _submit(client)
        cancelled = await client.delete(f"/v1/backtests/{run_id}")
        again = await client.delete(f"/v1/backtests/{run_id}")
        finished_id = await _submit(client, top_n=3)
        await api.finish(finished_id)
        too_late = await client.delete(f"/v1/backtests/{finished_id}")
    assert cancelled.status_code == 200, cancelled.text
    run = cancelled.json()
    assert run["status"] == "cancelled" and run["finished_at"] is not None
    assert run["result"] is None
    for response, status in ((again, "cancelled"), (too_late, "done")):
        assert response.status_code == 409
        error = error_of(response)
        assert error["code"] == "conflict" and status in error["message"]
    assert await api.sql("SELECT status FROM runs ORDER BY created_at") == [
        ("cancelled",), ("done",)
    ]


async def test_a_cancel_wakes_a_waiter_at_once(api: Api):
    """Regression: DELETE sent no qbt_done notice, so `?wait=` on a cancelled run answered
    only at its next re-read (WAIT_POLL_S, 10 s) or its deadline."""
    async with api.client() as client:
        run_id = await _submit(client)

        async def cancel_later() -> httpx.Response:
            await asyncio.sleep(0.3)
            return await client.delete(f"/v1/backtests/{run_id}")

        started = time.monotonic()
        waited, cancelled = await asyncio.gather(
            client.get(f"/v1/backtests/{run_id}", params={"wait": 6}), cancel_later()
        )
        elapsed = time.monotonic() - started
    assert cancelled.status_code == 200
    assert waited.json()["status"] == "cancelled"
    assert elapsed < 3


async def test_a_database_lost_after_the_commit_answers_503_naming_the_run(
    api: Api, monkeypatch: pytest.MonkeyPatch
):
    """The connection drops once the insert has committed: the 503 says the run may exist and
    names its id; the run is there, and a retry with the same key answers it (no twin)."""
    import psycopg

    from serve.store import runs as store

    real_insert = store.insert_run

    async def insert_then_lose_the_connection(*args: Any, **kwargs: Any) -> Any:
        await real_insert(*args, **kwargs)
        raise psycopg.OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(store, "insert_run", insert_then_lose_the_connection)
    async with api.client("alice") as client:
        lost = await client.post("/v1/backtests", json=_spec(top_n=7),
                                 headers={"Idempotency-Key": "after-commit"})
        monkeypatch.setattr(store, "insert_run", real_insert)
        run_id = error_of(lost)["id"]
        found = await client.get(f"/v1/backtests/{run_id}")
        retried = await client.post("/v1/backtests", json=_spec(top_n=7),
                                    headers={"Idempotency-Key": "after-commit"})
    assert lost.status_code == 503 and lost.headers["retry-after"].isdigit()
    assert error_of(lost)["code"] == "unavailable"
    assert f"it may exist as {run_id}" in error_of(lost)["message"]
    assert "same Idempotency-Key" in error_of(lost)["message"]
    assert found.status_code == 200 and found.json()["status"] == "queued"
    assert retried.status_code == 202 and retried.json()["id"] == run_id
    assert (await api.rows())["runs"] == 1


async def test_a_database_gone_before_the_submit_names_no_run(
    api: Api, monkeypatch: pytest.MonkeyPatch
):
    from psycopg_pool import PoolTimeout

    from serve.store import runs as store

    async def no_connection(*args: Any, **kwargs: Any) -> Any:
        raise PoolTimeout("couldn't get a connection after 2.00 sec")

    monkeypatch.setattr(store, "insert_run", no_connection)
    async with api.client("alice") as client:
        refused = await client.post("/v1/backtests", json=_spec(top_n=8))
    assert refused.status_code == 503 and "id" not in error_of(refused)
    assert (await api.rows())["runs"] == 0
