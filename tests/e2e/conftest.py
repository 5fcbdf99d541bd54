"""The three services running as processes against the run's topics and database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from shared.mongo import Document
from tests.e2e.linked_heart import free_linked_heart  # noqa: F401 (a fixture for the tests below)
from tests.e2e.service_processes import ServiceProcess

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.fixture(scope="session")
def service_logs() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture(scope="session")
def services(
    platform_env: dict[str, str], db: AsyncDatabase[Document], service_logs: Path
) -> Iterator[dict[str, ServiceProcess]]:
    notify = ServiceProcess("notify", platform_env, service_logs)
    intake = ServiceProcess("intake", platform_env, service_logs)
    env = {**platform_env, "NOTIFY_PUBLIC_URL": notify.url, "INTAKE_PUBLIC_URL": intake.url}
    intake.env = env
    running = {"notify": notify, "dispatch": ServiceProcess("dispatch", env, service_logs), "intake": intake}
    try:
        for process in running.values():
            process.start()
        yield running
    finally:
        for process in running.values():
            process.stop()


@pytest.fixture(scope="session")
def console(
    services: dict[str, ServiceProcess], platform_env: dict[str, str], service_logs: Path
) -> Iterator[ServiceProcess]:
    """The operator console, pointed at the session's services."""
    env = {
        **platform_env,
        "INTAKE_INTERNAL_URL": services["intake"].url,
        "DISPATCH_INTERNAL_URL": services["dispatch"].url,
        "NOTIFY_INTERNAL_URL": services["notify"].url,
    }
    process = ServiceProcess("console", env, service_logs)
    process.start()
    yield process
    process.stop()
