"""The web app's files and the report over the FastAPI app, without Ray or a browser: the
Content-Security-Policy on every answer, files only from the package, /docs offline, the
report of a finished run (its own CSP, nothing fetched) and `qbt report`."""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator

import pytest

from serve.web.assets import CSP
from tests.serve.fake_registry import SPEC, Api, serving

pytestmark = pytest.mark.anyio


@pytest.fixture
async def api(database_url: str) -> AsyncIterator[Api]:
    async with serving(database_url) as served:
        yield served


async def test_the_app_and_its_files_are_served_with_the_csp(api: Api):
    async with api.client(None) as client:
        index = await client.get("/")
        script = await client.get("/static/js/app.js")
        chart_lib = await client.get("/static/vendor/echarts-6.1.0.min.js")
        health = await client.get("/healthz")
    assert index.status_code == 200 and "text/html" in index.headers["content-type"]
    assert '<script type="module" src="/static/js/app.js">' in index.text
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert chart_lib.status_code == 200 and len(chart_lib.content) > 500_000
    for response in (index, script, health):
        assert response.headers["content-security-policy"] == CSP
        assert response.headers["x-content-type-options"] == "nosniff"
    assert "'unsafe-inline'" not in CSP and "'unsafe-eval'" not in CSP and "http" not in CSP


@pytest.mark.parametrize("path", [
    "/static/../../etc/passwd", "/static/%2e%2e/%2e%2e/etc/passwd", "/static/..%2f..%2fetc/passwd",
    "/static/js/../../../../etc/passwd", "/static/swagger/../../../../etc/passwd",
    "/static/", "/static/nope.js", "/static/%00", "/static/js",
])
async def test_files_only_from_the_package(api: Api, path: str):
    async with api.client(None) as client:
        response = await client.get(path)
    assert response.status_code == 404, response.text[:200]
    assert "root:" not in response.text


async def test_the_openapi_page_needs_no_cdn(api: Api):
    async with api.client(None) as client:
        docs = await client.get("/docs")
        bundle = await client.get("/static/swagger/swagger-ui-bundle.js")
    assert docs.status_code == 200
    sources = re.findall(r'(?:src|href)="([^"]+)"', docs.text)
    assert sources and all(s.startswith("/static/") for s in sources), sources
    assert bundle.status_code == 200 and len(bundle.content) > 500_000


async def test_a_finished_runs_report_is_one_self_contained_file(api: Api):
    async with api.client("alice") as client:
        run_id = (await client.post("/v1/backtests", json=SPEC)).json()["id"]
        early = await client.get(f"/v1/backtests/{run_id}/report")
        await api.finish(run_id)
        report = await client.get(f"/v1/backtests/{run_id}/report")
    async with api.client("bob") as other:
        stolen = await other.get(f"/v1/backtests/{run_id}/report")
    assert early.status_code == 409 and early.json()["error"]["field"] == "id"
    assert stolen.status_code == 404
    assert report.status_code == 200
    assert report.headers["content-disposition"].startswith("attachment; filename=")
    html = report.text
    csp = report.headers["content-security-policy"]
    assert csp.startswith("default-src 'none'; script-src 'sha256-")
    assert f'content="{csp}"' in html  # the same policy from disk
    markup = re.sub(r"<script([^>]*)>.*?</script>", r"<script\1></script>", html, flags=re.S)
    assert not re.findall(r"<(?:script|link|img|iframe)[^>]+(?:src|href)=", markup)  # no fetch
    assert '<script type="application/json" id="qbt-run">' in html and run_id in html


async def test_qbt_report_writes_the_same_file(api: Api, tmp_path, monkeypatch, capsys):
    from cluster.cli import main

    async with api.client("alice") as client:
        run_id = (await client.post("/v1/backtests", json=SPEC)).json()["id"]
        await api.finish(run_id)
        served = (await client.get(f"/v1/backtests/{run_id}/report")).text
    monkeypatch.setenv("QBT_DATABASE_URL", api.database_url)
    out = tmp_path / "report.html"
    # the CLI runs its own event loop: call it from a thread, as from a shell
    assert await asyncio.to_thread(main, ["report", run_id, "-o", str(out)]) == 0
    assert out.read_text() == served
    assert "opens offline" in capsys.readouterr().out
    unknown = ["report", "00000000-0000-0000-0000-000000000000", "-o", str(out)]
    assert await asyncio.to_thread(main, unknown) == 2
    assert "No backtest" in capsys.readouterr().err
