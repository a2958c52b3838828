"""/v1/sweeps: a grid of variants of one strategy, run through the same durable queue."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from backtest.sweep import SweepSpec
from serve.deps import CurrentOwner, IdempotencyKey, ServiceDep
from serve.handlers import error_responses
from serve.models import SweepAccepted, SweepPage, SweepPublic, SweepVariants

router = APIRouter(tags=["sweeps"], responses=error_responses(401, 503))


@router.post(
    "/sweeps",
    status_code=202,
    response_model=SweepAccepted,
    responses=error_responses(400, 409, 413, 422, 429),
)
async def submit_sweep(
    sweep: SweepSpec,
    request: Request,
    owner: CurrentOwner,
    service: ServiceDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Queue every variant of the grid (committed before the answer); 202 with the id."""
    queued, replayed = await service.sweeps.submit(owner, sweep, idempotency_key=idempotency_key)
    location = str(request.url_for("get_sweep", sweep_id=str(queued.id)).path)
    accepted = SweepAccepted(
        id=queued.id, n_variants=queued.n_variants, data_version=queued.data_version,
        location=location,
    )
    headers = {"Location": location}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(accepted.model_dump(mode="json"), status_code=202, headers=headers)


@router.get("/sweeps", response_model=SweepPage, responses=error_responses(422))
async def list_sweeps(
    owner: CurrentOwner,
    service: ServiceDep,
    limit: Annotated[int, Query(ge=1, le=100, description="Sweeps per page.")] = 20,
    cursor: Annotated[str | None, Query(max_length=200, description="From next_cursor.")] = None,
) -> SweepPage:
    """The caller's sweeps, newest first, with their progress."""
    items, next_cursor = await service.sweeps.list(owner, limit=limit, cursor=cursor)
    return SweepPage(items=items, next_cursor=next_cursor)


@router.get(
    "/sweeps/{sweep_id}/variants", response_model=SweepVariants,
    responses=error_responses(404, 422),
)
async def sweep_variants(
    sweep_id: UUID,
    owner: CurrentOwner,
    service: ServiceDep,
    statistic: Annotated[str | None, Query(max_length=64, description=(
        "Which statistic of each variant (default the sweep's rank_by)."))] = None,
) -> SweepVariants:
    """One statistic and the status of every variant, in grid order (variant i's grid values
    are its digits over the grid, the last field fastest)."""
    return await service.sweeps.variants(owner, sweep_id, statistic=statistic)


@router.get("/sweeps/{sweep_id}", response_model=SweepPublic, responses=error_responses(404))
async def get_sweep(sweep_id: UUID, owner: CurrentOwner, service: ServiceDep) -> SweepPublic:
    """Progress (n_done of n_total) and the best variants so far, ranked by `rank_by`."""
    return await service.sweeps.get(owner, sweep_id)


@router.delete(
    "/sweeps/{sweep_id}", response_model=SweepPublic, responses=error_responses(404, 409)
)
async def cancel_sweep(sweep_id: UUID, owner: CurrentOwner, service: ServiceDep) -> SweepPublic:
    """Cancel the variants not ended yet; those already done keep their results."""
    return await service.sweeps.cancel(owner, sweep_id)
