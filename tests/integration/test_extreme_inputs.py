"""Valid-looking but extreme input is a 4xx problem on every service, never a 500.

Dates at the ends of the calendar with the widest offsets cannot be converted to UTC (or one window away
from them); `²` is a digit to `str.isdigit` but not to `int`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator

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
EXTREMES = ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00", "9999-12-31T23:59:59"]


@pytest.fixture(scope="module")
async def clients(platform_env: dict[str, str], db: AsyncDatabase[Document]) -> AsyncIterator[dict[str, object]]:
    apps: dict[str, FastAPI] = {
        "intake": intake_app(IntakeSettings(**platform_env)),  # type: ignore[arg-type]
        "dispatch": dispatch_app(DispatchEngineSettings(**platform_env)),  # type: ignore[arg-type]
        "notify": notify_app(NotifySettings(**platform_env)),  # type: ignore[arg-type]
        "console": console_app(ConsoleSettings(**platform_env)),  # type: ignore[arg-type]
    }
    key = await ApiKeyRepository(db).create(district_id="chengzhong", role=Role.OPERATOR, subject="extremes")
    opened = {
        name: httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app), base_url=f"http://{name}", headers={"X-API-Key": key}
        )
        for name, app in apps.items()
    }
    yield {**opened, "key": key}
    for client in opened.values():
        await client.aclose()


def client(clients: dict[str, object], name: str) -> httpx.AsyncClient:
    found = clients[name]
    assert isinstance(found, httpx.AsyncClient)
    return found


def assert_client_error(response: httpx.Response) -> None:
    assert 400 <= response.status_code < 500, (response.status_code, response.text[:300])


@pytest.mark.parametrize("moment", EXTREMES)
@pytest.mark.parametrize(
    ("service", "path", "parameter"),
    [
        ("intake", "/v1/districts/chengzhong/requests", "submitted_from"),
        ("intake", "/v1/districts/chengzhong/requests", "submitted_to"),
        ("intake", "/open311/v2/requests.json?jurisdiction_id=chengzhong", "start_date"),
        ("intake", "/open311/v2/requests.json?jurisdiction_id=chengzhong", "end_date"),
        ("console", "/console/api/rates", "start"),
        ("console", "/console/api/rates", "end"),
        ("dispatch", "/v1/districts/chengzhong/fairness?grid_id=xgll-01", "start"),
        ("dispatch", "/v1/districts/chengzhong/fairness?grid_id=xgll-01", "end"),
    ],
)
async def test_extreme_dates_are_refused(
    clients: dict[str, object], service: str, path: str, parameter: str, moment: str
) -> None:
    response = await client(clients, service).get(path, params={parameter: moment})
    assert_client_error(response)


@pytest.mark.parametrize("moment", EXTREMES)
async def test_a_cursor_with_an_extreme_date_is_refused(clients: dict[str, object], moment: str) -> None:
    cursor = base64.urlsafe_b64encode(json.dumps([moment, "x"]).encode()).decode().rstrip("=")
    response = await client(clients, "intake").get("/v1/districts/chengzhong/requests", params={"cursor": cursor})
    assert_client_error(response)


@pytest.mark.parametrize("last_event_id", ["²", "x:²", "٣", "1" * 40])
@pytest.mark.parametrize(
    "path", ["/v1/districts/chengzhong/events", "/v1/volunteers/me/events", "/v1/requests/abc/events"]
)
async def test_odd_last_event_ids_are_not_server_errors(
    clients: dict[str, object], path: str, last_event_id: str
) -> None:
    # Without a valid credential the stream is refused: what matters is that parsing came first and held.
    response = await client(clients, "notify").get(
        path, headers=[(b"Last-Event-ID", last_event_id.encode()), (b"X-API-Key", b"gsp_0000000000000000_wrong")]
    )
    assert_client_error(response)


async def test_a_huge_after_is_refused(clients: dict[str, object]) -> None:
    response = await client(clients, "notify").get("/v1/districts/chengzhong/events", params={"after": 10**30})
    assert_client_error(response)


async def test_a_non_ascii_content_length_is_refused(clients: dict[str, object]) -> None:
    response = await client(clients, "intake").post(
        "/v1/districts/chengzhong/requests", content=b"{}", headers=[(b"Content-Length", "²".encode())]
    )
    assert_client_error(response)
