"""What notify does with one status event besides streaming it: queue webhooks and push messages, once.

Streams read the log themselves (`services/notify/status_log.py`); this runs in the consumer group that
shares the partitions among the replicas, so each event's side effects are worked on by one replica.
"""

from __future__ import annotations

import json

from services.notify.messaging import PushNotifier
from services.notify.webhook_store import DeliveryRepository, WebhookEndpointRepository
from services.notify.webhooks import WebhookWorker
from shared.contracts import EventEnvelope, StatusChangedV1, decode_data


async def handle_status_event(
    envelope: EventEnvelope,
    *,
    endpoints: WebhookEndpointRepository,
    deliveries: DeliveryRepository,
    worker: WebhookWorker,
    notifier: PushNotifier,
) -> None:
    """Idempotent: every step is keyed by the event id, so a redelivery adds nothing."""
    data = decode_data(envelope)
    if not isinstance(data, StatusChangedV1):
        raise TypeError(f"{envelope.type} is not a status event")
    subscribed = await endpoints.subscribed_to(envelope.district_id, envelope.type)
    if subscribed:
        body = json.dumps(envelope.model_dump(mode="json"), ensure_ascii=False, separators=(",", ":"))
        for endpoint in subscribed:
            delivery = await deliveries.enqueue(
                endpoint=endpoint, event_id=envelope.id, event_type=envelope.type, body=body
            )
            if delivery is not None:
                worker.submit(delivery)
    await notifier.notify(envelope)
