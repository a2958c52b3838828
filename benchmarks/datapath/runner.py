"""The whole benchmark, one run: the market, Redis, each mode in its own driver process,
the optional HTTP scenario, then the report.

1. Market: the given database (full size), or a fresh database with a tiny demo market
   (`--quick`), dropped afterwards.
2. Plan: the window (the last `window_days` trading days), the strategy mix, the phases'
   sizes; written once as JSON, so every mode measures the same thing.
3. Modes: `python -m benchmarks.datapath.driver PLAN OUT MODE`, one after another (never
   two at once: they would share the two cores and the memory being measured).
4. HTTP (only with `--http URL --key KEY`): `benchmarks.http_load` against a running API.
5. Report: JSON (everything measured) and markdown (`report.py`).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import deque
from dataclasses import asdict, dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

from benchmarks.datapath import markdown, report
from benchmarks.datapath.market import choose_window, create_quick_market, drop_database
from benchmarks.datapath.modes import MODES, REDIS_MODES
from benchmarks.datapath.services import machine, redis_endpoint
from benchmarks.datapath.strategies import strategy_mix

GB = 1024**3


@dataclass(frozen=True)
class Size:
    """How much each phase measures."""

    name: str
    window_days: int  # trading days per backtest
    runs: int  # backtests in the throughput phase ("100 backtests")
    latency_runs: int  # one-at-a-time backtests for the per-backtest figures
    concurrency: tuple[int, ...]  # memory levels
    latency_budget_s: float
    throughput_budget_s: float  # past this, the rest of `runs` is extrapolated (labelled)
    memory_min_s: float  # each memory level keeps c backtests in flight this long
    warmup_hold_s: float
    object_store_mb: int
    mode_timeout_s: float
    quick_market: tuple[int, date, date] | None  # (stocks, first day, last day) or None


FULL = Size("full", window_days=250, runs=100, latency_runs=20, concurrency=(1, 4, 16),
            latency_budget_s=60.0, throughput_budget_s=150.0, memory_min_s=3.0,
            warmup_hold_s=0.5, object_store_mb=1024, mode_timeout_s=3600.0, quick_market=None)
QUICK = Size("quick", window_days=120, runs=3, latency_runs=3, concurrency=(1, 2),
             latency_budget_s=20.0, throughput_budget_s=20.0, memory_min_s=0.3,
             warmup_hold_s=0.2, object_store_mb=256, mode_timeout_s=240.0,
             quick_market=(30, date(2022, 7, 1), date(2023, 12, 31)))


@dataclass(frozen=True)
class Options:
    size: Size
    database_url: str
    command: str
    modes: tuple[str, ...] = MODES
    redis_url: str | None = None
    slots: int = os.cpu_count() or 2
    arrow_codec: str = "auto"
    memory_fraction: float = 0.8  # a level runs only if its estimate fits this share
    floor_gb: float = 2.0  # the memory guard fires below this MemAvailable
    out_dir: Path = Path("bench-results")
    json_path: Path | None = None
    http_url: str | None = None
    http_key: str | None = None
    users: int = 100
    sample_interval_s: float = 0.1


def with_overrides(size: Size, **overrides: Any) -> Size:
    """`size` with the options given on the command line (None: keep)."""
    return replace(size, **{k: v for k, v in overrides.items() if v is not None})


def run_suite(options: Options) -> tuple[dict[str, Any], str, Path]:
    """Run everything; answers (report, markdown, path of the JSON written)."""
    started_at = datetime.now().astimezone()
    load_at_start = [round(x, 2) for x in os.getloadavg()]
    size = options.size
    database_url, quick_db = options.database_url, None
    endpoint = redis_endpoint(options.redis_url) if set(options.modes) & set(REDIS_MODES) else None
    try:
        if size.quick_market is not None:
            stocks, first, last = size.quick_market
            print(f"creating a fresh database with a {stocks}-stock demo market ...",
                  file=sys.stderr, flush=True)
            quick_db, _ = create_quick_market(database_url, n_stocks=stocks, start=first,
                                              end=last)
            database_url = quick_db
        plan = _plan(options, database_url=database_url, endpoint=endpoint)
        modes = _run_modes(options, plan=plan, endpoint=endpoint)
        http = _run_http(options, plan) if options.http_url else None
        info = machine(database_url=database_url, redis_url=endpoint.url if endpoint else None)
        info["load_average_at_start"] = load_at_start
    finally:
        if endpoint is not None:
            endpoint.stop()
        if quick_db is not None:
            drop_database(quick_db)
    result = report.build(
        plan=plan, machine=info, modes=modes, http=http, command=options.command,
        started_at=started_at.isoformat(timespec="seconds"),
        redis_note=endpoint.note if endpoint else "not used",
    )
    text = markdown.render(result)
    path = options.json_path or options.out_dir / (
        f"bench-{size.name}-{started_at:%Y%m%d-%H%M%S}.json")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1, default=str) + "\n")
    path.with_suffix(".md").write_text(text)
    return result, text, path


def _plan(options: Options, *, database_url: str, endpoint: Any) -> dict[str, Any]:
    size = options.size
    window = choose_window(database_url, days=size.window_days)
    return {
        "size": asdict(size) | {"quick_market": bool(size.quick_market)},
        "database_url": database_url,
        "database": _display_url(database_url),
        "redis_url": endpoint.url if endpoint else None,
        "redis_local": bool(endpoint and endpoint.local),
        "window": {"signal_day": window.signal_day.isoformat(), "start": window.start.isoformat(),
                   "end": window.end.isoformat(), "days": window.days,
                   "calendar_rows": window.calendar_rows, "stocks": window.stocks},
        "specs": strategy_mix(start=window.start, end=window.end),
        "modes": list(options.modes),
        "concurrency": sorted(set(size.concurrency) | {1}),
        "slots": options.slots,
        "runs": size.runs,
        "latency_runs": size.latency_runs,
        "latency_budget_s": size.latency_budget_s,
        "throughput_budget_s": size.throughput_budget_s,
        "memory_min_s": size.memory_min_s,
        "warmup_hold_s": size.warmup_hold_s,
        "object_store_bytes": size.object_store_mb * 1024**2,
        "arrow_codec": options.arrow_codec,
        "memory_fraction": options.memory_fraction,
        "floor_bytes": int(options.floor_gb * GB),
        "sample_interval_s": options.sample_interval_s,
        "key_prefix": f"qbt:bench:{os.getpid()}",
    }


def _display_url(url: str) -> str:
    from psycopg.conninfo import conninfo_to_dict

    params = conninfo_to_dict(url)
    host, port = params.get("host", "localhost"), params.get("port", "5432")
    return f"{params.get('dbname', '?')} on {host}:{port}"


def _run_modes(options: Options, *, plan: dict[str, Any], endpoint: Any) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="qbt-bench-") as folder:
        plan_path = Path(folder) / "plan.json"
        plan_path.write_text(json.dumps(plan))
        for mode in options.modes:
            if mode in REDIS_MODES and (endpoint is None or endpoint.url is None):
                note = endpoint.note if endpoint else "no Redis"
                results[mode] = {"mode": mode, "status": "skipped", "error": note}
                print(f"[{mode}] not run: {note}", file=sys.stderr, flush=True)
                continue
            results[mode] = _run_driver(mode, plan_path=plan_path, folder=Path(folder),
                                        timeout_s=options.size.mode_timeout_s)
    return results


def _run_driver(mode: str, *, plan_path: Path, folder: Path, timeout_s: float) -> dict[str, Any]:
    """One mode in its own process; its output is echoed to stderr as it comes."""
    out = folder / f"{mode}.json"
    command = [sys.executable, "-m", "benchmarks.datapath.driver", str(plan_path), str(out), mode]
    began = time.monotonic()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, start_new_session=True,
                               env={**os.environ, "RAY_AUTH_MODE": "token"})
    tail: deque[str] = deque(maxlen=20)
    timer = threading.Timer(timeout_s, _kill_group, args=(process.pid,))
    timer.start()
    try:
        assert process.stdout is not None
        for line in process.stdout:
            tail.append(line.rstrip())
            print(line, end="", file=sys.stderr, flush=True)
        code = process.wait()
    except BaseException:  # Ctrl-C here does not reach the driver's own session
        _kill_group(process.pid)
        raise
    finally:
        timer.cancel()
    if out.exists():
        return json.loads(out.read_text())
    reason = (f"timed out after {timeout_s:.0f} s" if time.monotonic() - began >= timeout_s
              else f"driver exited with code {code}")
    return {"mode": mode, "status": "failed", "error": f"{reason}: " + " | ".join(list(tail)[-5:])}


def _kill_group(pgid: int) -> None:
    """The driver and every process it started (its worker processes, Ray's)."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _run_http(options: Options, plan: dict[str, Any]) -> dict[str, Any]:
    from benchmarks.datapath.httpstep import run_http

    assert options.http_url is not None and options.http_key is not None
    print(f"[http] {options.users} users against {options.http_url} ...", file=sys.stderr,
          flush=True)
    try:
        return run_http(url=options.http_url, key=options.http_key, users=options.users,
                        start=plan["window"]["start"], end=plan["window"]["end"])
    except Exception as err:  # the datapath figures stand without it
        return {"status": "failed", "error": f"{type(err).__name__}: {err}",
                "url": options.http_url, "users": options.users}
