"""/v1/backtests: submit (durable, optionally waiting), read, list, cancel."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse, Response

from backtest.spec import StrategySpec
from serve.deps import CurrentOwner, IdempotencyKey, ServiceDep, WaitSeconds
from serve.handlers import error_responses
from serve.models import (
    FINISHED,
    BacktestAccepted,
    BacktestPage,
    BacktestPublic,
    RunStatus,
    backtest_public_json,
    backtest_summary,
)

router = APIRouter(tags=["backtests"], responses=error_responses(401, 503))


def _public(row: dict[str, Any], *, headers: dict[str, str] | None = None) -> Response:
    return Response(backtest_public_json(row), media_type="application/json", headers=headers)


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
    row, replayed = await service.submit_run(
        owner, spec, idempotency_key=idempotency_key, wait_s=wait
    )
    location = str(request.url_for("get_backtest", run_id=str(row["id"])).path)
    headers = {"Location": location}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    if wait > 0:
        full = await service.get_run(owner, row["id"])
        if full["status"] in FINISHED:
            return _public(full, headers=headers)
        row = full
    accepted = BacktestAccepted(
        id=row["id"], status=row["status"], data_version=row["data_version"], location=location
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
    rows, next_cursor = await service.list_runs(
        owner, limit=min(limit, service.options.page_limit), cursor=cursor, status=status
    )
    return BacktestPage(items=[backtest_summary(row) for row in rows], next_cursor=next_cursor)


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
    return _public(await service.get_run(owner, run_id, wait_s=wait))


@router.delete(
    "/backtests/{run_id}",
    response_model=BacktestPublic,
    responses=error_responses(404, 409),
)
async def cancel_backtest(run_id: UUID, owner: CurrentOwner, service: ServiceDep) -> Response:
    """Cancel a queued or running run; no result is written to it afterwards."""
    return _public(await service.cancel_run(owner, run_id))
