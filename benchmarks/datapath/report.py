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


def lookup(mode: dict[str, Any], *path: str) -> Any:
    value: Any = mode
    for key in path:
        if not isinstance(value, dict) or value.get(key) is None:
            return None
        value = value[key]
    return value


def e2e_p50(mode: dict[str, Any]) -> float | None:
    return lookup(mode, "latency", "e2e_s", "p50")


def peak_mb(mode: dict[str, Any], level: int) -> float | None:
    record = lookup(mode, "memory", str(level))
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
            record = lookup(mode, "memory", str(top_level)) or {}
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
    per = lookup(qbt, "latency", "rows_read_per_backtest")
    once = lookup(qbt, "prep", "rows_read")
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
