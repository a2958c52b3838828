"""How fast the web app is, in headless Chromium against a running QBT.

    python -m benchmarks.web_bench --url http://127.0.0.1:8000 --key KEY \\
        [--database-url URL] [--repeats 5] [--json PATH]

1. Run page: submits a 3-year daily backtest on the demo market (top 20, daily rebalance),
   waits for it, then opens its run page `repeats` times in a fresh tab and measures the
   time from the start of navigation until all six charts have drawn (an ECharts instance
   with painted pixels in each). Also the size of its report (one HTML file).
2. Runs list: with `--database-url`, makes the owner's runs 10,000 (rows written directly,
   done with statistics) and measures opening the list page, the next page and the API
   call behind it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

from tests.serve.browser import browser, watched_page

SPEC = {"start": "2021-01-05", "end": "2023-12-28", "rebalance": "daily", "top_n": 20,
        "ranking": [{"factor": "PBR", "ascending": True}, {"factor": "MOM_3M"}]}
DRAWN = """() => {
  const boxes = [...document.querySelectorAll('#run-view .chart')];
  return boxes.length === 6 && boxes.every(el => {
    const chart = window.echarts && window.echarts.getInstanceByDom(el);
    const canvas = el.querySelector('canvas');
    if (!chart || !canvas || !canvas.width) return false;
    const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    for (let i = 3; i < data.length; i += 4 * 101) if (data[i] > 0) return true;
    return false;
  });
}"""


def submit_and_wait(url: str, key: str) -> str:
    headers = {"Authorization": f"Bearer {key}"}
    with httpx.Client(base_url=url, headers=headers, timeout=120) as client:
        run = client.post("/v1/backtests", json=SPEC, params={"wait": 60}).json()
        while run["status"] in ("queued", "running"):
            run = client.get(f"/v1/backtests/{run['id']}", params={"wait": 30}).json()
        if run["status"] != "done":
            raise SystemExit(f"the benchmark run ended {run['status']}: {run.get('error')}")
        return str(run["id"])


def sign_in(page: Any, url: str, key: str) -> None:
    page.goto(f"{url}/#/signin")
    page.fill("#api-key", key)
    page.click("#signin-form button[type=submit]")
    page.wait_for_selector(".page-head h1")


def time_run_page(url: str, key: str, run_id: str, repeats: int) -> dict[str, Any]:
    seconds = []
    with browser() as launched, watched_page(launched) as ui:
        sign_in(ui.page, url, key)
        for _ in range(repeats):
            ui.page.goto(f"{url}/#/runs")
            ui.page.wait_for_selector(".page-head h1")
            began = time.perf_counter()
            ui.page.evaluate(f"location.hash = '#/runs/{run_id}'")
            ui.page.wait_for_function(DRAWN, polling=20, timeout=30_000)
            seconds.append(time.perf_counter() - began)
            cold = time.perf_counter()
            ui.page.goto(f"{url}/?cold={uuid.uuid4().hex}#/runs/{run_id}")
            ui.page.wait_for_function(DRAWN, polling=20, timeout=30_000)
            seconds.append(time.perf_counter() - cold)
        errors = list(ui.errors)
    warm, cold_loads = seconds[0::2], seconds[1::2]
    return {"navigations": len(seconds),
            "warm_p50_s": round(statistics.median(warm), 3), "warm_max_s": round(max(warm), 3),
            "full_load_p50_s": round(statistics.median(cold_loads), 3),
            "full_load_max_s": round(max(cold_loads), 3), "console_errors": errors}


def make_runs(database_url: str, owner: str, total: int) -> int:
    import psycopg

    with psycopg.connect(database_url) as conn:
        have = conn.execute("SELECT count(*) FROM runs WHERE owner = %s AND sweep_id IS NULL",
                            (owner,)).fetchone()[0]  # type: ignore[index]
        missing = max(0, total - have)
        if missing:
            row = conn.execute("SELECT spec, statistics, data_version FROM runs WHERE owner = %s"
                               " AND status = 'done' LIMIT 1", (owner,)).fetchone()
            assert row is not None, "no finished run to copy"
            conn.execute(
                "INSERT INTO runs (id, owner, spec, status, data_version, engine_version,"
                " attempts, statistics, created_at, started_at, finished_at)"
                " SELECT gen_random_uuid(), %s, %s, 'done', %s, 'bench', 1, %s,"
                " now() - make_interval(secs => g), now() - make_interval(secs => g),"
                " now() - make_interval(secs => g) FROM generate_series(1, %s) g",
                (owner, json.dumps(row[0]), row[2], json.dumps(row[1]), missing))
        return total


def time_runs_list(url: str, key: str, repeats: int) -> dict[str, Any]:
    headers = {"Authorization": f"Bearer {key}"}
    api = []
    with httpx.Client(base_url=url, headers=headers, timeout=30) as client:
        for _ in range(repeats):
            began = time.perf_counter()
            client.get("/v1/backtests", params={"limit": 20}).raise_for_status()
            api.append(time.perf_counter() - began)
    pages, older = [], []
    with browser() as launched, watched_page(launched) as ui:
        sign_in(ui.page, url, key)
        for _ in range(repeats):
            ui.page.goto(f"{url}/#/factors")
            ui.page.wait_for_selector("#factors-table")
            began = time.perf_counter()
            ui.page.evaluate("location.hash = '#/runs'")
            ui.page.wait_for_selector("#runs-table tbody tr")
            pages.append(time.perf_counter() - began)
            began = time.perf_counter()
            ui.page.click("#older")
            ui.page.wait_for_function("() => location.hash.includes('cursor') && "
                                      "document.querySelector('#runs-table tbody tr')")
            older.append(time.perf_counter() - began)
    return {"api_p50_ms": round(statistics.median(api) * 1000, 1),
            "page_p50_s": round(statistics.median(pages), 3), "page_max_s": round(max(pages), 3),
            "older_page_p50_s": round(statistics.median(older), 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--key", required=True)
    parser.add_argument("--database-url", help="to make the owner's runs 10,000")
    parser.add_argument("--owner", default="demo")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", dest="json_path")
    args = parser.parse_args()

    run_id = submit_and_wait(args.url, args.key)
    with httpx.Client(base_url=args.url, headers={"Authorization": f"Bearer {args.key}"},
                      timeout=60) as client:
        report = client.get(f"/v1/backtests/{run_id}/report").content
    result: dict[str, Any] = {"run": run_id, "spec": SPEC,
                              "report_mb": round(len(report) / 1e6, 2),
                              "run_page": time_run_page(args.url, args.key, run_id, args.repeats)}
    if args.database_url:
        result["runs"] = make_runs(args.database_url, args.owner, 10_000)
        result["runs_list"] = time_runs_list(args.url, args.key, args.repeats)
    print(json.dumps(result, indent=2))
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
