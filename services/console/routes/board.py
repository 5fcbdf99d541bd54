"""Who is logged in, and the live board: queue, counts, load per grid and per volunteer."""

# No `from __future__ import annotations` here: FastAPI must resolve the dependency aliases eagerly.

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter

from services.console.auth import Caller, Ctx
from services.console.views import jsonable

router = APIRouter(prefix="/console/api", tags=["board"])


@router.get("/me")
async def me(ctx: Ctx, caller: Caller) -> dict[str, Any]:
    district = await ctx.repository.district(caller.district_id) or {"_id": caller.district_id}
    return {
        "role": caller.principal.role.value,
        "key_id": caller.principal.key_id,
        "district": jsonable(district, "district_id"),
    }


@router.get("/board")
async def board(ctx: Ctx, caller: Caller) -> dict[str, Any]:
    district_id = caller.district_id
    now = datetime.now(UTC)
    requests = [jsonable(r) for r in await ctx.repository.open_requests(district_id)]
    for request in requests:
        due = request.get("sla_due_at")
        request["overdue"] = isinstance(due, str) and datetime.fromisoformat(due) < now
    volunteers = await ctx.repository.volunteers(district_id)
    load_per_grid: dict[str, int] = {}
    for request in requests:
        grid = request.get("grid_id") or "unknown"
        load_per_grid[grid] = load_per_grid.get(grid, 0) + 1
    return {
        "now": now.isoformat(),
        "counts": await ctx.repository.status_counts(district_id),
        "requests": requests,
        "load_per_grid": [{"grid_id": g, "open": n} for g, n in sorted(load_per_grid.items())],
        "volunteers": [jsonable(v, "volunteer_id") for v in volunteers],
    }
