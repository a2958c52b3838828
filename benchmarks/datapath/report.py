"""From the modes' measurements to the report: figures, ratios, targets, agreement, markdown.

Every number printed comes from the JSON the drivers wrote in this run; a figure that was
not measured (a level not run, a mode skipped) is printed as what happened, never guessed.
MB = 2^20 bytes.
"""

from __future__ import annotations

from typing import Any

from benchmarks.datapath.modes import MODES, RAY_OBJECT_STORE, REDIS_ARROW, REDIS_PICKLE

MB = 1024**2
QBT = RAY_OBJECT_STORE
PSS_TARGET_MB = 2000.0
GROWTH_TARGET_MB = 100.0
SPEEDUP_TARGETS = {REDIS_PICKLE: 100.0, REDIS_ARROW: 5.0}


# -- figures ------------------------------------------------------------------------------


def _get(mode: dict[str, Any], *path: str) -> Any:
    value: Any = mode
    for key in path:
        if not isinstance(value, dict) or value.get(key) is None:
            return None
        value = value[key]
    return value


def e2e_p50(mode: dict[str, Any]) -> float | None:
    return _get(mode, "latency", "e2e_s", "p50")


def peak_mb(mode: dict[str, Any], level: int) -> float | None:
    record = _get(mode, "memory", str(level))
    if not record or record.get("status") != "ok":
        return None
    return record.get("peak_mb")


def measured_levels(mode: dict[str, Any]) -> list[int]:
    return sorted(int(c) for c in (mode.get("memory") or {}) if peak_mb(mode, int(c)))


def growth_mb(mode: dict[str, Any]) -> tuple[float, int] | None:
    """(MB per extra concurrent backtest between 1 and the highest level measured, level)."""
    levels = measured_levels(mode)
    if len(levels) < 2 or levels[0] != 1:
        return None
    top = levels[-1]
    return (peak_mb(mode, top) - peak_mb(mode, 1)) / (top - 1), top  # type: ignore[operator]


# -- ratios, targets, agreement -----------------------------------------------------------


def ratios(modes: dict[str, Any], *, top_level: int) -> list[dict[str, Any]]:
    """QBT against each other mode: time per backtest, and memory at `top_level`
    concurrent (else at the highest level both measured, said so)."""
    qbt = modes.get(QBT)
    out: list[dict[str, Any]] = []
    ours = e2e_p50(qbt) if qbt else None
    if qbt is None or not ours:
        return out
    for name, mode in modes.items():
        theirs = e2e_p50(mode)
        if name == QBT or theirs is None:
            continue
        entry: dict[str, Any] = {"mode": name, "speedup": theirs / ours,
                                 "e2e_p50_s": theirs, "qbt_e2e_p50_s": ours}
        common = sorted(set(measured_levels(mode)) & set(measured_levels(qbt)))
        level = top_level if top_level in common else (common[-1] if common else None)
        if level is not None:
            their_mb, our_mb = peak_mb(mode, level), peak_mb(qbt, level)
            entry.update(memory_level=level, memory_ratio=their_mb / our_mb,  # type: ignore[operator]
                         memory_mb=their_mb, qbt_memory_mb=our_mb)
        if level != top_level:
            record = _get(mode, "memory", str(top_level)) or {}
            entry["memory_note"] = (f"{name} not measured at {top_level} concurrent: "
                                    f"{record.get('reason') or record.get('status') or 'not run'}")
        out.append(entry)
    return out


def targets(modes: dict[str, Any], *, top_level: int, size: str) -> list[dict[str, Any]]:
    qbt = modes.get(QBT) or {}
    rows: list[dict[str, Any]] = []
    by_mode = {r["mode"]: r for r in ratios(modes, top_level=top_level)}
    for name, wanted in SPEEDUP_TARGETS.items():
        ratio = by_mode.get(name, {}).get("speedup")
        rows.append(_target(f"{QBT} >= {wanted:g}x faster end to end per backtest than {name}",
                            measured=None if ratio is None else f"{ratio:,.1f}x",
                            met=None if ratio is None else ratio >= wanted,
                            margin=None if ratio is None else _margin(ratio / wanted, "x")))
    pss = peak_mb(qbt, 16)
    rows.append(_target(
        f"summed PSS of {QBT} at 16 concurrent < {PSS_TARGET_MB:,.0f} MB incl. Ray's processes",
        measured=None if pss is None else f"{pss:,.0f} MB",
        met=None if pss is None else pss < PSS_TARGET_MB,
        margin=None if pss is None else f"{PSS_TARGET_MB - pss:+,.0f} MB of headroom"))
    growth = growth_mb(qbt)
    rows.append(_target(
        f"growth per extra concurrent backtest < {GROWTH_TARGET_MB:.0f} MB incl. its worker",
        measured=None if growth is None else f"{growth[0]:,.1f} MB (1 -> {growth[1]})",
        met=None if growth is None else growth[0] < GROWTH_TARGET_MB,
        margin=None if growth is None else f"{GROWTH_TARGET_MB - growth[0]:+,.1f} MB"))
    per = _get(qbt, "latency", "rows_read_per_backtest")
    once = _get(qbt, "prep", "rows_read")
    rows.append(_target(
        "database rows read independent of the number of backtests",
        measured=None if per is None else f"{once:,} rows once, {per:,.0f} per backtest",
        met=None if per is None else per == 0,
        margin=None))
    if size != "full":
        for row in rows:
            row["note"] = f"{size} size: indicative only (the targets are for the full size)"
    return rows


def _target(text: str, *, measured: str | None, met: bool | None, margin: str | None) -> dict:
    return {"target": text, "measured": measured or "not measured", "met": met,
            "margin": margin}


def _margin(factor: float, unit: str) -> str:
    return (f"{factor:,.2f}{unit} the target" if factor >= 1
            else f"missed: {1 / factor:,.2f}{unit} short")


def agreement(modes: dict[str, Any]) -> dict[str, Any]:
    """Same strategy, same engine: every mode must give the same statistics."""
    ok = [n for n in MODES if n in modes and modes[n].get("stats_by_spec")]
    if not ok:
        return {"reference": None, "modes": {}}
    reference = QBT if QBT in ok else ok[0]
    base = modes[reference]["stats_by_spec"]
    out: dict[str, Any] = {}
    for name in ok:
        mine = modes[name]["stats_by_spec"]
        common = sorted(set(mine) & set(base), key=int)
        worst, mismatched = 0.0, []
        for spec in common:
            a, b = mine[spec]["statistics"], base[spec]["statistics"]
            gap = abs((a["total_return"] or 0.0) - (b["total_return"] or 0.0))
            worst = max(worst, gap)
            if gap > 1e-9 + 1e-6 * abs(b["total_return"] or 0.0) or (
                a["n_rebalances"] != b["n_rebalances"]
            ):
                mismatched.append(int(spec))
        out[name] = {
            "strategies_compared": len(common),
            "mismatched": mismatched,
            "max_total_return_gap": worst,
            "repeat_runs_consistent": all(e["consistent"] for e in mine.values()),
        }
    return {"reference": reference, "modes": out}


def build(
    *,
    plan: dict[str, Any],
    machine: dict[str, Any],
    modes: dict[str, Any],
    http: dict[str, Any] | None,
    command: str,
    started_at: str,
    redis_note: str,
) -> dict[str, Any]:
    window = plan["window"]
    top_level = max(plan["concurrency"])
    size = plan["size"]["name"]
    public_plan = {k: v for k, v in plan.items() if k not in ("database_url", "redis_url")}
    return {
        "benchmark": "qbt bench: data paths for concurrent backtests",
        "started_at": started_at,
        "command": command,
        "machine": machine,
        "data": {
            "database": plan["database"],
            "window": window,
            "stocks": window["stocks"],
            "factors": 54,
            "values_per_backtest": 54 * window["days"] * window["stocks"],
        },
        "redis": redis_note,
        "plan": public_plan,
        "modes": modes,
        "ratios": ratios(modes, top_level=top_level),
        "targets": targets(modes, top_level=top_level, size=size),
        "agreement": agreement(modes),
        "http": http,
    }


# -- markdown -----------------------------------------------------------------------------

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
    record = _get(mode, "memory", str(level))
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
    once = _get(mode, "prep", "rows_read") or 0
    per = latency.get("rows_read_per_backtest")
    growth = growth_mb(mode)
    cells = [
        name,
        seconds(_get(latency, "data_s", "p50")),
        seconds(_get(latency, "e2e_s", "p50")),
        seconds(_get(latency, "e2e_s", "p95")),
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


def markdown(report: dict[str, Any]) -> str:
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
        prep = _get(modes.get(name, {}), "prep")
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
               if (c := (_get(modes.get(n, {}), "prep") or {}).get("redis_client"))}
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
            record = _get(modes.get(name, {}), "memory", str(level))
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
