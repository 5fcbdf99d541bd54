"""The rates per group over a window, as JSON or a CSV download."""

# No `from __future__ import annotations` here: FastAPI must resolve the dependency aliases eagerly.

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from services.console.auth import Caller, Ctx, problem
from services.console.rates import GroupBy, compute_rates
from shared.spreadsheet_cells import neutralise_row
from shared.time_bounds import BoundedDatetime

router = APIRouter(prefix="/console/api", tags=["rates"])


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
    rows = [
        r.as_row()
        for r in compute_rates(
            await ctx.repository.requests_submitted_between(district_id, start, end),
            group_by=group_by,
            start=start,
            end=end,
        )
    ]
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
    return {"group_by": group_by, "start": start.isoformat(), "end": end.isoformat(), "rows": rows}
