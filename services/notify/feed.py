"""Per-district feeds: each replica reads its districts' stored events in position order and fans them out.

The consumer only wakes a feed; the feed reads the database, so a replica delivers exactly the order
the database settled on, whichever replica stored an event. Subscribers are indexed by request and by
volunteer so one event costs a dictionary lookup, not a scan over every open stream; operator streams
are checked against their filters.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass

from services.notify.domain.audiences import DistrictScope, RequestScope, Scope, VolunteerScope, matches
from services.notify.repository import StatusEventRepository, StoredEvent, stored_event

log = logging.getLogger(__name__)
GAP_RECHECK_SECONDS = 0.05
# Streams reading their history (and the district's bounds) at the same time. A reconnect storm opens
# thousands at once; unbounded, their reads fill the database pool and the consumer's writes queue behind
# them, so live events stall for everyone (seconds at 10k streams). Waiting streams already get live events
# queued. The default pool has 100 connections: this leaves room for the consumer and the feeds.
REPLAY_CONCURRENCY = 32


@dataclass(frozen=True)
class LiveEvent:
    """A stored event rendered once for all its subscribers."""

    event: StoredEvent
    sse: str
    ws: str

    @property
    def position(self) -> int:
        return self.event.position


def render(event: StoredEvent) -> LiveEvent:
    body = json.dumps(event.envelope, ensure_ascii=False, separators=(",", ":"))
    sse = f"id: {event.position}\nevent: {event.event_type}\ndata: {body}\n\n"
    ws = f'{{"id":"{event.position}","event":{json.dumps(event.event_type)},"data":{body}}}'
    return LiveEvent(event, sse, ws)


class Subscription:
    def __init__(self, scope: Scope, queue_size: int) -> None:
        self.scope = scope
        self.queue: asyncio.Queue[LiveEvent] = asyncio.Queue(queue_size)
        self.overflowed = False

    def offer(self, live: LiveEvent) -> None:
        if self.overflowed:
            return
        try:
            self.queue.put_nowait(live)
        except asyncio.QueueFull:
            self.overflowed = True


class DistrictFeed:
    def __init__(
        self, district_id: str, repository: StatusEventRepository, *, gap_timeout: float, poll_seconds: float
    ) -> None:
        self.district_id = district_id
        self.watermark = 0
        self._repository = repository
        self._gap_timeout = gap_timeout
        self._poll_seconds = poll_seconds
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._gap: tuple[int, float] | None = None  # (first missing position, monotonic time first seen)
        self._by_request: dict[str, set[Subscription]] = defaultdict(set)
        self._by_volunteer: dict[str, set[Subscription]] = defaultdict(set)
        self._district: set[Subscription] = set()
        self.delivered = 0

    async def start(self) -> None:
        self.watermark = await self._repository.settled_start(self.district_id, self._gap_timeout)
        await self._catch_up()
        self._task = asyncio.create_task(self._run(), name=f"feed-{self.district_id}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def wake(self) -> None:
        self._wake.set()

    def _index(self, scope: Scope) -> set[Subscription]:
        if isinstance(scope, RequestScope):
            return self._by_request[scope.request_id]
        if isinstance(scope, VolunteerScope):
            return self._by_volunteer[scope.volunteer_id]
        return self._district

    def subscribe(self, subscription: Subscription) -> int:
        """Register and return the watermark: history up to it, live events after it."""
        self._index(subscription.scope).add(subscription)
        return self.watermark

    def unsubscribe(self, subscription: Subscription) -> None:
        scope = subscription.scope
        self._index(scope).discard(subscription)
        if isinstance(scope, RequestScope) and not self._by_request[scope.request_id]:
            del self._by_request[scope.request_id]
        elif isinstance(scope, VolunteerScope) and not self._by_volunteer[scope.volunteer_id]:
            del self._by_volunteer[scope.volunteer_id]

    @property
    def connections(self) -> int:
        return (
            sum(map(len, self._by_request.values())) + sum(map(len, self._by_volunteer.values())) + len(self._district)
        )

    async def _run(self) -> None:
        while True:
            timeout = GAP_RECHECK_SECONDS if self._gap is not None else self._poll_seconds
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout)
            self._wake.clear()
            try:
                await self._catch_up()
            except Exception:  # the database may be away; the next wake or poll tries again
                log.exception("feed of %s failed to read", self.district_id)
                await asyncio.sleep(self._poll_seconds)

    async def _catch_up(self) -> None:
        while True:
            documents = await self._repository.after(self.district_id, self.watermark)
            if not documents:
                self._gap = None
                return
            for document in documents:
                position = int(document["position"])
                if position != self.watermark + 1:
                    if await self._gap_expired(position):
                        break  # placeholders written: read again
                    return  # wait a little for the writer of the missing position
                self._gap = None
                self.watermark = position
                if document.get("kind") == "event":
                    self._deliver(render(stored_event(document)))
            else:
                if len(documents) < 500:
                    return

    async def _gap_expired(self, next_present: int) -> bool:
        missing = self.watermark + 1
        now = time.monotonic()
        if self._gap is None or self._gap[0] != missing:
            self._gap = (missing, now)
        if now - self._gap[1] < self._gap_timeout:
            return False
        for position in range(missing, next_present):
            if await self._repository.fill_gap(self.district_id, position):
                log.warning("position %s:%s was never written; marked empty", self.district_id, position)
        self._gap = None
        return True

    def _deliver(self, live: LiveEvent) -> None:
        self.delivered += 1
        event = live.event
        for subscription in tuple(self._by_request.get(event.request_id, ())):
            subscription.offer(live)
        for volunteer_id in event.volunteers:
            for subscription in tuple(self._by_volunteer.get(volunteer_id, ())):
                subscription.offer(live)
        for subscription in tuple(self._district):
            assert isinstance(subscription.scope, DistrictScope)
            if matches(
                subscription.scope, request_id=event.request_id, volunteers=event.volunteers, routing=event.routing
            ):
                subscription.offer(live)


class FeedHub:
    """The feeds of one replica, started on first use."""

    def __init__(self, repository: StatusEventRepository, *, gap_timeout: float, poll_seconds: float) -> None:
        self._repository = repository
        self._gap_timeout = gap_timeout
        self._poll_seconds = poll_seconds
        self._feeds: dict[str, DistrictFeed] = {}
        self._starting: dict[str, asyncio.Task[DistrictFeed]] = {}
        self._replay_slots = asyncio.Semaphore(REPLAY_CONCURRENCY)
        self.replaying = 0  # streams waiting for or reading their history

    @contextlib.asynccontextmanager
    async def replay_slot(self) -> AsyncIterator[None]:
        self.replaying += 1
        try:
            async with self._replay_slots:
                yield
        finally:
            self.replaying -= 1

    async def feed(self, district_id: str) -> DistrictFeed:
        feed = self._feeds.get(district_id)
        if feed is not None:
            return feed
        task = self._starting.get(district_id)
        if task is None:
            task = asyncio.create_task(self._start(district_id))
            self._starting[district_id] = task
        try:
            return await asyncio.shield(task)
        finally:
            if task.done():
                self._starting.pop(district_id, None)

    async def _start(self, district_id: str) -> DistrictFeed:
        feed = DistrictFeed(
            district_id, self._repository, gap_timeout=self._gap_timeout, poll_seconds=self._poll_seconds
        )
        await feed.start()
        self._feeds[district_id] = feed
        return feed

    def wake(self, district_id: str) -> None:
        feed = self._feeds.get(district_id)
        if feed is not None:
            feed.wake()

    @property
    def connections(self) -> int:
        return sum(feed.connections for feed in self._feeds.values())

    async def close(self) -> None:
        for feed in self._feeds.values():
            await feed.stop()
