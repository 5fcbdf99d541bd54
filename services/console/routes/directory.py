"""Reference data the page needs to file a request (grids, menu items), read through intake."""

# No `from __future__ import annotations` here: FastAPI must resolve the dependency aliases eagerly.

from fastapi import APIRouter
from fastapi.responses import Response

from services.console.auth import Caller, Ctx
from services.console.routes.params import SafeId

router = APIRouter(prefix="/console/api", tags=["directory"])


@router.get("/directory")
async def directory(ctx: Ctx, caller: Caller) -> Response:
    return await ctx.intake.forward("GET", f"/v1/districts/{caller.district_id}/directory", api_key=caller.key)


@router.get("/grids/{grid_id}/menu")
async def grid_menu(ctx: Ctx, caller: Caller, grid_id: SafeId) -> Response:
    path = f"/v1/districts/{caller.district_id}/grids/{grid_id}/menu"
    return await ctx.intake.forward("GET", path, api_key=caller.key)
