"""Notify's operator stream of a district, relayed to the page under the console's own origin.

The page cannot put a key in an `EventSource` header, and a key in a URL ends up in logs; across origins
it would also need CORS on notify and a wider CSP. So the page `fetch`es `/console/api/events` with its
key in `X-API-Key` (same origin), and the console opens notify's stream with that same key, server to
server. Notify decides what the key may see (an operator or district admin of that district).

The relay starts at notify's head (`after` beyond any position answers `reset`, then live events): the page
reloads the board on connect anyway, so it needs no history, only word of each change.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Final

import httpx
from fastapi.responses import JSONResponse, Response, StreamingResponse

# Beyond any position notify has: it answers `reset` at its head and goes on live (docs/notify.md).
LIVE_ONLY: Final = 2**62
SSE_HEADERS: Final = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def unavailable(detail: str) -> Response:
    return JSONResponse(
        {"title": "Notify unavailable", "status": 503, "code": "notify-unavailable", "detail": detail},
        status_code=503,
        media_type="application/problem+json",
        headers={"Retry-After": "5"},
    )


class NotifyStream:
    def __init__(self, base_url: str, idle_seconds: float) -> None:
        # No read for `idle_seconds` (several missed heartbeats): the relay ends and the page reconnects.
        self._client = httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(10.0, read=idle_seconds))

    async def _open(self, district_id: str, api_key: str, params: dict[str, int]) -> httpx.Response:
        request = self._client.build_request(
            "GET",
            f"/v1/districts/{district_id}/events",
            params=params,
            headers={"X-API-Key": api_key, "Accept": "text/event-stream"},
        )
        return await self._client.send(request, stream=True)

    async def relay(self, district_id: str, api_key: str) -> Response:
        try:
            upstream = await self._open(district_id, api_key, {"after": LIVE_ONLY})
            if upstream.status_code == 422:
                # A notify whose positions take another form: from the history it holds, which costs it more.
                await upstream.aclose()
                upstream = await self._open(district_id, api_key, {})
        except httpx.HTTPError as exc:
            return unavailable(str(exc) or type(exc).__name__)
        if upstream.status_code != 200:
            body = await upstream.aread()
            await upstream.aclose()
            media_type = upstream.headers.get("content-type", "application/problem+json")
            return Response(body, status_code=upstream.status_code, media_type=media_type)

        async def chunks() -> AsyncIterator[bytes]:
            try:
                async for chunk in upstream.aiter_raw():
                    yield chunk
            except httpx.HTTPError:
                return  # notify went away or fell silent: the page reconnects
            finally:
                await upstream.aclose()

        return StreamingResponse(chunks(), media_type="text/event-stream", headers=SSE_HEADERS)

    async def close(self) -> None:
        await self._client.aclose()
