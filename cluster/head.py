"""Start and stop the Ray head that `qbt up` owns (GCS port not 6379: that is Redis's)."""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import psutil

from runtime.config import Settings
from runtime.state import in_group

DISPATCHER_TITLE = re.compile(r"ray::Dispatcher(\.|\s|$)")


class HeadError(RuntimeError):
    """The Ray head could not be started or reached."""


def ray_token_path(environ: dict[str, str] | None = None) -> Path | None:
    """Where Ray reads its token (RAY_AUTH_TOKEN_PATH, else ~/.ray/auth_token); None when
    RAY_AUTH_TOKEN holds the token itself. Ray's own order: the variable, the path, the file."""
    env = os.environ if environ is None else environ
    if env.get("RAY_AUTH_TOKEN"):
        return None
    if env.get("RAY_AUTH_TOKEN_PATH"):
        return Path(env["RAY_AUTH_TOKEN_PATH"]).expanduser()
    return Path.home() / ".ray" / "auth_token"


def dashboard_sign_in(environ: dict[str, str] | None = None) -> str:
    """How to sign in to the Ray dashboard: where the token is and the command that shows it."""
    path = ray_token_path(environ)
    where = "in $RAY_AUTH_TOKEN" if path is None else f"in {path}"
    return f"sign in with the Ray auth token ({where}; `ray get-auth-token` prints it)"


def ensure_ray_token(environ: dict[str, str] | None = None) -> Path | None:
    """Create the Ray token where Ray looks for it, when there is none; the path created.

    `ray start --head` with token auth refuses to start without one (only `ray.init()` makes
    its own). 256 random bits as hex, as `ray get-auth-token --generate` writes, but 0600."""
    path = ray_token_path(environ)
    if path is None or (path.exists() and path.read_text().strip()):
        return None
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(secrets.token_hex(32))
    path.chmod(0o600)  # an empty file that was there keeps its mode through O_CREAT
    return path


def ray_executable() -> str:
    local = Path(sys.executable).with_name("ray")
    return str(local) if local.exists() else (shutil.which("ray") or "ray")


def head_command(
    settings: Settings, *, node_ip: str = "127.0.0.1", extra_args: tuple[str, ...] = ()
) -> list[str]:
    command = [
        ray_executable(),
        "start",
        "--head",
        f"--node-ip-address={node_ip}",
        f"--port={settings.ray_gcs_port}",
        "--include-dashboard=true",
        f"--dashboard-host={settings.dashboard_host}",
        f"--dashboard-port={settings.dashboard_port}",
        f"--metrics-export-port={settings.metrics_port}",
        f"--dashboard-agent-listen-port={settings.dashboard_agent_port}",
        "--disable-usage-stats",
    ]
    if settings.object_store_memory:
        command.append(f"--object-store-memory={settings.object_store_memory}")
    return command + list(extra_args)


# Read by the Serve controller and the HTTP proxies, so they belong in the environment of
# every node's raylet (its workers inherit it). Serve gives a new HTTP proxy 5 s to answer
# its ready check, then kills and replaces it, and `serve.start` fails with ActorDiedError:
# on a busy 2-core machine a worker process alone can take longer than that to start. The
# proxy runs serve.proxy_errors's middleware: a JSON 503 with Retry-After, not a plain 500,
# when a replica dies with requests in flight.
SERVE_ENVIRONMENT = {
    "RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S": "60",
    "RAY_worker_niceness": "0",
    "RAY_SERVE_HTTP_PROXY_CALLBACK_IMPORT_PATH": "serve.proxy_errors:proxy_middlewares",
}


def head_environment() -> dict[str, str]:
    """Token auth on, Serve's start-up allowance (SERVE_ENVIRONMENT; a value already set
    wins), and this interpreter's folder first on PATH so that `python` in a `ray job
    submit` entrypoint is the one QBT is installed in."""
    path = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    return {**SERVE_ENVIRONMENT, **os.environ,
            "RAY_AUTH_MODE": os.environ.get("RAY_AUTH_MODE", "token"), "PATH": path}


def start_head(
    settings: Settings, *, log_path: Path, extra_args: tuple[str, ...] = ()
) -> tuple[str, int]:
    """Start a Ray head in a new process group; return its GCS address and that group."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            head_command(settings, extra_args=extra_args),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            env=head_environment(),
        )
        code = process.wait(timeout=120)
    if code != 0:
        raise HeadError(
            f"`ray start --head` exited with {code}: {last_error_line(log_path)} (log {log_path})"
        )
    return f"127.0.0.1:{settings.ray_gcs_port}", process.pid


def last_error_line(log_path: Path) -> str:
    """The last line of a log that names an error, else its last line."""
    lines = [line.strip() for line in log_path.read_text(errors="replace").splitlines()]
    lines = [line for line in lines if line]
    errors = [line for line in lines if "Error" in line or "error" in line]
    return (errors or lines or ["no output"])[-1][:300]


# Ray's daemons that outlast a SIGTERM by 20 s and more (measured), holding nothing of QBT's.
STUBBORN = ("gcs_server", "log_monitor")


def stop_head(pgid: int, *, timeout_s: float = 1.5) -> int:
    """Stop the head's daemons (its process group) and every worker of their session, without
    a Ray driver. `qbt up` starts the head in a session of its own (its id is the group's), so
    the session holds every process Ray spawned, orphans too. The daemons are frozen first
    (SIGSTOP: nothing is scheduled, restarted or spawned any more), then every worker gets
    SIGKILL at once (backtests, the Serve replicas, QBT's actors, the dispatcher among them:
    their state is in PostgreSQL), then the daemons SIGTERM; after `timeout_s`, or as soon as
    only the daemons that ignore it for seconds are left (the GCS server, the log monitor),
    SIGKILL for the rest and for any worker a daemon spawned while it shut down."""
    session = session_processes(pgid)
    group = [p for p in session if in_group(p, pgid)]
    _signal(group, signal.SIGSTOP)
    workers = set(session) - set(group)
    _signal(workers, signal.SIGKILL)
    _signal(group, signal.SIGTERM)  # delivered as they resume, before anything else they do
    _signal(group, signal.SIGCONT)
    stubborn = {p for p in group if _is_stubborn(p)}
    _, alive = psutil.wait_procs([p for p in group if p not in stubborn], timeout=timeout_s)
    _signal(set(alive) | stubborn, signal.SIGKILL)
    late = session_processes(pgid)  # spawned during the shutdown
    _signal(late, signal.SIGKILL)
    time.sleep(0.3)  # for the kernel to free their ports
    return len(group) + len(workers) + len(late)


def runs_dispatcher(pgid: int) -> bool:
    """Whether QBT's dispatcher runs on this head's node, in its session (Ray titles an
    actor's process `ray::<Class>`, `ray::<Class>.<method>` during a call)."""
    return any(DISPATCHER_TITLE.match(_title(p)) for p in session_processes(pgid))


def session_processes(sid: int) -> list[psutil.Process]:
    """The processes of session `sid` (a head `qbt up` started: its process group's id)."""
    found = []
    for process in psutil.process_iter():
        try:
            if os.getsid(process.pid) == sid:
                found.append(process)
        except (ProcessLookupError, PermissionError):
            pass
    return found


def _title(process: psutil.Process) -> str:
    try:
        return (process.cmdline() or [""])[0].strip()
    except psutil.Error:
        return ""


def _is_stubborn(process: psutil.Process) -> bool:
    try:
        return any(name in " ".join(process.cmdline()[:2]) for name in STUBBORN)
    except psutil.Error:
        return False


def _signal(processes: Iterable[psutil.Process], sig: signal.Signals) -> None:
    for process in processes:
        try:
            process.send_signal(sig)
        except psutil.Error:
            pass
