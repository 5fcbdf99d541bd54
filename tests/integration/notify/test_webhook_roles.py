"""Who may manage webhooks: district admins every endpoint of their district, a client app only its own."""

from __future__ import annotations

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from shared.api_keys import Role
from shared.mongo import Document
from tests.integration.notify.conftest import key_of
from tests.integration.notify.test_webhooks_api import HOOKS

pytestmark = pytest.mark.integration


async def test_a_client_app_manages_only_its_own_endpoints(
    notify_loopback: httpx.AsyncClient, db: AsyncDatabase[Document]
) -> None:
    admin = {"X-API-Key": await key_of(db, Role.DISTRICT_ADMIN)}
    app = {"X-API-Key": await key_of(db, Role.CLIENT_APP)}
    other_app = {"X-API-Key": await key_of(db, Role.CLIENT_APP)}
    operator = {"X-API-Key": await key_of(db, Role.OPERATOR)}

    async def register(headers: dict[str, str]) -> str:
        response = await notify_loopback.post(HOOKS, json={"url": "http://127.0.0.1:9/hook"}, headers=headers)
        assert response.status_code == 201, response.text
        return str(response.json()["id"])

    admins, apps = await register(admin), await register(app)

    def listed(response: httpx.Response) -> set[str]:
        assert response.status_code == 200, response.text
        return {hook["id"] for hook in response.json()}

    assert {admins, apps} <= listed(await notify_loopback.get(HOOKS, headers=admin))
    assert listed(await notify_loopback.get(HOOKS, headers=app)) == {apps}
    assert not listed(await notify_loopback.get(HOOKS, headers=other_app)) & {admins, apps}
    assert (await notify_loopback.get(HOOKS, headers=operator)).status_code == 403

    for endpoint, headers in ((admins, app), (apps, other_app)):
        for method, path in (
            ("GET", f"{HOOKS}/{endpoint}/deliveries"),
            ("POST", f"{HOOKS}/{endpoint}/deliveries/replay"),
            ("POST", f"{HOOKS}/{endpoint}/deliveries/{endpoint}:e1/replay"),
            ("DELETE", f"{HOOKS}/{endpoint}"),
        ):
            response = await notify_loopback.request(method, path, headers=headers)
            assert response.status_code == 404, (method, path, response.text)

    assert (await notify_loopback.get(f"{HOOKS}/{apps}/deliveries", headers=app)).status_code == 200
    assert (await notify_loopback.delete(f"{HOOKS}/{apps}", headers=app)).status_code == 204
    assert (await notify_loopback.delete(f"{HOOKS}/{admins}", headers=admin)).status_code == 204
