"""One subscriber's stream, independent of transport: history after its cursor, then live events.

Yields items that SSE and WebSocket render the same way. The subscription is registered before the
history is read and the feed's watermark splits the two, so nothing is missed or sent twice.
"""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from enum import StrEnum

from services.notify.domain.audiences import Scope
from services.notify.domain.resume import ResumeDecision, plan_resume
from services.notify.feed import FeedHub, LiveEvent, Subscription, render
from services.notify.repository import StatusEventRepository

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


async def stream_items(
    *,
    hub: FeedHub,
    repository: StatusEventRepository,
    district_id: str,
    scope: Scope,
    cursor: int | None,
    heartbeat_seconds: float,
    queue_size: int,
) -> AsyncGenerator[StreamItem, None]:
    feed = await hub.feed(district_id)
    subscription = Subscription(scope, queue_size)
    watermark = feed.subscribe(subscription)
    try:
        async with hub.replay_slot():
            floor, head = await repository.bounds(district_id)
            plan = plan_resume(cursor, floor=floor, head=max(head, watermark))
            history = []
            if plan.decision is not ResumeDecision.RESET and plan.after < watermark:
                history = await repository.history(district_id, scope, after=plan.after, upto=watermark)
        if plan.decision is ResumeDecision.RESET:
            last = watermark
            yield StreamItem(ItemKind.RESET, position=last)
        else:
            last = max(plan.after, watermark)
            for event in history:
                yield StreamItem(ItemKind.EVENT, event.position, render(event))
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
                continue
            last = live.position
            yield StreamItem(ItemKind.EVENT, live.position, live)
    finally:
        feed.unsubscribe(subscription)


async def sse_text(items: AsyncIterator[StreamItem], greeting: str) -> AsyncIterator[str]:
    yield f"retry: {RECONNECT_MILLISECONDS}\n: {greeting}\n\n"
    async for item in items:
        yield item.sse()
