"""Carry out a request's outbox, then remove what was done: at-least-once, never lost.

The outbox holds three kinds of side effect written with the request in one document: timers to
schedule, volunteers whose assignment ended (their load goes down), and status events to publish.
Each is idempotent (timers by id, releases guarded by the request id, consumers de-duplicate events).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from prometheus_client import Counter

from services.dispatch.repository import RequestRepository, TimerRepository, VolunteerRepository
from shared.contracts import EventEnvelope
from shared.kafka import EventPublisher
from shared.mongo import Document

VolunteerFreed = Callable[[str], Awaitable[None]]
# SLA warnings, breaches and escalations are counted here too: alert on their rate.
STATUS_EVENTS_PUBLISHED = Counter(
    "dispatch_status_events_published_total", "Status events published (republished ones included)", ["type"]
)


async def flush(
    document: Document,
    *,
    requests: RequestRepository,
    timers: TimerRepository,
    volunteers: VolunteerRepository,
    publisher: EventPublisher,
    topic: str,
    on_volunteer_freed: VolunteerFreed | None = None,
) -> int:
    """Schedule, release, publish in order; a crash in between repeats harmlessly."""
    pending_timers: list[Document] = document.get("timers_pending", [])
    releases: list[str] = document.get("releases_pending", [])
    events: list[Document] = document.get("outbox", [])
    if not (pending_timers or releases or events):
        return 0
    await timers.schedule(pending_timers)
    freed = [v for v in releases if await volunteers.release(v, document["_id"])]
    for raw in events:
        await publisher.publish(topic, EventEnvelope.model_validate(raw))
        STATUS_EVENTS_PUBLISHED.labels(raw["type"]).inc()
    await requests.clear_side_effects(
        document["_id"],
        event_ids={raw["id"] for raw in events},
        timer_ids={t["_id"] for t in pending_timers},
        releases=set(releases),
    )
    if freed and on_volunteer_freed is not None:
        await on_volunteer_freed(document["district_id"])
    return len(events)
