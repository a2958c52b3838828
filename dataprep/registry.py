"""DatasetRegistry: a detached Ray actor that builds FactorPanels and owns them in the object store.

The registry calls `ray.put` itself, so each panel's owner is the registry (which outlives
any caller). Objects from `ray.put` are never reconstructed by Ray: a restarted registry
(max_restarts=-1) starts empty and rebuilds from PostgreSQL on the next `get()`.

- `get(version=None)`: the handle of the current version (built on first use). Concurrent
  callers of a version that is being built wait for that one build (single flight).
- `refresh()`: reads the data version from the database; a new one is built in the
  background while the old one keeps serving, then becomes current.
- Versions other than the current one are kept, least recently used first out, while their
  bytes fit `memory_budget`. A dropped version's memory is freed by Ray once the last run
  holding its ObjectRef finishes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import ray

from dataprep.panel import FactorPanel, PanelIndex, coverage_rows
from runtime.metrics import qbt_metrics
from runtime.names import NAMESPACE, REGISTRY_ACTOR
from runtime.ray_connection import detached_actor_options
from runtime.state_log import StateLog

HEAD_NODE_RESOURCE = "node:__internal_head__"

PanelBuilder = Callable[[str], tuple[FactorPanel, dict[str, float]]]
VersionReader = Callable[[str], str]


GAUGES_EVERY_S = 5.0  # the panel gauges are recorded again this often


class UnknownVersionError(KeyError):
    """A data version the registry does not hold and cannot rebuild (the data moved on)."""

    def __init__(self, version: str, current: str | None) -> None:
        super().__init__(version, current)  # plain args: the error pickles across Ray
        self.version, self.current = version, current

    def __str__(self) -> str:
        return (
            f'Data version "{self.version}" is not held any more; '
            f'the current one is "{self.current}"'
        )


@dataclass(frozen=True)
class PanelHandle:
    """What `get()` answers: the version, its ObjectRef, a summary and the index a spec is
    validated against (no caller needs to map the panel for that)."""

    version: str
    ref: ray.ObjectRef
    shape: tuple[int, int, int]
    nbytes: int
    built_at: float
    timings: dict[str, float]
    index: PanelIndex


@dataclass
class _Entry:
    handle: PanelHandle
    last_used: float = field(default_factory=time.time)


def _default_builder(database_url: str) -> tuple[FactorPanel, dict[str, float]]:
    from dataprep.build import build_panel_timed

    panel, report = build_panel_timed(database_url=database_url)
    return panel, {"load_s": report.load_s, "compute_s": report.compute_s}


def _default_version_reader(database_url: str) -> str:
    import psycopg

    from dataprep.loaders import data_version

    with psycopg.connect(database_url) as conn:
        return data_version(conn)


class DatasetRegistry:
    """The actor's class; deploy it with `ensure_registry`, test it with `ray.remote` options."""

    def __init__(
        self,
        database_url: str,
        *,
        memory_budget: int = 8 * 1024**3,
        refresh_interval_s: float | None = None,
        builder: PanelBuilder | None = None,
        version_reader: VersionReader | None = None,
    ) -> None:
        self._database_url = database_url
        self._memory_budget = memory_budget
        self._builder = builder or _default_builder
        self._version_reader = version_reader or _default_version_reader
        self._entries: dict[str, _Entry] = {}
        self._building: dict[str, asyncio.Future[PanelHandle]] = {}
        self._current: str | None = None
        self._builds = 0
        self._refreshes = 0
        self._last_error: str | None = None
        self._refresh_interval_s = refresh_interval_s
        self._ticker: asyncio.Task[None] | None = None
        self._gauges: asyncio.Task[None] | None = None
        self._started_at = time.time()
        self._state_log = StateLog()
        self._log_state()

    def __repr__(self) -> str:
        """What Ray's dashboard shows in the Actors view's Repr column. Ray reads an actor's
        repr once, when its creation task ends (the repr travels in that task's reply), so
        it says what holds for the actor's life; its data versions and bytes change, and are
        on the actor's page (its stderr: `runtime.state_log`), in `qbt status` and in the
        metrics (qbt_panel_bytes, qbt_panel_versions)."""
        return (f"DatasetRegistry(budget {self._memory_budget / 1024**2:,.0f} MiB, started "
                f"{time.strftime('%H:%M:%S', time.localtime(self._started_at))}; "
                "live state: this actor's Logs, qbt status, Grafana QBT)")

    async def get(self, version: str | None = None) -> PanelHandle:
        """The current panel (or a named version still held), building it if needed.

        A build is labelled with the version of the data it read (`panel.version`), never
        with the one asked for: when the database moved on, the new build becomes current
        and asking for the old version raises UnknownVersionError."""
        self._start_ticker()
        asked = version
        if version is None:
            version = self._current or await self._read_version()
        entry = self._entries.get(version)
        if entry is None:
            if self._current is not None and version not in self._building:
                if version != await self._read_version():
                    raise UnknownVersionError(version, self._current)
            handle = await self._build_once(version)
            if asked is not None and handle.version != asked:
                raise UnknownVersionError(asked, handle.version)
        else:
            handle = entry.handle
        self._entries[handle.version].last_used = time.time()
        return handle

    def _record_gauges(self) -> None:
        qbt_metrics().held(nbytes=sum(e.handle.nbytes for e in self._entries.values()),
                           versions=len(self._entries))
        self._log_state()

    def _log_state(self) -> None:
        self._state_log.write(registry_state(
            current=self._current, held={n: e.handle.nbytes for n, e in self._entries.items()},
            building=sorted(set(self._building) - set(self._entries)),  # done: not popped yet
            budget=self._memory_budget))

    async def refresh(self, wait: bool = False) -> dict[str, Any]:
        """Check the database's data version; build a new one in the background."""
        version = await self._read_version()
        if version == self._current or version in self._building:
            task = self._building.get(version)
        else:
            task = asyncio.ensure_future(self._build_once(version))
        if wait and task is not None:
            await task
        return {"current": self._current, "latest": version, "building": sorted(self._building)}

    def database_url(self) -> str:
        """Where this registry builds from (jobs store their results there too)."""
        return self._database_url

    def versions(self) -> list[dict[str, Any]]:
        """One row per held version (`GET /v1/datasets`), with each factor's coverage."""
        now = time.time()
        return [
            {
                "version": name,
                "current": name == self._current,
                "shape": list(entry.handle.shape),
                "nbytes": entry.handle.nbytes,
                "age_s": round(now - entry.handle.built_at, 1),
                "timings": entry.handle.timings,
                "coverage": coverage_rows(entry.handle.index),
            }
            for name, entry in self._entries.items()
        ]

    def stats(self) -> dict[str, Any]:
        return {
            "current": self._current,
            "builds": self._builds,
            "refreshes": self._refreshes,
            "building": sorted(self._building),
            "held_bytes": sum(e.handle.nbytes for e in self._entries.values()),
            "last_error": self._last_error,
        }

    async def _read_version(self) -> str:
        return await asyncio.to_thread(self._version_reader, self._database_url)

    async def _build_once(self, version: str) -> PanelHandle:
        pending = self._building.get(version)
        if pending is None:
            pending = asyncio.ensure_future(self._build(version))
            self._building[version] = pending
            pending.add_done_callback(lambda _: self._building.pop(version, None))
            self._log_state()
        return await asyncio.shield(pending)

    async def _build(self, expected: str) -> PanelHandle:
        """Build from what the database holds now (expected to be `expected`)."""
        self._builds += 1
        try:
            handle = await asyncio.to_thread(self._build_and_put)
        except Exception as err:
            self._last_error = f"{type(err).__name__}: {err}"
            raise
        version = handle.version
        if version != expected:
            self._last_error = f"asked to build {expected}, the data was {version}"
        self._entries[version] = _Entry(handle)
        metrics = qbt_metrics()
        if self._current is not None and self._current != version:
            self._refreshes += 1
            metrics.refreshed()
        self._current = version
        self._evict()
        metrics.built(seconds=sum(handle.timings.values()))
        self._record_gauges()
        return handle

    def _build_and_put(self) -> PanelHandle:
        panel, timings = self._builder(self._database_url)
        started = time.perf_counter()
        ref = ray.put(panel)
        timings = {**timings, "put_s": time.perf_counter() - started}
        shape = panel.values.shape
        return PanelHandle(
            version=panel.version,
            ref=ref,
            shape=(int(shape[0]), int(shape[1]), int(shape[2])),
            nbytes=panel.nbytes,
            built_at=time.time(),
            timings=timings,
            index=panel.index(),
        )

    def _evict(self) -> None:
        held = sum(e.handle.nbytes for e in self._entries.values())
        for name in sorted(self._entries, key=lambda n: self._entries[n].last_used):
            if held <= self._memory_budget:
                break
            if name == self._current:
                continue
            held -= self._entries.pop(name).handle.nbytes

    def _start_ticker(self) -> None:
        if self._refresh_interval_s and self._ticker is None:
            self._ticker = asyncio.ensure_future(self._tick(self._refresh_interval_s))
        if self._gauges is None:
            self._gauges = asyncio.ensure_future(self._record_gauges_every())

    async def _record_gauges_every(self) -> None:
        """The panel gauges again every GAUGES_EVERY_S, idle or not (Ray's export drops a
        gauge that was not set for a while)."""
        while True:
            await asyncio.sleep(GAUGES_EVERY_S)
            self._record_gauges()

    async def _tick(self, interval_s: float) -> None:
        while True:
            await asyncio.sleep(interval_s)
            try:
                await self.refresh()
            except Exception as err:  # keep serving the current version
                self._last_error = f"{type(err).__name__}: {err}"


def registry_state(*, current: str | None, held: dict[str, int], building: list[str],
                   budget: int) -> str:
    """The registry's state as its log line says it: the current data version, the versions
    held and their bytes against the budget, what is being built."""
    if current is None:
        text = "no data version built yet (the first request builds it)"
    else:
        n = len(held)
        text = (f"data version {current} is current; {n} version{'s' if n != 1 else ''} held, "
                f"{sum(held.values()) / 1024**2:,.1f} of {budget / 1024**2:,.0f} MiB")
    return text + (f"; building {', '.join(building)}" if building else "")


def registry_actor_class() -> Any:
    return ray.remote(DatasetRegistry)


def ensure_registry(
    database_url: str,
    *,
    memory_budget: int,
    refresh_interval_s: float | None = None,
    builder: PanelBuilder | None = None,
) -> Any:
    """The named detached registry of this cluster (created on first call); `builder`
    replaces how it builds a panel (a benchmark counting what a build reads)."""
    return (
        registry_actor_class()
        .options(
            **detached_actor_options(
                REGISTRY_ACTOR,
                max_concurrency=1000,
                # On the head node: the panels' owner must not go away with a worker node.
                resources={HEAD_NODE_RESOURCE: 0.001},
            )
        )
        .remote(
            database_url,
            memory_budget=memory_budget,
            refresh_interval_s=refresh_interval_s,
            builder=builder,
        )
    )


def get_registry() -> Any:
    """The running registry, or a clear error when `qbt up` has not created it."""
    try:
        return ray.get_actor(REGISTRY_ACTOR, namespace=NAMESPACE)
    except ValueError:
        raise LookupError(
            "No DatasetRegistry is running in this Ray cluster: start QBT with `qbt up`"
        ) from None
