"""The environment and command line `qbt up` starts the Ray head with."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

from cluster.head import (
    SERVE_ENVIRONMENT,
    ensure_ray_token,
    head_command,
    head_environment,
    ray_token_path,
)
from runtime.config import Settings


def test_head_environment_turns_token_auth_on_and_gives_serve_time_to_start(monkeypatch):
    monkeypatch.delenv("RAY_AUTH_MODE", raising=False)
    for name in SERVE_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    environment = head_environment()
    assert environment["RAY_AUTH_MODE"] == "token"
    assert environment["RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S"] == "60"
    assert environment["PATH"].split(os.pathsep)[0] == str(Path(sys.executable).parent)


def test_values_already_set_win(monkeypatch):
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    monkeypatch.setenv("RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S", "7")
    environment = head_environment()
    assert environment["RAY_AUTH_MODE"] == "disabled"
    assert environment["RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S"] == "7"


def test_head_command_uses_the_configured_ports():
    settings = Settings(ray_gcs_port=7001, dashboard_port=7002, metrics_port=7003)
    command = head_command(settings)
    assert command[1:3] == ["start", "--head"]
    assert {"--port=7001", "--dashboard-port=7002", "--metrics-export-port=7003"} <= set(command)
    assert "--dashboard-host=127.0.0.1" in command


def test_a_missing_ray_token_is_created_0600_where_ray_looks(monkeypatch, tmp_path):
    """Regression: on a fresh HOME `ray start --head` with token auth exited 1
    (no token), since only `ray.init()` makes one."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    monkeypatch.delenv("RAY_AUTH_TOKEN_PATH", raising=False)
    created = ensure_ray_token()
    assert created == tmp_path / ".ray" / "auth_token"
    assert stat.S_IMODE(created.stat().st_mode) == 0o600
    assert len(created.read_text()) == 64 and int(created.read_text(), 16) >= 0
    token = created.read_text()
    assert ensure_ray_token() is None and created.read_text() == token  # kept, not replaced


def test_ray_token_path_follows_rays_order(tmp_path):
    assert ray_token_path({"RAY_AUTH_TOKEN": "abc"}) is None
    custom = tmp_path / "elsewhere" / "token"
    assert ray_token_path({"RAY_AUTH_TOKEN_PATH": str(custom)}) == custom
    assert ensure_ray_token({"RAY_AUTH_TOKEN_PATH": str(custom)}) == custom
    assert stat.S_IMODE(custom.stat().st_mode) == 0o600
    assert ensure_ray_token({"RAY_AUTH_TOKEN": "abc"}) is None


# A head as `qbt up` starts one, without Ray: a session leader whose "daemon" spawns
# "workers", each in a process group of its own as Ray's are; one worker titled as the
# dispatcher, one orphaned (its parent gone), and a daemon that spawns a new worker when it
# gets SIGTERM (as a raylet may while it shuts down).
FAKE_HEAD = r"""
import os, signal, subprocess, sys, time
def worker(title):
    return subprocess.Popen([title, "-c", "import time; time.sleep(600)"],  # argv[0]: the title
                            executable=sys.executable, process_group=0)
parent = os.fork()
if parent == 0:  # a parent that dies: its worker is an orphan (reparented to init)
    worker("orphan"); os._exit(0)
os.waitpid(parent, 0)
workers = [worker("ray::Dispatcher"), worker("ray::run_specs_task (25 runs)")]
signal.signal(signal.SIGTERM, lambda *_: worker("late"))  # and the daemon keeps running
print(" ".join(str(w.pid) for w in workers), flush=True)
time.sleep(600)
"""


def test_stop_head_kills_every_process_of_the_heads_session_without_ray(tmp_path):
    import os
    import subprocess
    import sys
    import time

    import psutil

    from cluster.head import runs_dispatcher, stop_head

    daemon = subprocess.Popen([sys.executable, "-c", FAKE_HEAD], start_new_session=True,
                              stdout=subprocess.PIPE, text=True)
    assert daemon.stdout is not None
    workers = [int(pid) for pid in daemon.stdout.readline().split()]
    time.sleep(0.5)  # the orphan is up
    session = [p for p in psutil.process_iter() if _sid(p.pid) == daemon.pid]
    assert len(session) == 4, [p.pid for p in session]  # the daemon, 2 workers, the orphan
    assert all(os.getpgid(pid) == pid for pid in workers)  # groups of their own, as Ray's
    assert runs_dispatcher(daemon.pid)
    stop_head(daemon.pid, timeout_s=0.5)  # the daemon ignores SIGTERM: SIGKILL after 0.5 s
    daemon.wait(timeout=5)
    left = [p for p in psutil.process_iter() if _sid(p.pid) == daemon.pid and _running(p)]
    assert left == [], [p.pid for p in left]  # the late worker and the orphan too
    assert not runs_dispatcher(daemon.pid)


def _running(process: object) -> bool:
    import psutil

    try:
        return process.status() != psutil.STATUS_ZOMBIE  # type: ignore[attr-defined]
    except psutil.Error:
        return False


def _sid(pid: int) -> int | None:
    import os

    try:
        return os.getsid(pid)
    except (ProcessLookupError, PermissionError):
        return None


def test_qbt_down_and_status_need_no_ray_import_to_start():
    import subprocess
    import sys

    probe = ("import sys, cluster.cli, cluster.lifecycle; "
             "print('ray' in sys.modules)")
    answer = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True)
    assert answer.stdout.strip() == "False"  # `qbt down` of a head `up` started: never
