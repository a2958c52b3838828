"""Dispatcher: the detached actor that moves runs from the PostgreSQL queue onto Ray.

One loop, woken by NOTIFY (a submit), by a finished batch, or every `poll_s`:

1. Reap: running rows whose lease expired go back to queued (or fail after `max_attempts`).
2. Renew the leases of everything in flight; forget runs cancelled meanwhile (and cancel a
   task none of whose runs is wanted any more).
3. Claim single runs up to `max_in_flight` and sweep variants up to `max_sweep_in_flight`
   minus what is in flight (`FOR UPDATE SKIP LOCKED`; variants in grid order). A claim that
   an equal finished run answers (same spec hash, data version, engine version) is finished
   from it (`reused_from`). For the rest, get each data version's panel ObjectRef from the
   DatasetRegistry and submit batches as Ray tasks with the ObjectRef as an argument
   (zero-copy on every node): single runs in small batches (latency), a sweep's variants in
   large ones (`QBT_SWEEP_BATCH_SIZE`), which the task runs together, grouped by selection
   plan (`backtest.variants`).
4. A finished batch writes its outcomes (`serve.store.queue.finish`: only rows still running under
   the same attempt); a crashed one gives its runs back to the queue.
5. Factor reports are claimed (one at a time, under a lease) and computed as a Ray task
   (`serve.report_runner`).
6. A sweep whose variants have all ended is analysed (`serve.analyses`: overfitting
   statistics and walk-forward, one Ray task) and reads as done once that is stored.

All state that matters is in PostgreSQL: a restarted dispatcher (max_restarts=-1) starts with
nothing in flight and first gives back what its predecessor held (`requeue_orphans`: there
is one dispatcher per cluster, so a new one means the old one is dead), without counting
those attempts; a lease that expires (the dispatcher alive but cut off) re-queues too.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field, replace
from typing import Any

import ray

from backtest.batch import RunOutcome, RunRequest
from backtest.sweep import SweepSpec, plan_group
from backtest.tasks import analyse_task, factor_report_task, submit, yield_cpu_to_serving
from backtest.version import ENGINE_VERSION
from runtime.metrics import qbt_metrics
from runtime.names import DISPATCHER_ACTOR, ENDED_BY_RUNNING, MAX_SWEEP_VARIANTS, NAMESPACE
from runtime.ray_connection import detached_actor_options
from runtime.state_log import StateLog
from serve.analyses import Analyses, AnalysisFailed
from serve.database import RUNS_CHANNEL, Listener, connection, open_pool
from serve.errors import UnavailableError
from serve.options import ServiceOptions
from serve.report_runner import ReportFailed, ReportRunner
from serve.store import queue
from serve.store import sweeps as store_sweeps
from serve.store.records import AnalysisInputs, Claim, Ended, Outcome
from serve.store.reports import ReportClaim
from serve.store.runs import check_storable
from serve.sweeps import checked_variants, sweep_public

log = logging.getLogger(__name__)

METRICS_EVERY_S = 2.0
SINGLE_BATCH = 25  # single runs per Ray task at most
MIN_SWEEP_BATCH = 100  # sweep variants per Ray task at least (a task's overhead, amortised)
CPUS_EVERY_S = 30.0
ANALYSES_EVERY_S = 30.0  # and after every finished batch of sweep variants
GATHER_S = 0.02  # after a wake-up, before claiming: a burst of submits becomes one claim
DISPATCHER_NICENESS = 5  # below the ingress and the proxy (0): a burst of submits goes first


@dataclass
class _Batch:
    claims: list[Claim]
    ref: ray.ObjectRef
    sweeps: bool  # sweep variants (else single runs)
    wanted: set[str] = field(default_factory=set)  # ids not cancelled meanwhile
    waiter: asyncio.Task[None] | None = None  # held here: asyncio keeps only weak refs


class Dispatcher:
    """The actor's class; deploy it with `ensure_dispatcher`."""

    def __init__(
        self,
        database_url: str,
        *,
        options: ServiceOptions,
        batch_size: int,
        max_sweep_variants: int = MAX_SWEEP_VARIANTS,
    ) -> None:
        yield_cpu_to_serving(DISPATCHER_NICENESS)
        self._url, self._options, self._batch_size_max = database_url, options, batch_size
        self._max_sweep_variants = max_sweep_variants
        self._batches: dict[ray.ObjectRef, _Batch] = {}
        self._wake = asyncio.Event()
        self._counts: dict[str, int] = defaultdict(int)
        self._last_error: str | None = None
        self._cpus = (0.0, 1)  # (checked at, cluster CPUs)
        self._started_at = time.time()
        self._last_claim_at: float | None = None
        self._queue_depth: int | None = None
        self._state_log = StateLog()
        self._claims_unsure = False  # a claim's connection broke: it may have committed
        self._registry: Any = None
        self._pool: Any = None  # opened by the loop (it needs the actor's event loop)
        self._analyses = Analyses(self._analyse)
        self._reports = ReportRunner(self._factor_report, lease_s=options.lease_s,
                                     max_attempts=options.max_attempts)
        self._sweep_ended = True  # a sweep batch finished: look for sweeps to analyse
        self._listener = Listener(
            database_url,
            channels=[RUNS_CHANNEL],
            on_notify=lambda _channel, _payload: self._wake.set(),
            on_connect=self._wake.set,
            timeout_s=options.db_timeout_s,
        )
        self._loop = asyncio.ensure_future(self._run())

    async def submit_sweep(self, owner: str, sweep: dict[str, Any]) -> dict[str, Any]:
        """Queue a sweep for `owner` as `POST /v1/sweeps` does (validated against the current
        data version, the owner's sweep limit, the storable-text checks); for the Ray job,
        which has no API key. Answers {id, n_variants, data_version}."""
        spec = SweepSpec.model_validate(sweep)
        check_storable(spec.model_dump(mode="json"))  # before the variants' JSON texts
        handle = await self._registry_handle().get.remote()
        variants = await asyncio.to_thread(
            checked_variants, spec, handle.index, max_variants=self._max_sweep_variants,
            max_span_days=self._options.max_span_days,
        )
        async with connection(await self._db()) as conn:
            queued, _ = await store_sweeps.insert_sweep(
                conn, owner=owner, sweep=spec.model_dump(mode="json"), variants=variants,
                plan_groups=[plan_group(spec, n) for n in range(len(variants))],
                data_version=handle.version, idempotency_key=None,
                limit=self._options.owner_sweep_limit,
            )
        return {"id": str(queued.id), "n_variants": queued.n_variants,
                "data_version": queued.data_version}

    async def sweep_progress(self, owner: str, sweep_id: str) -> dict[str, Any]:
        """The sweep as `GET /v1/sweeps/{id}` answers it (JSON-ready)."""
        async with connection(await self._db()) as conn:
            public = await sweep_public(conn, owner=owner, sweep_id=uuid.UUID(sweep_id))
        return public.model_dump(mode="json")

    def __repr__(self) -> str:
        """What Ray's dashboard shows in the Actors view's Repr column. Ray reads an actor's
        repr once, when its creation task ends (the repr travels in that task's reply), so
        it says what holds for the actor's life; queue depth, runs in flight and the last
        claim change, and are on the actor's page (its stderr: `runtime.state_log`), in `qbt
        status` and in the metrics (qbt_queue_depth, ...)."""
        return (f"Dispatcher(lease {self._options.lease_s:g} s, up to "
                f"{self._options.max_in_flight} runs + {self._options.max_sweep_in_flight:,} "
                f"variants in flight, started {_clock(self._started_at)}; live state: this "
                "actor's Logs, qbt status, Grafana QBT)")

    async def _db(self) -> Any:
        while self._pool is None:  # opened by the loop as it starts
            await asyncio.sleep(0.05)
        return self._pool

    async def stats(self) -> dict[str, Any]:
        return {
            "started_at": self._started_at,
            "pid": os.getpid(),
            "last_claim_at": self._last_claim_at,
            "in_flight": self._n_in_flight(),
            "batches": len(self._batches),
            "counts": {**self._counts, **self._analyses.counts, **self._reports.counts},
            "analyses": len(self._analyses),
            "factor_reports": len(self._reports),
            "last_error": self._last_error,
            "running": not self._loop.done(),
        }

    def _n_in_flight(self, *, sweeps: bool | None = None) -> int:
        """Runs in flight: all, or only sweep variants / only single runs."""
        return sum(len(batch.wanted) for batch in self._batches.values()
                   if sweeps is None or batch.sweeps == sweeps)

    async def _run(self) -> None:
        self._pool = await open_pool(
            self._url,
            max_size=3,
            timeout_s=self._options.db_timeout_s,
            statement_timeout_ms=self._options.statement_timeout_ms,
            name="dispatcher",
        )
        self._listener.start()
        await self._requeue_orphans()
        last = {"reap": 0.0, "renew": time.monotonic(), "metrics": 0.0, "analyses": 0.0}
        backoff = 0.0
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=backoff or self._options.poll_s)
            except TimeoutError:
                pass
            await asyncio.sleep(GATHER_S)  # a burst of submits: one claim, not one per submit
            self._wake.clear()
            try:
                await self._tick(last)
                backoff = 0.0
            except Exception as err:  # the database or registry went away: keep trying
                self._last_error = f"{type(err).__name__}: {err}"
                self._counts["loop_errors"] += 1
                log.warning("dispatcher: %s", self._last_error)
                backoff = min(max(backoff * 2, 0.5), 10.0)
                self._state_log.write(f"not claiming: {self._last_error} (trying again)")

    async def _requeue_orphans(self) -> None:
        """What a dead predecessor held goes back to the queue now (not at lease expiry),
        its attempt not counted; retried until the database answers."""
        for attempt in range(60):
            try:
                async with connection(self._pool) as conn:
                    orphans = await queue.requeue_orphans(conn)
                self._count_ends(orphans)
                self._counts["orphans_requeued"] += len(orphans)
                return
            except Exception as err:
                self._last_error = f"re-queueing orphans: {type(err).__name__}: {err}"
                await asyncio.sleep(min(0.5 * 2**attempt, 5.0))

    async def _tick(self, last: dict[str, float]) -> None:
        if self._claims_unsure:  # a claim whose answer was lost: its rows are held by no one
            held = [c.id for batch in self._batches.values() for c in batch.claims]
            async with connection(self._pool) as conn:
                lost = await queue.requeue_unheld(conn, held=held)
            self._count_ends(lost)
            self._counts["claims_lost"] += len(lost)
            self._claims_unsure = False
        now = time.monotonic()
        lease_s = self._options.lease_s
        reap, renew = now - last["reap"] >= lease_s / 4, now - last["renew"] >= lease_s / 3
        if reap:
            async with connection(self._pool) as conn:
                reaped = await queue.reap(conn, max_attempts=self._options.max_attempts)
            self._count_ends(reaped)
            self._counts["reaped"] += len(reaped)
            last["reap"] = now
        if renew:
            await self._renew()
            last["renew"] = now
        await self._reports.tick(self._pool, reap=reap, renew=renew)
        for sweeps, limit in ((False, self._options.max_in_flight),
                              (True, self._options.max_sweep_in_flight)):
            in_flight = self._n_in_flight(sweeps=sweeps)
            capacity = limit - in_flight
            if capacity <= 0 or (sweeps and in_flight and capacity < self._batch_size_max):
                continue  # sweep variants: a whole batch at a time (no crumbs of batches)
            try:
                async with connection(self._pool) as conn:
                    claims = await queue.claim(conn, limit=capacity, lease_s=lease_s,
                                               sweeps=sweeps)
                    reused = await queue.reuse(conn, claims, engine_version=ENGINE_VERSION)
            except UnavailableError as err:
                self._claims_unsure |= err.outcome_unknown  # it may have committed
                raise
            if claims:
                self._last_claim_at = time.time()
                qbt_metrics().claimed(at=self._last_claim_at)
            if reused:  # answered by equal finished runs: nothing to compute
                self._count_ends(reused)
                self._counts["reused"] += len(reused)
                self._sweep_ended |= sweeps
                finished = {row.id for row in reused}
                claims = [c for c in claims if c.id not in finished]
            if claims:  # a finished batch wakes the loop to claim more
                self._counts["claimed"] += len(claims)
                await self._launch(claims)
        if self._sweep_ended or now - last["analyses"] >= ANALYSES_EVERY_S:
            self._sweep_ended = False
            await self._analyses.start_pending(self._pool)
            last["analyses"] = now
        if now - last["metrics"] >= METRICS_EVERY_S:
            async with connection(self._pool) as conn:
                depth = await queue.queue_depth(conn)
            self._queue_depth = depth
            qbt_metrics().queue(depth=depth, in_flight=self._n_in_flight())
            if self._last_claim_at is not None:  # again: Ray drops a gauge not set lately
                qbt_metrics().claimed(at=self._last_claim_at)
            self._state_log.write(dispatcher_state(
                queue_depth=depth, single=self._n_in_flight(sweeps=False),
                variants=self._n_in_flight(sweeps=True), batches=len(self._batches),
                last_claim_at=self._last_claim_at))
            last["metrics"] = now

    async def _renew(self) -> None:
        claims = [c for b in self._batches.values() for c in b.claims if c.id in b.wanted]
        async with connection(self._pool) as conn:
            alive = await queue.renew(conn, claims, lease_s=self._options.lease_s)
        for batch in self._batches.values():
            if batch.wanted and not batch.wanted & alive:
                ray.cancel(batch.ref)  # every run of it was cancelled: free its CPU
            batch.wanted &= alive

    def _registry_handle(self) -> Any:
        if self._registry is None:
            from dataprep.registry import get_registry

            self._registry = get_registry()
        return self._registry

    async def _panel(self, version: str) -> Any:
        """The PanelHandle of `version`, else of the current version (the run then records
        the version it really used)."""
        from dataprep.registry import UnknownVersionError

        registry = self._registry_handle()
        try:
            return await registry.get.remote(version)
        except UnknownVersionError:
            return await registry.get.remote()

    async def _launch(self, claims: list[Claim]) -> None:
        """Submit the claims as batches per data version. Claims whose panel cannot be had
        go back to the queue (not counted as an attempt), and the error is raised after the
        other versions were launched, so the loop backs off."""
        by_version: dict[str, list[Claim]] = defaultdict(list)
        for claim in claims:
            by_version[claim.data_version].append(claim)
        failure: Exception | None = None
        for version, group in by_version.items():
            try:
                handle = await self._panel(version)
            except Exception as err:  # no panel now: not the runs' fault, retry them later
                self._registry, failure = None, err
                async with connection(self._pool) as conn:
                    await queue.release(
                        conn, group, reason=f"no panel: {type(err).__name__}: {err}",
                        max_attempts=self._options.max_attempts, count_attempt=False,
                    )
                continue
            if handle.version != version:  # the run records the version it really used
                group = [replace(claim, data_version=handle.version) for claim in group]
            sweeps = group[0].sweep_id is not None  # a claim takes one kind
            size = self._batch_size(len(group), sweeps=sweeps)
            for start in range(0, len(group), size):
                part = group[start : start + size]
                ref = submit(
                    handle.ref,
                    [RunRequest(spec=c.spec, keep_result=c.keep_result) for c in part],
                    retries=self._options.task_retries,
                    name=batch_name(part),
                    spread=sweeps,
                )
                batch = _Batch(claims=part, ref=ref, sweeps=sweeps, wanted={c.id for c in part})
                self._batches[ref] = batch
                batch.waiter = asyncio.ensure_future(self._complete(ref))
        if failure is not None:
            raise failure

    def _batch_size(self, n: int, *, sweeps: bool) -> int:
        """Batches of about a CPU's share: two per CPU, so every core and node stays busy;
        single runs at most `SINGLE_BATCH` each (latency), sweep variants at most
        `batch_size` (QBT_SWEEP_BATCH_SIZE: they run together, a variant costs little)."""
        checked, cpus = self._cpus
        if time.monotonic() - checked > CPUS_EVERY_S:
            cpus = max(1, int(ray.cluster_resources().get("CPU", 1)))
            self._cpus = (time.monotonic(), cpus)
        if not sweeps:
            return max(1, min(SINGLE_BATCH, math.ceil(n / (2 * cpus))))
        return max(MIN_SWEEP_BATCH, min(self._batch_size_max, math.ceil(n / (2 * cpus))))

    async def _complete(self, ref: ray.ObjectRef) -> None:
        batch = self._batches[ref]
        outcomes: list[Outcome] | None
        try:
            ran: list[RunOutcome] = await ref
            outcomes = [queue.outcome_of(c, o) for c, o in zip(batch.claims, ran, strict=True)]
            failure = None
        except ray.exceptions.TaskCancelledError:
            outcomes, failure = [], None
        except ray.exceptions.RayError as err:  # worker crash, lost panel, ...
            outcomes, failure = None, f"{type(err).__name__}: {str(err).splitlines()[0]}"
        try:
            await self._write(batch, outcomes=outcomes, failure=failure)
        finally:
            del self._batches[ref]
            self._sweep_ended |= batch.sweeps
            self._wake.set()

    async def _factor_report(self, claim: ReportClaim) -> tuple[str, str]:
        """A factor report as a Ray task against its data version's panel (else the
        current one); (its JSON, the version it used)."""
        handle = await self._panel(claim.data_version)
        try:
            result = await factor_report_task.options(
                name=f"factor_report_task (report {claim.id})",
                max_retries=self._options.task_retries,
            ).remote(handle.ref, claim.spec)
        except ray.exceptions.RayTaskError as err:  # the report's own failure
            raise ReportFailed(str(err).splitlines()[-1]) from None
        except ray.exceptions.RayError as err:  # its worker died (memory?) after retries
            raise ReportFailed(f"{type(err).__name__}: {str(err).splitlines()[-1]}") from None
        return result, handle.version

    async def _analyse(self, inputs: AnalysisInputs) -> str:
        """A finished sweep's analysis, as a Ray task against its data version's panel."""
        handle = await self._panel(inputs.data_version)
        try:
            return await analyse_task.options(
                name=f"analyse_task (sweep {inputs.sweep_id}, {len(inputs.values)} variants)",
                max_retries=self._options.task_retries,
            ).remote(handle.ref, inputs.spec, inputs.values, inputs.variants, inputs.returns)
        except ray.exceptions.RayError as err:  # its own failure, or its worker's (memory)
            raise AnalysisFailed(f"{type(err).__name__}: {str(err).splitlines()[-1]}") from None

    async def _write(
        self, batch: _Batch, *, outcomes: list[Outcome] | None, failure: str | None
    ) -> None:
        """Write a finished batch (outcomes) or give a crashed one back (outcomes None),
        retried for about 30 s (a database restart), well within the runs' lease."""
        for attempt in range(7):
            try:
                async with connection(self._pool) as conn:
                    if outcomes is None:
                        rows = await queue.release(
                            conn, batch.claims, reason=failure or "the task failed",
                            max_attempts=self._options.max_attempts,
                        )
                    else:
                        rows = await queue.finish(conn, outcomes)
                self._count_ends(rows)
                return
            except Exception as err:  # keep the outcome a while; the lease decides after
                self._last_error = f"writing results: {type(err).__name__}: {err}"
                await asyncio.sleep(min(0.5 * 2**attempt, 8.0))
        self._counts["writes_lost"] += len(batch.claims)

    def _count_ends(self, rows: list[Ended]) -> None:
        """Count what rows ended in (queued again, done, failed) and record the metrics."""
        metrics = qbt_metrics()
        for row in rows:
            self._counts[row.status] += 1
            if row.status in ENDED_BY_RUNNING:
                metrics.finished(status=row.status, seconds=row.seconds,
                                 reason=row.reason if row.status == "failed" else None)


def dispatcher_state(*, queue_depth: int, single: int, variants: int, batches: int,
                     last_claim_at: float | None) -> str:
    """The dispatcher's state as its log line says it: queue depth, runs in flight (single
    runs and sweep variants, in how many Ray tasks), the last claim."""
    claim = "no claim yet" if last_claim_at is None else f"last claim {_clock(last_claim_at)}"
    return (f"queue {queue_depth:,}; in flight {single + variants:,} ({single:,} runs, "
            f"{variants:,} sweep variants) in {batches:,} task{'s' if batches != 1 else ''}; "
            f"{claim}")


def _clock(at: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at))


def batch_name(claims: list[Claim]) -> str:
    """What the dashboard shows for a batch: how many runs, and of which sweep."""
    sweeps = sorted({c.sweep_id for c in claims if c.sweep_id})
    runs = f"{len(claims)} run{'s' if len(claims) != 1 else ''}"
    return f"{runs} of sweep {sweeps[0]}" if len(sweeps) == 1 else runs


def ensure_dispatcher(
    database_url: str,
    *,
    options: ServiceOptions,
    batch_size: int,
    max_sweep_variants: int = MAX_SWEEP_VARIANTS,
) -> Any:
    """The named detached dispatcher of this cluster (created on first call)."""
    return (
        ray.remote(Dispatcher)
        .options(**detached_actor_options(DISPATCHER_ACTOR, max_concurrency=100))
        .remote(database_url, options=options, batch_size=batch_size,
                max_sweep_variants=max_sweep_variants)
    )


def get_dispatcher() -> Any:
    return ray.get_actor(DISPATCHER_ACTOR, namespace=NAMESPACE)
