"""The Ray state API of a `qbt up` head, from a process of its own (token auth on before Ray
loads, as the `qbt` CLI does; the test process may be a driver of another Ray).

    python -m tests.reliability.ray_state kill-running DASHBOARD TASK_NAME TIMEOUT_S
        waits for a worker that list_tasks has seen run a task of that name and whose
        process is executing one right now (its title, `ray::TASK_NAME`), SIGKILLs it.
        Prints `watching` once it knows such a worker (give it one by running a task of
        that name first), then {"pid"} as JSON ({} if none was seen in time).
    python -m tests.reliability.ray_state attempts DASHBOARD TASK_NAME PID
        prints the attempts of the task of that name whose worker PID was killed (an
        attempt killed before it reported its pid counts too), as JSON
        [[attempt_number, state, error_type, worker_pid, error_message], ...].
    python -m tests.reliability.ray_state tasks DASHBOARD TASK_NAME
        prints every attempt of every task of that name (for a failure message).

The state API's task list lags the workers (task events are reported in batches; on a busy
machine a short task may never be listed as RUNNING, or be listed so after it finished). So
the victim is a worker the state API knows to run such tasks (Ray reuses it for the next one)
whose process title says it is executing one now, and the killed task is found afterwards by
that worker's pid.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from typing import Any

os.environ.setdefault("RAY_AUTH_MODE", "token")

import psutil  # noqa: E402
from ray.util.state import list_tasks  # noqa: E402


def _title(pid: int | None) -> str:
    try:
        return psutil.Process(pid).cmdline()[0] if pid else ""
    except (psutil.Error, IndexError):
        return ""


def kill_running(dashboard: str, name: str, timeout_s: float) -> dict[str, object]:
    """SIGKILL a worker that the state API has seen run task `name` (list_tasks, any state:
    Ray reuses a worker for the next task of the same function) and that is executing such
    a task right now (its process title); {"pid": that worker}, or {} if none in time."""
    deadline, listed_at, pids = time.monotonic() + timeout_s, 0.0, set()
    while time.monotonic() < deadline:
        if time.monotonic() - listed_at > 0.5:
            tasks = list_tasks(address=dashboard, filters=[("func_or_class_name", "=", name)],
                               limit=10_000, timeout=10, raise_on_missing_output=False)
            known = {task.worker_pid for task in tasks if task.worker_pid}
            if known and not pids:
                print("watching", flush=True)  # the caller may start the work now
            pids |= known
            listed_at = time.monotonic()
        for pid in pids:
            if _title(pid).startswith(f"ray::{name}"):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    continue
                return {"pid": pid}
        time.sleep(0.05)
    return {}


def _tasks_named(dashboard: str, name: str) -> list[Any]:
    """Every attempt of every task of that function (whatever name each was given), with its
    details."""
    return list_tasks(address=dashboard, filters=[("func_or_class_name", "=", name)],
                      detail=True, timeout=10, raise_on_missing_output=False)


def attempts(dashboard: str, name: str, pid: int, timeout_s: float = 30) -> list[list[object]]:
    """Every attempt of the task whose worker died under it on worker `pid` (waits for the
    state API to report that failure). A worker killed before its first task event went out
    leaves the failed attempt without a pid: such an attempt counts too (only one worker is
    killed in the cluster)."""
    deadline = time.monotonic() + timeout_s
    while True:
        tasks = _tasks_named(dashboard, name)
        killed = {t.task_id for t in tasks if t.state == "FAILED"
                  and t.error_type == "WORKER_DIED" and t.worker_pid in (pid, None, 0)}
        if killed or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    return sorted([task.attempt_number, task.state, task.error_type, task.worker_pid,
                   (task.error_message or "")[:300]] for task in tasks if task.task_id in killed)


def main(argv: list[str]) -> int:
    command, dashboard, *rest = argv
    if command == "kill-running":
        print(json.dumps(kill_running(dashboard, rest[0], float(rest[1]))))
    elif command == "attempts":
        print(json.dumps(attempts(dashboard, rest[0], int(rest[1]))))
    elif command == "tasks":  # for a failure message: every attempt of tasks of that name
        print(json.dumps(sorted([t.task_id[:8], t.attempt_number, t.state, t.error_type,
                                 t.worker_pid] for t in _tasks_named(dashboard, rest[0]))))
    else:
        raise SystemExit(f"unknown command {command!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
