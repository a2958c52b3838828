"""HTTP models. Inputs are the engine's own models (`StrategySpec`, `SweepSpec`); outputs are
the `...Public` models here, which embed the engine's `Statistics` and `BacktestResult`, so the
OpenAPI schema and the engine share one definition."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from backtest.research import FactorReport, FactorReportSpec
from backtest.result import BacktestResult
from backtest.spec import StrategySpec
from backtest.statistics import Statistics
from backtest.sweep_analysis import Overfitting
from backtest.walk_forward import WalkForwardResult
from runtime.names import RunStatus
from serve.store.records import RunRecord, RunSummary
from serve.store.reports import ReportRecord

SweepStatus = RunStatus  # a sweep's status reads like a run's (serve.sweeps.sweep_status)


class _Public(BaseModel):
    model_config = ConfigDict(frozen=True)


class ErrorDetail(_Public):
    code: str = Field(description="Stable machine-readable name of the problem.")
    message: str = Field(description="What is wrong, naming the value and the field.")
    field: str | None = Field(default=None, description="The request part at fault, if one.")
    id: str | None = Field(
        default=None,
        description="A submit the database did not confirm (503): the id the new backtest, "
        "sweep or report would have; GET it once the database is back.",
    )
    idempotency_key: str | None = Field(
        default=None,
        description="A submit whose replica stopped (503): the Idempotency-Key it was sent "
        "with (the client's, or one the proxy gave it); retry with it to get what it created.",
    )


class ErrorBody(_Public):
    error: ErrorDetail


class HealthPublic(_Public):
    status: Literal["ok", "degraded"] = Field(
        description="ok when everything below answers; degraded names what does not."
    )
    database: Literal["ok", "unavailable"] = Field(description="Whether PostgreSQL answers.")
    dataset: Literal["ok", "unavailable"] = Field(
        description="Whether a data version is known (the dataset registry answers, or did)."
    )


class FactorPublic(_Public):
    name: str = Field(description="Name to use in a StrategySpec.")
    category: str
    formula: str
    lookback: int = Field(description="Trading days of history the factor needs.")
    inputs: list[str] = Field(description="Market-data columns the factor reads.")


class CoveragePublic(_Public):
    first_day: date | None = Field(
        description="First trading day on which any stock has a value; null: no value at all."
    )
    share: float = Field(
        description="Stock-days with a value / listed stock-days (days with a close), 0..1."
    )
    missing_inputs: list[str] = Field(
        description=(
            "The factor's inputs whose column is all null in the loaded data (never "
            "imported: no balance sheets, no dividends, ...); why a factor has no value."
        )
    )


class DatasetPublic(_Public):
    version: str = Field(description="Data version (changes whenever the market data does).")
    current: bool = Field(description="New runs use the current version.")
    shape: list[int] = Field(description="[n_factors, n_days, n_stocks] of the panel.")
    nbytes: int
    age_s: float = Field(description="Seconds since the panel was built.")
    timings: dict[str, float] = Field(description="Seconds per build step.")
    coverage: dict[str, CoveragePublic] = Field(
        description=(
            "Factor name -> its coverage of this version. A spec using a factor without any "
            "value (first_day null) is refused with 422."
        )
    )


class DatasetsPublic(_Public):
    datasets: list[DatasetPublic]


class RefreshPublic(_Public):
    current: str | None = Field(description="Version serving now.")
    latest: str = Field(description="Version of the data in the database.")
    building: list[str] = Field(description="Versions being built in the background.")


class Timings(_Public):
    queued_s: float | None = Field(description="Submit until the (last) claim.")
    run_s: float | None = Field(description="Claim until the end.")
    total_s: float | None = Field(description="Submit until the end.")


class BacktestAccepted(_Public):
    id: UUID
    status: RunStatus
    data_version: str = Field(description="The data version the run was validated for.")
    location: str = Field(description="Where to GET the run.")


class BacktestSummary(_Public):
    id: UUID
    status: RunStatus
    created_at: datetime
    finished_at: datetime | None
    data_version: str = Field(description="Version of the data the run uses (or used).")
    engine_version: str | None = Field(description="Engine version that produced the result.")
    error: str | None = Field(description="Why the run failed (or was retried).")
    statistics: Statistics | None
    spec: StrategySpec = Field(description="The strategy that runs (or ran).")


class BacktestPublic(BacktestSummary):
    sweep_id: UUID | None = Field(description="The sweep this run is a variant of, if any.")
    variant: int | None
    attempts: int = Field(description="Times the run was claimed by the dispatcher.")
    started_at: datetime | None
    reused_from: UUID | None = Field(
        default=None,
        description=(
            "The finished run (of any owner) whose result this run took instead of computing "
            "again: the same canonical spec, data version and engine version."
        ),
    )
    timings: Timings
    result: BacktestResult | None = Field(
        description="Equity curve, rebalances and statistics (single runs, once done)."
    )


class BacktestPage(_Public):
    items: list[BacktestSummary]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page.")


class SweepAccepted(_Public):
    id: UUID
    n_variants: int
    data_version: str
    location: str


class VariantPublic(_Public):
    variant: int = Field(description="Index in grid order (last grid field varies fastest).")
    run_id: UUID
    status: RunStatus
    overrides: dict[str, Any] = Field(description="The grid values of this variant.")
    statistics: Statistics | None
    error: str | None


class SweepPublic(_Public):
    id: UUID
    status: SweepStatus
    created_at: datetime
    finished_at: datetime | None
    data_version: str
    rank_by: str
    n_total: int
    n_done: int = Field(description="Variants that ended (done, failed or cancelled).")
    n_failed: int
    n_running: int
    variants: list[VariantPublic] = Field(
        description="The best `top` variants so far by `rank_by`, best first."
    )
    overfitting: Overfitting | None = Field(
        default=None,
        description="How much of the best is luck; once every variant ended (null before).",
    )
    walk_forward: WalkForwardResult | None = Field(
        default=None, description="The walk-forward validation, when the sweep asked for it."
    )
    analysis_errors: list[str] = Field(
        default_factory=list, description="What the analysis could not compute, and why."
    )


class SweepSummary(_Public):
    id: UUID
    status: SweepStatus
    created_at: datetime
    data_version: str
    rank_by: str
    grid: dict[str, list[Any]] = Field(description="The grid the variants were made from.")
    n_total: int
    n_done: int
    n_failed: int


class SweepPage(_Public):
    items: list[SweepSummary]
    next_cursor: str | None = Field(description="Pass as ?cursor= for the next page.")


class SweepVariants(_Public):
    """One statistic of every variant, compact enough for 100,000 of them: variant i's grid
    values are its mixed-radix digits over `grid` (the last field varies fastest)."""

    id: UUID
    rank_by: str
    grid: dict[str, list[Any]] = Field(description="Field -> values, in grid order.")
    statistic: str = Field(description="The statistic in `values` (default rank_by).")
    values: list[float | None] = Field(
        description="Each variant's statistic, in grid order; null where it has none (yet)."
    )
    status: list[RunStatus] = Field(description="Each variant's status, in grid order.")


def timings_of(run: RunRecord) -> Timings:
    created, started, finished = run.created_at, run.started_at, run.finished_at

    def seconds(a: datetime | None, b: datetime | None) -> float | None:
        return None if a is None or b is None else round((b - a).total_seconds(), 3)

    return Timings(
        queued_s=seconds(created, started),
        run_s=seconds(started, finished),
        total_s=seconds(created, finished),
    )


def backtest_summary(run: RunSummary) -> BacktestSummary:
    return BacktestSummary.model_validate(
        {k: getattr(run, k) for k in BacktestSummary.model_fields}
    )


def backtest_public_json(run: RunRecord) -> bytes:
    """A BacktestPublic as JSON, from a run whose `result` is JSON text (or None).

    The result was written by `BacktestResult.model_dump_json` in the worker; it goes out as
    is, not parsed, validated and dumped again (tens of KB per run)."""
    fields = {
        k: getattr(run, k) for k in BacktestPublic.model_fields if k not in ("timings", "result")
    }
    public = BacktestPublic.model_validate({**fields, "timings": timings_of(run), "result": None})
    return with_raw_result(public, run.result)


def with_raw_result(public: BaseModel, result: str | None) -> bytes:
    """`public` as JSON with its `result` field set to the stored JSON text `result`."""
    head = public.model_dump_json(exclude={"result"})
    return f'{head[:-1]},"result":{result or "null"}}}'.encode()


class FactorReportAccepted(_Public):
    id: UUID
    status: RunStatus
    data_version: str = Field(description="The data version the report was checked against.")
    location: str = Field(description="Where to GET the report.")


class FactorReportPublic(_Public):
    id: UUID
    status: RunStatus
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    data_version: str
    attempts: int
    error: str | None
    spec: FactorReportSpec
    result: FactorReport | None = Field(description="The report, once done.")


def factor_report_public_json(report: ReportRecord) -> bytes:
    """A FactorReportPublic as JSON, the stored result passed through unparsed."""
    fields = {k: getattr(report, k) for k in FactorReportPublic.model_fields if k != "result"}
    return with_raw_result(FactorReportPublic.model_validate({**fields, "result": None}),
                           report.result)
