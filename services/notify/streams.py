"""One subscriber's stream, independent of transport: history after its cursor, then live events.

Yields items that SSE and WebSocket render the same way. The subscription is registered before the
history is read and the partition's watermark splits the two, so nothing is missed or sent twice:
offsets before it come from memory (or, older than memory, from Kafka), offsets from it on arrive live.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from enum import StrEnum

from services.notify.domain.audiences import Scope
from services.notify.domain.resume import (
    LogView,
    ResumeDecision,
    ResumePlan,
    needs_log_end,
    plan_resume,
    position_before,
)
from services.notify.feed import FeedHub, LiveEvent, Subscription
from services.notify.status_log import LogHistoryReader, StatusLogFollower

RECONNECT_MILLISECONDS = 2000


class ItemKind(StrEnum):
    EVENT = "event"
    RESET = "reset"
    OVERFLOW = "overflow"
    HEARTBEAT = "heartbeat"


@dataclass(frozen=True)
class StreamItem:
    kind: ItemKind
    position: int = 0
    live: LiveEvent | None = None

    def sse(self) -> str:
        if self.live is not None:
            return self.live.sse
        if self.kind is ItemKind.HEARTBEAT:
            return ": heartbeat\n\n"
        return f"id: {self.position}\nevent: {self.kind.value}\ndata: {json.dumps(self.control())}\n\n"

    def ws(self) -> str:
        if self.live is not None:
            return self.live.ws
        if self.kind is ItemKind.HEARTBEAT:
            return '{"event":"heartbeat"}'
        return json.dumps({"id": str(self.position), "event": self.kind.value, "data": self.control()})

    def control(self) -> dict[str, object]:
        if self.kind is ItemKind.RESET:
            reason = "history no longer reaches back to your cursor; reload the current state, then follow on"
        else:
            reason = "client too slow; reconnect with Last-Event-ID (or ?after=) to resume"
        return {"reason": reason, "resume_after": self.position}


class StreamSource:
    """What a stream reads: the feeds in memory, the log's end when asked, and older history from Kafka."""

    def __init__(self, hub: FeedHub, follower: StatusLogFollower, reader: LogHistoryReader) -> None:
        self.hub = hub
        self.follower = follower
        self.reader = reader


async def stream_items(
    *,
    source: StreamSource,
    district_id: str,
    scope: Scope,
    cursor: int | None,
    heartbeat_seconds: float,
    queue_size: int,
) -> AsyncGenerator[StreamItem, None]:
    hub = source.hub
    if not hub.ready.is_set():
        async with hub.replay_slot():  # counted as replaying: a replica that just started reads its backfill
            await hub.ready.wait()
    feed = hub.feed(district_id)
    partition = feed.partition
    subscription = Subscription(scope, queue_size)
    # Subscribing and reading the watermark in one step splits the log: every event from the watermark on
    # reaches the subscription; every one before it is in memory or older, and is read below, bounded by
    # the watermark (what arrives meanwhile is live, not history).
    feed.subscribe(subscription)
    try:
        watermark = hub.watermark.get(partition, 0)
        log_end = await source.follower.log_end(partition) if needs_log_end(cursor, watermark) else None
        view = LogView(
            partition=partition,
            log_start=hub.log_start.get(partition, 0),
            memory_start=feed.history.start,
            watermark=watermark,
            log_end=log_end,
        )
        plan = plan_resume(cursor, view)
        history: list[LiveEvent] = []
        if plan.decision is not ResumeDecision.RESET:
            history = feed.history.between(scope, max(plan.from_offset, plan.log_until), watermark)
            if plan.from_offset < plan.log_until:
                async with hub.replay_slot():
                    older = await source.reader.read(district_id, scope, partition, plan.from_offset, plan.log_until)
                if older is None:  # retention moved past the cursor while we were about to read
                    plan = ResumePlan(ResumeDecision.RESET, watermark, watermark)
                    history = []
                else:
                    history = older + history
        if plan.decision is ResumeDecision.RESET:
            last = position_before(partition, plan.from_offset)
            yield StreamItem(ItemKind.RESET, position=last)
        else:
            last = cursor if cursor is not None else 0
            for live in history:
                last = live.position
                yield StreamItem(ItemKind.EVENT, live.position, live)
        # Streams opened in a burst (a reconnect storm, a restart) would otherwise all heartbeat in the
        # same instant, every period: the first one comes at a random point of the second half.
        idle_limit = heartbeat_seconds * random.uniform(0.5, 1.0)
        while True:
            if subscription.overflowed:
                yield StreamItem(ItemKind.OVERFLOW, position=last)
                return
            try:
                live = subscription.queue.get_nowait()  # a backlog costs no timer and no task per item
            except asyncio.QueueEmpty:
                try:
                    live = await asyncio.wait_for(subscription.queue.get(), idle_limit)
                except TimeoutError:
                    idle_limit = heartbeat_seconds
                    yield StreamItem(ItemKind.HEARTBEAT)
                    continue
            if live.position <= last:
                continue  # a cursor from a replica that had read further than this one
            last = live.position
            yield StreamItem(ItemKind.EVENT, live.position, live)
    finally:
        feed.unsubscribe(subscription)


async def sse_text(items: AsyncIterator[StreamItem], greeting: str) -> AsyncGenerator[str, None]:
    yield f"retry: {RECONNECT_MILLISECONDS}\n: {greeting}\n\n"
    async for item in items:
        yield item.sse()
