"""Memory as the kernel sees it: summed PSS of the processes a mode involves, sampled.

PSS (proportional set size, `/proc/PID/smaps_rollup`) charges each resident page to the
processes mapping it in equal parts, so a page shared by 16 workers (the Ray object store,
shared libraries) counts once in the sum, and a private heap counts in full.

- `pss_bytes(pid)`: one process (None when it is gone or unreadable).
- `Involved`: which processes a mode involves: the mode's driver and all its descendants
  (worker processes; for Ray: gcs, raylet with the object store, agents, the registry actor
  and the task workers) plus named outside servers (Redis, PostgreSQL backends), each
  tagged with a role for the breakdown.
- `Monitor`: a thread that samples MemAvailable always (the memory guard: when it falls
  below the floor it calls `on_low_memory` once) and, while `measuring`, the summed PSS of
  the involved processes, keeping the peak sample and its breakdown by role.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import psutil

MB = 1024**2
RAY_SERVICE_WORDS = ("Agent", "SpillWorker", "RestoreWorker", "DeleteWorker")


def pss_parts(pid: int) -> tuple[int, int] | None:
    """(PSS, its shared-memory part: Pss_Shmem) of one process in bytes; None when it has
    exited or cannot be read."""
    pss = shmem = None
    try:
        with open(f"/proc/{pid}/smaps_rollup", "rb") as rollup:
            for line in rollup:
                if line.startswith(b"Pss:"):
                    pss = int(line.split()[1]) * 1024
                elif line.startswith(b"Pss_Shmem:"):
                    shmem = int(line.split()[1]) * 1024
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    return None if pss is None else (pss, shmem or 0)


def pss_bytes(pid: int) -> int | None:
    """PSS of one process in bytes; None when it has exited or cannot be read."""
    parts = pss_parts(pid)
    return None if parts is None else parts[0]


def mem_available_bytes() -> int:
    """MemAvailable from /proc/meminfo (what can be allocated without swapping)."""
    with open("/proc/meminfo", "rb") as meminfo:
        for line in meminfo:
            if line.startswith(b"MemAvailable:"):
                return int(line.split()[1]) * 1024
    return psutil.virtual_memory().available


def peak_rss_bytes() -> int:
    """This process's peak resident set (ru_maxrss) in bytes: its heap high-water mark."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def ray_role(process: psutil.Process) -> str:
    """Role of a Ray-started process, from its title (Ray renames its workers)."""
    try:
        title = " ".join(process.cmdline()) or process.name()
    except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
        return "gone"
    if "DatasetRegistry" in title:
        return "registry"
    if title.startswith("ray::") and not any(word in title for word in RAY_SERVICE_WORDS):
        return "workers"
    return "ray-system"  # gcs, raylet (holds the object store), agents, IO (spill) workers


@dataclass
class Involved:
    """The processes of one mode: the driver, its descendants, and outside servers."""

    driver_pid: int = field(default_factory=os.getpid)
    external: dict[int, str] = field(default_factory=dict)  # pid -> role (redis, postgres)
    worker_pids: set[int] = field(default_factory=set)  # descendants tagged "workers"
    ray: bool = False

    def roles(self) -> dict[int, str]:
        """pid -> role for every process involved right now."""
        out = {self.driver_pid: "driver"}
        try:
            children = psutil.Process(self.driver_pid).children(recursive=True)
        except psutil.NoSuchProcess:
            children = []
        for child in children:
            if self.ray:
                out[child.pid] = ray_role(child)
            else:
                out[child.pid] = "workers" if child.pid in self.worker_pids else "other"
        out.update(self.external)
        return out


@dataclass(frozen=True)
class Sample:
    at: float
    total: int
    by_role: dict[str, int]
    processes: dict[str, int]  # role -> count of processes
    shmem: int  # the part of `total` in shared memory (Ray's object store lives there)

    def as_json(self) -> dict[str, object]:
        return {
            "total_mb": round(self.total / MB, 1),
            "shmem_mb": round(self.shmem / MB, 1),
            "by_role_mb": {k: round(v / MB, 1) for k, v in sorted(self.by_role.items())},
            "processes": dict(sorted(self.processes.items())),
        }


def sample(involved: Involved) -> Sample:
    by_role: dict[str, int] = {}
    counts: dict[str, int] = {}
    shmem = 0
    for pid, role in involved.roles().items():
        parts = pss_parts(pid)
        if parts is None:
            continue
        by_role[role] = by_role.get(role, 0) + parts[0]
        counts[role] = counts.get(role, 0) + 1
        shmem += parts[1]
    return Sample(time.monotonic(), sum(by_role.values()), by_role, counts, shmem)


class Monitor:
    """Background sampler: memory guard always, PSS peak while `measuring`."""

    def __init__(
        self,
        involved: Involved,
        *,
        interval_s: float = 0.1,
        floor_bytes: int,
        on_low_memory: Callable[[int], None],
    ) -> None:
        self.involved = involved
        self.interval_s = interval_s
        self.floor_bytes = floor_bytes
        self.on_low_memory = on_low_memory
        self.measuring = False
        self.tripped_at: int | None = None  # MemAvailable when the guard fired
        self.peak: Sample | None = None
        self.samples = 0
        self.min_available = mem_available_bytes()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="pss-monitor", daemon=True)

    def __enter__(self) -> Monitor:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def start_measuring(self) -> Sample:
        """Reset the peak and start sampling PSS; answers the idle sample taken now."""
        idle = sample(self.involved)
        with self._lock:
            self.peak, self.samples, self.measuring = idle, 1, True
        return idle

    def stop_measuring(self) -> Sample | None:
        final = sample(self.involved)
        with self._lock:
            self._keep(final)
            self.measuring = False
            return self.peak

    def _keep(self, current: Sample) -> None:
        self.samples += 1
        if self.peak is None or current.total > self.peak.total:
            self.peak = current

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            available = mem_available_bytes()
            self.min_available = min(self.min_available, available)
            if available < self.floor_bytes and self.tripped_at is None:
                self.tripped_at = available
                self.on_low_memory(available)
            if self.measuring:
                current = sample(self.involved)
                with self._lock:
                    if self.measuring:
                        self._keep(current)
