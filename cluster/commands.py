"""What each `qbt` command does, given its parsed arguments and the Settings."""

from __future__ import annotations

import argparse
import json
import time
from contextlib import ExitStack
from typing import Any

from cluster.errors import CommandError, read_json_file
from runtime.config import Settings
from runtime.database import database_for_command, resolve_database_url


def db_init(args: argparse.Namespace, settings: Settings) -> int:
    from dataprep.schema import migrate

    url = resolve_database_url(settings)
    applied = migrate(url)
    names = ", ".join(f"{m.version:03d}_{m.name}" for m in applied) or "none (up to date)"
    print(f"migrations applied: {names}")
    return 0


def db_demo(args: argparse.Namespace, settings: Settings) -> int:
    from dataprep.schema import migrate
    from dataprep.warehouse import load_demo

    url = resolve_database_url(settings)
    migrate(url)
    report = load_demo(
        url,
        n_stocks=args.stocks,
        start=args.start,
        end=args.end,
        seed=args.seed,
        replace=args.replace,
    )
    _print_load_report(report)
    return 0


def _print_load_report(report: Any) -> None:
    for table, count in report.rows.items():
        print(f"{table:>14}: {count:>10,} rows")
    print(f"generated in {report.generate_seconds:.1f} s, loaded (COPY) in "
          f"{report.load_seconds:.1f} s")


def db_import(args: argparse.Namespace, settings: Settings) -> int:
    from dataprep.importing import ImportRequest, import_market
    from dataprep.schema import migrate

    request = ImportRequest(
        stocks=args.stocks, prices=args.prices, shares=args.shares,
        delistings=args.delistings, financials=args.financials, indexes=args.indexes,
        status=args.status, formats=args.formats, replace=args.replace, dry_run=args.dry_run,
    )

    with ExitStack() as stack:

        def database() -> str:  # only once every file has been read and checked
            url = stack.enter_context(database_for_command(settings))
            migrate(url)
            return url

        report = import_market(request, database_url=database)
    for line in report.findings.lines():
        print(line)
    verb = "would write" if report.dry_run else "written"
    for table, written in report.written.items():
        print(f"{table:>14}: {written.inserted:>10,} new, {written.updated:,} updated, "
              f"{written.kept:,} kept as they were ({verb})")
    print(f"read and checked in {report.read_s:.1f} s, "
          + ("nothing written (--dry-run)" if report.dry_run
             else f"written in {report.write_s:.1f} s (one transaction)"))
    return 0


def keys_create(args: argparse.Namespace, settings: Settings) -> int:
    from dataprep.schema import migrate
    from serve.keys import create_key

    url = resolve_database_url(settings)
    migrate(url)
    key = create_key(url, owner=args.owner, admin=args.admin)
    print(key)
    return 0


def keys_list(args: argparse.Namespace, settings: Settings) -> int:
    from serve.keys import list_keys

    rows = list_keys(resolve_database_url(settings), owner=args.owner)
    print(f"{'key id':<12}  {'owner':<20}  {'admin':<5}  {'created':<19}  revoked")
    for row in rows:
        revoked = row["revoked_at"]
        print(f"{row['key_id']:<12}  {row['owner']:<20}  {'yes' if row['is_admin'] else 'no':<5}"
              f"  {row['created_at']:%Y-%m-%d %H:%M:%S}  "
              f"{'-' if revoked is None else f'{revoked:%Y-%m-%d %H:%M:%S}'}")
    return 0


def keys_revoke(args: argparse.Namespace, settings: Settings) -> int:
    from serve.keys import key_id_of, revoke_key

    key_id = key_id_of(args.key)
    if not revoke_key(resolve_database_url(settings), key_id=key_id):
        raise CommandError(f"no active key with id {key_id} (unknown, or revoked already)")
    print(f"revoked key {key_id}")
    return 0


def prep(args: argparse.Namespace, settings: Settings) -> int:
    """Build a panel, put it in the object store, report its cost and each factor's
    coverage (first day with a value, share of listed stock-days, inputs never imported)."""
    import ray

    from dataprep.build import build_panel_timed
    from dataprep.panel import coverage_rows
    from runtime.ray_connection import connect_ray

    url = resolve_database_url(settings)
    panel, timings = build_panel_timed(database_url=url, start=args.start, end=args.end)
    connect_ray(settings, log_to_driver=False)
    started = time.perf_counter()
    ref = ray.put(panel)
    put_s = time.perf_counter() - started
    report = {
        "version": panel.version,
        "shape": list(panel.values.shape),
        "first_day": str(panel.dates[0]),
        "last_day": str(panel.dates[-1]),
        "bytes": panel.nbytes,
        "load_s": round(timings.load_s, 3),
        "compute_s": round(timings.compute_s, 3),
        "put_s": round(put_s, 3),
        "total_s": round(timings.load_s + timings.compute_s + put_s, 3),
    }
    del ref
    coverage = coverage_rows(panel)
    if args.json:
        print(json.dumps({**report, "coverage": coverage}))
    else:
        for key, value in report.items():
            print(f"{key:>10}: {value}")
        print_coverage(coverage)
    return 0


def print_coverage(coverage: dict[str, dict[str, Any]]) -> None:
    """One line per factor: first day with a value, share of listed stock-days; a factor
    without any value says so, with the inputs that were never imported."""
    empty = [name for name, row in coverage.items() if row["first_day"] is None]
    print(f"coverage: {len(coverage) - len(empty)} of {len(coverage)} factors have values"
          " (first day, share of listed stock-days)")
    for name, row in coverage.items():
        if row["first_day"] is None:
            missing = ", ".join(row["missing_inputs"])
            why = f"inputs never imported: {missing}" if missing else "no input missing"
            print(f"  {name:<24} no values ({why})")
        else:
            print(f"  {name:<24} {row['first_day']}  {row['share']:6.1%}")


def _current_panel(settings: Settings) -> Any:
    import ray

    from dataprep.registry import ensure_registry
    from runtime.ray_connection import connect_ray

    url = resolve_database_url(settings)
    connect_ray(settings, log_to_driver=False)
    registry = ensure_registry(
        url,
        memory_budget=settings.panel_memory_budget,
        refresh_interval_s=settings.refresh_interval_s,
    )
    return ray.get(registry.get.remote())


def run(args: argparse.Namespace, settings: Settings) -> int:
    import ray

    from backtest.batch import RunRequest
    from backtest.spec import StrategySpec
    from backtest.tasks import submit

    spec = StrategySpec.model_validate(read_json_file(args.spec))
    handle = _current_panel(settings)
    request = RunRequest(spec=spec.model_dump(mode="json"), keep_result=True)
    [outcome] = ray.get(submit(handle.ref, [request], retries=3, name="qbt run"))
    if outcome.status != "done" or outcome.result is None:
        raise CommandError(f"the backtest failed: {outcome.error}")
    result = json.loads(outcome.result)
    if args.json:
        print(json.dumps({**result, "data_version": handle.version}))
        return 0
    print(f"data version {handle.version}; {spec.start} .. {spec.end}")
    print_statistics(result["statistics"])
    return 0


def picks(args: argparse.Namespace, settings: Settings) -> int:
    import ray

    from backtest.spec import StrategySpec
    from backtest.tasks import picks_task
    from backtest.validation import check_data

    spec = StrategySpec.model_validate(read_json_file(args.spec))
    handle = _current_panel(settings)
    check_data(spec, handle.index)
    answer = ray.get(picks_task.options(name="picks_task (qbt picks)").remote(
        handle.ref, spec.model_dump(mode="json")))
    if args.json:
        print(answer)
        return 0
    print_picks(json.loads(answer))
    return 0


def print_picks(answer: dict[str, Any]) -> None:
    print(f"data version {answer['data_version']}; signal {answer['signal_date']} (trades at "
          f"the next close); {answer['n_eligible']} eligible")
    if not answer["invested"]:
        print("market timing is off: a rebalance would buy nothing; ranked first once on:")
    factors = list(answer["picks"][0]["factors"]) if answer["picks"] else []
    print(f"{'rank':>4}  {'code':<6}  {'name':<20}  {'market':<6}  {'score':>6}  {'weight':>7}"
          + "".join(f"  {name:>14}" for name in factors))
    for pick in answer["picks"]:
        print(f"{pick['rank']:>4}  {pick['code']:<6}  {pick['name'][:20]:<20}  "
              f"{pick['market']:<6}  {pick['score']:>6.3f}  {pick['weight']:>7.2%}"
              + "".join(f"  {pick['factors'][name]:>14,.4g}" for name in factors))


def print_statistics(statistics: dict[str, Any]) -> None:
    for key, value in statistics.items():
        if isinstance(value, float):
            value = f"{value:,.4f}"
        print(f"{key:>20}  {value}")


def sweep(args: argparse.Namespace, settings: Settings) -> int:
    import ray

    from backtest.batch import RunRequest
    from backtest.sweep import SweepSpec, expand, overrides_of, rank
    from backtest.sweep_analysis import SweepAnalysis, describe
    from backtest.tasks import analyse_task, run_on_ray

    sweep_spec = SweepSpec.model_validate(read_json_file(args.spec))
    variants = expand(sweep_spec, max_variants=settings.max_sweep_variants)
    handle = _current_panel(settings)
    started = time.perf_counter()
    outcomes = run_on_ray(
        handle.ref, [RunRequest(spec=v.model_dump(mode="json")) for v in variants],
        batch_size=settings.sweep_batch_size, label="qbt sweep",
    )
    seconds = time.perf_counter() - started
    rows = [{"variant": number, "statistics": outcome.statistics_dict(), "error": outcome.error}
            for number, outcome in enumerate(outcomes)]
    values = [(o.statistics_dict() or {}).get(sweep_spec.rank_by) for o in outcomes]
    finished = {n: o.returns for n, o in enumerate(outcomes) if o.returns is not None}
    analysis = SweepAnalysis.model_validate_json(ray.get(analyse_task.options(
        name=f"analyse_task (qbt sweep, {len(rows)} variants)").remote(
        handle.ref, sweep_spec.model_dump(mode="json"), values, list(finished),
        list(finished.values()))))
    ranked = rank(rows, rank_by=sweep_spec.rank_by)
    for row in ranked:
        row["overrides"] = overrides_of(sweep_spec, row["variant"])
    if args.json:
        print(json.dumps({"data_version": handle.version, "seconds": seconds,
                          "variants": ranked, "analysis": analysis.model_dump(mode="json")}))
        return 0
    print(f"{len(rows)} variants in {seconds:.1f} s ({len(rows) / seconds:.1f} backtests/s); "
          f"data version {handle.version}; best by {sweep_spec.rank_by}:")
    print_ranked(ranked[: sweep_spec.top], rank_by=sweep_spec.rank_by)
    for line in describe(analysis, rank_by=sweep_spec.rank_by):
        print(line)
    return 0


def factors_report(args: argparse.Namespace, settings: Settings) -> int:
    """`qbt factors report`: the FactorReportSpec from the options, checked against the
    current data version, computed as a Ray task beside the registry's panel."""
    import ray

    from backtest.research import FactorReport, FactorReportSpec
    from backtest.tasks import factor_report_task
    from serve.reports import check_report

    spec = FactorReportSpec(factors=args.factors, start=args.start, end=args.end,
                            horizons=args.horizons, quantiles=args.quantiles,
                            sector_neutral=args.sector_neutral)
    handle = _current_panel(settings)
    check_report(spec, handle.index)
    started = time.perf_counter()
    answer = ray.get(factor_report_task.options(name="factor_report_task (qbt factors report)")
                     .remote(handle.ref, spec.model_dump(mode="json")))
    seconds = time.perf_counter() - started
    if args.json:
        print(answer)
        return 0
    print_factor_report(FactorReport.model_validate_json(answer), seconds=seconds)
    return 0


def print_factor_report(report: Any, *, seconds: float) -> None:
    """The IC table (mean IC and IR per horizon), best first by the first horizon's |IC IR|."""
    horizons = report.horizons
    print(f"{len(report.factors)} factors x {len(horizons)} horizons on data version "
          f"{report.data_version}, {report.start} .. {report.end} ({report.n_days} days), "
          f"{seconds:.1f} s" + (", sector-neutral" if report.sector_neutral else ""))
    rows = {(r.factor, r.horizon): r for r in report.ic_summary}
    coverage = {r.factor: r.share for r in report.coverage}

    def key(name: str) -> float:
        ir = rows[name, horizons[0]].ic_ir
        return -abs(ir) if ir is not None else 0.0

    print(f"{'factor':<20} {'coverage':>8}" + "".join(
        f"  {f'IC {h}d':>8} {f'IR {h}d':>7}" for h in horizons))
    for name in sorted(report.factors, key=key):
        cells = "".join(f"  {_fmt(rows[name, h].mean_ic, 8)} {_fmt(rows[name, h].ic_ir, 7)}"
                        for h in horizons)
        print(f"{name:<20} {coverage[name]:>8.1%}{cells}")


def _fmt(value: float | None, width: int) -> str:
    return f"{'n/a':>{width}}" if value is None else f"{value:>{width}.4f}"


def print_ranked(rows: list[dict[str, Any]], *, rank_by: str) -> None:
    for place, row in enumerate(rows, start=1):
        stats = row.get("statistics") or {}
        value = stats.get(rank_by)
        shown = "error: " + str(row.get("error")) if value is None else f"{value:.4f}"
        print(f"{place:>3}. variant {row['variant']:>4}  {rank_by}={shown}  {row['overrides']}")


def bench(options: list[str]) -> int:
    """`python -m benchmarks.bench OPTIONS` in the checkout QBT runs from: the harness is not
    part of the installed package."""
    import subprocess
    import sys
    from pathlib import Path

    checkout = Path(__file__).resolve().parent.parent
    if not (checkout / "benchmarks" / "bench.py").exists():
        raise CommandError(
            f"qbt bench runs benchmarks/bench.py of a QBT checkout; {checkout} has none "
            "(install QBT from a clone: pip install -e .)"
        )
    command = [sys.executable, "-m", "benchmarks.bench", *options]
    return subprocess.run(command, cwd=checkout).returncode


def report(args: argparse.Namespace, settings: Settings) -> int:
    """The report of a finished run, from the database, as GET /v1/backtests/{id}/report."""
    import asyncio
    import uuid

    from serve.database import connect_once
    from serve.models import backtest_public_json
    from serve.store.runs import get_run
    from serve.web.report import render_report

    try:
        run_id = uuid.UUID(args.run_id)
    except ValueError:
        raise CommandError(f'Got "{args.run_id}" for ID: not a run id') from None

    async def read() -> Any:
        async with connect_once(resolve_database_url(settings)) as conn:
            return await get_run(conn, owner=None, run_id=run_id)

    run = asyncio.run(read())
    if run.status != "done" or run.result is None:
        raise CommandError(f"run {run_id} is {run.status}: only a finished run has a report")
    html = render_report(backtest_public_json(run).decode(), title=f"QBT report {run_id}")
    args.output.write_text(html, encoding="utf-8")
    print(f"wrote {args.output} ({len(html.encode()) / 1e6:.1f} MB, opens offline)")
    return 0


def up(args: argparse.Namespace, settings: Settings) -> int:
    from cluster.lifecycle import up as start

    start(settings, example=not args.no_example)
    return 0


def down(args: argparse.Namespace, settings: Settings) -> int:
    from cluster.lifecycle import down as stop

    stopped = stop(settings)
    print("stopped: " + (", ".join(stopped) if stopped else "nothing (QBT was not running)"))
    return 0


def status(args: argparse.Namespace, settings: Settings) -> int:
    from cluster.lifecycle import status as describe

    report = describe(settings)
    if not report["running"]:
        print("QBT is not running here (no Ray head recorded, QBT_RAY_ADDRESS unset)")
        return 1
    print(f"ray: {report['ray_address']}")
    print("resources: " + ", ".join(f"{k} {v:g}/{report['resources'][k]:g} free"
                                    for k, v in sorted(report["available"].items())
                                    if k in ("CPU", "memory", "object_store_memory", "GPU")))
    for node in report["nodes"]:
        print(f"node {node['node']}: {'alive' if node['alive'] else 'dead'}, {node['cpus']} CPU")
    datasets = report["datasets"]
    if isinstance(datasets, str):
        print(f"datasets: {datasets}")
    for dataset in datasets if isinstance(datasets, list) else []:
        print(f"dataset {dataset['version']}{' (current)' if dataset['current'] else ''}: "
              f"ready, shape {dataset['shape']}, {dataset['nbytes'] / 1e6:,.0f} MB, "
              f"age {dataset['age_s']:.0f} s")
    registry = report["registry"] or {}
    for version in registry.get("building", []):
        print(f"dataset {version}: building")
    if registry.get("last_error"):
        print(f"datasets: the last build failed: {registry['last_error']}")
    dispatcher = report["dispatcher"]
    if dispatcher is None:
        print("dispatcher: not running or not answering (queued runs wait; `qbt up` starts it)")
    else:
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(dispatcher["started_at"]))
        last = dispatcher.get("last_claim_at")
        claimed = ("never claimed" if last is None else
                   f"last claim {time.time() - last:.0f} s ago")
        print(f"dispatcher: alive since {since} (pid {dispatcher['pid']}), holds "
              f"{dispatcher['in_flight']} runs in {dispatcher['batches']} batches, {claimed}")
    print(f"queue depth {report['queue_depth']}, runs in flight {report['runs_in_flight']}")
    if report["runs_unheld"]:
        print(f"{report['runs_unheld']} runs marked running are held by no live dispatcher: "
              "the next one to start re-queues them")
    return 0
