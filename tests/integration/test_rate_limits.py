"""Every service limits per API key and per client address, failed authentication included: 429 problem+json
with Retry-After (Open311 in its own error shape)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from fastapi import FastAPI
from pymongo.asynchronous.database import AsyncDatabase

from services.console.api import create_app as console_app
from services.console.settings import ConsoleSettings
from services.dispatch.api import create_app as dispatch_app
from services.dispatch.settings import DispatchEngineSettings
from services.intake.api import create_app as intake_app
from services.notify.api import create_app as notify_app
from services.notify.settings import NotifySettings
from shared.api_keys import ApiKeyRepository, Role
from shared.mongo import Document
from shared.settings import IntakeSettings

pytestmark = pytest.mark.integration
PROBLEM = "application/problem+json"
WRONG_KEY = "gsp_0123456789abcdef_not-the-secret"
# An authenticated GET of each service that a district admin may call.
PATHS = {
    "intake": "/v1/districts/chengzhong/grids",
    "notify": "/v1/districts/chengzhong/webhooks",
    "console": "/console/api/me",
    "dispatch": "/v1/districts/chengzhong/requests/none/decisions",
}
Factory = Callable[[dict[str, str]], FastAPI]
FACTORIES: dict[str, Factory] = {
    "intake": lambda env: intake_app(IntakeSettings(**env)),  # type: ignore[arg-type]
    "notify": lambda env: notify_app(NotifySettings(**env)),  # type: ignore[arg-type]
    "console": lambda env: console_app(ConsoleSettings(**env)),  # type: ignore[arg-type]
    "dispatch": lambda env: dispatch_app(DispatchEngineSettings(**env)),  # type: ignore[arg-type]
}


def build(service: str, platform_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, **limits: str) -> FastAPI:
    env = {**platform_env, **limits}
    for name, value in env.items():  # dispatch reads its limits from the environment
        monkeypatch.setenv(name, value)
    return FACTORIES[service](env)


def client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service")


def assert_limited(response: httpx.Response) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["code"] == "rate-limited"
    assert int(response.headers["retry-after"]) >= 1


@pytest.mark.parametrize("service", list(FACTORIES))
async def test_failed_authentication_is_throttled_per_address(
    service: str, platform_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, db: AsyncDatabase[Document]
) -> None:
    app = build(service, platform_env, monkeypatch, GRID_AUTH_FAILURE_BURST="3", GRID_AUTH_FAILURES_PER_MINUTE="1")
    good = await ApiKeyRepository(db).create(district_id="chengzhong", role=Role.DISTRICT_ADMIN, subject="limits")
    async with client(app) as http:
        wrong = [(await http.get(PATHS[service], headers={"X-API-Key": WRONG_KEY})).status_code for _ in range(10)]
        after = await http.get(PATHS[service], headers={"X-API-Key": good})
        probe = await http.get("/healthz")

    assert wrong[:3] == [401, 401, 401]
    assert set(wrong[3:]) == {429}
    assert_limited(after)  # the address is blocked, whatever key it tries next
    assert int(after.headers["retry-after"]) > 30
    assert probe.status_code == 200  # health probes are never limited


@pytest.mark.parametrize("service", list(FACTORIES))
async def test_each_key_has_its_own_budget(
    service: str, platform_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, db: AsyncDatabase[Document]
) -> None:
    limits = {"GRID_RATE_PER_KEY_PER_SECOND": "0.5", "GRID_RATE_KEY_BURST": "2"}
    if service == "intake":
        limits = {"INTAKE_RATE_PER_SECOND": "0.5", "INTAKE_RATE_BURST": "2"}
    app = build(service, platform_env, monkeypatch, **limits)
    keys = ApiKeyRepository(db)
    first, second = [
        await keys.create(district_id="chengzhong", role=Role.DISTRICT_ADMIN, subject="limits") for _ in range(2)
    ]
    async with client(app) as http:
        statuses = [(await http.get(PATHS[service], headers={"X-API-Key": first})).status_code for _ in range(3)]
        other = await http.get(PATHS[service], headers={"X-API-Key": second})
        refused = await http.get(PATHS[service], headers={"Authorization": f"Bearer {first}"})

    assert statuses[:2] != [429, 429] and statuses[2] == 429
    assert other.status_code != 429
    assert_limited(refused)


@pytest.mark.parametrize("service", list(FACTORIES))
async def test_each_address_has_a_budget(
    service: str, platform_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    app = build(service, platform_env, monkeypatch, GRID_RATE_ADDRESS_BURST="3", GRID_RATE_PER_ADDRESS_PER_SECOND="0.1")
    async with client(app) as http:
        statuses = [(await http.get("/openapi.json")).status_code for _ in range(4)]
        refused = await http.get("/openapi.json")

    assert statuses == [200, 200, 200, 429]
    assert_limited(refused)


async def test_open311_clients_get_the_spec_error_shape(
    platform_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    app = build(
        "intake", platform_env, monkeypatch, GRID_RATE_ADDRESS_BURST="1", GRID_RATE_PER_ADDRESS_PER_SECOND="0.1"
    )
    async with client(app) as http:
        await http.get("/open311/v2/services.json", params={"jurisdiction_id": "chengzhong"})
        refused = await http.get("/open311/v2/services.json", params={"jurisdiction_id": "chengzhong"})

    assert refused.status_code == 429
    assert refused.json()[0]["code"] == 429
    assert "retry-after" in refused.headers
