"""/healthz, the factor catalog and the data versions."""

from __future__ import annotations

from fastapi import APIRouter

from serve.deps import AdminOwner, CurrentOwner, ServiceDep
from serve.handlers import error_responses
from serve.models import DatasetPublic, DatasetsPublic, FactorPublic, HealthPublic, RefreshPublic
from serve.service import factor_catalog

health = APIRouter(tags=["health"])
router = APIRouter(tags=["data"], responses=error_responses(401, 503))


@health.get("/healthz", response_model=HealthPublic)
async def healthz(service: ServiceDep) -> HealthPublic:
    """Liveness, no key needed, within a second: whether PostgreSQL and the dataset registry
    answer (200 either way; `status` degraded names what does not)."""
    return HealthPublic.model_validate(await service.health())


@router.get("/factors", response_model=list[FactorPublic])
async def list_factors(_owner: CurrentOwner) -> list[FactorPublic]:
    """Every factor a StrategySpec may name."""
    return [FactorPublic.model_validate(row) for row in factor_catalog()]


@router.get("/datasets", response_model=DatasetsPublic)
async def list_datasets(_owner: CurrentOwner, service: ServiceDep) -> DatasetsPublic:
    """The data versions held in the object store; new runs use the current one."""
    rows = await service.datasets.versions()
    return DatasetsPublic(datasets=[DatasetPublic.model_validate(row) for row in rows])


@router.post(
    "/datasets/refresh",
    response_model=RefreshPublic,
    status_code=202,
    responses=error_responses(403),
)
async def refresh_datasets(_admin: AdminOwner, service: ServiceDep) -> RefreshPublic:
    """Admin keys only: look for new market data; a new version is built in the background
    while the current one keeps serving."""
    return RefreshPublic.model_validate(await service.datasets.refresh())
