"""Two notify replicas (each following the whole status log, sharing one group for webhooks) on the run's topics."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from shared.kafka import EventPublisher
from shared.mongo import Document, connect
from shared.settings import PlatformSettings
from tests.conftest import demo_database, environment_for
from tests.e2e.service_processes import ServiceProcess
from tests.infrastructure import Infrastructure

FAST_NOTIFY = {
    "NOTIFY_WEBHOOK_ALLOW_LOOPBACK": "true",
    "NOTIFY_WEBHOOK_BACKOFF_BASE_SECONDS": "0.2",
    "NOTIFY_WEBHOOK_BACKOFF_CAP_SECONDS": "1",
    "NOTIFY_WEBHOOK_MAX_ATTEMPTS": "3",
    "NOTIFY_WEBHOOK_TIMEOUT_SECONDS": "2",
    "NOTIFY_HEARTBEAT_SECONDS": "2",
    # The reset test moves the log's start (as retention would): replicas notice within this.
    "NOTIFY_HORIZON_REFRESH_SECONDS": "0.5",
}


# The notify tests get topics and a database of their own. In one run with the other e2e tests, the
# notify process of tests/e2e/conftest.py (other settings: no loopback webhooks, slower retries) would
# otherwise consume the same status events and claim these tests' webhook deliveries.
@pytest.fixture(scope="package", name="platform_env")
def notify_platform_env(infrastructure: Infrastructure, run_id: str) -> dict[str, str]:
    return environment_for(infrastructure, run_id, "n")


@pytest.fixture(scope="package", name="platform_settings")
def notify_platform_settings(platform_env: dict[str, str]) -> PlatformSettings:
    return PlatformSettings(**platform_env)  # type: ignore[arg-type]


@pytest.fixture(scope="package", name="mongo_client")
async def notify_mongo_client(platform_settings: PlatformSettings) -> AsyncIterator[AsyncMongoClient[Document]]:
    client = connect(platform_settings)
    yield client
    await client.drop_database(platform_settings.mongodb_database)
    await client.close()


@pytest.fixture(scope="package", name="db")
async def notify_db(
    mongo_client: AsyncMongoClient[Document], platform_settings: PlatformSettings
) -> AsyncDatabase[Document]:
    return await demo_database(mongo_client, platform_settings)


@pytest.fixture(scope="package")
def notify_replicas(
    platform_env: dict[str, str], db: object, service_logs: Path
) -> Iterator[tuple[ServiceProcess, ServiceProcess]]:
    env = {**platform_env, **FAST_NOTIFY}
    first = ServiceProcess("notify", env, service_logs)
    second = ServiceProcess("notify", env, service_logs)
    try:
        first.start()
        second.start()
        yield first, second
    finally:
        first.stop()
        second.stop()


@pytest.fixture(scope="package")
async def status_publisher(platform_settings: PlatformSettings) -> AsyncIterator[EventPublisher]:
    publisher = EventPublisher(platform_settings.kafka_bootstrap, 10.0)
    yield publisher
    await publisher.close()
