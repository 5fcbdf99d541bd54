"""History from the real status log: a cursor older than memory is served from Kafka, one beyond it is reset."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import pytest
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete

from services.notify import status_log
from services.notify.domain.audiences import DistrictScope, RequestScope, Scope
from services.notify.domain.resume import position_before
from services.notify.feed import FeedHub
from services.notify.status_log import LogHistoryReader, StatusLogFollower
from services.notify.streams import ItemKind, StreamItem, StreamSource, stream_items
from shared.contracts import StatusChangedV1, new_event
from shared.kafka import EventPublisher, ensure_topics
from shared.settings import PlatformSettings
from tests.conftest import environment_for
from tests.infrastructure import Infrastructure

pytestmark = pytest.mark.integration
DISTRICT = "chengzhong"


@pytest.fixture(scope="module")
def log_settings(infrastructure: Infrastructure, run_id: str) -> PlatformSettings:
    # Topics of its own: records are deleted from them.
    return PlatformSettings(**environment_for(infrastructure, run_id, "l"))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
async def published(log_settings: PlatformSettings) -> AsyncIterator[list[str]]:
    """30 events of one district, requests r0-r2 in turn, plus events of other districts in between."""
    await ensure_topics(log_settings.kafka_bootstrap, log_settings.topics())
    publisher = EventPublisher(log_settings.kafka_bootstrap, 10.0)
    run = uuid.uuid4().hex[:6]
    ids = []
    for number in range(30):
        request_id = f"{run}-r{number % 3}"
        event = new_event(
            event_type="request.started",
            source="test",
            district_id=DISTRICT,
            request_id=request_id,
            event_id=f"{request_id}:{number}",
            data=StatusChangedV1(status="in_progress", sequence=number + 1),
        )
        await publisher.publish(log_settings.topics().status, event)
        ids.append(event.id)
        other = new_event(
            event_type="request.started",
            source="test",
            district_id=f"other-{number % 5}",
            request_id=request_id,  # same request id in another district: never mixed in
            event_id=f"other:{request_id}:{number}",
            data=StatusChangedV1(status="in_progress", sequence=number + 1),
        )
        await publisher.publish(log_settings.topics().status, other)
    await publisher.close()
    yield ids


@pytest.fixture
async def source(log_settings: PlatformSettings, published: list[str]) -> AsyncIterator[StreamSource]:
    """A replica that kept only the last 4 records of each partition in memory."""
    topic = log_settings.topics().status
    hub = FeedHub(recent_per_district=4)
    follower = StatusLogFollower(
        bootstrap=log_settings.kafka_bootstrap, topic=topic, hub=hub, backfill=4, horizon_refresh_seconds=0.2
    )
    reader = LogHistoryReader(bootstrap=log_settings.kafka_bootstrap, topic=topic, readers=2, timeout_seconds=30)
    await follower.start()
    running = asyncio.create_task(follower.run())
    await asyncio.wait_for(hub.ready.wait(), 30)
    yield StreamSource(hub, follower, reader)
    running.cancel()
    await asyncio.gather(running, return_exceptions=True)
    await reader.close()


async def items(source: StreamSource, scope: Scope, cursor: int | None, count: int) -> list[StreamItem]:
    stream = stream_items(
        source=source, district_id=DISTRICT, scope=scope, cursor=cursor, heartbeat_seconds=30, queue_size=64
    )
    try:
        return [await asyncio.wait_for(anext(stream), 30) for _ in range(count)]
    finally:
        await stream.aclose()


def event_id(item: StreamItem) -> str:
    assert item.kind is ItemKind.EVENT and item.live is not None
    return str(json.loads(item.live.ws)["data"]["id"])


async def test_a_cursor_older_than_memory_is_served_from_kafka_in_order(
    source: StreamSource, published: list[str]
) -> None:
    run = published[0].split("-r")[0]
    feed = source.hub.feed(DISTRICT)
    held = len(feed.history)  # the partition's last 4 records, some perhaps of other districts
    assert held <= 4
    fresh = await items(source, DistrictScope(), None, held)  # no cursor: only what memory holds
    from_start = position_before(feed.partition, source.hub.log_start[feed.partition])

    resident = await items(source, RequestScope(f"{run}-r1"), from_start, 10)
    operator = await items(source, DistrictScope(), from_start, 30)

    assert [event_id(i) for i in fresh] == published[30 - held :]
    assert [event_id(i) for i in resident] == published[1::3]
    assert [event_id(i) for i in operator] == published  # no other district's record, none twice
    positions = [i.position for i in operator]
    assert positions == sorted(positions)
    assert source.reader.records_read >= 26  # not from memory: everything before the last 4 records
    assert source.reader.served_from_scan == 1  # the operator's range lay inside the resident's scan
    # Where a district's stream looks before any of its records arrived: the producers' partitioner.
    assert all(source.hub.partition_of(i.live.district_id) == i.live.partition for i in operator if i.live)


async def test_history_read_in_blocks_is_whole_in_order_and_read_once_for_every_stream(
    source: StreamSource, published: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(status_log, "BLOCK_OFFSETS", 7)  # the partition's records span several blocks
    run = published[0].split("-r")[0]
    feed = source.hub.feed(DISTRICT)
    from_start = position_before(feed.partition, source.hub.log_start[feed.partition])

    first = [await items(source, RequestScope(f"{run}-r{n}"), from_start, 10) for n in range(3)]
    scanned = source.reader.records_read
    operator = await items(source, DistrictScope(), from_start, 30)
    again = await items(source, RequestScope(f"{run}-r2"), from_start, 10)

    for n, got in enumerate(first):
        assert [event_id(i) for i in got] == published[n::3]
    assert [event_id(i) for i in operator] == published  # across block boundaries: none missed, none twice
    assert [i.position for i in again] == [i.position for i in first[2]]
    assert source.reader.records_read == scanned  # every later stream was served from the blocks kept
    assert source.reader.served_from_scan >= 4


async def test_a_cursor_before_the_logs_start_gets_reset(
    source: StreamSource, log_settings: PlatformSettings, published: list[str]
) -> None:
    run = published[0].split("-r")[0]
    partition = source.hub.feed(DISTRICT).partition
    beginning = source.hub.log_start[partition]
    admin = AIOKafkaAdminClient(bootstrap_servers=log_settings.kafka_bootstrap)
    await admin.start()
    try:
        tp = TopicPartition(log_settings.topics().status, partition)
        await admin.delete_records({tp: RecordsToDelete(beginning + 10)})
    finally:
        await admin.close()
    for _ in range(50):  # the follower looks at the log's start every 0.2 s here
        if source.hub.log_start[partition] == beginning + 10:
            break
        await asyncio.sleep(0.1)

    (reset,) = await items(source, RequestScope(f"{run}-r0"), position_before(partition, beginning + 5), 1)
    still = await items(source, RequestScope(f"{run}-r0"), position_before(partition, beginning + 10), 1)

    assert reset.kind is ItemKind.RESET
    assert still[0].kind is ItemKind.EVENT
