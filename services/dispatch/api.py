"""Dispatch process: the consumer loop, the outbox sweep, and health/metrics over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from prometheus_client import Gauge

from services.dispatch.consumer import RequestEventRouter
from services.dispatch.repository import RequestRepository
from shared.consumer_loop import ConsumerStats, consume_forever
from shared.kafka import EventPublisher, ensure_topics, manual_commit_consumer
from shared.mongo import connect, database, ping
from shared.service_app import add_operational_routes
from shared.settings import DispatchSettings

log = logging.getLogger(__name__)
EVENTS_HANDLED = Gauge("dispatch_events_handled", "Request events handled since start")
EVENTS_DEAD_LETTERED = Gauge("dispatch_events_dead_lettered", "Request events sent to the dead-letter topic")


def create_app(settings: DispatchSettings | None = None) -> FastAPI:
    settings = settings or DispatchSettings()
    topics = settings.topics()
    client = connect(settings)
    db = database(client, settings)
    repository = RequestRepository(db)
    publisher = EventPublisher(settings.kafka_bootstrap, settings.kafka_timeout_seconds)
    router = RequestEventRouter(repository, publisher, topics.status)
    stats = ConsumerStats()
    EVENTS_HANDLED.set_function(lambda: stats.handled)
    EVENTS_DEAD_LETTERED.set_function(lambda: stats.dead_lettered)

    tasks: list[asyncio.Task[None]] = []

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await repository.ensure_indexes()
        await ensure_topics(settings.kafka_bootstrap, topics)
        consumer = manual_commit_consumer(
            settings.kafka_bootstrap,
            topics.requests,
            settings.group(settings.consumer_group),
            client_id=settings.instance_id,
        )
        await consumer.start()
        tasks[:] = [
            asyncio.create_task(
                consume_forever(
                    consumer, router, publisher=publisher, dead_letter_topic=topics.dead_letter, stats=stats
                ),
                name="dispatch-consumer",
            ),
            asyncio.create_task(router.sweep_outboxes_forever(), name="outbox-sweep"),
        ]
        log.info("dispatch consuming %s as group %s", topics.requests, settings.group(settings.consumer_group))
        yield
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await consumer.stop()
        await publisher.close()
        await client.close()

    app = FastAPI(title="Grid Service Platform — dispatch", version="0.1.0", lifespan=lifespan)

    async def readiness() -> dict[str, bool]:
        return {"database": await ping(db), "consumer": bool(tasks) and not any(task.done() for task in tasks)}

    add_operational_routes(app, readiness)
    return app
