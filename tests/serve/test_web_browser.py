"""The web app in a real browser (headless Chromium, Playwright) against a running QBT:
sign in, build and submit a spec through the form, watch it finish, every chart of the run
page drawn with no console error, compare two runs, a sweep's heatmap, the report downloaded
and opened from disk with networking off, hostile stock names shown as text. Screenshots of
each page go to test-output/screenshots/."""

from __future__ import annotations

import time

import pytest

from tests.serve.browser import browser, charts_drawn, watched_page
from tests.serve.harness import SPEC, running_service, wait_all_ended

pytestmark = [pytest.mark.ray, pytest.mark.slow]
HOSTILE = "<img src=x onerror=alert(1)>"


@pytest.fixture(scope="module")
def app(server_url, ray_session):
    with running_service(server_url, max_sweep_variants=8) as deployed:
        yield deployed


@pytest.fixture(scope="module")
def chromium():
    with browser() as launched:
        yield launched


@pytest.fixture
def ui(chromium, app):
    with watched_page(chromium) as watched:
        yield watched


def sign_in(ui, app, who: str = "alice") -> None:
    page = ui.page
    page.goto(f"{app.url}/#/signin")
    page.fill("#api-key", app.keys[who])
    page.click("#signin-form button[type=submit]")
    page.wait_for_selector("#runs-table, .page-head h1:has-text('Runs')")


def finished_runs(app, n: int) -> list[str]:
    with app.client("alice") as client:
        ids = [client.post("/v1/backtests", json={**SPEC, "top_n": 5 + i}).json()["id"]
               for i in range(n)]
        wait_all_ended(client, ids, timeout_s=120)
    return ids


def test_sign_in_refuses_a_wrong_key_and_keeps_the_right_one_in_the_session(ui, app):
    page = ui.page
    page.goto(f"{app.url}/")
    page.wait_for_selector("#signin-form")
    page.fill("#api-key", "qbt_000000000000_notarealsecretnotarealsecret")
    page.click("#signin-form button[type=submit]")
    page.wait_for_selector("#signin-error:has-text('That key was refused')")
    ui.shot("signin-refused")
    sign_in(ui, app)
    assert page.evaluate("sessionStorage.getItem('qbt.key')") == app.keys["alice"]
    assert app.keys["alice"] not in page.url
    assert page.context.cookies() == []
    assert ui.errors == [e for e in ui.errors if "401" in e]  # only the refused sign-in


def example_in_builder(ui, app, *, end: str):
    """The builder with the example spec from 2021-06-01 to `end`, no size minimums."""
    page = ui.page
    sign_in(ui, app)
    page.goto(f"{app.url}/#/new")
    page.wait_for_selector("#builder [data-field='ranking']")
    page.click("#load-example")
    page.fill("[id='f-start']", "2021-06-01")
    page.fill("[id='f-end']", end)
    page.fill("[id='f-universe.min_market_cap']", "")
    page.fill("[id='f-universe.min_avg_trading_value']", "")
    return page


def test_build_submit_watch_and_see_every_chart(ui, app):
    page = example_in_builder(ui, app, end="2022-06-30")
    ui.shot("builder")
    page.click("#submit-spec")
    page.wait_for_selector("#run-view .chart canvas", timeout=90_000)
    page.wait_for_timeout(300)
    drawn = charts_drawn(page, "#run-view .chart")
    assert len(drawn) == 6, drawn
    assert all(c["instance"] and c["series"] and c["width"] and c["painted"] for c in drawn), drawn
    assert page.locator(".headline .figure").count() == 7
    text = page.inner_text("#run-view")
    assert "Statistics" in text and "Holdings per rebalance" in text and "The spec that ran" in text
    page.check("#log-scale")
    ui.shot("run")
    assert ui.errors == []


def test_the_builder_sets_the_korean_rules_and_the_run_shows_events_and_picks(ui, app):
    page = example_in_builder(ui, app, end="2022-12-28")
    page.fill("[id='f-top_n']", "8")
    page.select_option("[id='f-universe.preset']", "standard")
    page.check("[aria-label='universe.exclude loss_making']")
    page.fill("[id='f-hold_buffer']", "4")
    page.select_option("[aria-label='rebalance kind']", "months")
    for month in ("Apr", "Jun", "Sep", "Dec"):
        page.check(f"[aria-label='rebalance.months {month}']")
    page.fill("[aria-label='rebalance day of month']", "2")
    page.check("[id='f-timing-on']")
    page.select_option("[id='f-timing.index']", "KOSPI")
    page.fill("[id='f-timing.ma_days']", "60")
    ui.shot("builder-rules")
    page.click("#submit-spec")
    page.wait_for_selector("#run-view .chart canvas", timeout=90_000)
    page.wait_for_timeout(300)
    run_id = page.url.rsplit("/", 1)[-1]
    with app.client("alice") as client:
        run = client.get(f"/v1/backtests/{run_id}").json()
    spec = run["spec"]
    assert spec["universe"]["preset"] == "standard"
    assert spec["universe"]["exclude"] == ["loss_making"]
    assert spec["hold_buffer"] == 4 and spec["top_n"] == 8
    assert spec["rebalance"] == {"months": [4, 6, 9, 12], "day": 2}
    assert spec["timing"] == {"index": "KOSPI", "ma_days": 60, "months": None}
    assert run["result"]["statistics"]["exposure"] < 0.95  # timing kept it out a while
    assert page.locator("#chart-exposure canvas").count() == 1
    assert "Events that touched a holding" in page.inner_text("#events")
    assert "buffer 4" in page.inner_text(".run-head h1")
    ui.shot("run-rules")
    page.click("#run-picks")
    page.wait_for_selector("#picks-table tbody tr")
    shown = page.locator("#picks-table tbody tr td.code").all_inner_texts()
    with app.client("alice") as client:
        picks = client.post("/v1/picks", json=spec).json()
    assert shown == [p["code"] for p in picks["picks"]] and len(shown) == 8
    assert "2022-12-29" in page.inner_text("#picks-out")  # the demo's last session
    ui.shot("picks")
    assert ui.errors == []


def test_the_builder_shows_the_apis_error_next_to_the_field(ui, app):
    page = ui.page
    sign_in(ui, app)
    page.goto(f"{app.url}/#/new")
    page.wait_for_selector("#builder [data-field='ranking']")
    page.fill("[id='f-ranking[0].factor']", "NO_SUCH_FACTOR")
    page.fill("[id='f-end']", "2022-06-30")
    page.click("#submit-spec")
    slot = page.wait_for_selector("[data-error-for='ranking[0].factor']:has-text('NO_SUCH_FACTOR')")
    assert "no such factor" in slot.inner_text()
    ui.shot("builder-error")


def test_runs_list_updates_live_and_compares_two_runs(ui, app):
    ids = finished_runs(app, 2)
    page = ui.page
    sign_in(ui, app)
    with app.client("alice") as client:  # a run submitted while the page is open
        fresh = client.post("/v1/backtests", json={**SPEC, "top_n": 9}).json()["id"]
    page.wait_for_selector(f"tr[data-id='{fresh}'][data-status='done']", timeout=90_000)
    ui.shot("runs")
    page.goto(f"{app.url}/#/compare?ids={ids[0]},{ids[1]}")
    page.wait_for_selector("#compare-table")
    page.wait_for_timeout(300)
    drawn = charts_drawn(page, "#chart-compare")
    assert drawn[0]["series"] == 2 and drawn[0]["painted"], drawn
    ui.shot("compare")
    assert ui.errors == []


def test_a_sweep_shows_progress_ranks_its_heatmap_overfitting_and_walk_forward(ui, app):
    sweep = {"base": SPEC, "grid": {"top_n": [4, 8], "rebalance": ["monthly", "quarterly"]},
             "validation": {"walk_forward": {"train_days": 100, "test_days": 50}}}
    with app.client("bob") as client:
        sweep_id = client.post("/v1/sweeps", json=sweep).json()["id"]
    page = ui.page
    sign_in(ui, app, "bob")
    page.goto(f"{app.url}/#/sweeps/{sweep_id}")
    page.wait_for_selector("#chart-sweep canvas", timeout=120_000)
    page.wait_for_timeout(300)
    assert page.locator("#ranked-table tbody tr").count() == 4
    drawn = charts_drawn(page, "#chart-sweep")
    assert drawn[0]["series"] == 1 and drawn[0]["painted"], drawn
    # The overfitting panel: the deflated Sharpe ratio, PBO, the best and the robust choice.
    assert "%" in page.inner_text("#dsr .tile-value")
    assert "%" in page.inner_text("#pbo .tile-value")
    assert page.locator("#robust-table tbody tr").count() == 2
    # The walk-forward panel: the stitched out-of-sample equity against the index, the folds.
    assert page.locator("#folds-table tbody tr").count() >= 2
    walked = charts_drawn(page, "#chart-walk-forward")
    assert walked[0]["series"] == 2 and walked[0]["painted"], walked
    ui.shot("sweep")
    # A variant's page: its statistics, and its full result computed on request.
    page.click("#ranked-table tbody tr:first-child a")
    page.wait_for_selector("#variant-only")
    ui.shot("sweep-variant")
    page.click("#compute-full")
    page.wait_for_selector("#run-view", timeout=120_000)
    page.goto(f"{app.url}/#/sweeps")
    page.wait_for_selector("#sweeps-table")
    ui.shot("sweeps")
    assert ui.errors == []


def test_factor_research_runs_a_report_and_draws_its_table_and_charts(ui, app):
    page = ui.page
    sign_in(ui, app)
    page.goto(f"{app.url}/#/research")
    page.fill("#report-factors", "PBR, MOM_3M, ROE, NOPE")
    page.click("#run-report")
    error = page.wait_for_selector("#report-error:has-text('NOPE')")
    assert "no such factor" in error.inner_text()
    page.fill("#report-factors", "PBR, MOM_3M, ROE, PER")
    page.fill("#report-horizons", "1,5,21")
    page.click("#run-report")
    page.wait_for_selector("#ic-table tbody tr", timeout=120_000)
    page.wait_for_timeout(300)
    assert page.locator("#ic-table tbody tr").count() == 4
    assert page.locator("#ic-table thead th").count() == 2 + 2 * 3
    page.click("#ic-table thead th:first-child")  # sort by name
    first = page.inner_text("#ic-table tbody tr:first-child td:first-child")
    assert first in ("MOM_3M", "ROE")  # by name, one way or the other
    for chart, series in (("#chart-decay", None), ("#chart-quantiles", 3),
                          ("#chart-spread", 1), ("#chart-correlation", 1)):
        drawn = charts_drawn(page, chart)
        assert drawn[0]["painted"] and (series is None or drawn[0]["series"] == series), drawn
    page.select_option("#report-factor", "PER")
    ui.shot("research")
    assert ui.errors == [e for e in ui.errors if "422" in e]  # only the refused NOPE


def test_the_report_downloads_and_opens_from_disk_with_networking_off(chromium, app, tmp_path):
    [run_id] = finished_runs(app, 1)
    with watched_page(chromium) as ui:
        sign_in(ui, app)
        ui.page.goto(f"{app.url}/#/runs/{run_id}")
        ui.page.wait_for_selector("#download-report")
        with ui.page.expect_download() as download:
            ui.page.click("#download-report")
        saved = tmp_path / "report.html"
        download.value.save_as(saved)
    html = saved.read_text()
    assert "http://" not in html.split("<script")[0] and "src=\"http" not in html
    with watched_page(chromium, offline=True) as offline:
        requested: list[str] = []

        def only_files(route) -> None:
            requested.append(route.request.url)
            if route.request.url.startswith("file:"):
                route.continue_()
            else:
                route.abort()

        offline.page.route("**/*", only_files)
        offline.page.goto(saved.as_uri())
        offline.page.wait_for_selector("#report .chart canvas")
        offline.page.wait_for_timeout(300)
        drawn = charts_drawn(offline.page, "#report .chart")
        assert len(drawn) == 6 and all(c["painted"] for c in drawn), drawn
        assert [u for u in requested if not u.startswith("file:")] == []
        offline.shot("report")
        assert offline.errors == []


def test_hostile_stock_names_are_shown_as_text(ui, app, tmp_path, monkeypatch):
    from cluster.cli import main

    with app.client("alice") as client:
        code = client.get("/v1/datasets").json()["datasets"][0]["version"]  # data is there
    assert code
    rows = app.sql("SELECT code, market, listed_on, delisted_on FROM stocks")
    listing = tmp_path / "stocks.csv"
    lines = ["code,name,market,sector,listed_on,delisted_on"]
    for c, market, listed, delisted in rows:
        lines.append(f'{c},"{HOSTILE}",{market},"{HOSTILE}",{listed},{delisted or ""}')
    listing.write_text("\n".join(lines) + "\n")
    monkeypatch.setenv("QBT_DATABASE_URL", app.database_url)
    assert main(["db", "import", "--stocks", str(listing), "--replace"]) == 0
    with app.client("root") as client:
        client.post("/v1/datasets/refresh")
        deadline = time.monotonic() + 90
        while not any(d["current"] and d["version"] != code
                      for d in client.get("/v1/datasets").json()["datasets"]):
            assert time.monotonic() < deadline, "the registry did not build the new data"
            time.sleep(1)
    [run_id] = finished_runs(app, 1)
    page = ui.page
    sign_in(ui, app)
    page.goto(f"{app.url}/#/runs/{run_id}")
    page.wait_for_selector("table.holdings tbody tr")
    cell = page.locator("table.holdings tbody tr").first.locator("td").nth(2)
    assert cell.inner_text() == HOSTILE
    assert page.locator("table.holdings img").count() == 0
    ui.shot("run-hostile-names")
    assert ui.dialogs == [] and ui.errors == []


def test_catalog_data_and_docs_pages(ui, app):
    page = ui.page
    sign_in(ui, app)
    page.goto(f"{app.url}/#/factors")
    page.wait_for_selector("#factors-table tbody tr")
    assert page.locator("#factors-table tbody tr").count() == 54
    page.fill("#factor-search", "momentum")
    ui.shot("factors")
    page.goto(f"{app.url}/#/data")
    page.wait_for_selector("table.coverage tbody tr")
    ui.shot("data")
    page.goto(f"{app.url}/docs")
    page.wait_for_selector(".swagger-ui .opblock", timeout=30_000)
    ui.shot("docs")
    assert ui.errors == []
