"""Operators follow every status change of their district, optionally narrowed by community, grid and status."""

from __future__ import annotations

from fastapi import APIRouter, WebSocket
from fastapi.responses import Response

from services.notify.auth import Ctx
from services.notify.routes.streaming import STREAM_DOC, OperatorStream, serve_websocket, sse_response

router = APIRouter(tags=["operator"])


@router.get(
    "/v1/districts/{district_id}/events",
    summary="Operator: every status change of the district (SSE)",
    description=STREAM_DOC,
)
async def district_events(ctx: Ctx, stream: OperatorStream) -> Response:
    return sse_response(ctx, stream)


@router.websocket("/v1/districts/{district_id}/ws")
async def district_ws(websocket: WebSocket, ctx: Ctx, stream: OperatorStream) -> None:
    await serve_websocket(websocket, ctx, stream)
