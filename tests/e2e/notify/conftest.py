"""Two notify replicas (each consuming every status event in its own group) on the run's topics and database."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from shared.kafka import EventPublisher
from shared.settings import PlatformSettings
from tests.e2e.service_processes import ServiceProcess

FAST_NOTIFY = {
    "NOTIFY_WEBHOOK_ALLOW_LOOPBACK": "true",
    "NOTIFY_WEBHOOK_BACKOFF_BASE_SECONDS": "0.2",
    "NOTIFY_WEBHOOK_BACKOFF_CAP_SECONDS": "1",
    "NOTIFY_WEBHOOK_MAX_ATTEMPTS": "3",
    "NOTIFY_WEBHOOK_POLL_SECONDS": "0.1",
    "NOTIFY_WEBHOOK_TIMEOUT_SECONDS": "2",
    "NOTIFY_HEARTBEAT_SECONDS": "2",
    "NOTIFY_GAP_TIMEOUT_SECONDS": "1",
}


@pytest.fixture(scope="session")
def notify_replicas(
    platform_env: dict[str, str], db: object, service_logs: Path
) -> Iterator[tuple[ServiceProcess, ServiceProcess]]:
    env = {**platform_env, **FAST_NOTIFY}
    first = ServiceProcess("notify", {**env, "NOTIFY_INSTANCE_ID": "replica-a"}, service_logs)
    second = ServiceProcess("notify", {**env, "NOTIFY_INSTANCE_ID": "replica-b"}, service_logs)
    try:
        first.start()
        second.start()
        yield first, second
    finally:
        first.stop()
        second.stop()


@pytest.fixture(scope="session")
async def status_publisher(platform_settings: PlatformSettings) -> AsyncIterator[EventPublisher]:
    publisher = EventPublisher(platform_settings.kafka_bootstrap, 10.0)
    yield publisher
    await publisher.close()
