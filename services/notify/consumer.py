"""Notify's consumer group: the replicas share the status partitions for side effects (webhooks, messages).

Streams do not depend on it: each replica follows the whole log itself (`status_log.py`). One group for
all replicas (NOTIFY_GROUP) means its committed offsets outlive any replica's name, so a replica renamed
by a rollout or added by a scale-up resumes where the group stopped and never sends old webhooks again.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, TopicPartition

from services.notify.webhooks import WebhookWorker
from shared.kafka import client_options

log = logging.getLogger(__name__)


class OnAssignment(ConsumerRebalanceListener):  # type: ignore[misc]
    """A partition the group never committed starts at the log's end, committed at once: a brand-new group
    sends no webhook or message for the days of events already in the topic, and a replica that dies before
    its first commit does not skip what came meanwhile. Every change of the assignment also takes up the
    pending webhook deliveries again, in case they belonged to a replica that left."""

    def __init__(self, consumer: AIOKafkaConsumer, worker: WebhookWorker) -> None:
        self._consumer = consumer
        self._worker = worker
        self._recovery: asyncio.Task[None] | None = None

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        return None

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        if not assigned:
            return
        fresh = [tp for tp in sorted(assigned) if await self._consumer.committed(tp) is None]
        if fresh:
            ends = await self._consumer.end_offsets(fresh)
            await self._consumer.commit({tp: ends[tp] for tp in fresh})
            for tp in fresh:
                self._consumer.seek(tp, ends[tp])
            log.info("new group: %s start at the log's end %s", fresh, ends)
        if self._recovery is None or self._recovery.done():
            self._recovery = asyncio.create_task(self._recover())

    async def _recover(self) -> None:
        try:
            found = await self._worker.recover()
            if found:
                log.info("took up %d pending webhook deliveries", found)
        except Exception:
            log.exception("taking up pending webhook deliveries failed; the next assignment retries")


def side_effect_consumer(bootstrap: str, topic: str, group: str, worker: WebhookWorker) -> AIOKafkaConsumer:
    """As `shared.kafka.manual_commit_consumer` (commits after the work), but a new group starts at the end."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=group,
        enable_auto_commit=False,
        auto_offset_reset="latest",
        isolation_level="read_committed",
        **client_options(),
    )
    consumer.subscribe([topic], listener=OnAssignment(consumer, worker))
    return consumer
