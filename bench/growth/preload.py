"""What a year of a district leaves behind, written fast: status events to Kafka, closed requests to the database.

- Status events go to the status topic (grid.status.v2), keyed by the district like dispatch's, pipelined
  (`PIPELINE` in flight): that is where a stream's history lives, whichever way notify keeps it.
- Closed requests go straight into `requests` (dispatch's documents, bench/e2e/population.py), in commands of
  at most 64 statements (FerretDB v1 holds a pooled connection per statement until a command ends).
Nothing here reads the database for results.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import UTC, datetime

from pymongo.asynchronous.database import AsyncDatabase

from bench.e2e.population import Shape, history_document, insert_ignoring_duplicates
from shared.contracts import StatusChangedV1, new_event
from shared.contracts.envelope import EventEnvelope
from shared.kafka import EventPublisher
from shared.mongo import Document

Progress = Callable[[str], None]
PIPELINE = 2000  # events in flight at once (DESIGN.md: ~10k/s at 256 in flight on this machine kind)
WRITES_PER_COMMAND = 64
EVENTS_PER_REQUEST = 8  # a closed request's history: received … rated


def status_event(district_id: str, request_id: str, sequence: int, status: str = "in_progress") -> EventEnvelope:
    return new_event(
        event_type="request.started",
        source="bench",
        district_id=district_id,
        request_id=request_id,
        event_id=f"{request_id}:{sequence}",
        data=StatusChangedV1(status=status, sequence=sequence, actor="system:bench"),
    )


async def publish_pipelined(
    publisher: EventPublisher, topic: str, events: list[EventEnvelope], progress: Progress | None = None
) -> float:
    """Publish every event, `PIPELINE` at a time, and wait for every acknowledgement; returns seconds."""
    started = last = time.perf_counter()
    for first in range(0, len(events), PIPELINE):
        await publisher.publish_many(topic, events[first : first + PIPELINE])
        if progress is not None and time.perf_counter() - last > 5:
            last = time.perf_counter()
            done = first + PIPELINE
            progress(f"  events {done:,}/{len(events):,} ({done / (last - started):,.0f}/s)")
    return time.perf_counter() - started


async def history_events(
    publisher: EventPublisher, topic: str, district_id: str, count: int, mint: Callable[[], str], progress: Progress
) -> float:
    """`count` status events of closed requests, `EVENTS_PER_REQUEST` per request, built and sent in slices."""
    started = time.perf_counter()
    sent = 0
    while sent < count:
        events: list[EventEnvelope] = []
        while len(events) < 50 * PIPELINE and sent + len(events) < count:
            request_id = mint()
            for sequence in range(1, min(EVENTS_PER_REQUEST, count - sent - len(events)) + 1):
                events.append(status_event(district_id, request_id, sequence))
        await publish_pipelined(publisher, topic, events)
        sent += len(events)
        elapsed = time.perf_counter() - started
        progress(f"  status events {sent:,}/{count:,} on {topic} ({sent / elapsed:,.0f}/s)")
    return time.perf_counter() - started


async def closed_requests(db: AsyncDatabase[Document], shape: Shape, count: int, progress: Progress) -> float:
    """`count` closed requests in the district, `WRITES_PER_COMMAND` per insert command."""
    started = last = time.perf_counter()
    rng = random.Random(count)
    now = datetime.now(UTC)
    for first in range(0, count, WRITES_PER_COMMAND):
        batch = [history_document(shape, n, rng, now) for n in range(first, min(first + WRITES_PER_COMMAND, count))]
        await insert_ignoring_duplicates(db, "requests", batch)
        if time.perf_counter() - last > 5:
            last = time.perf_counter()
            done = first + len(batch)
            progress(f"  requests {done:,}/{count:,} ({done / (last - started):,.0f}/s)")
    seconds = time.perf_counter() - started
    progress(f"  {count:,} closed requests written in {seconds:.1f}s")
    return seconds
