"""Who is logged in, and the live board: queue, counts, load per grid and per volunteer, overdue.

The board is dispatch's read model of the district (`district_boards`, one document by `_id`, its payload
as JSON text), joined here with the roster's names; the page reloads it when notify's operator stream
says something changed.
"""

# No `from __future__ import annotations` here: FastAPI must resolve the dependency aliases eagerly.

import json
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter

from services.console.auth import Caller, Ctx
from services.console.views import iso, jsonable

router = APIRouter(prefix="/console/api", tags=["board"])
OVERDUE_FIELDS = ("request_id", "sla_due_at", "status", "level", "grid_id")


@router.get("/me")
async def me(ctx: Ctx, caller: Caller) -> dict[str, Any]:
    district = await ctx.repository.district(caller.district_id) or {"_id": caller.district_id}
    return {
        "role": caller.principal.role.value,
        "key_id": caller.principal.key_id,
        "district": jsonable(district, "district_id"),
    }


def _passed(due: Any, now: datetime) -> bool:
    return isinstance(due, str) and datetime.fromisoformat(due) < now


@router.get("/board")
async def board(ctx: Ctx, caller: Caller) -> dict[str, Any]:
    now = datetime.now(UTC)
    stored = await ctx.repository.board(caller.district_id) or {}
    payload: dict[str, Any] = json.loads(stored.get("board") or "{}")
    requests: list[dict[str, Any]] = payload.get("requests") or []
    for request in requests:
        request["overdue"] = _passed(request.get("sla_due_at"), now)
    # Overdue now: what dispatch listed, plus any whose deadline passed since it last wrote the board.
    overdue = {row["request_id"]: row for row in payload.get("overdue") or []}
    overdue |= {r["request_id"]: {k: r.get(k) for k in OVERDUE_FIELDS} for r in requests if r["overdue"]}
    loads = {load["volunteer_id"]: load for load in payload.get("volunteer_load") or []}
    volunteers = []
    for profile in await ctx.repository.volunteers(caller.district_id):
        load = loads.get(profile["_id"], {})
        volunteers.append(
            {
                **jsonable(profile, "volunteer_id"),
                "open_assignments": int(load.get("open_assignments") or 0),
                "last_assigned_at": load.get("last_assigned_at"),
            }
        )
    return {
        "now": now.isoformat(),
        "as_of": iso(stored.get("as_of")),
        "open": int(stored.get("open") or 0),
        "counts": payload.get("counts") or [],
        "requests": requests,
        "overdue": sorted(overdue.values(), key=lambda r: (str(r.get("sla_due_at")), r["request_id"])),
        "load_per_grid": payload.get("load_per_grid") or [],
        "volunteers": volunteers,
    }
