"""A volunteer follows their own offers and assignments, by their API key."""

from __future__ import annotations

from fastapi import APIRouter, WebSocket
from fastapi.responses import Response

from services.notify.auth import Ctx
from services.notify.routes.streaming import STREAM_DOC, VolunteerStream, serve_websocket, sse_response

router = APIRouter(tags=["volunteer"])


@router.get("/v1/volunteers/me/events", summary="Volunteer: own offers and assignments (SSE)", description=STREAM_DOC)
async def volunteer_events(ctx: Ctx, stream: VolunteerStream) -> Response:
    return sse_response(ctx, stream)


@router.websocket("/v1/volunteers/me/ws")
async def volunteer_ws(websocket: WebSocket, ctx: Ctx, stream: VolunteerStream) -> None:
    await serve_websocket(websocket, ctx, stream)
