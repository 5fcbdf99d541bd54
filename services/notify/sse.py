"""Server-Sent Events for one request: replay its history, then follow live events, no gaps or repeats."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

from services.notify.hub import StatusHub
from services.notify.repository import StatusEventRepository
from shared.contracts import EventEnvelope


def sequence_of(envelope: EventEnvelope) -> int:
    return int(envelope.data["sequence"])


def parse_last_event_id(value: str | None) -> int:
    """Event ids look like '<request id>:<sequence>'; anything else means 'from the start'."""
    if not value:
        return 0
    _, _, tail = value.rpartition(":")
    return int(tail) if tail.isdigit() else 0


def frame(envelope: EventEnvelope) -> str:
    body = json.dumps(envelope.model_dump(mode="json"), ensure_ascii=False, separators=(",", ":"))
    return f"id: {envelope.id}\nevent: {envelope.type}\ndata: {body}\n\n"


async def request_stream(
    request_id: str,
    *,
    hub: StatusHub,
    repository: StatusEventRepository,
    after_sequence: int,
    heartbeat_seconds: float,
) -> AsyncIterator[str]:
    # Subscribe before reading history so nothing published in between is missed.
    subscription = hub.subscribe(request_id)
    try:
        yield f"retry: 2000\n: stream of request {request_id}\n\n"
        last = after_sequence
        for envelope in await repository.history(request_id, after_sequence=last):
            last = sequence_of(envelope)
            yield frame(envelope)
        while True:
            if subscription.overflowed:
                yield 'event: overflow\ndata: {"reason":"client too slow; reconnect with Last-Event-ID"}\n\n'
                return
            try:
                envelope = await asyncio.wait_for(subscription.queue.get(), heartbeat_seconds)
            except TimeoutError:
                yield ": heartbeat\n\n"
                continue
            sequence = sequence_of(envelope)
            if sequence <= last:
                continue
            if sequence > last + 1:
                # A live event overtook one still being stored elsewhere: read the gap from history.
                for missed in await repository.history(request_id, after_sequence=last):
                    if sequence_of(missed) < sequence:
                        last = sequence_of(missed)
                        yield frame(missed)
            last = sequence
            yield frame(envelope)
    finally:
        hub.unsubscribe(subscription)
