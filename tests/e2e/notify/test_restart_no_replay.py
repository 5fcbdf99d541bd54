"""A notify replica restarted under a new id (a new consumer group) does not store or stream old events again.

What this shows, on the real stack: the status topic holds events older than the history window that an
earlier replica stored and the sweep has since removed (simulated: stored through the repository, then
expired), plus events inside the window that are still stored. A replica with a never-seen id, whose group
has no committed offset and would start at the log's beginning, stores none of the old events again,
leaves the stored ones at their positions, and a stream opened at the head sees only what is published
afterwards. A second test shows the other side: a replica restarted under the same id still stores what
was published while it was down.

What it does not show: a Kubernetes rollout (no cluster here; the StatefulSet keeps ids stable there
anyway), and events older than the window that no replica ever stored, which are skipped by design
(services/notify/start_position.py).
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

from services.notify.repository import StatusEventRepository
from shared.api_keys import ApiKeyRepository, Role
from shared.contracts import EventEnvelope, StatusChangedV1, decode_data, new_event
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
HISTORY_HOURS = 48


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


def status_data(event: EventEnvelope) -> StatusChangedV1:
    data = decode_data(event)
    assert isinstance(data, StatusChangedV1)
    return data


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
    return {**environment_for(infrastructure, run_id, "r"), "NOTIFY_HISTORY_HOURS": str(HISTORY_HOURS)}


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


async def wait_stored(repository: StatusEventRepository, db: AsyncDatabase[Document], event_id: str) -> None:
    deadline = time.monotonic() + 30
    while await db.status_events.find_one({"_id": event_id}) is None:
        assert time.monotonic() < deadline, f"{event_id} was never stored"
        await asyncio.sleep(0.2)


async def test_a_replica_under_a_new_id_stores_and_streams_no_old_event_again(
    replay_env: dict[str, str],
    replay_settings: PlatformSettings,
    replay_db: AsyncDatabase[Document],
    producer: AIOKafkaProducer,
    service_logs: Path,
) -> None:
    topic = replay_settings.topics().status
    repository = StatusEventRepository(replay_db)
    await repository.ensure_indexes()
    now = datetime.now(UTC)
    old_request, recent_request = f"old-{uuid.uuid4().hex[:8]}", f"recent-{uuid.uuid4().hex[:8]}"
    # Four and three days old: stored by a replica back then, since swept out of the 48-hour history.
    old = [status_event(old_request, n, now - timedelta(hours=96 - 24 * (n - 1))) for n in (1, 2)]
    # Inside the window: still stored.
    recent = [status_event(recent_request, n, now - timedelta(minutes=30 - n)) for n in (1, 2, 3)]
    for event in [*old, *recent]:
        await publish(producer, topic, event)
    for event in old:
        await repository.record(event, status_data(event))
    assert await repository.expire(timedelta(0)) == len(old)
    for event in recent:
        await repository.record(event, status_data(event))
    positions = {d["_id"]: d["position"] async for d in replay_db.status_events.find({"request_id": recent_request})}
    floor, head = await repository.bounds(DISTRICT)
    assert floor == len(old) and head == len(old) + len(recent)
    # Not vacuous: a group starting at the log's beginning would read the old events.
    in_topic = await read_whole_topic(
        replay_settings.kafka_bootstrap, topic, replay_settings.topics().status_partitions
    )
    assert {e.id for e in old + recent} <= {e.id for e in in_topic}

    operator = await ApiKeyRepository(replay_db).create(district_id=DISTRICT, role=Role.OPERATOR, subject="desk")
    replica = ServiceProcess(
        "notify", {**replay_env, "NOTIFY_INSTANCE_ID": f"new-{uuid.uuid4().hex[:6]}"}, service_logs
    )
    replica.start()
    try:
        url = f"{replica.url}/v1/districts/{DISTRICT}/events"
        async with sse(url, headers={"X-API-Key": operator, "Last-Event-ID": str(head)}) as stream:
            # Same district, same partition: once this arrives, everything before it was consumed.
            marker = status_event(f"marker-{uuid.uuid4().hex[:8]}", 1, datetime.now(UTC))
            await publish(producer, topic, marker)
            first = await stream.next(within=30)
            assert first.data["id"] == marker.id, f"an old event was streamed as new: {first}"
            assert await stream.nothing_within(1.5)
    finally:
        replica.stop()

    for event in old:
        assert await replay_db.status_events.find_one({"_id": event.id}) is None, f"{event.id} stored again"
    after = {d["_id"]: d["position"] async for d in replay_db.status_events.find({"request_id": recent_request})}
    assert after == positions
    floor_after, head_after = await repository.bounds(DISTRICT)
    assert (floor_after, head_after) == (floor, head + 1)


async def test_a_replica_restarted_under_its_id_stores_what_was_published_while_it_was_down(
    replay_env: dict[str, str],
    replay_settings: PlatformSettings,
    replay_db: AsyncDatabase[Document],
    producer: AIOKafkaProducer,
    service_logs: Path,
) -> None:
    topic = replay_settings.topics().status
    repository = StatusEventRepository(replay_db)
    env = {**replay_env, "NOTIFY_INSTANCE_ID": f"steady-{uuid.uuid4().hex[:6]}"}
    request_id = f"down-{uuid.uuid4().hex[:8]}"
    replica = ServiceProcess("notify", env, service_logs)
    replica.start()
    try:
        first = status_event(request_id, 1, datetime.now(UTC))
        await publish(producer, topic, first)
        await wait_stored(repository, replay_db, first.id)
    finally:
        replica.stop()
    while_down = status_event(request_id, 2, datetime.now(UTC))
    await publish(producer, topic, while_down)
    await asyncio.sleep(1)
    assert await replay_db.status_events.find_one({"_id": while_down.id}) is None  # nobody else consumes
    restarted = ServiceProcess("notify", env, service_logs)
    restarted.start()
    try:
        await wait_stored(repository, replay_db, while_down.id)
    finally:
        restarted.stop()
