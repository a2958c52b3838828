"""The services around the benchmark: a Redis to use (the local one, else one started here)
and a description of the machine and software the figures come from."""

from __future__ import annotations

import os
import platform
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any

LOCAL_REDIS = "redis://127.0.0.1:6379/0"


@dataclass
class RedisEndpoint:
    url: str | None  # None: no Redis; the Redis modes are not run
    note: str
    local: bool = False  # the server runs on this machine: its PSS is counted
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


def _answers(url: str) -> dict[str, Any] | None:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=5)
        return dict(client.info("server"))
    except (redis.RedisError, OSError):
        return None


def _is_local(info: dict[str, Any]) -> bool:
    import psutil

    pid = info.get("process_id")
    if not pid:
        return False
    try:
        return "redis" in psutil.Process(int(pid)).name()
    except (psutil.Error, ValueError):
        return False


def redis_endpoint(url: str | None) -> RedisEndpoint:
    """`url` if given; else the local server on 6379 if it answers; else a redis-server
    started here on a free loopback port (stopped by `stop`)."""
    try:
        import redis  # noqa: F401
    except ImportError:
        return RedisEndpoint(None, "redis-py is not installed: pip install -e '.[bench]'")
    if url is not None:
        info = _answers(url)
        if info is None:
            return RedisEndpoint(None, f"Redis at {url} does not answer")
        return RedisEndpoint(url, f"Redis {info.get('redis_version')} at {url}", _is_local(info))
    info = _answers(LOCAL_REDIS)
    if info is not None:
        return RedisEndpoint(LOCAL_REDIS, f"local Redis {info.get('redis_version')} on 6379",
                             _is_local(info))
    binary = shutil.which("redis-server")
    if binary is None:
        return RedisEndpoint(None, "no Redis on 127.0.0.1:6379 and no redis-server to start")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    started = f"redis://127.0.0.1:{port}/0"
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        info = _answers(started)
        if info is not None:
            return RedisEndpoint(started, f"Redis {info.get('redis_version')} started here on "
                                          f"port {port}", True, process)
        time.sleep(0.2)
    process.terminate()
    return RedisEndpoint(None, f"redis-server on port {port} did not answer in 15 s")


def machine(*, database_url: str, redis_url: str | None) -> dict[str, Any]:
    """CPU, memory, OS and the versions of everything the figures depend on."""
    from importlib.metadata import PackageNotFoundError, version

    import psutil
    import psycopg

    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            names = (line.split(":", 1)[1].strip() for line in cpuinfo
                     if line.startswith("model name"))
            model = next(names, model)
    except OSError:
        pass
    memory = psutil.virtual_memory()
    with psycopg.connect(database_url) as conn:
        postgres = conn.execute("SHOW server_version").fetchone()[0]  # type: ignore[index]
    out: dict[str, Any] = {
        "cpu": model,
        "logical_cpus": os.cpu_count(),
        "memory_gb": round(memory.total / 1024**3, 1),
        "memory_available_gb_at_start": round(memory.available / 1024**3, 1),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "postgresql": postgres,
        "git_commit": _git_commit(),
        "load_average_1_5_15": [round(x, 2) for x in os.getloadavg()],
    }
    for package in ("ray", "numpy", "polars", "pyarrow", "psycopg", "redis"):
        try:
            out[f"{package}_version"] = version(package)
        except PackageNotFoundError:
            out[f"{package}_version"] = None
    if redis_url is not None:
        info = _answers(redis_url) or {}
        out["redis_server"] = info.get("redis_version")
    return out


def _git_commit() -> str | None:
    try:
        done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=5, cwd=os.path.dirname(__file__))
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() or None
