"""How a stream travels: Server-Sent Events or WebSocket, and where a reconnecting client's cursor comes from."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Query, WebSocket
from fastapi.responses import StreamingResponse
from starlette.requests import HTTPConnection
from starlette.websockets import WebSocketDisconnect

from services.notify.auth import (
    WS_PROTOCOL,
    Audience,
    Ctx,
    DistrictId,
    RequestId,
    offered_protocols,
    operator_audience,
    resident_audience,
    volunteer_audience,
)
from services.notify.bootstrap import NotifyContext
from services.notify.domain.audiences import DistrictScope
from services.notify.domain.resume import MAX_POSITION, parse_cursor
from services.notify.streams import StreamItem, sse_text

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
STREAM_DOC = "text/event-stream; each event's `id` is its position: reconnect with Last-Event-ID or ?after="

LastEventId = Annotated[str | None, Header(alias="Last-Event-ID", max_length=200)]
LastEventIdQuery = Annotated[
    str | None, Query(alias="last_event_id", max_length=200, description="For clients that cannot send headers")
]
After = Annotated[
    int | None, Query(ge=0, le=MAX_POSITION, description="Resume after this position (the `id` of the last event)")
]
TokenQuery = Annotated[str | None, Query(description="The request's access token (or header X-Access-Token)")]
Filter = Annotated[list[str] | None, Query()]


async def cursor(
    last_event_id: LastEventId = None, after: After = None, last_event_id_query: LastEventIdQuery = None
) -> int | None:
    """Where a reconnecting client resumes: `after` wins; WebSocket clients send Last-Event-ID as a query."""
    return parse_cursor(last_event_id or last_event_id_query, after)


# Stream dependencies take the cursor as a parameter of their own: a malformed cursor then answers 422 before
# the caller is authorised (FastAPI still runs a route's other dependencies when one has invalid input).
Cursor = Annotated[int | None, Depends(cursor)]


@dataclass(frozen=True)
class StreamRequest:
    audience: Audience
    cursor: int | None
    greeting: str


async def resident_stream(
    connection: HTTPConnection,
    ctx: Ctx,
    district_id: DistrictId,
    request_id: RequestId,
    cursor: Cursor,
    access_token: TokenQuery = None,
) -> StreamRequest:
    audience = await resident_audience(connection, ctx, request_id, district_id)
    return StreamRequest(audience, cursor, f"request {request_id}")


async def resident_stream_by_request(
    connection: HTTPConnection, ctx: Ctx, request_id: RequestId, cursor: Cursor, access_token: TokenQuery = None
) -> StreamRequest:
    audience = await resident_audience(connection, ctx, request_id, None)
    return StreamRequest(audience, cursor, f"request {request_id}")


async def volunteer_stream(connection: HTTPConnection, ctx: Ctx, cursor: Cursor) -> StreamRequest:
    return StreamRequest(await volunteer_audience(connection, ctx), cursor, "volunteer")


def split_values(values: list[str] | None) -> frozenset[str]:
    """`?grid_id=a&grid_id=b` and `?grid_id=a,b` mean the same."""
    return frozenset(part for value in values or [] for part in value.split(",") if part)


async def operator_stream(
    connection: HTTPConnection,
    ctx: Ctx,
    district_id: DistrictId,
    cursor: Cursor,
    community_id: Filter = None,
    grid_id: Filter = None,
    status: Filter = None,
) -> StreamRequest:
    scope = DistrictScope(split_values(community_id), split_values(grid_id), split_values(status))
    audience = await operator_audience(connection, ctx, district_id, scope)
    return StreamRequest(audience, cursor, f"district {district_id}")


ResidentStream = Annotated[StreamRequest, Depends(resident_stream)]
ResidentStreamByRequest = Annotated[StreamRequest, Depends(resident_stream_by_request)]
VolunteerStream = Annotated[StreamRequest, Depends(volunteer_stream)]
OperatorStream = Annotated[StreamRequest, Depends(operator_stream)]


def items(ctx: NotifyContext, stream: StreamRequest) -> AsyncIterator[StreamItem]:
    return ctx.stream(stream.audience.district_id, stream.audience.scope, stream.cursor)


def sse_response(ctx: NotifyContext, stream: StreamRequest) -> StreamingResponse:
    text = sse_text(items(ctx, stream), stream.greeting)
    return StreamingResponse(text, media_type="text/event-stream", headers=SSE_HEADERS)


async def serve_websocket(websocket: WebSocket, ctx: NotifyContext, stream: StreamRequest) -> None:
    """Send the stream until either side ends it; the client's own messages are read and ignored."""
    # A browser that offered subprotocols drops the connection unless one is chosen.
    await websocket.accept(subprotocol=WS_PROTOCOL if WS_PROTOCOL in offered_protocols(websocket) else None)

    async def send_all() -> None:
        async for item in items(ctx, stream):
            await websocket.send_text(item.ws())

    async def until_closed() -> None:
        with contextlib.suppress(WebSocketDisconnect):
            while True:
                await websocket.receive_text()

    sender = asyncio.create_task(send_all())
    listener = asyncio.create_task(until_closed())
    done, pending = await asyncio.wait({sender, listener}, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    if sender in done:
        with contextlib.suppress(Exception):
            await websocket.close(code=1000 if sender.exception() is None else 1011)
