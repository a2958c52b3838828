"""The HTTP API in-process, without Ray: health, keys, the factor catalog and the data
versions (a fake registry). Runs and sweeps: test_api_runs.py, test_api_sweeps.py."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import ray

from dataprep.factors import FACTOR_NAMES
from serve.keys import key_id_of, revoke_key
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


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[Api]:
    async with serving(database_url) as served:
        yield served


async def test_healthz_answers_without_a_key(api: Api):
    async with api.client(None) as client:
        response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "dataset": "ok"}


async def test_a_missing_wrong_malformed_or_revoked_key_is_401(api: Api):
    unknown = "qbt_0123456789ab_" + "y" * 43
    wrong_secret = api.keys["alice"][:-4] + "zzzz"
    sent = {
        "missing": None,
        "unknown": f"Bearer {unknown}",
        "wrong secret": f"Bearer {wrong_secret}",
        "malformed": "Bearer hello",
        "not bearer": "Basic eDp5",
    }
    async with api.client(None) as client:
        answers = {
            case: await client.get("/v1/factors", headers={"Authorization": auth} if auth else {})
            for case, auth in sent.items()
        }
    assert revoke_key(api.database_url, key_id=key_id_of(api.keys["bob"]))
    async with api.client("bob") as client:
        answers["revoked"] = await client.post("/v1/backtests", json=SPEC)
    for case, response in answers.items():
        assert response.status_code == 401, case
        assert response.headers["www-authenticate"] == "Bearer", case
        error = error_of(response)
        assert (error["code"], error["field"]) == ("unauthenticated", "Authorization"), case
    assert "malformed" in error_of(answers["malformed"])["message"]
    assert await api.rows() == {"runs": 0, "sweeps": 0}


async def test_factors_lists_the_whole_catalog(api: Api):
    async with api.client() as client:
        factors = (await client.get("/v1/factors")).json()
    assert len(factors) == 54
    assert [f["name"] for f in factors] == list(FACTOR_NAMES)
    assert all(set(f) == {"name", "category", "formula", "lookback", "inputs"} for f in factors)


async def test_datasets_answers_the_registrys_versions(api: Api):
    async with api.client("bob") as client:
        response = await client.get("/v1/datasets")
    assert response.status_code == 200
    (dataset,) = response.json()["datasets"]
    assert dataset["version"] == VERSION and dataset["current"] is True
    assert dataset["shape"] == [54, api.registry.index.n_days, 60]
    assert list(dataset["coverage"]) == list(FACTOR_NAMES)
    assert api.registry.calls["versions"] == 1


async def test_datasets_show_each_factors_coverage_and_the_inputs_never_imported(
    database_url: str,
):
    """Regression: factors without any value after an import were not shown anywhere."""
    registry = FakeRegistry(index=panel_index(empty={"PBR": ("total_equity",)}))
    async with serving(database_url, registry=registry) as api, api.client() as client:
        response = await client.get("/v1/datasets")
    assert response.status_code == 200, response.text
    (dataset,) = response.json()["datasets"]
    coverage = dataset["coverage"]
    assert coverage["PBR"] == {"first_day": None, "share": 0.0, "missing_inputs": ["total_equity"]}
    assert coverage["MOM_3M"] == {"first_day": "2021-01-04", "share": 1.0, "missing_inputs": []}


async def test_refresh_needs_an_admin_key(api: Api):
    async with api.client("alice") as client:
        refused = await client.post("/v1/datasets/refresh")
    async with api.client("root") as client:
        refreshed = await client.post("/v1/datasets/refresh")
    assert refused.status_code == 403
    assert error_of(refused)["code"] == "forbidden"
    assert refreshed.status_code == 202
    assert refreshed.json() == {"current": VERSION, "latest": VERSION, "building": []}
    assert api.registry.calls["refresh"] == 1  # the refused call never reached the registry


async def test_a_registry_that_does_not_answer_is_503_with_retry_after(database_url: str):
    registry = FakeRegistry(down=True)
    async with serving(database_url, registry=registry) as api, api.client() as client:
        datasets = await client.get("/v1/datasets")
        submit = await client.post("/v1/backtests", json=SPEC)
        health = await client.get("/healthz")
    for response in (datasets, submit):
        assert response.status_code == 503, response.text
        assert error_of(response)["code"] == "unavailable"
        assert int(response.headers["retry-after"]) > 0
    assert health.json() == {"status": "degraded", "database": "ok", "dataset": "unavailable"}
    assert await api.rows() == {"runs": 0, "sweeps": 0}


async def test_unknown_routes_and_methods_answer_json(api: Api):
    async with api.client() as client:
        missing = await client.get("/v1/nothing")
        wrong_method = await client.put("/v1/factors")
    assert missing.status_code == 404 and error_of(missing)["code"] == "not_found"
    assert wrong_method.status_code == 405
    assert error_of(wrong_method)["code"] == "method_not_allowed"
    assert wrong_method.headers["allow"] == "GET"


async def test_serving_the_app_never_starts_ray(database_url: str):
    if ray.is_initialized():
        pytest.skip("another module's session Ray is up (serving() still checks we add none)")
    async with serving(database_url) as api, api.client() as client:
        assert (await client.post("/v1/backtests", json=SPEC)).status_code == 202
        assert (await client.get("/v1/datasets")).status_code == 200
    assert not ray.is_initialized()
