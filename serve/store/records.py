"""Typed rows of the `runs` and `sweeps` tables, as the store answers them (psycopg
`class_row`: a column per field, by name)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from runtime.names import RunStatus


@dataclass(frozen=True)
class QueuedRun:
    """A run as a submit answers it."""

    id: uuid.UUID
    status: RunStatus
    data_version: str


@dataclass(frozen=True)
class RunSummary:
    """A run as a listing shows it."""

    id: uuid.UUID
    status: RunStatus
    created_at: datetime
    finished_at: datetime | None
    data_version: str
    engine_version: str | None
    error: str | None
    statistics: dict[str, Any] | None
    spec: dict[str, Any]


@dataclass(frozen=True)
class RunRecord(RunSummary):
    """One run; `result` is the BacktestResult's JSON text, passed through unparsed."""

    sweep_id: uuid.UUID | None
    variant: int | None
    attempts: int
    started_at: datetime | None
    result: str | None
    reused_from: uuid.UUID | None = None


@dataclass(frozen=True)
class QueuedSweep:
    id: uuid.UUID
    n_variants: int
    data_version: str


@dataclass(frozen=True)
class SweepRecord:
    """A sweep with the counts of its variants by status."""

    id: uuid.UUID
    spec: dict[str, Any]
    n_variants: int
    data_version: str
    created_at: datetime
    n_queued: int
    n_running: int
    n_ok: int
    n_failed: int
    n_cancelled: int
    last_finished_at: datetime | None
    analysed: bool = False  # its analysis is stored

    @property
    def n_ended(self) -> int:
        return self.n_ok + self.n_failed + self.n_cancelled


@dataclass(frozen=True)
class AnalysisInputs:
    """What a finished sweep's analysis reads: the SweepSpec document, every variant's
    rank_by (None where it has none), and the variants with daily returns (float32 bytes)."""

    sweep_id: uuid.UUID
    spec: dict[str, Any]
    data_version: str
    values: list[float | None]
    variants: list[int]
    returns: list[bytes]


@dataclass(frozen=True)
class VariantRecord:
    """A sweep variant that ran (done or failed)."""

    variant: int
    run_id: uuid.UUID
    status: RunStatus
    statistics: dict[str, Any] | None
    error: str | None


@dataclass(frozen=True)
class Claim:
    """A run the dispatcher took: every later write names (id, attempt)."""

    id: str
    attempt: int
    spec: dict[str, Any]
    data_version: str
    keep_result: bool  # single runs keep the whole BacktestResult; sweep variants statistics
    sweep_id: str | None = None
    variant: int | None = None


@dataclass(frozen=True)
class Outcome:
    """What to write for a claim that ran."""

    id: str
    attempt: int
    status: str  # 'done' | 'failed'
    statistics: str | None = None  # JSON text
    result: str | None = None  # JSON text
    error: str | None = None
    engine_version: str | None = None
    data_version: str | None = None  # the registry version of the panel it ran on
    returns: bytes | None = None  # daily returns, float32 little-endian


@dataclass(frozen=True)
class Ended:
    """A run a queue statement moved: to its end, or back to queued; `seconds` from claim to
    end when known."""

    id: str
    status: RunStatus
    seconds: float | None = None
    reason: str | None = None  # a failure's kind: "run" (its own error), "infrastructure"
    # (its worker crashed or its panel was lost, every attempt), "lease" (leases expired)
