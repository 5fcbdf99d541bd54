"""Test helpers: publish status events the way dispatch does, and read SSE streams event by event."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx

from shared.contracts import EventEnvelope, StatusChangedV1, new_event
from shared.kafka import EventPublisher
from shared.settings import PlatformSettings


@dataclass(frozen=True)
class Received:
    id: str
    event: str
    data: dict[str, Any]


async def publish_status(
    publisher: EventPublisher,
    settings: PlatformSettings,
    *,
    district_id: str,
    request_id: str,
    event_type: str,
    sequence: int,
    **payload: Any,
) -> EventEnvelope:
    status = event_type.removeprefix("request.")
    event = new_event(
        event_type=event_type,
        source="test",
        district_id=district_id,
        request_id=request_id,
        event_id=f"{request_id}:{sequence}",
        data=StatusChangedV1(status=status, sequence=sequence, **payload),
    )
    await publisher.publish(settings.topics().status, event)
    return event


class SseReader:
    def __init__(self, lines: AsyncIterator[str]) -> None:
        self._lines = lines

    async def next(self, within: float = 15.0) -> Received:
        return await asyncio.wait_for(self._next(), within)

    async def take(self, count: int, within: float = 15.0) -> list[Received]:
        return [await self.next(within) for _ in range(count)]

    async def _next(self) -> Received:
        fields: dict[str, str] = {}
        async for line in self._lines:
            if line == "":
                if "event" in fields:
                    return Received(fields.get("id", ""), fields["event"], json.loads(fields.get("data", "{}")))
                fields = {}
            elif not line.startswith(":"):
                name, _, value = line.partition(":")
                fields[name] = value.removeprefix(" ")
        raise EOFError("stream closed")

    async def nothing_within(self, seconds: float) -> bool:
        try:
            received = await self.next(seconds)
        except TimeoutError:
            return True
        raise AssertionError(f"unexpected event {received}")


@asynccontextmanager
async def sse(url: str, *, headers: dict[str, str] | None = None) -> AsyncIterator[SseReader]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=None)) as client:
        async with client.stream("GET", url, headers=headers) as response:
            assert response.status_code == 200, response.status_code
            assert response.headers["content-type"].startswith("text/event-stream")
            yield SseReader(response.aiter_lines())
