"""The hotline desk's console API: a caller looked up by phone, a request's detail as staff see it (with the
household's address), and a rating, "not done" or note taken on the phone.

Everything goes through intake with the operator's own key: intake authorises it, records a rating or a "not
done" as the operator acting for the resident, and masks what a look-up lists (`services.intake.desk`).
Filing for a household is the console's usual `POST /console/api/requests` with `resident_id`.
"""

# No `from __future__ import annotations` here: FastAPI must resolve the dependency aliases eagerly.

from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Query
from fastapi.responses import Response

from services.console.auth import Caller, Ctx
from services.console.routes.params import SafeId

router = APIRouter(prefix="/console/api/desk", tags=["desk"])
TakenOnThePhone = Literal["rating", "report-not-done", "notes"]


@router.get("/callers")
async def look_up_caller(
    ctx: Ctx, caller: Caller, phone: Annotated[str, Query(min_length=3, max_length=32)]
) -> Response:
    """The caller's households (masked) and their recent requests."""
    path = f"/v1/districts/{caller.district_id}/desk/callers?{urlencode({'phone': phone})}"
    return await ctx.intake.forward("GET", path, api_key=caller.key)


@router.get("/requests/{request_id}")
async def request_for_staff(ctx: Ctx, caller: Caller, request_id: SafeId) -> Response:
    """The resident's words, answers, notes, rating and the household with its address."""
    path = f"/v1/districts/{caller.district_id}/requests/{request_id}"
    return await ctx.intake.forward("GET", path, api_key=caller.key)


@router.post("/requests/{request_id}/{taken}", status_code=202)
async def record(
    ctx: Ctx, caller: Caller, request_id: SafeId, taken: TakenOnThePhone, body: dict[str, Any]
) -> Response:
    """A rating, "not done" or note the resident (or their proxy) gave on the phone."""
    path = f"/v1/districts/{caller.district_id}/requests/{request_id}/{taken}"
    return await ctx.intake.forward("POST", path, api_key=caller.key, body=body)
