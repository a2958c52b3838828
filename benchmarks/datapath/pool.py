"""Worker processes for the non-Ray modes, run as Celery workers run: one process per slot,
each running one backtest at a time and keeping nothing between them but its connection.

Processes are started with 'spawn' (fresh interpreters, like separate worker processes on a
host), each with its own job queue so a job goes to a chosen idle worker; results come back
on one queue. The driver stamps each job when it hands it over and when its result arrives:
that difference is the backtest's end-to-end time.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import queue
import signal
import time
from typing import Any

from benchmarks.datapath.memory import Involved


def worker_main(mode: str, context: dict[str, Any], jobs: Any, results: Any) -> None:
    from benchmarks.datapath.modes import open_fetcher, run_job

    try:
        fetcher = open_fetcher(mode, context)
    except Exception as err:
        results.put({"ready": False, "pid": os.getpid(), "error": f"{type(err).__name__}: {err}"})
        return
    results.put({"ready": True, "pid": os.getpid(), "outside": fetcher.outside_pids()})
    try:
        while (job := jobs.get()) is not None:
            results.put(run_job(fetcher.fetch, job))
    finally:
        fetcher.close()


class WorkerPool:
    """`size` worker processes of one mode; `submit` / `next_result` keep jobs flowing."""

    def __init__(
        self, *, mode: str, context: dict[str, Any], size: int, involved: Involved,
        start_timeout_s: float = 300.0,
    ) -> None:
        ctx = mp.get_context("spawn")
        self.size = size
        self._involved = involved
        self._results = ctx.Queue()
        self._queues: dict[int, Any] = {}
        self._processes: dict[int, Any] = {}
        self._busy: dict[int, tuple[dict[str, Any], float]] = {}  # pid -> (job, handed at)
        starting = []
        for _ in range(size):
            jobs = ctx.Queue()
            process = ctx.Process(target=worker_main, args=(mode, context, jobs, self._results),
                                  daemon=True)
            process.start()
            starting.append((process, jobs))
        for process, jobs in starting:
            pid = process.pid
            assert pid is not None  # started: it has one
            self._processes[pid] = process
            self._queues[pid] = jobs
            involved.worker_pids.add(pid)
        deadline = time.monotonic() + start_timeout_s
        ready = 0
        while ready < size:
            try:
                message = self._results.get(timeout=max(0.1, deadline - time.monotonic()))
            except queue.Empty:
                self.close()
                raise RuntimeError(f"{size - ready} {mode} workers did not start in time") from None
            if not message["ready"]:
                self.close()
                raise RuntimeError(f"a {mode} worker failed to start: {message['error']}")
            involved.external.update(message["outside"])
            ready += 1
        self._idle = list(self._processes)

    @property
    def pids(self) -> list[int]:
        return list(self._processes)

    def idle(self) -> int:
        return len(self._idle)

    def submit(self, job: dict[str, Any]) -> None:
        pid = self._idle.pop()
        self._busy[pid] = (job, time.perf_counter())
        self._queues[pid].put(job)

    def in_flight(self) -> int:
        return len(self._busy)

    def next_result(self, timeout_s: float) -> dict[str, Any] | None:
        """The next finished job (with `e2e_s`), or None after `timeout_s`; a worker that
        died mid-job answers an error for its job."""
        try:
            answer = self._results.get(timeout=timeout_s)
        except queue.Empty:
            return self._reap()
        job, handed = self._busy.pop(answer["pid"])
        self._idle.append(answer["pid"])
        answer["e2e_s"] = time.perf_counter() - handed
        return answer

    def _reap(self) -> dict[str, Any] | None:
        for pid, (job, _) in list(self._busy.items()):
            process = self._processes[pid]
            if not process.is_alive():
                del self._busy[pid]
                return {"number": job["number"], "spec": job["spec_index"], "pid": pid,
                        "error": f"worker process died (exit code {process.exitcode})"}
        return None

    def kill(self) -> None:
        """The memory guard's action: stop every worker now."""
        for pid in self._processes:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def close(self) -> None:
        for pid, process in self._processes.items():
            if process.is_alive():
                try:
                    self._queues[pid].put(None)
                except (OSError, ValueError):
                    pass
        for process in self._processes.values():
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
                process.join(timeout=5)
        for pid in self._processes:
            self._involved.worker_pids.discard(pid)
        self._involved.external = {
            pid: role for pid, role in self._involved.external.items() if role != "postgres"
        }
        self._processes.clear()
