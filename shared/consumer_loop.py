"""The one way our services consume Kafka: handle, write, then commit; bad events to the dead-letter topic.

Offsets are committed only after the handler returned, so a crash at any point redelivers the event
and handlers must be idempotent. A transient outage (database or broker down) retries the same event
forever instead of skipping it; an event that cannot be parsed, or keeps failing for another reason,
is parked on the dead-letter topic with the error so that one bad event never blocks a partition.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, KafkaError
from pydantic import ValidationError
from pymongo.errors import ConnectionFailure

from shared import tracing
from shared.contracts.envelope import EventEnvelope, UnknownEventError, decode_data
from shared.kafka import BrokerUnavailable, EventPublisher

log = logging.getLogger(__name__)

EventHandler = Callable[[EventEnvelope], Awaitable[None]]


class RetryLater(RuntimeError):
    """Contention that passes (another writer holds the record for now): retry the same event, never park it."""


TRANSIENT_ERRORS = (RetryLater, ConnectionFailure, BrokerUnavailable, KafkaError, OSError, TimeoutError)
ATTEMPTS_BEFORE_DEAD_LETTER = 3


class ConsumerStats:
    def __init__(self) -> None:
        self.handled = 0
        self.dead_lettered = 0
        self.retries = 0
        # Messages behind the partition's high watermark after the last one handled, per partition.
        self.lag_by_partition: dict[tuple[str, int], int] = {}

    @property
    def lag(self) -> int:
        return sum(self.lag_by_partition.values())


async def _dead_letter(
    publisher: EventPublisher, topic: str, message: ConsumerRecord[bytes, bytes], error: str
) -> None:
    headers = list(message.headers or [])
    headers += [
        ("dead_letter_error", error[:1000].encode()),
        ("source_topic", message.topic.encode()),
        ("source_partition", str(message.partition).encode()),
        ("source_offset", str(message.offset).encode()),
    ]
    while True:
        try:
            await publisher.publish_raw(topic, message.key, message.value or b"", headers)
            return
        except BrokerUnavailable:
            log.warning("dead-letter topic unreachable; retrying")
            await asyncio.sleep(1.0)


async def _process(
    message: ConsumerRecord[bytes, bytes],
    handle: EventHandler,
    publisher: EventPublisher,
    dead_letter_topic: str,
    stats: ConsumerStats,
    retry_delay: float,
) -> None:
    try:
        envelope = EventEnvelope.from_bytes(message.value or b"")
        decode_data(envelope)
    except (ValidationError, UnknownEventError, ValueError) as exc:
        log.warning("unreadable event at %s:%s:%s: %s", message.topic, message.partition, message.offset, exc)
        await _dead_letter(publisher, dead_letter_topic, message, f"{type(exc).__name__}: {exc}")
        stats.dead_lettered += 1
        return
    failures = 0
    while True:
        try:
            await handle(envelope)
            stats.handled += 1
            # One line per handled event: with the trace id, it ties this service's work to the caller.
            log.info("handled %s", envelope.type, extra={"request_id": envelope.request_id, "event_id": envelope.id})
            return
        except TRANSIENT_ERRORS as exc:
            stats.retries += 1
            log.warning(
                "transient failure on %s, retrying: %r", envelope.id, exc, extra={"request_id": envelope.request_id}
            )
        except Exception as exc:
            failures += 1
            stats.retries += 1
            log.exception(
                "handler failed on %s (attempt %d)", envelope.id, failures, extra={"request_id": envelope.request_id}
            )
            if failures >= ATTEMPTS_BEFORE_DEAD_LETTER:
                await _dead_letter(publisher, dead_letter_topic, message, f"{type(exc).__name__}: {exc}")
                stats.dead_lettered += 1
                return
        await asyncio.sleep(retry_delay)


async def consume_forever(
    consumer: AIOKafkaConsumer,
    handle: EventHandler,
    *,
    publisher: EventPublisher,
    dead_letter_topic: str,
    stats: ConsumerStats,
    retry_delay: float = 1.0,
) -> None:
    async for message in consumer:
        token = tracing.activate(tracing.continue_from_headers(message.headers))
        try:
            await _process(message, handle, publisher, dead_letter_topic, stats, retry_delay)
        finally:
            tracing.deactivate(token)
        partition = TopicPartition(message.topic, message.partition)
        highwater = consumer.highwater(partition)
        if highwater is not None:
            stats.lag_by_partition[(message.topic, message.partition)] = max(highwater - message.offset - 1, 0)
        try:
            await consumer.commit({partition: message.offset + 1})
        except CommitFailedError:
            # The partition moved to another member during a rebalance; it will redeliver, harmlessly.
            log.info("commit refused after rebalance at %s:%s", message.topic, message.partition)
