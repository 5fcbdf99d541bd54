"""Restarted or renamed notify replicas neither stream old events as new nor send their webhooks again.

Streams: positions are places in the status log, so an old event keeps its position whoever reads it; a
stream resumed at the head sees only what is published afterwards. Webhooks and messages: the replicas
share one consumer group (NOTIFY_GROUP), so its committed offsets outlive any replica's name; a group that
never committed starts at the log's end, so the days of events already in the topic fire nothing. The
other side: a replica started after a gap (under any name) still handles what was published meanwhile.

What it does not show: a Kubernetes rollout (no cluster here).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiokafka import AIOKafkaProducer
from pymongo.asynchronous.database import AsyncDatabase

from services.notify.webhook_store import WebhookEndpointRepository
from shared.api_keys import ApiKeyRepository, Role
from shared.contracts import EventEnvelope, StatusChangedV1, new_event
from shared.contracts.status import REQUEST_RECEIVED, REQUEST_STARTED
from shared.kafka import ensure_topics
from shared.mongo import Document, connect
from shared.settings import PlatformSettings
from tests.conftest import demo_database, environment_for
from tests.e2e.notify.streams_client import sse
from tests.e2e.service_processes import ServiceProcess
from tests.e2e.test_crash_recovery import read_whole_topic
from tests.infrastructure import Infrastructure

pytestmark = pytest.mark.e2e
DISTRICT = "chengzhong"


def status_event(request_id: str, sequence: int, at: datetime) -> EventEnvelope:
    return new_event(
        event_type=REQUEST_STARTED if sequence > 1 else REQUEST_RECEIVED,
        source="test",
        district_id=DISTRICT,
        request_id=request_id,
        event_id=f"{request_id}:{sequence}",
        time=at,
        data=StatusChangedV1(status="started" if sequence > 1 else "received", sequence=sequence, grid_id="xgll-01"),
    )


async def publish(producer: AIOKafkaProducer, topic: str, event: EventEnvelope) -> None:
    """As dispatch publishes, but with the record's timestamp set to the event's time (old events)."""
    await producer.send_and_wait(
        topic,
        event.to_bytes(),
        key=event.district_id.encode(),
        timestamp_ms=int(event.time.timestamp() * 1000),
        headers=[("type", event.type.encode())],
    )


@pytest.fixture(scope="module")
def replay_env(infrastructure: Infrastructure, run_id: str) -> dict[str, str]:
    # Topics and a database of their own: old records in the topic must not reach other tests' replicas.
    # A webhook target that refuses connections: deliveries are created and fail, quickly and many times
    # (nothing leaves the host), so a replica stopped between two attempts leaves one pending.
    return {
        **environment_for(infrastructure, run_id, "r"),
        "NOTIFY_WEBHOOK_ALLOW_LOOPBACK": "true",
        "NOTIFY_WEBHOOK_BACKOFF_BASE_SECONDS": "0.2",
        "NOTIFY_WEBHOOK_BACKOFF_CAP_SECONDS": "0.5",
        "NOTIFY_WEBHOOK_MAX_ATTEMPTS": "1000",
        "NOTIFY_WEBHOOK_TIMEOUT_SECONDS": "1",  # a lease (2 x timeout + 10 s) left by a stopped replica is short
    }


@pytest.fixture(scope="module")
def replay_settings(replay_env: dict[str, str]) -> PlatformSettings:
    return PlatformSettings(**replay_env)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
async def replay_db(replay_settings: PlatformSettings) -> AsyncIterator[AsyncDatabase[Document]]:
    client = connect(replay_settings)
    yield await demo_database(client, replay_settings)
    await client.drop_database(replay_settings.mongodb_database)
    await client.close()


@pytest.fixture(scope="module")
async def producer(replay_settings: PlatformSettings) -> AsyncIterator[AIOKafkaProducer]:
    await ensure_topics(replay_settings.kafka_bootstrap, replay_settings.topics())
    started = AIOKafkaProducer(bootstrap_servers=replay_settings.kafka_bootstrap, acks="all")
    await started.start()
    yield started
    await started.stop()


async def endpoint_for(db: AsyncDatabase[Document]) -> str:
    created = await WebhookEndpointRepository(db).create(
        district_id=DISTRICT,
        url="http://127.0.0.1:9/hook",
        event_types=[],
        description="restart test",
        created_by="test",
        owner_key_id="test",
    )
    return str(created["_id"])


async def wait_delivery(db: AsyncDatabase[Document], endpoint_id: str, event_id: str) -> None:
    deadline = time.monotonic() + 30
    while await db.webhook_deliveries.find_one({"_id": f"{endpoint_id}:{event_id}"}) is None:
        assert time.monotonic() < deadline, f"no webhook delivery of {event_id} was queued"
        await asyncio.sleep(0.2)


async def test_a_new_replica_streams_and_sends_no_old_event_again(
    replay_env: dict[str, str],
    replay_settings: PlatformSettings,
    replay_db: AsyncDatabase[Document],
    producer: AIOKafkaProducer,
    service_logs: Path,
) -> None:
    topic = replay_settings.topics().status
    endpoint_id = await endpoint_for(replay_db)
    now = datetime.now(UTC)
    old_request, recent_request = f"old-{uuid.uuid4().hex[:8]}", f"recent-{uuid.uuid4().hex[:8]}"
    old = [status_event(old_request, n, now - timedelta(hours=96 - 24 * (n - 1))) for n in (1, 2)]
    recent = [status_event(recent_request, n, now - timedelta(minutes=30 - n)) for n in (1, 2, 3)]
    for event in [*old, *recent]:
        await publish(producer, topic, event)
    # Not vacuous: a group starting at the log's beginning would read these events.
    in_topic = await read_whole_topic(
        replay_settings.kafka_bootstrap, topic, replay_settings.topics().status_partitions
    )
    assert {e.id for e in old + recent} <= {e.id for e in in_topic}

    operator = await ApiKeyRepository(replay_db).create(district_id=DISTRICT, role=Role.OPERATOR, subject="desk")
    headers = {"X-API-Key": operator}
    replica = ServiceProcess("notify", replay_env, service_logs)
    replica.start()
    try:
        url = f"{replica.url}/v1/districts/{DISTRICT}/events"
        async with sse(url, headers=headers) as stream:  # fresh: the history in memory, at their log positions
            history = await stream.take(len(old) + len(recent))
        assert [e.data["id"] for e in history] == [e.id for e in old + recent]
        async with sse(url, headers={**headers, "Last-Event-ID": history[-1].id}) as stream:
            # Same district, same partition: once this arrives, everything before it was read.
            marker = status_event(f"marker-{uuid.uuid4().hex[:8]}", 1, datetime.now(UTC))
            await publish(producer, topic, marker)
            first = await stream.next(within=30)
            assert first.data["id"] == marker.id, f"an old event was streamed as new: {first}"
            assert await stream.nothing_within(1.5)
        await wait_delivery(replay_db, endpoint_id, marker.id)
    finally:
        replica.stop()

    for event in old + recent:  # published before the group existed: no webhook for them
        assert await replay_db.webhook_deliveries.find_one({"_id": f"{endpoint_id}:{event.id}"}) is None


async def attempts_of(db: AsyncDatabase[Document], delivery_id: str) -> int:
    found = await db.webhook_deliveries.find_one({"_id": delivery_id})
    assert found is not None
    return int(found["attempts"])


async def test_a_replica_started_after_a_gap_handles_what_was_published_meanwhile(
    replay_env: dict[str, str],
    replay_settings: PlatformSettings,
    replay_db: AsyncDatabase[Document],
    producer: AIOKafkaProducer,
    service_logs: Path,
) -> None:
    topic = replay_settings.topics().status
    endpoint_id = await endpoint_for(replay_db)
    request_id = f"down-{uuid.uuid4().hex[:8]}"
    replica = ServiceProcess("notify", replay_env, service_logs)
    replica.start()
    try:
        first = status_event(request_id, 1, datetime.now(UTC))
        await publish(producer, topic, first)
        await wait_delivery(replay_db, endpoint_id, first.id)
    finally:
        replica.stop()
    stopped_at = await attempts_of(replay_db, f"{endpoint_id}:{first.id}")
    while_down = status_event(request_id, 2, datetime.now(UTC))
    await publish(producer, topic, while_down)
    await asyncio.sleep(1)
    assert await replay_db.webhook_deliveries.find_one({"_id": f"{endpoint_id}:{while_down.id}"}) is None
    # The first event's delivery was left pending between two failed attempts: nothing retries it now.
    left_at = await attempts_of(replay_db, f"{endpoint_id}:{first.id}")
    assert left_at == stopped_at
    another = ServiceProcess("notify", replay_env, service_logs)  # a new process: no name to keep
    another.start()
    try:
        await wait_delivery(replay_db, endpoint_id, while_down.id)
        # ... until a replica takes the pending deliveries up again (read once, then timers in memory).
        deadline = time.monotonic() + 30
        while await attempts_of(replay_db, f"{endpoint_id}:{first.id}") <= left_at:
            assert time.monotonic() < deadline, "the pending delivery was not taken up again"
            await asyncio.sleep(0.2)
    finally:
        another.stop()
