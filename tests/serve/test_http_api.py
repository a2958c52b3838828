"""The HTTP API over a real Serve app, Ray and PostgreSQL: each endpoint's happy path, auth
across owners, idempotency and reproducible results."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from serve.keys import create_key, key_id_of, revoke_key
from tests.serve.harness import SPEC, Deployed, running_service, wait_all_ended

pytestmark = [pytest.mark.ray, pytest.mark.slow]


@pytest.fixture(scope="module")
def api(server_url, ray_session):
    with running_service(server_url, max_sweep_variants=8) as deployed:
        yield deployed


def test_healthz_answers_without_a_key(api: Deployed):
    with api.client(None) as client:
        response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "dataset": "ok"}


def test_openapi_documents_the_engine_models(api: Deployed):
    with api.client(None) as client:
        schema = client.get("/openapi.json").json()
        docs = client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    components = schema["components"]["schemas"]
    assert {"StrategySpec", "SweepSpec", "BacktestResult", "Statistics", "ErrorBody"} <= set(
        components
    )
    body = schema["paths"]["/v1/backtests"]["post"]["requestBody"]["content"]["application/json"]
    assert body["schema"]["$ref"].endswith("/StrategySpec")
    assert "description" in components["StrategySpec"]["properties"]["top_n"]


def test_factors_lists_the_whole_catalog(api: Deployed):
    with api.client() as client:
        factors = client.get("/v1/factors").json()
    assert len(factors) == 54
    assert {"name", "category", "formula", "lookback", "inputs"} <= set(factors[0])


def test_datasets_any_key_refresh_admin_only(api: Deployed):
    with api.client("bob") as client:
        datasets = client.get("/v1/datasets").json()["datasets"]
        refused = client.post("/v1/datasets/refresh")
    assert [d["current"] for d in datasets] == [True]
    assert datasets[0]["shape"][0] == 54
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"
    with api.client("root") as client:
        refreshed = client.post("/v1/datasets/refresh")
    assert refreshed.status_code == 202
    assert refreshed.json()["latest"] == datasets[0]["version"]


def test_submit_with_wait_answers_the_whole_result(api: Deployed):
    with api.client() as client:
        response = client.post("/v1/backtests", params={"wait": 30}, json=SPEC)
        version = client.get("/v1/datasets").json()["datasets"][0]["version"]
    assert response.status_code == 200, response.text
    run = response.json()
    assert response.headers["location"] == f"/v1/backtests/{run['id']}"
    assert run["status"] == "done" and run["error"] is None
    assert run["data_version"] == version
    assert run["engine_version"] == run["result"]["engine_version"]
    assert run["attempts"] == 1
    result = run["result"]
    assert len(result["equity"]) == len(result["dates"]) == run["statistics"]["n_days"]
    assert run["result"]["spec"]["top_n"] == SPEC["top_n"]
    assert run["timings"]["total_s"] >= run["timings"]["run_s"] >= 0


def test_submit_answers_202_then_location_has_the_run(api: Deployed):
    with api.client() as client:
        accepted = client.post("/v1/backtests", json={**SPEC, "top_n": 7})
        assert accepted.status_code == 202
        body = accepted.json()
        assert body["status"] in ("queued", "running", "done")
        assert accepted.headers["location"] == body["location"]
        run = client.get(body["location"], params={"wait": 30}).json()
    assert run["status"] == "done"
    assert run["statistics"]["n_days"] > 200


def test_same_spec_and_data_version_give_the_same_equity_curve(api: Deployed):
    with api.client("bob") as client:
        first = client.post("/v1/backtests", params={"wait": 30}, json=SPEC).json()
        second = client.post("/v1/backtests", params={"wait": 30}, json=SPEC).json()
    assert first["id"] != second["id"]
    assert first["data_version"] == second["data_version"]
    assert first["result"]["equity"] == second["result"]["equity"]
    assert first["statistics"] == second["statistics"]


def test_listing_pages_through_the_callers_runs_only(api: Deployed):
    with api.client("alice") as client:
        ids = [
            client.post("/v1/backtests", json={**SPEC, "top_n": n}).json()["id"] for n in (3, 4, 5)
        ]
        seen, cursor = [], None
        while True:
            params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
            page = client.get("/v1/backtests", params=params).json()
            seen += [item["id"] for item in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        bad_cursor = client.get("/v1/backtests", params={"cursor": "nonsense"})
    assert seen[:3] == ids[::-1]  # newest first
    assert len(seen) == len(set(seen))
    assert bad_cursor.status_code == 422 and bad_cursor.json()["error"]["field"] == "cursor"
    with api.client("bob") as client:
        bobs = client.get("/v1/backtests", params={"limit": 100}).json()["items"]
    assert not set(ids) & {item["id"] for item in bobs}


def test_keys_are_checked_and_owners_see_only_their_own(api: Deployed):
    with api.client("alice") as client:
        run_id = client.post("/v1/backtests", json=SPEC).json()["id"]
    with api.client(None) as client:
        missing = client.get("/v1/factors")
        unknown_key = "qbt_0123456789ab_" + "y" * 43
        wrong = client.get("/v1/factors", headers={"Authorization": f"Bearer {unknown_key}"})
        malformed = client.get("/v1/factors", headers={"Authorization": "Bearer hello"})
    for response in (missing, wrong, malformed):
        assert response.status_code == 401
        assert response.headers["www-authenticate"] == "Bearer"
        assert response.json()["error"]["field"] == "Authorization"
    with api.client("bob") as client:
        assert client.get(f"/v1/backtests/{run_id}").status_code == 404
        assert client.delete(f"/v1/backtests/{run_id}").status_code == 404
        assert client.get(f"/v1/backtests/{uuid.uuid4()}").json()["error"]["code"] == "not_found"
    with api.client("alice") as client:
        assert client.get(f"/v1/backtests/{run_id}").status_code == 200


def test_a_revoked_key_is_refused_at_once_not_at_cache_expiry(api: Deployed):
    key = create_key(api.database_url, owner="erin")
    with httpx.Client(base_url=api.url, headers={"Authorization": f"Bearer {key}"},
                      timeout=30.0) as client:
        assert client.get("/v1/factors").status_code == 200  # now in the 10 s key cache
        assert revoke_key(api.database_url, key_id=key_id_of(key))
        deadline, status = time.monotonic() + 2.0, 200
        while status == 200 and time.monotonic() < deadline:
            status = client.get("/v1/factors").status_code
            time.sleep(0.05)
    assert status == 401


def test_idempotency_key_answers_the_same_run(api: Deployed):
    key = {"Idempotency-Key": f"retry-{uuid.uuid4()}"}
    before = api.rows()["runs"]
    with api.client("alice") as client:
        first = client.post("/v1/backtests", json=SPEC, headers=key)
        again = client.post("/v1/backtests", json=SPEC, headers=key)
        changed = client.post("/v1/backtests", json={**SPEC, "top_n": 11}, headers=key)
    with api.client("bob") as client:
        other_owner = client.post("/v1/backtests", json=SPEC, headers=key)
    assert first.status_code == again.status_code == 202
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    assert changed.status_code == 409
    assert changed.json()["error"]["code"] == "idempotency_key_reused"
    assert other_owner.json()["id"] != first.json()["id"]
    assert api.rows()["runs"] == before + 2


def test_sweep_runs_every_variant_and_ranks_them(api: Deployed):
    sweep = {
        "base": SPEC,
        "grid": {"top_n": [5, 10], "rebalance": ["monthly", "quarterly"]},
        "rank_by": "sharpe",
        "top": 3,
        "validation": {"walk_forward": {"train_days": 100, "test_days": 50}},
    }
    key = {"Idempotency-Key": f"sweep-{uuid.uuid4()}"}
    with api.client("alice") as client:
        accepted = client.post("/v1/sweeps", json=sweep, headers=key)
        assert accepted.status_code == 202, accepted.text
        replayed = client.post("/v1/sweeps", json=sweep, headers=key)
        assert replayed.json()["id"] == accepted.json()["id"]
        location = accepted.headers["location"]
        deadline = time.monotonic() + 60
        while (body := client.get(location).json())["status"] in ("queued", "running"):
            assert time.monotonic() < deadline, body
            time.sleep(0.3)
        best = client.post("/v1/backtests?wait=60", json={
            **SPEC, **body["variants"][0]["overrides"]}).json()
    with api.client("bob") as client:
        assert client.get(location).status_code == 404
    assert accepted.json()["n_variants"] == body["n_total"] == 4
    assert body["status"] == "done" and body["n_failed"] == 0
    variants = body["variants"]
    assert len(variants) == 3
    sharpes = [v["statistics"]["sharpe"] for v in variants]
    assert sharpes == sorted(sharpes, reverse=True)
    assert all(set(v["overrides"]) == {"top_n", "rebalance"} for v in variants)
    assert variants[0]["overrides"]["top_n"] in (5, 10)
    # The analysis, stored before the sweep reads as done: the best variant's deflated
    # Sharpe ratio (its Sharpe ratio from the stored daily returns equals its own run's) ...
    report = body["overfitting"]
    assert report["n_trials"] == 4 and report["best_variant"] == variants[0]["variant"]
    assert report["best_sharpe"] == pytest.approx(best["statistics"]["sharpe"], rel=1e-5)
    assert 0 <= report["deflated_sharpe"] < report["probabilistic_sharpe"] <= 1
    assert 0 <= report["pbo"] <= 1 and report["robust_variant"] in range(4)
    # ... and walk-forward: folds of 100 days in sample, 50 out, the equity chained.
    folds = body["walk_forward"]["folds"]
    assert len(folds) >= 2 and body["analysis_errors"] == []
    assert folds[0]["start_equity"] == SPEC.get("initial_capital", 1e8)
    assert all(a["end_equity"] == b["start_equity"] for a, b in zip(folds, folds[1:], strict=False))
    assert body["walk_forward"]["equity"][-1] == folds[-1]["end_equity"]


def test_cancelled_runs_never_get_a_result(api: Deployed):
    with api.client("bob") as client:
        daily = {**SPEC, "rebalance": "daily"}
        ids = [
            client.post("/v1/backtests", json={**daily, "top_n": n}).json()["id"]
            for n in range(5, 25)
        ]
        cancels = {ident: client.delete(f"/v1/backtests/{ident}") for ident in reversed(ids)}
        ended = wait_all_ended(client, ids)
    cancelled = [i for i, r in cancels.items() if r.status_code == 200]
    assert cancelled, "every run ended before its DELETE"
    for response in cancels.values():
        assert response.status_code in (200, 409)
        if response.status_code == 409:
            assert response.json()["error"]["code"] == "conflict"
    time.sleep(1.0)  # give a late batch time to try to write
    with api.client("bob") as client:
        for ident in cancelled:
            run = client.get(f"/v1/backtests/{ident}").json()
            assert run["status"] == "cancelled" and ended[ident]["status"] == "cancelled"
            assert run["result"] is None and run["statistics"] is None


def test_a_factor_report_is_queued_computed_on_ray_and_stored(api: Deployed):
    body = {"factors": ["PBR", "MOM_3M"], "start": "2021-06-01", "end": "2022-05-31",
            "horizons": [1, 5, 21]}
    with api.client("alice") as client:
        refused = client.post("/v1/factor-reports", json={**body, "factors": ["NOPE"]})
        bad_horizon = client.post("/v1/factor-reports", json={**body, "horizons": [0]})
        accepted = client.post("/v1/factor-reports", json=body)
        assert accepted.status_code == 202, accepted.text
        location = accepted.headers["location"]
        deadline = time.monotonic() + 90
        while (report := client.get(location).json())["status"] in ("queued", "running"):
            assert time.monotonic() < deadline, report
            time.sleep(0.3)
    with api.client("bob") as client:
        assert client.get(location).status_code == 404  # another owner's
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "factors"
    assert bad_horizon.status_code == 422 and "horizons" in bad_horizon.text
    assert report["status"] == "done" and report["error"] is None, report
    result = report["result"]
    assert result["factors"] == ["PBR", "MOM_3M"] and result["horizons"] == [1, 5, 21]
    assert {(r["factor"], r["horizon"]) for r in result["ic_summary"]} == {
        (f, h) for f in ("PBR", "MOM_3M") for h in (1, 5, 21)}
    assert all(r["n_days"] > 200 and -1 <= r["mean_ic"] <= 1 for r in result["ic_summary"])
    assert all(len(r["mean_returns"]) == 5 for r in result["quantile_returns"])
    assert result["correlation"][0][0] == pytest.approx(1.0)


def test_an_equal_finished_run_of_another_owner_is_reused_and_says_so(api: Deployed):
    spec = {**SPEC, "top_n": 7, "initial_capital": 1e8 + time.time_ns() % 10**6}
    with api.client("alice") as client:
        first = client.post("/v1/backtests?wait=60", json=spec).json()
    with api.client("bob") as client:
        second = client.post("/v1/backtests?wait=60", json=spec).json()
        listed = client.get("/v1/backtests", params={"limit": 100}).json()["items"]
    assert first["status"] == second["status"] == "done"
    assert first["reused_from"] is None and second["reused_from"] == first["id"]
    assert second["statistics"] == first["statistics"]
    assert second["result"]["equity"] == first["result"]["equity"]
    assert first["id"] not in {item["id"] for item in listed}  # bob still sees only his own
