"""A resident follows one request, by its access token: SSE and WebSocket, with or without the district."""

from __future__ import annotations

from fastapi import APIRouter, WebSocket
from fastapi.responses import Response

from services.notify.auth import Ctx
from services.notify.routes.streaming import (
    STREAM_DOC,
    ResidentStream,
    ResidentStreamByRequest,
    serve_websocket,
    sse_response,
)

router = APIRouter(tags=["resident"])


@router.get(
    "/v1/districts/{district_id}/requests/{request_id}/events",
    summary="Resident: follow one request (SSE)",
    description=STREAM_DOC,
)
async def resident_events(ctx: Ctx, stream: ResidentStream) -> Response:
    return sse_response(ctx, stream)


@router.get(
    "/v1/requests/{request_id}/events",
    summary="Resident: follow one request (SSE; district found from the id)",
    description=STREAM_DOC,
)
async def resident_events_short(ctx: Ctx, stream: ResidentStreamByRequest) -> Response:
    return sse_response(ctx, stream)


@router.websocket("/v1/districts/{district_id}/requests/{request_id}/ws")
async def resident_ws(websocket: WebSocket, ctx: Ctx, stream: ResidentStream) -> None:
    await serve_websocket(websocket, ctx, stream)


@router.websocket("/v1/requests/{request_id}/ws")
async def resident_ws_short(websocket: WebSocket, ctx: Ctx, stream: ResidentStreamByRequest) -> None:
    await serve_websocket(websocket, ctx, stream)
