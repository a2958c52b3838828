"""Names QBT spells once: Ray namespace and actors, markets, run statuses, lock spaces."""

from __future__ import annotations

from typing import Literal

NAMESPACE = "qbt"  # of QBT's detached actors
REGISTRY_ACTOR = "dataset_registry"
DISPATCHER_ACTOR = "dispatcher"
SERVICE_ACTORS = (DISPATCHER_ACTOR, REGISTRY_ACTOR)
SERVE_APP = "qbt"

Market = Literal["KOSPI", "KOSDAQ"]
MARKETS: tuple[Market, Market] = ("KOSPI", "KOSDAQ")  # the order of per-market columns

RunStatus = Literal["queued", "running", "done", "failed", "cancelled"]
RUN_STATUSES: tuple[RunStatus, ...] = ("queued", "running", "done", "failed", "cancelled")
UNFINISHED: frozenset[RunStatus] = frozenset({"queued", "running"})
FINISHED: frozenset[RunStatus] = frozenset({"done", "failed", "cancelled"})
ENDED_BY_RUNNING: frozenset[RunStatus] = frozenset({"done", "failed"})  # a run that ran

# Advisory locks. pg_advisory_xact_lock(space, hashtext(owner)): one submit of an owner at a
# time counts its unfinished runs (sweeps) and inserts; runs and sweeps lock apart, so a long
# sweep COPY does not hold up the owner's single runs. pg_advisory_lock(MIGRATION_LOCK): one
# `qbt db init` at a time (the one-key form: another lock space than the two-key ones).
RUN_SUBMIT_LOCK_SPACE = 0x51B7
SWEEP_SUBMIT_LOCK_SPACE = 0x51B8
MIGRATION_LOCK = 0x51B7

MAX_SWEEP_VARIANTS = 100_000  # default cap of one sweep (QBT_MAX_SWEEP_VARIANTS)
