"""What notify does with one status event: store it once, wake the streams, queue webhooks, push messages."""

from __future__ import annotations

import json

from services.notify.feed import FeedHub
from services.notify.messaging import PushNotifier
from services.notify.repository import StatusEventRepository
from services.notify.webhook_store import DeliveryRepository, WebhookEndpointRepository
from services.notify.webhooks import WebhookWorker
from shared.contracts import EventEnvelope, StatusChangedV1, decode_data


async def handle_status_event(
    envelope: EventEnvelope,
    *,
    events: StatusEventRepository,
    hub: FeedHub,
    endpoints: WebhookEndpointRepository,
    deliveries: DeliveryRepository,
    worker: WebhookWorker,
    notifier: PushNotifier,
) -> None:
    """Idempotent: every step is keyed by the event id, so a redelivery or a second replica adds nothing."""
    data = decode_data(envelope)
    if not isinstance(data, StatusChangedV1):
        raise TypeError(f"{envelope.type} is not a status event")
    await events.record(envelope, data)
    hub.wake(envelope.district_id)
    subscribed = await endpoints.subscribed_to(envelope.district_id, envelope.type)
    if subscribed:
        body = json.dumps(envelope.model_dump(mode="json"), ensure_ascii=False, separators=(",", ":"))
        for endpoint in subscribed:
            await deliveries.enqueue(endpoint=endpoint, event_id=envelope.id, event_type=envelope.type, body=body)
        worker.wake()
    await notifier.notify(envelope)
