"""Dispatch process: the consumer loop, timers, sweeps, and the fairness and audit API over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from prometheus_client import Gauge

from services.dispatch.audit import AuditContext, add_audit_routes
from services.dispatch.consumer import RequestEventRouter
from services.dispatch.handlers import Dispatch
from services.dispatch.repository import (
    ReferenceRepository,
    RequestRepository,
    TimerRepository,
    VolunteerRepository,
)
from services.dispatch.settings import DispatchEngineSettings
from shared.api_keys import ApiKeyRepository
from shared.consumer_loop import ConsumerStats, consume_forever
from shared.http_observability import instrument
from shared.kafka import EventPublisher, ensure_topics, manual_commit_consumer
from shared.mongo import connect, database, ping
from shared.problem_details import install_problem_handlers

log = logging.getLogger(__name__)
EVENTS_HANDLED = Gauge("dispatch_events_handled", "Request events handled since start")
EVENTS_DEAD_LETTERED = Gauge("dispatch_events_dead_lettered", "Request events sent to the dead-letter topic")
TIMERS_FIRED = Gauge("dispatch_timers_fired", "Timers fired by this replica since start")
CONSUMER_LAG = Gauge("dispatch_consumer_lag", "Request events not yet handled on this replica's partitions")


def create_app(settings: DispatchEngineSettings | None = None) -> FastAPI:
    settings = settings or DispatchEngineSettings()
    topics = settings.topics()
    client = connect(settings)
    db = database(client, settings)
    ctx = Dispatch(
        requests=RequestRepository(db),
        volunteers=VolunteerRepository(db),
        reference=ReferenceRepository(db),
        timers=TimerRepository(db),
        settings=settings,
    )
    publisher = EventPublisher(settings.kafka_bootstrap, settings.kafka_timeout_seconds)
    router = RequestEventRouter(ctx, publisher, topics.status)
    stats = ConsumerStats()
    EVENTS_HANDLED.set_function(lambda: stats.handled)
    EVENTS_DEAD_LETTERED.set_function(lambda: stats.dead_lettered)
    TIMERS_FIRED.set_function(lambda: router.timers_fired)
    CONSUMER_LAG.set_function(lambda: stats.lag)

    tasks: list[asyncio.Task[None]] = []

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await ctx.requests.ensure_indexes()
        await ctx.volunteers.ensure_indexes()
        await ctx.timers.ensure_indexes()
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
            asyncio.create_task(router.timers_forever(settings.instance_id), name="timers"),
            asyncio.create_task(router.rematch_forever(), name="rematch-sweep"),
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

    app = FastAPI(title="Grid Service Platform — dispatch", version="0.2.0", lifespan=lifespan)

    async def readiness() -> dict[str, bool]:
        return {"database": await ping(db), "consumer": bool(tasks) and not any(task.done() for task in tasks)}

    install_problem_handlers(app)
    instrument(app, "dispatch", readiness)
    add_audit_routes(app, AuditContext(ctx.requests, ctx.volunteers, ApiKeyRepository(db)))
    return app
