"""The Ray state API of a `qbt up` head, from a process of its own (token auth on before Ray
loads, as the `qbt` CLI does; the test process may be a driver of another Ray).

    python -m tests.reliability.ray_state kill-running DASHBOARD TASK_NAME TIMEOUT_S
        waits for a RUNNING task of that name (list_tasks), finds its worker (list_workers),
        SIGKILLs the worker process; prints {"task_id", "worker_id", "pid"} as JSON.
    python -m tests.reliability.ray_state attempts DASHBOARD TASK_ID
        prints the task's attempts as JSON [[attempt_number, state], ...].
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

os.environ.setdefault("RAY_AUTH_MODE", "token")

from ray.util.state import list_tasks, list_workers  # noqa: E402


def kill_running(dashboard: str, name: str, timeout_s: float) -> dict[str, object]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        running = list_tasks(
            address=dashboard, filters=[("name", "=", name), ("state", "=", "RUNNING")],
            timeout=10, raise_on_missing_output=False,
        )
        for task in running:
            workers = list_workers(
                address=dashboard, filters=[("worker_id", "=", task.worker_id)], timeout=10
            )
            if len(workers) == 1 and workers[0].pid == task.worker_pid:
                os.kill(workers[0].pid, signal.SIGKILL)
                return {"task_id": task.task_id, "worker_id": task.worker_id,
                        "pid": workers[0].pid}
        time.sleep(0.2)
    return {}


def attempts(dashboard: str, task_id: str) -> list[list[object]]:
    tasks = list_tasks(address=dashboard, filters=[("task_id", "=", task_id)], timeout=10,
                       detail=True)
    return sorted([task.attempt_number, task.state, task.error_type, task.worker_pid,
                   (task.error_message or "")[:300]] for task in tasks)


def main(argv: list[str]) -> int:
    command, dashboard, *rest = argv
    if command == "kill-running":
        print(json.dumps(kill_running(dashboard, rest[0], float(rest[1]))))
    elif command == "attempts":
        print(json.dumps(attempts(dashboard, rest[0])))
    else:
        raise SystemExit(f"unknown command {command!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
