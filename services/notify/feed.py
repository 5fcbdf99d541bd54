"""Per-district feeds in memory: the district's recent events and its open streams.

The log follower (`services/notify/status_log.py`) hands every status record to `FeedHub.deliver` in
offset order; the hub renders it once, appends it to the district's recent history and offers it to the
streams that may see it. Nothing here awaits, so a stream that subscribes and reads the watermark in one
step gets every later event live and every earlier one from history, with no gap and no repeat.

Recent history is bounded per district (`NOTIFY_RECENT_EVENTS_PER_DISTRICT`) and indexed by request and by
volunteer, so a resident's or volunteer's resume reads only its own events; older history is read from
Kafka. Subscribers are indexed the same way, so one event costs dictionary lookups, not a scan over every
open stream; operator streams are checked against their filters.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

from aiokafka.partitioner import murmur2

from services.notify.domain.audiences import DistrictScope, RequestScope, Scope, VolunteerScope, matches, volunteers_of
from services.notify.domain.resume import position_of
from shared.contracts import EventEnvelope, StatusChangedV1, decode_data

log = logging.getLogger(__name__)
# Streams reading older history from Kafka at the same time; the rest wait (their live events queue).
REPLAY_CONCURRENCY = 32


@dataclass(frozen=True)
class LiveEvent:
    """A status record rendered once for all its subscribers."""

    partition: int
    offset: int
    district_id: str
    request_id: str
    volunteers: tuple[str, ...]
    routing: dict[str, Any]
    sse: str
    ws: str

    @property
    def position(self) -> int:
        return position_of(self.partition, self.offset)

    def visible_to(self, scope: Scope) -> bool:
        return matches(scope, request_id=self.request_id, volunteers=list(self.volunteers), routing=self.routing)


def render(partition: int, offset: int, envelope: EventEnvelope, record: bytes | None = None) -> LiveEvent:
    """Raise (ValidationError, UnknownEventError, TypeError) for a record that is not a status event.

    `record` is the envelope's JSON as read from the log. Envelope and payload forbid unknown fields, so once
    both validated, the record's own text is what dumping the envelope again would give (our producers write
    compact JSON, `EventEnvelope.to_bytes`): it is streamed as it is, unless it spans lines (SSE framing).
    Re-dumping cost more than half of rendering an event (7 of 18 µs), paid for every event the log follower
    reads and every record a history scan parses."""
    data = decode_data(envelope)
    if not isinstance(data, StatusChangedV1):
        raise TypeError(f"{envelope.type} is not a status event")
    position = position_of(partition, offset)
    if record is not None and b"\n" not in record and b"\r" not in record:
        body = record.decode()
    else:
        body = json.dumps(envelope.model_dump(mode="json"), ensure_ascii=False, separators=(",", ":"))
    return LiveEvent(
        partition=partition,
        offset=offset,
        district_id=envelope.district_id,
        request_id=envelope.request_id or "",
        volunteers=tuple(volunteers_of(envelope.data)),
        routing={"status": data.status, "community_id": data.community_id, "grid_id": data.grid_id},
        sse=f"id: {position}\nevent: {envelope.type}\ndata: {body}\n\n",
        ws=f'{{"id":"{position}","event":{json.dumps(envelope.type)},"data":{body}}}',
    )


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


class RecentHistory:
    """One district's latest events, at most `limit`, in offset order, indexed by request and volunteer."""

    def __init__(self, limit: int, start: int) -> None:
        self.limit = limit
        self.start = start  # from this offset on, every event of the district is held
        self._events: deque[LiveEvent] = deque()
        self._by_request: dict[str, deque[LiveEvent]] = defaultdict(deque)
        self._by_volunteer: dict[str, deque[LiveEvent]] = defaultdict(deque)

    def __len__(self) -> int:
        return len(self._events)

    def append(self, live: LiveEvent) -> None:
        self._events.append(live)
        self._by_request[live.request_id].append(live)
        for volunteer_id in live.volunteers:
            self._by_volunteer[volunteer_id].append(live)
        if len(self._events) > self.limit:
            self._evict()

    def _evict(self) -> None:
        oldest = self._events.popleft()
        self.start = oldest.offset + 1
        indexed = [(self._by_request, oldest.request_id)] + [(self._by_volunteer, v) for v in oldest.volunteers]
        for index, key in indexed:
            entries = index[key]
            entries.popleft()  # the oldest overall is the oldest of each of its indexes too
            if not entries:
                del index[key]

    def between(self, scope: Scope, start: int, end: int) -> list[LiveEvent]:
        """The scope's events at offsets in [start, end), read from the newest back: costs what it returns."""
        if isinstance(scope, RequestScope):
            candidates: Iterable[LiveEvent] = reversed(self._by_request.get(scope.request_id, ()))
        elif isinstance(scope, VolunteerScope):
            candidates = reversed(self._by_volunteer.get(scope.volunteer_id, ()))
        else:
            candidates = reversed(self._events)
        found: list[LiveEvent] = []
        for live in candidates:
            if live.offset < start:
                break
            if live.offset < end and live.visible_to(scope):
                found.append(live)
        found.reverse()
        return found


class DistrictFeed:
    def __init__(self, district_id: str, partition: int, history: RecentHistory) -> None:
        self.district_id = district_id
        self.partition = partition
        self.history = history
        self._by_request: dict[str, set[Subscription]] = defaultdict(set)
        self._by_volunteer: dict[str, set[Subscription]] = defaultdict(set)
        self._district: set[Subscription] = set()
        self.delivered = 0

    def _index(self, scope: Scope) -> set[Subscription]:
        if isinstance(scope, RequestScope):
            return self._by_request[scope.request_id]
        if isinstance(scope, VolunteerScope):
            return self._by_volunteer[scope.volunteer_id]
        return self._district

    def subscribe(self, subscription: Subscription) -> None:
        self._index(subscription.scope).add(subscription)

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

    def deliver(self, live: LiveEvent) -> None:
        self.delivered += 1
        self.history.append(live)
        for subscription in tuple(self._by_request.get(live.request_id, ())):
            subscription.offer(live)
        for volunteer_id in live.volunteers:
            for subscription in tuple(self._by_volunteer.get(volunteer_id, ())):
                subscription.offer(live)
        for subscription in tuple(self._district):
            assert isinstance(subscription.scope, DistrictScope)
            if live.visible_to(subscription.scope):
                subscription.offer(live)


class FeedHub:
    """The feeds of one replica and what it knows of each partition: where memory starts, how far it read."""

    def __init__(self, *, recent_per_district: int) -> None:
        self._recent = recent_per_district
        self._feeds: dict[str, DistrictFeed] = {}
        self.partitions = 0
        self.memory_start: dict[int, int] = {}  # partition -> offset the follower began reading at
        self.watermark: dict[int, int] = {}  # partition -> first offset not yet delivered
        self.log_start: dict[int, int] = {}  # partition -> first offset still in the log (retention)
        self.ready = asyncio.Event()  # set once the follower read up to the log's end at start
        self._replay_slots = asyncio.Semaphore(REPLAY_CONCURRENCY)
        self.replaying = 0  # streams waiting for or reading their history

    def begin(self, starts: dict[int, int], log_starts: dict[int, int]) -> None:
        """The follower starts reading each partition at `starts`: memory is complete from there."""
        self.partitions = len(starts)
        self.memory_start = dict(starts)
        self.watermark = dict(starts)
        self.log_start = dict(log_starts)

    def partition_of(self, district_id: str) -> int:
        """Where the producers' default partitioner puts the district's key (murmur2, as Kafka's Java client)."""
        return int(murmur2(district_id.encode()) & 0x7FFFFFFF) % self.partitions

    def feed(self, district_id: str) -> DistrictFeed:
        feed = self._feeds.get(district_id)
        if feed is None:
            partition = self.partition_of(district_id)
            start = self.memory_start.get(partition, 0)
            feed = DistrictFeed(district_id, partition, RecentHistory(self._recent, start))
            self._feeds[district_id] = feed
        return feed

    def deliver(self, live: LiveEvent) -> None:
        feed = self._feeds.get(live.district_id)
        if feed is None or feed.partition != live.partition:
            # A district seen for the first time (or moved by a change of the partition count): its memory
            # is complete from where the follower began reading this partition. Open streams stay.
            start = self.memory_start.get(live.partition, live.offset)
            if feed is None:
                history = RecentHistory(self._recent, start)
                feed = self._feeds[live.district_id] = DistrictFeed(live.district_id, live.partition, history)
            else:
                log.warning("district %s moved to partition %d", live.district_id, live.partition)
                feed.partition, feed.history = live.partition, RecentHistory(self._recent, start)
        feed.deliver(live)
        self.passed(live.partition, live.offset + 1)

    def passed(self, partition: int, offset: int) -> None:
        """Everything of the partition before `offset` has been delivered (records or transaction markers)."""
        if offset > self.watermark.get(partition, 0):
            self.watermark[partition] = offset

    @contextlib.asynccontextmanager
    async def replay_slot(self) -> AsyncIterator[None]:
        self.replaying += 1
        try:
            async with self._replay_slots:
                yield
        finally:
            self.replaying -= 1

    @property
    def connections(self) -> int:
        return sum(feed.connections for feed in self._feeds.values())

    @property
    def recent_events(self) -> int:
        return sum(len(feed.history) for feed in self._feeds.values())
