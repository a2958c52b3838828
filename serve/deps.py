"""FastAPI dependency aliases, all in one place: the Service, the caller, request headers."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from serve.errors import ForbiddenError
from serve.keys import Owner
from serve.service import Service

_bearer = HTTPBearer(auto_error=False, description="An API key from `qbt keys create`.")


async def get_service(request: Request) -> Service:  # async: no threadpool hop
    return request.app.state.service  # type: ignore[no-any-return]


ServiceDep = Annotated[Service, Depends(get_service)]


async def current_owner(
    service: ServiceDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Owner:
    return await service.keys.authenticate(credentials.credentials if credentials else None)


CurrentOwner = Annotated[Owner, Depends(current_owner)]


async def admin_owner(owner: CurrentOwner) -> Owner:
    if not owner.admin:
        raise ForbiddenError(f"{owner.name}'s key is not an admin key", field="Authorization")
    return owner


AdminOwner = Annotated[Owner, Depends(admin_owner)]

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="Retrying a POST with the same key answers the run it created.",
    ),
]

WaitSeconds = Annotated[
    float,
    Query(
        ge=0,
        le=60,
        description="Seconds to wait for the run to end; 200 with it if it does, else 202.",
    ),
]
