"""SIGKILL dispatch while requests stream in: every request is received once and offered exactly once."""

from __future__ import annotations

import asyncio
from collections import defaultdict

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from pymongo.asynchronous.database import AsyncDatabase

from shared.contracts import REQUEST_RECEIVED, EventEnvelope
from shared.contracts.status import REQUEST_OFFERED
from shared.mongo import Document
from shared.settings import PlatformSettings
from tests.e2e.service_processes import ServiceProcess
from tests.e2e.test_request_flow import groceries, operator_headers

pytestmark = pytest.mark.e2e

REQUESTS = 40
KILL_AFTER = 10


async def read_whole_topic(bootstrap: str, topic: str, partition_count: int) -> list[EventEnvelope]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in range(partition_count)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        end = await consumer.end_offsets(partitions)
        events: list[EventEnvelope] = []
        while [tp for tp in partitions if await consumer.position(tp) < end[tp]]:
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                events.extend(EventEnvelope.from_bytes(record.value) for record in records)
        return events
    finally:
        await consumer.stop()


async def test_sigkill_of_dispatch_mid_stream_offers_every_request_exactly_once(
    services: dict[str, ServiceProcess], db: AsyncDatabase[Document], platform_settings: PlatformSettings
) -> None:
    grids = ["xgll-01", "xgll-02", "rmje-01", "rmje-02"]
    accepted: list[str] = []
    headers = await operator_headers(db)
    async with httpx.AsyncClient(base_url=services["intake"].url, timeout=30, headers=headers) as client:
        for number in range(REQUESTS):
            response = await client.post(
                "/v1/districts/chengzhong/requests", json=groceries(grids[number % len(grids)], text=f"crash {number}")
            )
            assert response.status_code == 202
            accepted.append(response.json()["request_id"])
            if number == KILL_AFTER:
                services["dispatch"].kill()
    services["dispatch"].start()

    deadline = asyncio.get_running_loop().time() + 90
    while asyncio.get_running_loop().time() < deadline:
        done = await db.requests.count_documents({"_id": {"$in": accepted}, "outbox": [], "status": "offered"})
        if done == REQUESTS:
            break
        await asyncio.sleep(0.5)

    documents = {d["_id"]: d async for d in db.requests.find({"_id": {"$in": accepted}})}
    assert len(documents) == REQUESTS
    for document in documents.values():
        assert document["status"] == "offered"
        types = [e["type"] for e in document["timeline"]]
        assert types.count(REQUEST_RECEIVED) == 1
        assert types.count(REQUEST_OFFERED) == 1
    published: dict[str, set[tuple[str, str]]] = defaultdict(set)
    topics = platform_settings.topics()
    for event in await read_whole_topic(platform_settings.kafka_bootstrap, topics.status, topics.status_partitions):
        if event.type == REQUEST_OFFERED and event.request_id in documents:
            published[event.request].add((event.id, event.data["volunteer_id"]))
    # At-least-once delivery may repeat an event, but never two different offers.
    assert {request_id: len(ids) for request_id, ids in published.items()} == {r: 1 for r in accepted}
    for request_id, ids in published.items():
        ((_, volunteer_id),) = ids
        assert [volunteer_id] == documents[request_id]["offered_volunteer_ids"]
