"""One mode, measured in a process of its own (the "driver" the PSS sums include):

    python -m benchmarks.datapath.driver PLAN.json OUT.json MODE

1. Prepare the mode's data once (`modes.prepare_redis` in a child process; for Ray: start
   Ray and the DatasetRegistry, which builds the panel into the object store).
2. Latency: one slot, warmed, backtests one after another: data-access and end-to-end
   seconds per backtest; the PSS peak of this phase is the figure for concurrency 1.
3. Throughput: `slots` at once, `runs` backtests (100); when the time budget runs out first,
   the wall for `runs` is extrapolated from the measured rate and labelled so.
4. Memory at each higher concurrency c: c slots, warmed, c backtests in flight for at least
   `memory_min_s` (and each slot busy at least once) while PSS is sampled. A level whose
   estimate (from the c = 1 peak) would not fit the machine's free memory is not run; the
   memory guard stops a level that drives MemAvailable under the floor.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any

from benchmarks.datapath.memory import MB, Involved, Monitor, mem_available_bytes, sample
from benchmarks.datapath.modes import RAY_OBJECT_STORE, REDIS_MODES
from benchmarks.datapath.phases import Phase, log, stats_by_spec, successful, summarize_runs

WARMUP_ROUNDS = 6  # Ray: hold 0.5 s, 1 s, ... 16 s until every slot has its own worker


class ModeRun:
    """The state of one mode's measurement (see the module docstring for the steps)."""

    def __init__(self, mode: str, plan: dict[str, Any]) -> None:
        self.mode = mode
        self.plan = plan
        self.specs: list[dict[str, Any]] = plan["specs"]
        self.involved = Involved(ray=mode == RAY_OBJECT_STORE)
        self.executor: Any = None
        self.context: dict[str, Any] = {"database_url": plan["database_url"],
                                        "window": plan["window"]}
        self.result: dict[str, Any] = {"mode": mode, "status": "ok", "error": None, "notes": [],
                                       "memory": {}}
        self.make_executor: Callable[[int], Any] | None = None
        self.cleanups: list[Callable[[], object]] = []
        self.registry: Any = None  # the DatasetRegistry actor (owns the panel; keep it alive)
        self.warmed: dict[int, int] = {}  # slots -> distinct worker processes warmed

    def on_low_memory(self, available: int) -> None:
        log(self.mode, f"memory guard: MemAvailable {available / MB:,.0f} MB; stopping workers")
        if self.executor is not None:
            self.executor.kill()

    def executor_of(self, size: int) -> Any:
        """An executor with `size` slots, warmed (each slot ran one backtest)."""
        assert self.make_executor is not None
        if self.executor is not None and self.executor.size == size:
            return self.executor
        if self.executor is not None:
            self.executor.close()
            self.executor = None
        began = time.perf_counter()
        self.executor = self.make_executor(size)
        warmed = self.warmed[size] = self._warm(size)
        log(self.mode, f"{size} slot(s) started and warmed in {time.perf_counter() - began:.1f} s "
                       f"({warmed} worker processes warmed)")
        return self.executor

    def _warm(self, size: int) -> int:
        """Each slot runs one backtest (imports, connections, first data access). Worker
        processes each own a slot; Ray starts its workers on demand, so its warm-up tasks
        hold their worker a while and are repeated, holding longer, until `size` distinct
        workers have run one. Answers the number of distinct workers warmed."""
        ray = self.mode == RAY_OBJECT_STORE
        hold = self.plan["warmup_hold_s"] if ray else 0.0
        seen: set[int] = set()
        for _ in range(WARMUP_ROUNDS):
            answers, _ = Phase(self.executor, specs=self.specs, guard=self.monitor).run(
                name=f"warm-up x{size}", mode=self.mode, min_runs=size, max_runs=size,
                budget_s=0.0, hold_s=hold)
            failed = [a["error"] for a in answers if a.get("error")]
            if failed:
                raise RuntimeError(f"warm-up failed: {failed[0]}")
            seen |= {a["pid"] for a in answers}
            if len(seen) >= size or not ray:
                break
            hold *= 2
        if len(seen) < size:
            self.result["notes"].append(
                f"only {len(seen)} worker processes ran a warm-up backtest for {size} slots")
        return len(seen)

    # -- steps --------------------------------------------------------------------------

    def prepare(self) -> None:
        if self.mode == RAY_OBJECT_STORE:
            self._prepare_ray()
        elif self.mode in REDIS_MODES:
            self._prepare_redis()
        else:
            self.result["prep"] = {"seconds": 0.0, "rows_read": 0, "bytes_received": 0,
                                   "note": "nothing prepared: every backtest reads PostgreSQL"}
            self._pool_executor()

    def _pool_executor(self) -> None:
        from benchmarks.datapath.pool import WorkerPool

        def make(size: int) -> Any:
            return WorkerPool(mode=self.mode, context=self.context, size=size,
                              involved=self.involved)

        self.make_executor = make

    def _prepare_redis(self) -> None:
        import multiprocessing as mp
        import uuid
        from concurrent.futures import ProcessPoolExecutor

        import redis

        from benchmarks.datapath.modes import prepare_redis

        plan = self.plan
        key = f"{plan['key_prefix']}:{self.mode}:{uuid.uuid4().hex[:8]}"
        client = redis.Redis.from_url(plan["redis_url"])
        self.cleanups.append(lambda: client.delete(key))
        log(self.mode, "preparing the window once (load, compute, encode, SET) ...")
        with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as child:
            prep = child.submit(prepare_redis, self.mode, plan=plan, key=key,
                                arrow_codec=plan["arrow_codec"]).result()
        prep["peak_rss_mb"] = round(prep.pop("peak_rss_bytes") / MB, 1)
        info = client.info()
        prep["redis_used_memory_bytes"] = info.get("used_memory")
        pid = info.get("process_id")
        if plan.get("redis_local") and pid:
            self.involved.external[int(pid)] = "redis"
        else:
            self.result["notes"].append("Redis server is not local: its memory is not counted")
        self.result["prep"] = prep
        self.context.update(redis_url=plan["redis_url"], key=key)
        log(self.mode, f"prepared in {prep['seconds']:.1f} s: {prep['blob_bytes'] / MB:,.1f} MB "
                       f"blob ({prep['codec']})")
        self._pool_executor()

    def _prepare_ray(self) -> None:
        from benchmarks.datapath.rayexec import RayExecutor, start_ray, start_registry, stop_ray

        plan = self.plan
        levels = [*plan["concurrency"], plan["slots"]]
        start_s = start_ray(num_cpus=max(levels), object_store_bytes=plan["object_store_bytes"])
        self.cleanups.append(stop_ray)
        log(self.mode, f"Ray started in {start_s:.1f} s; the registry builds the panel ...")
        self.registry, handle, build_s = start_registry(
            plan["database_url"], memory_budget=plan["object_store_bytes"])
        timings = handle.timings
        self.result["prep"] = {
            "seconds": build_s,
            "ray_start_s": start_s,
            "load_s": timings.get("load_s"),
            "compute_s": timings.get("compute_s"),
            "put_s": timings.get("put_s"),
            "rows_read": int(timings.get("rows_read", 0)) + 1,  # + the registry's version query
            "bytes_received": int(timings.get("bytes_received", 0)),
            "panel_bytes": handle.nbytes,
            "panel_shape": list(handle.shape),
            "panel_version": handle.version,
        }
        log(self.mode, f"panel {handle.shape} ({handle.nbytes / MB:,.0f} MB) in the object store "
                       f"after {build_s:.1f} s")
        ref = handle.ref
        self.make_executor = lambda size: RayExecutor(ref, size=size, involved=self.involved)

    def latency(self) -> None:
        plan = self.plan
        executor = self.executor_of(1)
        idle = self.monitor.start_measuring()
        answers, _ = Phase(executor, specs=self.specs, guard=self.monitor).run(
            name="latency", mode=self.mode, min_runs=min(3, plan["latency_runs"]),
            max_runs=plan["latency_runs"], budget_s=plan["latency_budget_s"])
        peak = self.monitor.stop_measuring()
        self.answers += answers
        self.result["latency"] = summarize_runs(answers)
        self.result["memory"]["1"] = self._memory_record(idle, peak, answers)
        summary = self.result["latency"]
        if summary["e2e_s"]:
            log(self.mode, f"latency: {summary['runs']} runs, end to end p50 "
                           f"{summary['e2e_s']['p50']:.4f} s, data access p50 "
                           f"{summary['data_s']['p50']:.4f} s")

    def throughput(self) -> None:
        plan = self.plan
        slots, target = plan["slots"], plan["runs"]
        executor = self.executor_of(slots)
        answers, wall = Phase(executor, specs=self.specs, guard=self.monitor).run(
            name="throughput", mode=self.mode, min_runs=min(target, 2 * slots),
            max_runs=target, budget_s=plan["throughput_budget_s"])
        self.answers += answers
        ok = len(successful(answers))
        record = summarize_runs(answers)
        record.update(slots=slots, target_runs=target, wall_s=wall,
                      per_s=ok / wall if wall > 0 and ok else None,
                      extrapolated=ok < target)
        record["wall_target_s"] = wall * target / ok if ok else None
        if ok < target and ok:
            self.result["notes"].append(
                f"wall for {target} backtests extrapolated from {ok} measured in {wall:.1f} s "
                f"on {slots} slots (time budget {plan['throughput_budget_s']:.0f} s)")
        self.result["throughput"] = record
        if ok:
            log(self.mode, f"throughput: {ok} backtests in {wall:.1f} s on {slots} slots "
                           f"({ok / wall:.2f}/s)")

    def memory_level(self, level: int) -> None:
        reason = self._wont_fit(level)
        if reason is not None:
            self.result["memory"][str(level)] = {"status": "skipped", "reason": reason}
            log(self.mode, f"concurrency {level}: not run ({reason})")
            return
        executor = self.executor_of(level)
        idle = self.monitor.start_measuring()
        answers, _ = Phase(executor, specs=self.specs, guard=self.monitor).run(
            name=f"memory x{level}", mode=self.mode, min_runs=level, max_runs=100_000,
            budget_s=self.plan["memory_min_s"])
        peak = self.monitor.stop_measuring()
        self.answers += answers
        self.result["memory"][str(level)] = self._memory_record(idle, peak, answers)
        log(self.mode, f"concurrency {level}: peak PSS "
                       f"{(peak.total if peak else 0) / MB:,.0f} MB")

    def _memory_record(self, idle: Any, peak: Any, answers: list[dict[str, Any]]) -> dict:
        record: dict[str, Any] = {"status": "ok"}
        if self.monitor.tripped_at is not None:
            record = {"status": "aborted",
                      "reason": f"memory guard: MemAvailable fell to "
                                f"{self.monitor.tripped_at / MB:,.0f} MB; workers killed"}
        runs = summarize_runs(answers)
        record.update(
            peak_mb=round(peak.total / MB, 1) if peak else None,
            peak=peak.as_json() if peak else None,
            idle=idle.as_json(),
            samples=self.monitor.samples,
            runs=runs["runs"],
            errors=runs["errors"],
            workers_seen=runs["workers_seen"],
            workers_warmed=self.warmed.get(self.executor.size) if self.executor else None,
            worker_peak_rss_mb=runs["worker_peak_rss_mb"],
            e2e_s=runs["e2e_s"],
        )
        return record

    def _wont_fit(self, level: int) -> str | None:
        """Why concurrency `level` would not fit in memory now (None: it fits)."""
        if self.monitor.tripped_at is not None:
            return "the memory guard fired at a lower concurrency"
        one = self.result["memory"].get("1", {})
        peak = one.get("peak")
        if not peak:
            return None
        workers_mb = peak["by_role_mb"].get("workers", 0.0)
        n_workers = max(1, peak["processes"].get("workers", 1))
        per_worker = max(workers_mb / n_workers, one.get("worker_peak_rss_mb") or 0.0)
        estimate = (peak["total_mb"] - workers_mb + level * per_worker) * MB
        now = sample(self.involved).total
        available = mem_available_bytes()
        budget = self.plan["memory_fraction"] * available
        if estimate - now > budget:
            return (f"needs ~{estimate / MB / 1024:,.1f} GB ({level} x {per_worker:,.0f} MB per "
                    f"worker measured at 1); {available / MB / 1024:,.1f} GB available, "
                    f"budget {budget / MB / 1024:,.1f} GB")
        return None

    def run(self) -> dict[str, Any]:
        plan = self.plan
        self.answers: list[dict[str, Any]] = []
        began = time.perf_counter()
        with Monitor(self.involved, interval_s=plan["sample_interval_s"],
                     floor_bytes=plan["floor_bytes"],
                     on_low_memory=self.on_low_memory) as self.monitor:
            try:
                self.prepare()
                self.latency()
                self.throughput()
                for level in sorted(set(plan["concurrency"]) - {1}):
                    self.memory_level(level)
            except Exception as err:
                self.result.update(status="failed", error=f"{type(err).__name__}: {err}")
                log(self.mode, f"failed: {type(err).__name__}: {err}")
            finally:
                self._close()
        self.result["min_mem_available_mb"] = round(self.monitor.min_available / MB, 1)
        self.result["seconds"] = time.perf_counter() - began
        self.result["stats_by_spec"] = stats_by_spec(self.answers)
        return self.result

    def _close(self) -> None:
        if self.executor is not None:
            try:
                self.executor.close()
            except Exception as err:  # cleanup must not hide the measurements
                self.result["notes"].append(f"closing the workers failed: {err}")
        for cleanup in reversed(self.cleanups):
            try:
                cleanup()
            except Exception as err:
                self.result["notes"].append(f"cleanup failed: {err}")


def main(argv: list[str] | None = None) -> int:
    plan_path, out_path, mode = argv if argv is not None else sys.argv[1:]
    with open(plan_path) as source:
        plan = json.load(source)
    result = ModeRun(mode, plan).run()
    with open(out_path, "w") as out:
        json.dump(result, out, indent=1)
    return 0 if result["status"] == "ok" else 1


if __name__ == "__main__":
    sys.exit(main())
