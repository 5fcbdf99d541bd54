"""Publish a request's outbox, then remove what was published: at-least-once, never lost."""

from __future__ import annotations

from services.dispatch.repository import RequestRepository
from shared.contracts import EventEnvelope
from shared.kafka import EventPublisher
from shared.mongo import Document


async def flush(document: Document, *, repository: RequestRepository, publisher: EventPublisher, topic: str) -> int:
    """Publish pending status events in order; a crash in between republishes (consumers de-duplicate)."""
    pending = document.get("outbox", [])
    if not pending:
        return 0
    for raw in pending:
        await publisher.publish(topic, EventEnvelope.model_validate(raw))
    await repository.remove_from_outbox(document["_id"], {raw["id"] for raw in pending})
    return len(pending)
