"""Notify process: consume status events, store them, and stream them to clients."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import FastAPI, Header, Path, Query
from fastapi.responses import StreamingResponse
from prometheus_client import Gauge

from services.notify.hub import StatusHub
from services.notify.repository import StatusEventRepository
from services.notify.sse import parse_last_event_id, request_stream
from shared.consumer_loop import ConsumerStats, consume_forever
from shared.contracts import EventEnvelope, StatusChangedV1, decode_data
from shared.kafka import EventPublisher, ensure_topics, manual_commit_consumer
from shared.mongo import connect, database, ping
from shared.service_app import add_operational_routes
from shared.settings import NotifySettings

log = logging.getLogger(__name__)
OPEN_STREAMS = Gauge("notify_open_streams", "Open SSE streams on this replica")


def create_app(settings: NotifySettings | None = None) -> FastAPI:
    settings = settings or NotifySettings()
    topics = settings.topics()
    client = connect(settings)
    db = database(client, settings)
    repository = StatusEventRepository(db)
    hub = StatusHub()
    OPEN_STREAMS.set_function(lambda: hub.connections)
    publisher = EventPublisher(settings.kafka_bootstrap, settings.kafka_timeout_seconds)
    stats = ConsumerStats()
    tasks: list[asyncio.Task[None]] = []

    async def handle(envelope: EventEnvelope) -> None:
        data = decode_data(envelope)
        if not isinstance(data, StatusChangedV1):
            raise TypeError(f"{envelope.type} is not a status event")
        await repository.record(envelope, data)
        hub.publish(envelope)

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        await repository.ensure_indexes()
        await ensure_topics(settings.kafka_bootstrap, topics)
        consumer = manual_commit_consumer(
            settings.kafka_bootstrap, topics.status, settings.group(settings.consumer_group)
        )
        await consumer.start()
        tasks.append(
            asyncio.create_task(
                consume_forever(
                    consumer, handle, publisher=publisher, dead_letter_topic=topics.dead_letter, stats=stats
                ),
                name="notify-consumer",
            )
        )
        yield
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await consumer.stop()
        await publisher.close()
        await client.close()

    app = FastAPI(
        title="Grid Service Platform — notify",
        version="0.1.0",
        description="Live status of requests as Server-Sent Events.",
        lifespan=lifespan,
    )

    @app.get(
        "/v1/requests/{request_id}/events",
        summary="Follow a request: its past status events, then live ones (text/event-stream)",
        response_class=StreamingResponse,
    )
    async def follow(
        request_id: Annotated[str, Path(min_length=1, max_length=100)],
        last_event_id: Annotated[str | None, Header(alias="Last-Event-ID", max_length=200)] = None,
        after: Annotated[int | None, Query(ge=0, description="Resume after this sequence number")] = None,
    ) -> StreamingResponse:
        after_sequence = after if after is not None else parse_last_event_id(last_event_id)
        stream = request_stream(
            request_id,
            hub=hub,
            repository=repository,
            after_sequence=after_sequence,
            heartbeat_seconds=settings.heartbeat_seconds,
        )
        return StreamingResponse(
            stream,
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    async def readiness() -> dict[str, bool]:
        return {"database": await ping(db), "consumer": bool(tasks) and not any(task.done() for task in tasks)}

    add_operational_routes(app, readiness)
    return app
