"""The district's live changes for the page: notify's operator stream, relayed (see `notify_stream`)."""

# No `from __future__ import annotations` here: FastAPI must resolve the dependency aliases eagerly.

from fastapi import APIRouter
from fastapi.responses import Response

from services.console.auth import Caller, Ctx

router = APIRouter(prefix="/console/api", tags=["board"])


@router.get(
    "/events",
    response_class=Response,
    responses={200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}, "description": "SSE"}},
)
async def events(ctx: Ctx, caller: Caller) -> Response:
    """Every status change of the district as Server-Sent Events; the page reloads its board on each."""
    return await ctx.notify.relay(caller.district_id, caller.key)
