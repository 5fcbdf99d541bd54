"""Thin Kafka adapter: topic creation, an acknowledged publisher, and consumers that commit by hand."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaError
from aiokafka.helpers import create_ssl_context

from shared import tracing
from shared.contracts.envelope import EventEnvelope
from shared.contracts.topics import Topics
from shared.settings import KafkaSettings

log = logging.getLogger(__name__)

TOPIC_ALREADY_EXISTS = 36
# Below the broker's default message.max.bytes (1 MiB), so a full batch is always accepted.
MAX_BATCH_BYTES = 512 * 1024


class BrokerUnavailable(RuntimeError):
    """Kafka did not acknowledge in time; nothing may be reported as accepted."""


def client_options(settings: KafkaSettings | None = None) -> dict[str, Any]:
    """TLS and SASL options for any aiokafka client, from KAFKA_SECURITY_PROTOCOL and friends."""
    settings = settings or KafkaSettings()
    options: dict[str, Any] = {"security_protocol": settings.security_protocol}
    if settings.security_protocol in ("SSL", "SASL_SSL"):
        options["ssl_context"] = create_ssl_context(
            cafile=settings.ssl_cafile, certfile=settings.ssl_certfile, keyfile=settings.ssl_keyfile
        )
    if settings.security_protocol.startswith("SASL_"):
        assert settings.sasl_password is not None  # the settings' validator requires it
        options["sasl_mechanism"] = settings.sasl_mechanism
        options["sasl_plain_username"] = settings.sasl_username
        options["sasl_plain_password"] = settings.sasl_password.get_secret_value()
    return options


async def ensure_topics(
    bootstrap: str, topics: Topics, timeout_seconds: float = 30.0, settings: KafkaSettings | None = None
) -> None:
    """Create the platform's topics with explicit partition counts, min.insync.replicas and retention.

    Existing topics are left alone: change their configuration with kafka-configs.sh (docs/deployment.md).
    """
    settings = settings or KafkaSettings()
    configs = settings.topic_configs(topics)
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_seconds * 1000), **client_options(settings)
    )
    await asyncio.wait_for(admin.start(), timeout_seconds)
    try:
        existing = set(await admin.list_topics())
        missing = [
            NewTopic(
                name=name,
                num_partitions=count,
                replication_factor=topics.replication_factor,
                topic_configs=configs[name],
            )
            for name, count in topics.partition_counts().items()
            if name not in existing
        ]
        if not missing:
            return
        response = await admin.create_topics(missing)
        for topic_error in getattr(response, "topic_errors", getattr(response, "topics", [])):
            name, code = topic_error[0], topic_error[1]
            if code not in (0, TOPIC_ALREADY_EXISTS):
                raise RuntimeError(f"creating topic {name} failed with Kafka error code {code}")
        log.info("created topics %s", [t.name for t in missing])
    finally:
        await admin.close()


class EventPublisher:
    """Publishes envelopes keyed by district id with acks=all and idempotence.

    The producer starts lazily so that a service can boot while Kafka is down and answer 503 with a
    clear reason instead of refusing to start or hanging.
    """

    def __init__(self, bootstrap: str, timeout_seconds: float) -> None:
        self._bootstrap = bootstrap
        self._timeout = timeout_seconds
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def _started(self) -> AIOKafkaProducer:
        if self._producer is not None:
            return self._producer
        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self._bootstrap,
                    acks="all",
                    enable_idempotence=True,
                    linger_ms=2,
                    # One batch per partition is in flight (idempotence); the next fills meanwhile. At aiokafka's
                    # 16 KB, sixteen 1 KB events fill it and every further sender waits for the drain, which
                    # cost intake a third of its CPU per submission under load (bench/intake).
                    max_batch_size=MAX_BATCH_BYTES,
                    request_timeout_ms=int(self._timeout * 1000),
                    metadata_max_age_ms=60_000,
                    **client_options(),
                )
                try:
                    await asyncio.wait_for(producer.start(), self._timeout)
                except (TimeoutError, KafkaError, OSError) as exc:
                    await producer.stop()
                    raise BrokerUnavailable(f"Kafka at {self._bootstrap} is unreachable: {exc!r}") from exc
                self._producer = producer
        return self._producer

    @staticmethod
    def _headers(event: EventEnvelope, traceparent: str | None = None) -> list[tuple[str, bytes]]:
        headers: list[tuple[str, bytes]] = [
            ("type", event.type.encode()),
            ("schema_version", str(event.schema_version).encode()),
        ]
        trace = tracing.current()
        if traceparent is None and trace is not None:
            traceparent = trace.traceparent()
        if traceparent is not None:
            headers.append((tracing.TRACEPARENT_HEADER, traceparent.encode()))
        return headers

    async def publish_many(
        self, topic: str, events: list[EventEnvelope], traceparents: Mapping[str, str] | None = None
    ) -> None:
        """Send every event at once and wait for all acknowledgements: one round trip for a batch, in order
        per key (the producer is idempotent), instead of one awaited send per event. `traceparents` (by
        event id) carries each event's own trace when the batch mixes several callers' work."""
        if not events:
            return
        producer = await self._started()
        traces = traceparents or {}
        try:
            pending = [
                await producer.send(
                    topic, e.to_bytes(), key=e.district_id.encode(), headers=self._headers(e, traces.get(e.id))
                )
                for e in events
            ]
            await asyncio.wait_for(asyncio.gather(*pending), self._timeout)
        except (TimeoutError, KafkaError, OSError) as exc:
            raise BrokerUnavailable(f"Kafka did not acknowledge within {self._timeout:g}s: {exc!r}") from exc

    async def publish(self, topic: str, event: EventEnvelope) -> None:
        """Return only after the broker acknowledged the write; raise BrokerUnavailable otherwise."""
        producer = await self._started()
        headers = self._headers(event)
        try:
            # asyncio.timeout rather than wait_for: no extra task per event on intake's hot path.
            async with asyncio.timeout(self._timeout):
                await producer.send_and_wait(topic, event.to_bytes(), key=event.district_id.encode(), headers=headers)
        except (TimeoutError, KafkaError, OSError) as exc:
            raise BrokerUnavailable(f"Kafka did not acknowledge within {self._timeout:g}s: {exc!r}") from exc

    async def publish_raw(self, topic: str, key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]) -> None:
        producer = await self._started()
        try:
            await asyncio.wait_for(producer.send_and_wait(topic, value, key=key, headers=headers), self._timeout)
        except (TimeoutError, KafkaError, OSError) as exc:
            raise BrokerUnavailable(f"Kafka did not acknowledge within {self._timeout:g}s: {exc!r}") from exc

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None


def manual_commit_consumer(bootstrap: str, topic: str, group_id: str, **options: Any) -> AIOKafkaConsumer:
    """A consumer that never commits on its own: the loop commits after the database write."""
    return AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
        **{**client_options(), **options},
    )
