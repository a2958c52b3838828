"""/v1/factor-reports: IC, quantile returns, decay and correlation of the factors, durable
like runs (queued, computed as a Ray task against the registry's panel, stored)."""

from __future__ import annotations

from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from backtest.research import FactorReportSpec
from serve.deps import CurrentOwner, IdempotencyKey, ServiceDep
from serve.handlers import error_responses
from serve.models import FactorReportAccepted, FactorReportPublic, factor_report_public_json

router = APIRouter(tags=["factor reports"], responses=error_responses(401, 503))


@router.post("/factor-reports", status_code=202, response_model=FactorReportAccepted,
             responses=error_responses(400, 409, 413, 422, 429))
async def submit_factor_report(
    spec: FactorReportSpec, request: Request, owner: CurrentOwner, service: ServiceDep,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Queue a factor report (committed before the answer); 202 with its id."""
    report_id, version, replayed = await service.reports.submit(
        owner, spec, idempotency_key=idempotency_key)
    location = str(request.url_for("get_factor_report", report_id=str(report_id)).path)
    accepted = FactorReportAccepted(id=report_id, status="queued", data_version=version,
                                    location=location)
    headers = {"Location": location}
    if replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(accepted.model_dump(mode="json"), status_code=202, headers=headers)


@router.get("/factor-reports/{report_id}", response_model=FactorReportPublic,
            responses=error_responses(404))
async def get_factor_report(report_id: UUID, owner: CurrentOwner,
                            service: ServiceDep) -> Response:
    """The report's status and, once done, its IC summary, quantile returns, spreads,
    autocorrelation, coverage and the factor correlation matrix."""
    report = await service.reports.get(owner, report_id)
    return Response(factor_report_public_json(report), media_type="application/json")
