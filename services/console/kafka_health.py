"""Consumer lag per group and partition, and the dead-letter count, read from the broker itself."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from shared.contracts import Topics
from shared.kafka import client_options


@dataclass(frozen=True)
class PartitionLag:
    group: str
    topic: str
    partition: int
    committed: int
    end: int

    @property
    def lag(self) -> int:
        return max(self.end - self.committed, 0)


@dataclass(frozen=True)
class KafkaHealth:
    lags: list[PartitionLag]
    dead_letters: int


async def read_health(
    bootstrap: str, topics: Topics, group_prefixes: list[str], wait_seconds: float = 5.0
) -> KafkaHealth:
    """Lag of every group named by a prefix and the dead-letter count."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=int(wait_seconds * 1000), **client_options()
    )
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, **client_options())
    await asyncio.wait_for(admin.start(), wait_seconds)
    try:
        await asyncio.wait_for(consumer.start(), wait_seconds)
        listed = await admin.list_consumer_groups()
        groups = sorted({str(g[0]) for g in listed if any(str(g[0]).startswith(p) for p in group_prefixes)})
        committed: dict[str, dict[TopicPartition, int]] = {}
        for group in groups:
            offsets = await admin.list_consumer_group_offsets(group)
            committed[group] = {tp: meta.offset for tp, meta in offsets.items() if meta.offset >= 0}
        # Asking offsets of a topic that does not exist (yet) would wait for metadata that never comes.
        existing = set(await admin.list_topics())
        dead_letter = [
            TopicPartition(topics.dead_letter, p)
            for p in range(topics.dead_letter_partitions)
            if topics.dead_letter in existing
        ]
        partitions = sorted({tp for offsets in committed.values() for tp in offsets} | set(dead_letter))
        ends = await asyncio.wait_for(consumer.end_offsets(partitions), wait_seconds) if partitions else {}
        beginnings = (
            await asyncio.wait_for(consumer.beginning_offsets(dead_letter), wait_seconds) if dead_letter else {}
        )
        lags = [
            PartitionLag(group, tp.topic, tp.partition, offset, ends[tp])
            for group, offsets in committed.items()
            for tp, offset in sorted(offsets.items())
        ]
        dead_letters = sum(ends[tp] - beginnings[tp] for tp in dead_letter)
        return KafkaHealth(lags, dead_letters)
    finally:
        await consumer.stop()
        await admin.close()
