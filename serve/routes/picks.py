"""/v1/picks: what a spec would hold after the last day of the current data version."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from backtest.picks import Picks
from backtest.spec import StrategySpec
from serve.deps import CurrentOwner, ServiceDep
from serve.handlers import error_responses

router = APIRouter(tags=["picks"], responses=error_responses(401, 503))


@router.post("/picks", response_model=Picks, responses=error_responses(400, 413, 422))
async def picks(spec: StrategySpec, _owner: CurrentOwner, service: ServiceDep) -> Response:
    """The holdings `spec` would target at the next close after the data's last day: the
    last day's values, a rebalance's eligibility, ranking and weights; each pick with its
    score, rank, weight and the factor values used. The spec's start and end do not matter."""
    return Response(await service.picks.compute(spec), media_type="application/json")
