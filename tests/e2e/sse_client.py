"""A small Server-Sent Events reader for tests, on httpx's streaming API."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import httpx


@dataclass(frozen=True)
class ServerSentEvent:
    id: str
    event: str
    data: dict[str, Any]


async def read_events(
    url: str, *, until_type: str, within: float = 20.0, headers: dict[str, str] | None = None
) -> list[ServerSentEvent]:
    """Collect events from `url` until one of type `until_type` arrives; fail after `within` seconds."""
    events: list[ServerSentEvent] = []

    async def collect() -> None:
        async with httpx.AsyncClient(timeout=None) as client, client.stream("GET", url, headers=headers) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("text/event-stream")
            fields: dict[str, str] = {}
            async for line in response.aiter_lines():
                if line == "":
                    if "data" in fields and "event" in fields:
                        events.append(
                            ServerSentEvent(fields.get("id", ""), fields["event"], json.loads(fields["data"]))
                        )
                        if fields["event"] == until_type:
                            return
                    fields = {}
                elif not line.startswith(":"):
                    name, _, value = line.partition(":")
                    fields[name] = value.removeprefix(" ")

    await asyncio.wait_for(collect(), within)
    return events
