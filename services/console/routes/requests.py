"""One request's detail, the operator's actions on it, and filing a request for a resident.

Writes go through intake with the operator's own key (see `services.console.intake_gateway`).
"""

# No `from __future__ import annotations` here: FastAPI must resolve the dependency aliases eagerly.

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from services.console.auth import Caller, Ctx, problem
from services.console.intake_gateway import ACTION_PATHS, ActionName
from services.console.routes.params import SafeId
from services.console.views import jsonable

router = APIRouter(prefix="/console/api", tags=["requests"])


@router.get("/requests/{request_id}")
async def detail(ctx: Ctx, caller: Caller, request_id: str) -> dict[str, Any]:
    document = await ctx.repository.request(caller.district_id, request_id)
    if document is None:
        raise problem(404, f"no request {request_id!r} in this district", "not-found")
    return jsonable(document)


@router.post("/requests/{request_id}/actions/{action}", status_code=202)
async def act(ctx: Ctx, caller: Caller, request_id: SafeId, action: ActionName, body: dict[str, Any]) -> Response:
    """Reassign, escalate, close, cancel or change priority: intake validates and publishes the command."""
    path = f"/v1/districts/{caller.district_id}/requests/{request_id}/{ACTION_PATHS[action]}"
    return await ctx.intake.forward("POST", path, api_key=caller.key, body=body)


@router.post("/requests", status_code=202)
async def submit(ctx: Ctx, caller: Caller, body: dict[str, Any]) -> Response:
    """File a request on a resident's behalf (a phone number is enough), through intake."""
    path = f"/v1/districts/{caller.district_id}/requests"
    return await ctx.intake.forward("POST", path, api_key=caller.key, body=body)
