"""Topics are created on the real broker with min.insync.replicas and retention from the settings."""

from __future__ import annotations

import uuid

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from shared.contracts.topics import Topics
from shared.kafka import ensure_topics
from shared.settings import KafkaSettings
from tests.infrastructure import Infrastructure

pytestmark = pytest.mark.integration


async def test_created_topics_carry_retention_and_min_insync_replicas(infrastructure: Infrastructure) -> None:
    topics = Topics(prefix=f"cfg{uuid.uuid4().hex[:8]}.")
    settings = KafkaSettings(KAFKA_STATUS_RETENTION_HOURS="50", KAFKA_MIN_INSYNC_REPLICAS="1")
    await ensure_topics(infrastructure.kafka_bootstrap, topics, settings=settings)
    admin = AIOKafkaAdminClient(bootstrap_servers=infrastructure.kafka_bootstrap)
    await admin.start()
    try:
        names = [topics.requests, topics.status, topics.dead_letter]
        responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, n) for n in names])
        found: dict[str, dict[str, str]] = {}
        for response in responses:
            for resource in response.resources:
                # (error_code, error_message, resource_type, resource_name, config_entries)
                found[resource[3]] = {entry[0]: entry[1] for entry in resource[4]}
        assert found[topics.status]["retention.ms"] == str(50 * 3_600_000)
        assert found[topics.requests]["retention.ms"] == str(168 * 3_600_000)
        assert found[topics.dead_letter]["retention.ms"] == str(720 * 3_600_000)
        assert {found[n]["min.insync.replicas"] for n in names} == {"1"}
        await admin.delete_topics(names)
    finally:
        await admin.close()
