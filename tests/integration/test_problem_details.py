"""Every service answers errors as problem details, not FastAPI's default `{"detail": ...}`."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from services.console.api import create_app as console_app
from services.console.settings import ConsoleSettings
from services.dispatch.api import create_app as dispatch_app
from services.dispatch.settings import DispatchEngineSettings
from services.notify.api import create_app as notify_app
from services.notify.settings import NotifySettings

pytestmark = pytest.mark.integration


async def get(app: FastAPI, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://service") as client:
        return await client.get(path, headers=headers)


async def test_dispatch_audit_refuses_a_missing_key_as_a_problem(platform_env: dict[str, str]) -> None:
    response = await get(dispatch_app(DispatchEngineSettings(**platform_env)), "/v1/districts/chengzhong/fairness")  # type: ignore[arg-type]

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "http-401"


async def test_notify_names_the_invalid_parameter_in_a_problem(platform_env: dict[str, str]) -> None:
    response = await get(notify_app(NotifySettings(**platform_env)), "/v1/districts/chengzhong/events?after=-1")  # type: ignore[arg-type]

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert [error["field"] for error in response.json()["errors"]] == ["after"]


async def test_console_refuses_a_missing_key_as_a_problem(platform_env: dict[str, str]) -> None:
    response = await get(console_app(ConsoleSettings(**platform_env)), "/console/api/board")  # type: ignore[arg-type]

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "unauthenticated"
