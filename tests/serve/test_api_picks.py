"""POST /v1/picks in-process, without Ray: the spec is checked against the current data
version's index (fake registry), the picks computed by a runner standing in for the Ray task
(here `compute_picks` on a toy panel), errors named by field."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from backtest.picks import compute_picks
from backtest.spec import StrategySpec
from tests.backtest.toy import rows, toy_panel
from tests.serve.fake_registry import SPEC, Api, error_of, serving

pytestmark = pytest.mark.anyio

# PBR 0.5, 2.0, 1.0 and MOM_3M 0.1, 0.3, 0.2 on the last day: A is cheapest, B has momentum.
TOY = toy_panel(
    close=[[10.0, 10.0, 10.0]] * 2,
    factors={"PBR": rows([1, 1, 1], [0.5, 2.0, 1.0]), "MOM_3M": rows([0, 0, 0], [0.1, 0.3, 0.2])},
    dates=["2022-12-29", "2022-12-30"],
)


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[Api]:
    async with serving(database_url) as served:
        seen: list[StrategySpec] = []

        async def runner(handle: Any, spec: StrategySpec) -> str:
            seen.append(spec)
            return compute_picks(spec, TOY).model_dump_json()

        served.service.picks.runner = runner
        served.seen = seen  # type: ignore[attr-defined]
        yield served


async def test_picks_answer_rank_score_weight_and_factor_values(api: Api):
    async with api.client() as client:
        response = await client.post("/v1/picks", json={**SPEC, "top_n": 2})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["signal_date"] == "2022-12-30" and body["invested"] is True
    assert body["n_eligible"] == 3
    # PBR ascending: A 1, C 0.5, B 0; MOM_3M: B 1, C 0.5, A 0. Scores: A 0.5, B 0.5, C 0.5:
    # all tie, so the codes decide: A, B.
    assert [(p["code"], p["rank"], p["weight"]) for p in body["picks"]] == [
        ("A", 1, 0.5), ("B", 2, 0.5)
    ]
    assert body["picks"][0]["factors"] == {"PBR": 0.5, "MOM_3M": pytest.approx(0.1)}
    assert api.seen[0].top_n == 2  # type: ignore[attr-defined]


async def test_picks_refuse_a_factor_the_data_lacks_naming_the_field(api: Api):
    async with api.client() as client:
        response = await client.post(
            "/v1/picks", json={**SPEC, "ranking": [{"factor": "NOPE"}]}
        )
    assert response.status_code == 422
    error = error_of(response)
    assert error["field"] == "ranking[0].factor" and '"NOPE"' in error["message"]
    assert api.seen == []  # type: ignore[attr-defined]


async def test_picks_refuse_a_bad_spec_and_an_unknown_timing_index(api: Api):
    async with api.client() as client:
        bad = await client.post("/v1/picks", json={**SPEC, "hold_buffer": -1})
        unknown = await client.post(
            "/v1/picks", json={**SPEC, "timing": {"index": "NIKKEI", "ma_days": 20}}
        )
    assert bad.status_code == 422 and error_of(bad)["field"] == "hold_buffer"
    assert unknown.status_code == 422 and "timing" in error_of(unknown)["field"]


async def test_picks_need_a_key_and_say_503_when_the_task_fails(api: Api):
    async with api.client(None) as client:
        assert (await client.post("/v1/picks", json=SPEC)).status_code == 401

    async def broken(handle: Any, spec: StrategySpec) -> str:
        raise ConnectionError("worker died")

    api.service.picks.runner = broken
    async with api.client() as client:
        response = await client.post("/v1/picks", json=SPEC)
    assert response.status_code == 503
    assert "worker died" in error_of(response)["message"]
