"""How backtests flow through an executor (worker processes or Ray tasks) in one phase, and
what is kept of them: per-backtest timings summarised, statistics per strategy."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from itertools import count
from typing import Any

import numpy as np

from benchmarks.datapath.memory import MB, Monitor

PROGRESS_EVERY_S = 10.0


def log(mode: str, message: str) -> None:
    print(f"[{mode}] {message}", file=sys.stderr, flush=True)


def distribution(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    data = np.asarray(values, dtype=np.float64)
    return {
        "n": len(values),
        "p50": float(np.percentile(data, 50)),
        "p95": float(np.percentile(data, 95)),
        "mean": float(data.mean()),
        "min": float(data.min()),
        "max": float(data.max()),
    }


class Phase:
    """Keeps `concurrency` backtests in flight on an executor until the stop rule says so:
    submit while fewer than `max_runs` were submitted and either fewer than `min_runs` or
    less than `budget_s` has passed; then wait for those in flight."""

    def __init__(self, executor: Any, *, specs: list[dict[str, Any]], guard: Monitor) -> None:
        self.executor = executor
        self.specs = specs
        self.guard = guard

    def run(
        self,
        *,
        name: str,
        mode: str,
        min_runs: int,
        max_runs: int,
        budget_s: float,
        hold_s: float = 0.0,
    ) -> tuple[list[dict[str, Any]], float]:
        numbers: Iterator[int] = count()
        answers: list[dict[str, Any]] = []
        began = time.perf_counter()
        last = began
        submitted = 0
        shown = began
        while True:
            elapsed = time.perf_counter() - began
            while (
                self.guard.tripped_at is None
                and self.executor.idle() > 0
                and submitted < max_runs
                and (submitted < min_runs or elapsed < budget_s)
            ):
                number = next(numbers)
                spec_index = number % len(self.specs)
                self.executor.submit({"number": number, "spec_index": spec_index,
                                      "spec": self.specs[spec_index], "hold_s": hold_s})
                submitted += 1
            if self.executor.in_flight() == 0:
                break
            answer = self.executor.next_result(timeout_s=1.0)
            if answer is not None:
                answers.append(answer)
                last = time.perf_counter()
            if time.perf_counter() - shown > PROGRESS_EVERY_S:
                shown = time.perf_counter()
                log(mode, f"{name}: {len(answers)} done, {self.executor.in_flight()} running, "
                          f"{shown - began:.0f} s")
        return answers, last - began


def successful(answers: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [a for a in answers if a.get("error") is None]


def summarize_runs(answers: list[dict[str, Any]]) -> dict[str, Any]:
    ok = successful(answers)
    errors = [a["error"] for a in answers if a.get("error")]
    return {
        "runs": len(ok),
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
        "data_s": distribution([a["data_s"] for a in ok]),
        "engine_s": distribution([a["engine_s"] for a in ok]),
        "task_s": distribution([a["task_s"] for a in ok]),
        "e2e_s": distribution([a["e2e_s"] for a in ok]),
        "rows_read_per_backtest": _median([a["rows_read"] for a in ok]),
        "bytes_received_per_backtest": _median([a["bytes_received"] for a in ok]),
        "blob_bytes_per_backtest": _median([a["blob_bytes"] for a in ok]),
        "panel_bytes": _median([a["panel_bytes"] for a in ok]),
        "worker_peak_rss_mb": _max_mb([a.get("peak_rss_bytes") for a in ok]),
        "workers_seen": len({a["pid"] for a in ok}),
    }


def _median(values: list[float]) -> float | None:
    return float(np.median(values)) if values else None


def _max_mb(values: list[int | None]) -> float | None:
    present = [v for v in values if v is not None]
    return round(max(present) / MB, 1) if present else None


def stats_by_spec(answers: list[dict[str, Any]]) -> dict[str, Any]:
    """Per strategy: its statistics, and whether every run of it agreed (same data path,
    same engine: it must)."""
    out: dict[str, Any] = {}
    for answer in successful(answers):
        key = str(answer["spec"])
        entry = out.setdefault(key, {"statistics": answer["statistics"], "runs": 0,
                                     "consistent": True})
        entry["runs"] += 1
        entry["consistent"] &= entry["statistics"] == answer["statistics"]
    return out
