"""Scheduled care on the console: plans per grid, today's due check-ins and visits, and the missed ones with
their welfare checks (docs/care.md)."""

# No `from __future__ import annotations` here: FastAPI must resolve the dependency aliases eagerly.

from datetime import UTC, datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Query

from services.console.auth import Caller, Ctx
from services.console.care_reads import CareReads, due_today
from services.console.views import iso

router = APIRouter(prefix="/console/api/care", tags=["care"])
DEFAULT_TIMEZONE = "Asia/Shanghai"


def _plan_row(plan: dict[str, Any], names: dict[str, dict[str, Any]]) -> dict[str, Any]:
    resident = names.get(plan.get("resident_id") or "", {})
    return {
        "plan_id": plan["_id"],
        "resident_id": plan.get("resident_id"),
        "resident_name": resident.get("name") or "",
        "grid_id": plan.get("grid_id"),
        "kind": plan.get("kind"),
        "menu_item_code": plan.get("menu_item_code") or "",
        "schedule": plan.get("schedule") or {},
        "volunteer_id": plan.get("volunteer_id"),
        "alert": plan.get("alert") or [],
        "active": bool(plan.get("active", True)),
    }


def _state(care: dict[str, Any], created: bool, starts_at: datetime, now: datetime) -> str:
    """missed, confirmed, open (created, not settled), upcoming (window not open yet), or not_created."""
    if care.get("missed_at"):
        return "missed"
    if care.get("confirmed_at"):
        return "confirmed"
    if created:
        return "open"
    return "upcoming" if starts_at > now else "not_created"


@router.get("/plans")
async def plans(
    ctx: Ctx, caller: Caller, grid_id: Annotated[str | None, Query(max_length=64)] = None
) -> dict[str, Any]:
    reads = CareReads(ctx.db)
    found = await reads.plans(caller.district_id, grid_id)
    names = await reads.residents(caller.district_id, {str(p.get("resident_id")) for p in found})
    return {"plans": [_plan_row(p, names) for p in found]}


@router.get("/today")
async def today(ctx: Ctx, caller: Caller) -> dict[str, Any]:
    """Today's occurrences (local date of the district) as dispatch created them; missed ones apart."""
    reads = CareReads(ctx.db)
    district = await ctx.repository.district(caller.district_id) or {}
    try:
        tz = ZoneInfo(str(district.get("timezone") or DEFAULT_TIMEZONE))
    except (ZoneInfoNotFoundError, ValueError):
        tz = ZoneInfo(DEFAULT_TIMEZONE)
    now = datetime.now(UTC)
    day = now.astimezone(tz).date()
    due = due_today(await reads.plans(caller.district_id), day, tz)
    occurrences = await reads.requests(caller.district_id, [occurrence_id for *_, occurrence_id in due])
    welfare_ids = [
        c["care"]["welfare_request_id"] for c in occurrences.values() if (c.get("care") or {}).get("welfare_request_id")
    ]
    welfare = await reads.requests(caller.district_id, welfare_ids)
    names = await reads.residents(caller.district_id, {str(plan.get("resident_id")) for plan, *_ in due})
    rows: list[dict[str, Any]] = []
    missed: list[dict[str, Any]] = []
    for plan, starts_at, ends_at, occurrence_id in due:
        stored = occurrences.get(occurrence_id)
        care = (stored or {}).get("care") or {}
        check = welfare.get(care.get("welfare_request_id") or "")
        row = {
            **_plan_row(plan, names),
            "request_id": occurrence_id if stored else None,
            "window_start": starts_at.isoformat(),
            "window_end": ends_at.isoformat(),
            "state": _state(care, stored is not None, starts_at, now),
            "status": (stored or {}).get("status"),
            "volunteer_id": (stored or {}).get("assigned_volunteer_id") or plan.get("volunteer_id"),
            "confirmed_at": iso(care.get("confirmed_at")),
            "missed_at": iso(care.get("missed_at")),
            "missed_reason": care.get("missed_reason"),
            "welfare_request_id": care.get("welfare_request_id"),
            "welfare_status": (check or {}).get("status"),
        }
        (missed if row["state"] == "missed" else rows).append(row)
    return {"date": day.isoformat(), "now": now.isoformat(), "due": rows, "missed": missed}
