"""The rates per group over a window of whole days (the district's), as JSON or a CSV download."""

# No `from __future__ import annotations` here: FastAPI must resolve the dependency aliases eagerly.

import csv
import io
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from fastapi import APIRouter, Query
from fastapi.responses import Response

from services.console.auth import Caller, Ctx, problem
from services.console.context import ConsoleContext
from services.console.rates import MAX_WINDOW_DAYS, GroupBy, days_between, months_of, sum_tallies, window_tallies
from shared.spreadsheet_cells import neutralise_row
from shared.time_bounds import BoundedDatetime

router = APIRouter(prefix="/console/api", tags=["rates"])


async def district_timezone(ctx: ConsoleContext, district_id: str) -> tzinfo:
    """The district's own time zone (its days are the rates' days), else the platform's default."""
    district = await ctx.repository.district(district_id) or {}
    try:
        return ZoneInfo(str(district.get("timezone") or ctx.settings.default_timezone))
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(ctx.settings.default_timezone)


@router.get(
    "/rates",
    response_model=None,
    responses={200: {"content": {"text/csv": {"schema": {"type": "string"}}}, "description": "JSON or CSV"}},
)
async def rates(
    ctx: Ctx,
    caller: Caller,
    group_by: GroupBy = "community",
    start: BoundedDatetime | None = None,
    end: BoundedDatetime | None = None,
    format: Annotated[str, Query(pattern="^(json|csv)$")] = "json",
) -> Response | dict[str, Any]:
    district_id = caller.district_id
    end = end or datetime.now(UTC)
    start = start or end - timedelta(days=30)
    if start.tzinfo is None or end.tzinfo is None:
        start, end = start.replace(tzinfo=start.tzinfo or UTC), end.replace(tzinfo=end.tzinfo or UTC)
    if start >= end:
        raise problem(422, "start must be before end", "validation")
    days = days_between(start, end, await district_timezone(ctx, district_id))
    if len(days) > MAX_WINDOW_DAYS:
        raise problem(422, f"a window spans at most {MAX_WINDOW_DAYS} days", "validation")
    months = await ctx.repository.monthly_rates(district_id, months_of(days), group_by)
    rows = [r.as_row() for r in sum_tallies(window_tallies(months, days))]
    if format == "csv":
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else ["group"])
        writer.writeheader()
        writer.writerows(neutralise_row(row) for row in rows)
        filename = f"rates-{district_id}-{group_by}-{start.date()}-{end.date()}.csv"
        return Response(
            buffer.getvalue(),
            media_type="text/csv",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )
    return {
        "group_by": group_by,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "days": [days[0], days[-1]],
        "rows": rows,
    }
