"""/v1/backtests: submit (durable, optionally waiting), read, list, cancel."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from backtest.spec import StrategySpec
from runtime.names import RunStatus
from serve.deps import CurrentOwner, IdempotencyKey, ServiceDep, WaitSeconds
from serve.errors import ConflictError
from serve.handlers import error_responses
from serve.models import (
    BacktestAccepted,
    BacktestPage,
    BacktestPublic,
    backtest_public_json,
    backtest_summary,
)
from serve.store.records import RunRecord
from serve.web.report import render_report, report_csp

router = APIRouter(tags=["backtests"], responses=error_responses(401, 503))


def _public(run: RunRecord, *, headers: dict[str, str] | None = None) -> Response:
    return Response(backtest_public_json(run), media_type="application/json", headers=headers)


@router.post(
    "/backtests",
    status_code=202,
    response_model=BacktestAccepted,
    responses={
        200: {"model": BacktestPublic, "description": "The run ended within ?wait="},
        **error_responses(400, 409, 413, 422, 429),
    },
)
async def submit_backtest(
    spec: StrategySpec,
    request: Request,
    owner: CurrentOwner,
    service: ServiceDep,
    idempotency_key: IdempotencyKey = None,
    wait: WaitSeconds = 0,
) -> Response:
    """Queue a backtest. The run is committed before the answer: 202 with its id and a
    Location; with `?wait=SECONDS`, 200 and the whole run if it ends in time."""
    submitted = await service.runs.submit(
        owner, spec, idempotency_key=idempotency_key, wait_s=wait
    )
    run = submitted.run
    location = str(request.url_for("get_backtest", run_id=str(run.id)).path)
    headers = {"Location": location}
    if submitted.replayed:
        headers["Idempotent-Replayed"] = "true"
    if submitted.finished is not None:
        return _public(submitted.finished, headers=headers)
    accepted = BacktestAccepted(
        id=run.id, status=run.status, data_version=run.data_version, location=location
    )
    return JSONResponse(accepted.model_dump(mode="json"), status_code=202, headers=headers)


@router.get("/backtests", response_model=BacktestPage, responses=error_responses(422))
async def list_backtests(
    owner: CurrentOwner,
    service: ServiceDep,
    limit: Annotated[int, Query(ge=1, le=100, description="Runs per page.")] = 20,
    cursor: Annotated[str | None, Query(max_length=200, description="From next_cursor.")] = None,
    status: Annotated[RunStatus | None, Query(description="Only runs in this status.")] = None,
) -> BacktestPage:
    """The caller's single runs (not sweep variants), newest first."""
    runs, next_cursor = await service.runs.list(owner, limit=limit, cursor=cursor, status=status)
    return BacktestPage(items=[backtest_summary(run) for run in runs], next_cursor=next_cursor)


@router.get(
    "/backtests/{run_id}",
    response_model=BacktestPublic,
    responses=error_responses(404, 422),
)
async def get_backtest(
    run_id: UUID, owner: CurrentOwner, service: ServiceDep, wait: WaitSeconds = 0
) -> Response:
    """Status, timings, statistics, the equity curve (in `result`), data and engine
    versions, error. `?wait=SECONDS` answers as soon as the run ends."""
    return _public(await service.runs.get(owner, run_id, wait_s=wait))


@router.get(
    "/backtests/{run_id}/report",
    response_class=Response,  # errors stay JSON (ErrorBody); the 200 is text/html
    responses={200: {"content": {"text/html": {"schema": {"type": "string"}}},
                     "description": "The report, one HTML file"},
               **error_responses(404, 409, 422)},
)
async def backtest_report(run_id: UUID, owner: CurrentOwner, service: ServiceDep) -> Response:
    """One self-contained HTML file of a finished run (charts, tables, spec, versions) that
    opens from disk with no network and no server."""
    run = await service.runs.get(owner, run_id)
    if run.status != "done" or run.result is None:
        raise ConflictError(f'Backtest "{run_id}" is {run.status}: only a finished run has a '
                            "report", field="id")
    html = render_report(backtest_public_json(run).decode(), title=f"QBT report {run_id}")
    return Response(html, media_type="text/html; charset=utf-8", headers={
        "Content-Security-Policy": report_csp(),
        "Content-Disposition": f'attachment; filename="qbt-report-{str(run_id)[:8]}.html"',
    })


@router.delete(
    "/backtests/{run_id}",
    response_model=BacktestPublic,
    responses=error_responses(404, 409),
)
async def cancel_backtest(run_id: UUID, owner: CurrentOwner, service: ServiceDep) -> Response:
    """Cancel a queued or running run; no result is written to it afterwards."""
    return _public(await service.runs.cancel(owner, run_id))
