"""Webhook management: who may touch which endpoint, and which URLs are refused (as 422, never 500).

The refused URLs are literals that are never contacted; the accepted one is loopback, allowed here.
"""

from __future__ import annotations

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from shared.api_keys import Role
from shared.mongo import Document
from tests.integration.notify.conftest import key_of

pytestmark = pytest.mark.integration
HOOKS = "/v1/districts/chengzhong/webhooks"


@pytest.mark.parametrize(
    "url",
    [
        "http://100.100.100.200/latest/meta-data/",
        "http://100.64.0.1/hook",
        "http://[2002:a00:1::1]/hook",
        "http://[fec0::1]/hook",
        "http://127.0.0.1:99999/hook",
        "http://127.0.0.1:0/hook",
        "http://[::1/hook",
        "http://" + "a" * 64 + ".example/hook",
    ],
)
async def test_refused_targets_answer_422(
    notify_loopback: httpx.AsyncClient, db: AsyncDatabase[Document], url: str
) -> None:
    key = await key_of(db, Role.DISTRICT_ADMIN)

    response = await notify_loopback.post(HOOKS, json={"url": url}, headers={"X-API-Key": key})

    assert response.status_code == 422, response.text
    assert response.json()["code"] == "refused-url"
