"""The report as markdown: the main table (one row per mode), how each column is measured,
ratios, targets, preparation, the PSS breakdown by process role, agreement, HTTP."""

from __future__ import annotations

from typing import Any

from benchmarks.datapath.modes import MODES
from benchmarks.datapath.report import MB, QBT, growth_mb, lookup


def how_measured(interval_s: float) -> str:
    return (
        "How each column is measured: *data access*: in the worker, from asking for the data to "
        "holding the FactorPanel the engine takes (db-per-run: COPY + 54 factors; Redis: GET + "
        "decompress + decode/rebuild; Ray: `ray.get` of the registry's ObjectRef). *End to "
        "end*: in the driver, from handing the backtest to an idle warmed worker (or submitting "
        "the task) to holding its result. *DB rows*: rows PostgreSQL returned (the loader's "
        "frames, its calendar and version queries). *Bytes moved*: TCP bytes the worker "
        "received during the data access (kernel counters); Ray's panel is mapped from shared "
        "memory, not received. *PSS*: summed `/proc/PID/smaps_rollup` PSS of the driver, its "
        "worker processes (Ray: gcs, raylet with the object store, agents, registry actor, task "
        "workers) and the servers they read (Redis; PostgreSQL backends), peak of samples every "
        f"{interval_s:g} s; shared pages count once. *MB per extra concurrent backtest*: (peak at "
        "the highest level - peak at 1) / (level - 1)."
    )


def seconds(value: float | None) -> str:
    if value is None:
        return "-"
    if value < 1:
        return f"{value * 1000:,.1f} ms"
    return f"{value:,.2f} s" if value < 100 else f"{value:,.0f} s"


def size_text(value: float | None) -> str:
    if value is None:
        return "-"
    for unit, scale in (("GB", 1024**3), ("MB", MB), ("KB", 1024)):
        if value >= scale:
            return f"{value / scale:,.1f} {unit}"
    return f"{value:,.0f} B"


def _memory_cell(mode: dict[str, Any], level: int, notes: list[str]) -> str:
    record = lookup(mode, "memory", str(level))
    if not record:
        return "-"
    if record.get("status") == "ok":
        return f"{record['peak_mb']:,.0f}"
    notes.append(f"{mode['mode']} at {level} concurrent: {record.get('status')}, "
                 f"{record.get('reason')}")
    return f"{record.get('status')} [{len(notes)}]"


def mode_row(mode: dict[str, Any], *, levels: list[int], notes: list[str]) -> str:
    name = mode["mode"]
    if mode.get("status") in ("skipped", "failed") and not mode.get("latency"):
        notes.append(f"{name}: {mode.get('status')}: {mode.get('error')}")
        return f"| {name} | {mode.get('status')} [{len(notes)}] |" + " |" * (8 + len(levels))
    latency, throughput = mode.get("latency") or {}, mode.get("throughput") or {}
    wall = seconds(throughput.get("wall_target_s"))
    if throughput.get("extrapolated"):
        notes.append(f"{name}: {throughput.get('runs')} of {throughput.get('target_runs')} "
                     f"backtests measured in {seconds(throughput.get('wall_s'))}; the wall "
                     f"for {throughput.get('target_runs')} is that rate extrapolated")
        wall += f" (extrapolated [{len(notes)}])"
    per_s = throughput.get("per_s")
    once = lookup(mode, "prep", "rows_read") or 0
    per = latency.get("rows_read_per_backtest")
    growth = growth_mb(mode)
    cells = [
        name,
        seconds(lookup(latency, "data_s", "p50")),
        seconds(lookup(latency, "e2e_s", "p50")),
        seconds(lookup(latency, "e2e_s", "p95")),
        wall,
        "-" if per_s is None else f"{per_s:,.2f}",
        f"{once:,} + {per:,.0f}" if per is not None else "-",
        size_text(latency.get("bytes_received_per_backtest")),
        *[_memory_cell(mode, level, notes) for level in levels],
        "-" if growth is None else f"{growth[0]:,.0f} (1->{growth[1]})",
    ]
    if mode.get("status") == "failed":
        notes.append(f"{name}: failed after partial measurements: {mode.get('error')}")
        cells[0] += f" [{len(notes)}]"
    return "| " + " | ".join(cells) + " |"


def render(report: dict[str, Any]) -> str:
    plan, data, machine = report["plan"], report["data"], report["machine"]
    levels = plan["concurrency"]
    modes = report["modes"]
    lines = [
        f"## qbt bench ({plan['size']['name']} size), {report['started_at']}",
        "",
        f"Machine: {machine.get('cpu')}, {machine.get('logical_cpus')} CPUs, "
        f"{machine.get('memory_gb')} GB RAM ({machine.get('memory_available_gb_at_start')} GB "
        f"available at start; load average {(machine.get('load_average_at_start') or ['?'])[0]}"
        f" at start, {(machine.get('load_average_1_5_15') or ['?'])[0]} at the end), "
        f"{machine.get('os')}; Python {machine.get('python')}, Ray "
        f"{machine.get('ray_version')}, PostgreSQL {machine.get('postgresql')}, Redis "
        f"{machine.get('redis_server') or '-'}.",
        f"Command: `{report['command']}`",
        f"Data: {data['database']}; each backtest {data['stocks']:,} stocks x "
        f"{data['window']['days']} trading days ({data['window']['start']} .. "
        f"{data['window']['end']}) x {data['factors']} factors = "
        f"{data['values_per_backtest']:,} values; {len(plan['specs'])} strategies in rotation.",
        f"Per backtest: {plan['latency_runs']} at most, one at a time (p50, p95). Throughput: "
        f"{plan['runs']} backtests on {plan['slots']} slots. Memory: summed PSS (MB) of every "
        f"process involved, peak while c backtests run at once. Redis: {report['redis']}.",
        "",
    ]
    head = ["mode", "data access / backtest (p50)", "end to end p50", "end to end p95",
            f"{plan['runs']} backtests wall ({plan['slots']} slots)", "backtests/s",
            "DB rows read (once + per backtest)", "bytes moved / backtest",
            *[f"PSS MB at {c}" for c in levels], "MB per extra concurrent backtest"]
    lines += ["| " + " | ".join(head) + " |", "|---" + "|---:" * (len(head) - 1) + "|"]
    notes: list[str] = []
    for name in MODES:
        if name in modes:
            lines.append(mode_row(modes[name], levels=levels, notes=notes))
    lines += [""] + [f"[{i}] {note}" for i, note in enumerate(notes, start=1)]
    lines += ["", how_measured(plan["sample_interval_s"])]
    lines += ["", "Ratios (same run):", ""]
    for entry in report["ratios"]:
        memory = (f"memory at {entry['memory_level']} concurrent {entry['memory_ratio']:,.1f}x "
                  f"less ({entry['qbt_memory_mb']:,.0f} MB vs {entry['memory_mb']:,.0f} MB)"
                  if entry.get("memory_level") else "memory: no common level measured")
        note = f" ({entry['memory_note']})" if entry.get("memory_note") else ""
        lines.append(f"- {QBT} vs {entry['mode']}: {entry['speedup']:,.1f}x faster end to end "
                     f"per backtest ({seconds(entry['qbt_e2e_p50_s'])} vs "
                     f"{seconds(entry['e2e_p50_s'])}); {memory}{note}")
    lines += ["", "Targets:", ""]
    for row in report["targets"]:
        state = {True: "met", False: "MISSED", None: "not measured"}[row["met"]]
        margin = f", {row['margin']}" if row.get("margin") else ""
        note = f" ({row['note']})" if row.get("note") else ""
        lines.append(f"- {row['target']}: {row['measured']} -> {state}{margin}{note}")
    lines += ["", *prep_table(modes), "", *breakdown_table(modes, levels)]
    lines += ["", *agreement_lines(report["agreement"])]
    if report.get("http"):
        lines += ["", *http_lines(report["http"])]
    return "\n".join(lines) + "\n"


def prep_table(modes: dict[str, Any]) -> list[str]:
    lines = ["Preparation (once per mode):", "",
             "| mode | prepared in | DB rows read | bytes from PostgreSQL | stored blob | "
             "format | preparing process peak RSS |", "|---|---:|---:|---:|---:|---|---:|"]
    for name in MODES:
        prep = lookup(modes.get(name, {}), "prep")
        if not prep:
            continue
        blob = prep.get("blob_bytes") or prep.get("panel_bytes")
        fmt = prep.get("codec") or ("Ray object store, out-of-band numpy buffers"
                                    if name == QBT else "-")
        rss = prep.get("peak_rss_mb")
        took = seconds(prep.get("seconds")) if prep.get("seconds") else "-"
        lines.append(f"| {name} | {took} | {prep.get('rows_read', 0):,} | "
                     f"{size_text(prep.get('bytes_received'))} | {size_text(blob)} | {fmt} | "
                     f"{'-' if rss is None else f'{rss:,.0f} MB'} |")
    clients = {str(c) for n in MODES
               if (c := (lookup(modes.get(n, {}), "prep") or {}).get("redis_client"))}
    if clients:
        lines += ["", "Redis client: " + "; ".join(sorted(clients)) + "."]
    return lines


def breakdown_table(modes: dict[str, Any], levels: list[int]) -> list[str]:
    roles = ("driver", "workers", "ray-system", "registry", "redis", "postgres", "other")
    lines = ["PSS at the peak sample, by process role (MB; workers: count):", "",
             "| mode | concurrent | total | of which shared memory | " + " | ".join(roles)
             + " | worker peak RSS |",
             "|---|---:|---:|---:|" + "---:|" * len(roles) + "---:|"]
    for name in MODES:
        for level in levels:
            record = lookup(modes.get(name, {}), "memory", str(level))
            if not record or not record.get("peak"):
                continue
            peak = record["peak"]
            cells = []
            for role in roles:
                value = peak["by_role_mb"].get(role)
                count = peak["processes"].get(role, 0)
                cells.append("-" if value is None else
                             f"{value:,.0f}" + (f" ({count})" if role == "workers" else ""))
            rss = record.get("worker_peak_rss_mb")
            lines.append(f"| {name} | {level} | {peak['total_mb']:,.0f} | "
                         f"{peak.get('shmem_mb', 0):,.0f} | " + " | ".join(cells)
                         + f" | {'-' if rss is None else f'{rss:,.0f}'} |")
    return lines


def agreement_lines(agreement: dict[str, Any]) -> list[str]:
    if not agreement.get("reference"):
        return ["Results: no mode produced results to compare."]
    parts = []
    for name, entry in agreement["modes"].items():
        state = ("same statistics" if not entry["mismatched"]
                 else f"{len(entry['mismatched'])} strategies differ")
        parts.append(f"{name} {state} on {entry['strategies_compared']} strategies "
                     f"(max total-return gap {entry['max_total_return_gap']:.2e})")
    return [f"Results against {agreement['reference']}: " + "; ".join(parts) + "."]


def http_lines(http: dict[str, Any]) -> list[str]:
    if http.get("status") == "failed":
        return [f"HTTP scenario ({http.get('users')} users, {http.get('url')}): failed: "
                f"{http.get('error')}"]
    outcomes = http.get("outcomes") or {}
    errors = http.get("errors") or {}
    details = [f"Status codes: {http.get('status_codes')}."]
    details += [f"Errors: {n} x {kind}" for kind, n in list(errors.items())[:5]]
    return [
        f"HTTP scenario: {http['clients']} users, one backtest each, through {http['url']}:",
        "",
        "| users | wall until the last run is done | runs/s | submit p50 | submit p99 | "
        "done | failed | errors | 5xx |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
        f"| {http['clients']} | {seconds(http.get('wall_s'))} | {http.get('runs_per_s')} | "
        f"{http.get('submit_ms_p50')} ms | {http.get('submit_ms_p99')} ms | "
        f"{outcomes.get('done', 0)} | {outcomes.get('failed', 0)} | "
        f"{sum(errors.values())} | {http.get('server_errors_5xx')} |",
        "",
        *details,
    ]
