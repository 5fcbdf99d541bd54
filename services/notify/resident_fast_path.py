"""Residents' SSE streams served beside FastAPI's router: the path a reconnect storm takes.

When the network of a neighbourhood comes back, or a notify replica restarts, thousands of residents'
phones reconnect at once. Through FastAPI each reconnection cost about 1 ms of CPU, most of it route matching
over the included routers, dependency solving and StreamingResponse's task group rather than the stream.
This layer (pure ASGI, inside the rate limits, metrics and security headers) serves a well-formed resident
stream request whose access token is valid; everything else — another route, a WebSocket, a missing or wrong
token, a malformed cursor — goes on to FastAPI, which answers it exactly as the API documents. The stream
is the same `NotifyContext.stream` the routes use, and the answer has the same status, headers and body.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from urllib.parse import parse_qsl

from starlette.requests import HTTPConnection
from starlette.types import ASGIApp, Receive, Scope, Send

from services.notify.auth import Denied, resident_district
from services.notify.bootstrap import NotifyContext
from services.notify.domain.audiences import RequestScope
from services.notify.domain.resume import MAX_POSITION, parse_cursor
from services.notify.routes.streaming import SSE_HEADERS
from services.notify.streams import sse_text

# The two resident SSE routes of services/notify/routes/resident.py, with their path parameters' limits.
RESIDENT_STREAM = re.compile(r"/v1/(?:districts/(?P<district>[^/]{1,63})/)?requests/(?P<request>[^/]{1,100})/events")
DIGITS = re.compile(r"[0-9]{1,19}")
MAX_CURSOR_TEXT = 200  # Last-Event-ID, as the routes' max_length
HEADERS = [(b"content-type", b"text/event-stream; charset=utf-8")] + [
    (name.lower().encode(), value.encode()) for name, value in SSE_HEADERS.items()
]


@dataclass(frozen=True)
class RouteLabel:
    """What the metrics middleware reads of a matched route: its template, never the path with ids."""

    path: str


ROUTES = {
    True: RouteLabel("/v1/districts/{district_id}/requests/{request_id}/events"),
    False: RouteLabel("/v1/requests/{request_id}/events"),
}


@dataclass(frozen=True)
class ResidentStreamCall:
    district_id: str | None
    request_id: str
    cursor: int | None


def recognise(scope: Scope) -> ResidentStreamCall | None:
    """The call when it is a resident stream request with well-formed parameters; None sends it to FastAPI."""
    if scope["type"] != "http" or scope["method"] != "GET":
        return None
    matched = RESIDENT_STREAM.fullmatch(scope["path"])
    if matched is None:
        return None
    query: dict[str, str] = {}
    for name, value in parse_qsl(scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True):
        if name in query:
            return None  # repeated parameters: FastAPI's rules decide
        query[name] = value
    header_cursor: str | None = None
    for name, value in scope["headers"]:
        if name == b"last-event-id":
            if header_cursor is not None:
                return None
            header_cursor = value.decode("latin-1")
    query_cursor = query.get("last_event_id")
    after_text = query.get("after")
    after: int | None = None
    if after_text is not None:
        if not DIGITS.fullmatch(after_text) or int(after_text) > MAX_POSITION:
            return None  # FastAPI answers 422
        after = int(after_text)
    for text in (header_cursor, query_cursor):
        if text is not None and len(text) > MAX_CURSOR_TEXT:
            return None
    cursor = parse_cursor(header_cursor or query_cursor, after)
    return ResidentStreamCall(matched["district"], matched["request"], cursor)


class ResidentStreamFastPath:
    def __init__(self, app: ASGIApp, context: NotifyContext) -> None:
        self.app = app
        self.context = context

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        call = recognise(scope)
        if call is None:
            await self.app(scope, receive, send)
            return
        ctx = self.context
        try:
            district_id = await resident_district(
                HTTPConnection(scope),
                signing_keys=ctx.signing_keys,
                request_id=call.request_id,
                district_id=call.district_id,
                districts=ctx.district_ids,
            )
        except Denied:
            await self.app(scope, receive, send)  # refused the documented way
            return
        scope["route"] = ROUTES[call.district_id is not None]
        items = ctx.stream(district_id, RequestScope(call.request_id), call.cursor)
        await stream(sse_text(items, f"request {call.request_id}"), receive, send)


async def stream(text: AsyncGenerator[str, None], receive: Receive, send: Send) -> None:
    """Send the stream until it ends or the client goes away; either way the stream is closed (unsubscribed)."""
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})

    async def pump() -> None:
        async for chunk in text:
            await send({"type": "http.response.body", "body": chunk.encode(), "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    async def until_disconnect() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    sender = asyncio.ensure_future(pump())
    watcher = asyncio.ensure_future(until_disconnect())
    try:
        await asyncio.wait({sender, watcher}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (sender, watcher):
            task.cancel()
        await asyncio.gather(sender, watcher, return_exceptions=True)
        await text.aclose()
    error = None if sender.cancelled() else sender.exception()
    if error is not None:
        raise error
