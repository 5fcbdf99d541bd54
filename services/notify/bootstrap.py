"""Notify's wiring, in one place: feeds and the status log, repositories, webhook worker and consumer.

Routes reach all of it through `NotifyContext` (on `app.state.notify`, via the `Ctx` dependency); the app's
lifespan calls `start` and `stop`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta

from prometheus_client import Gauge
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from services.notify.consumer import side_effect_consumer
from services.notify.domain.audiences import Scope
from services.notify.feed import FeedHub
from services.notify.handlers import handle_status_event
from services.notify.messaging import PreferenceRepository, PushNotifier
from services.notify.settings import NotifySettings
from services.notify.status_log import LogHistoryReader, StatusLogFollower
from services.notify.streams import StreamItem, StreamSource, stream_items
from services.notify.webhook_store import DeliveryRepository, WebhookEndpointRepository
from services.notify.webhooks import WebhookWorker
from shared.api_keys import ApiKeyRepository
from shared.consumer_loop import ConsumerStats, consume_forever
from shared.contracts import EventEnvelope
from shared.gateways import gateway_for
from shared.kafka import EventPublisher, ensure_topics
from shared.mongo import Document, connect, database, ping

log = logging.getLogger(__name__)
DISTRICTS_CACHE_SECONDS = 60.0
OPEN_STREAMS = Gauge("notify_open_streams", "Open SSE and WebSocket streams on this replica")
STREAM_REPLAYS = Gauge("notify_stream_replays", "Streams waiting for or reading their history on this replica")
RECENT_EVENTS = Gauge("notify_recent_events", "Status events held in memory as recent history on this replica")
CONSUMER_LAG = Gauge("notify_consumer_lag", "Status events whose webhooks and messages wait on this replica")


@dataclass
class NotifyContext:
    """Everything a route or the consumer needs; built once per process by `bootstrap`."""

    settings: NotifySettings
    client: AsyncMongoClient[Document]
    db: AsyncDatabase[Document]
    keys: ApiKeyRepository
    endpoints: WebhookEndpointRepository
    deliveries: DeliveryRepository
    preferences: PreferenceRepository
    notifier: PushNotifier
    hub: FeedHub
    follower: StatusLogFollower
    reader: LogHistoryReader
    worker: WebhookWorker
    publisher: EventPublisher
    stats: ConsumerStats = field(default_factory=ConsumerStats)
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    signing_keys: tuple[bytes, ...] = ()  # request ids and access tokens: the current key, then previous ones
    # (monotonic time read, ids): reference data, read again after DISTRICTS_CACHE_SECONDS
    _districts: tuple[float, tuple[str, ...]] = field(default=(0.0, ()), init=False, repr=False)

    async def district_ids(self) -> tuple[str, ...]:
        """Every district's id, read at most once a minute (a resident's short URL tries each one's tag)."""
        read_at, ids = self._districts
        if time.monotonic() - read_at > DISTRICTS_CACHE_SECONDS:
            ids = tuple([str(d["_id"]) async for d in self.db.districts.find({}, {"_id": 1})])
            self._districts = (time.monotonic(), ids)
        return ids

    def stream(self, district_id: str, scope: Scope, cursor: int | None) -> AsyncIterator[StreamItem]:
        return stream_items(
            source=StreamSource(self.hub, self.follower, self.reader),
            district_id=district_id,
            scope=scope,
            cursor=cursor,
            heartbeat_seconds=self.settings.heartbeat_seconds,
            queue_size=self.settings.client_queue_size,
        )

    async def handle(self, envelope: EventEnvelope) -> None:
        await handle_status_event(
            envelope, endpoints=self.endpoints, deliveries=self.deliveries, worker=self.worker, notifier=self.notifier
        )

    async def readiness(self) -> dict[str, bool]:
        return {
            "database": await ping(self.db),
            "history": self.hub.ready.is_set(),
            "consumer": bool(self.tasks) and not any(task.done() for task in self.tasks),
        }

    async def start(self) -> None:
        settings = self.settings
        topics = settings.topics()
        await self.endpoints.ensure_indexes()
        await self.deliveries.ensure_indexes()
        await self.notifier.start()
        await ensure_topics(settings.kafka_bootstrap, topics)
        await self.follower.start()
        self.tasks.append(asyncio.create_task(self.follower.run(), name="notify-status-log"))
        group = settings.group(settings.consumer_group)
        consumer = side_effect_consumer(settings.kafka_bootstrap, topics.status, group, self.worker)
        await consumer.start()
        log.info("consuming %s in group %s for webhooks and messages", topics.status, group)

        async def consume() -> None:
            try:
                await consume_forever(
                    consumer,
                    self.handle,
                    publisher=self.publisher,
                    dead_letter_topic=topics.dead_letter,
                    stats=self.stats,
                )
            finally:
                await consumer.stop()

        self.tasks.append(asyncio.create_task(consume(), name="notify-consumer"))
        self.tasks.append(asyncio.create_task(self._sweep_forever(), name="notify-sweep"))

    async def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self.reader.close()
        await self.notifier.close()
        await self.worker.close()
        await self.publisher.close()
        await self.client.close()

    async def _sweep_forever(self) -> None:
        retention = timedelta(hours=self.settings.delivery_retention_hours)
        while True:
            try:
                removed = await self.deliveries.expire(retention)
                if removed:
                    log.info("removed %d webhook deliveries delivered more than %s ago", removed, retention)
            except Exception:
                log.exception("expiry sweep failed; next round retries")
            await asyncio.sleep(self.settings.sweep_seconds)


def bootstrap(settings: NotifySettings) -> NotifyContext:
    client = connect(settings)
    db = database(client, settings)
    endpoints = WebhookEndpointRepository(db)
    deliveries = DeliveryRepository(db)
    preferences = PreferenceRepository(db)
    hub = FeedHub(recent_per_district=settings.recent_events_per_district)
    status_topic = settings.topics().status
    context = NotifyContext(
        settings=settings,
        client=client,
        db=db,
        keys=ApiKeyRepository(db),
        endpoints=endpoints,
        deliveries=deliveries,
        preferences=preferences,
        notifier=PushNotifier(db, preferences, gateway_for(settings.sms_gateway), sender=settings.instance_id),
        hub=hub,
        follower=StatusLogFollower(
            bootstrap=settings.kafka_bootstrap,
            topic=status_topic,
            hub=hub,
            backfill=settings.startup_backfill,
            horizon_refresh_seconds=settings.horizon_refresh_seconds,
        ),
        reader=LogHistoryReader(
            bootstrap=settings.kafka_bootstrap,
            topic=status_topic,
            readers=settings.log_readers,
            timeout_seconds=settings.log_read_timeout_seconds,
        ),
        worker=WebhookWorker(endpoints=endpoints, deliveries=deliveries, settings=settings),
        publisher=EventPublisher(settings.kafka_bootstrap, settings.kafka_timeout_seconds),
        signing_keys=settings.verification_keys(),
    )
    OPEN_STREAMS.set_function(lambda: hub.connections)
    STREAM_REPLAYS.set_function(lambda: hub.replaying)
    RECENT_EVENTS.set_function(lambda: hub.recent_events)
    CONSUMER_LAG.set_function(lambda: context.stats.lag)
    return context
