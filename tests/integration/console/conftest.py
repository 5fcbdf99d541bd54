"""The console in process on the run's database."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from services.console.api import create_app
from services.console.settings import ConsoleSettings
from tests.e2e.service_processes import free_port


@pytest.fixture(scope="package")
async def console(platform_env: dict[str, str]) -> AsyncIterator[httpx.AsyncClient]:
    # No intake or notify runs at these addresses: the console must say so instead of failing.
    env = {
        **platform_env,
        "INTAKE_INTERNAL_URL": f"http://127.0.0.1:{free_port()}",
        "NOTIFY_INTERNAL_URL": f"http://127.0.0.1:{free_port()}",
    }
    app = create_app(ConsoleSettings(**env))  # type: ignore[arg-type]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://console") as client:
        yield client
