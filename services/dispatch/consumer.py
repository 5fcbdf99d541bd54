"""Dispatch's Kafka edge: route each request event to its handler, then flush the outbox."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta

from services.dispatch import handlers, outbox
from services.dispatch.repository import RequestRepository
from shared.contracts import (
    REQUEST_SUBMITTED,
    EventEnvelope,
    RequestSubmittedV1,
    UnknownEventError,
    decode_data,
)
from shared.kafka import EventPublisher

log = logging.getLogger(__name__)


class RequestEventRouter:
    def __init__(self, repository: RequestRepository, publisher: EventPublisher, status_topic: str) -> None:
        self._repository = repository
        self._publisher = publisher
        self._status_topic = status_topic

    async def __call__(self, envelope: EventEnvelope) -> None:
        data = decode_data(envelope)
        now = datetime.now(UTC)
        if envelope.type == REQUEST_SUBMITTED and isinstance(data, RequestSubmittedV1):
            document = await handlers.handle_submitted(self._repository, envelope, data, now)
        else:
            raise UnknownEventError(f"dispatch does not handle {envelope.type!r}")
        await outbox.flush(document, repository=self._repository, publisher=self._publisher, topic=self._status_topic)

    async def sweep_outboxes_forever(self, interval: float = 2.0, grace: float = 5.0) -> None:
        """Publish outboxes left behind by a crash between the database write and the publish."""
        while True:
            try:
                older_than = datetime.now(UTC) - timedelta(seconds=grace)
                for document in await self._repository.with_pending_outbox(older_than):
                    await outbox.flush(
                        document, repository=self._repository, publisher=self._publisher, topic=self._status_topic
                    )
            except Exception:
                log.exception("outbox sweep failed; will retry")
            await asyncio.sleep(interval)
