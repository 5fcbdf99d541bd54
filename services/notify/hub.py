"""In-process fan-out of status events to the streams open on this notify replica."""

from __future__ import annotations

import asyncio
from collections import defaultdict

from shared.contracts import EventEnvelope

# A client that falls this far behind is cut off and resumes from history with Last-Event-ID.
SUBSCRIBER_QUEUE_SIZE = 256


class Subscription:
    def __init__(self, request_id: str) -> None:
        self.request_id = request_id
        self.queue: asyncio.Queue[EventEnvelope] = asyncio.Queue(SUBSCRIBER_QUEUE_SIZE)
        self.overflowed = False


class StatusHub:
    def __init__(self) -> None:
        self._by_request: dict[str, set[Subscription]] = defaultdict(set)

    def subscribe(self, request_id: str) -> Subscription:
        subscription = Subscription(request_id)
        self._by_request[request_id].add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        subscribers = self._by_request.get(subscription.request_id)
        if subscribers is None:
            return
        subscribers.discard(subscription)
        if not subscribers:
            del self._by_request[subscription.request_id]

    def publish(self, envelope: EventEnvelope) -> None:
        for subscription in list(self._by_request.get(envelope.request_id, ())):
            try:
                subscription.queue.put_nowait(envelope)
            except asyncio.QueueFull:
                subscription.overflowed = True

    @property
    def connections(self) -> int:
        return sum(len(subscribers) for subscribers in self._by_request.values())
