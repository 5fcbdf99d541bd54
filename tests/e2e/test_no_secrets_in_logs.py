"""An e2e run's service logs hold none of the secrets it used, however the client sent them.

Credentials go to notify in the query string (as EventSource must), as WebSocket subprotocols, and wrong
on purpose; to intake in headers and in Open311's `api_key` form field. Then every log of this run's
services is searched for every secret.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from pathlib import Path

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus, WebSocketException

from shared.api_keys import ApiKeyRepository, Role, split_key
from shared.mongo import Document
from shared.request_ids import access_token, mint_request_id
from tests.e2e.service_processes import ServiceProcess

pytestmark = pytest.mark.e2e


def log_of(process: ServiceProcess) -> Path:
    return process.log_dir / f"{process.name}-{process.port}.log"


async def open_ws(url: str, protocols: list[str] | None = None) -> str | None:
    """Connect, wait for the first message, close; the subprotocol the server chose (None if refused)."""
    try:
        async with connect(url, subprotocols=protocols, open_timeout=10) as websocket:  # type: ignore[arg-type]
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(websocket.recv(), 2)
            return websocket.subprotocol or ""
    except (InvalidStatus, WebSocketException):
        return None


async def test_no_secret_reaches_any_log(
    services: dict[str, ServiceProcess], db: AsyncDatabase[Document], platform_env: dict[str, str]
) -> None:
    keys = ApiKeyRepository(db)
    operator = await keys.create(district_id="chengzhong", role=Role.OPERATOR, subject="log-probe")
    client_app = await keys.create(district_id="chengzhong", role=Role.CLIENT_APP, subject="log-probe")
    wrong = f"gsp_{uuid.uuid4().hex[:16]}_{uuid.uuid4().hex}"
    signing_key = platform_env["GRID_ID_SIGNING_KEY"]
    request_id = mint_request_id(signing_key.encode(), "chengzhong")
    token = access_token(signing_key.encode(), request_id)
    notify = services["notify"].url.replace("http://", "ws://")

    by_query = await open_ws(f"{notify}/v1/districts/chengzhong/ws?api_key={operator}")
    by_protocol = await open_ws(f"{notify}/v1/districts/chengzhong/ws", ["grid.v1", f"grid.api-key.{operator}"])
    resident = await open_ws(f"{notify}/v1/districts/chengzhong/requests/{request_id}/ws?access_token={token}")
    refused = await open_ws(f"{notify}/v1/districts/chengzhong/ws?api_key={wrong}")
    async with httpx.AsyncClient(timeout=10) as http:
        async with http.stream(
            "GET", f"{services['notify'].url}/v1/districts/chengzhong/events", params={"api_key": operator}
        ) as stream:
            sse_status = stream.status_code
        await http.get(f"{services['intake'].url}/v1/districts/chengzhong/requests", headers={"X-API-Key": wrong})
        await http.post(
            f"{services['intake'].url}/open311/v2/requests.json",
            data={"jurisdiction_id": "chengzhong", "api_key": client_app, "service_code": "x"},
        )
    await asyncio.sleep(0.5)  # the servers write their last lines

    assert by_query == "" and by_protocol == "grid.v1" and resident == ""
    assert refused is None and sse_status == 200
    secrets = {
        "operator key": split_key(operator)[1],  # type: ignore[index]
        "client key": split_key(client_app)[1],  # type: ignore[index]
        "wrong key": wrong.rsplit("_", 1)[1],
        "access token": token,
        "signing key": signing_key,
    }
    logs = {process.name: log_of(process).read_text(errors="replace") for process in services.values()}
    leaks = [
        f"{name} in {service}" for service, text in logs.items() for name, secret in secrets.items() if secret in text
    ]
    assert not leaks
    assert "ws?api_key=[redacted]" in logs["notify"]  # the server did log those connects, redacted
