"""Schemathesis against notify's, dispatch's and the console's own OpenAPI documents, as for intake:
no input gives a 5xx, and every answer matches the document (status, content type, schema).

Streams never open here (their operations get a key that may not stream), and webhook URLs whose host
is a name are replaced by a refused literal address, so nothing is resolved or called outside 127.0.0.1.
"""

from __future__ import annotations

import os
from typing import Any
from urllib.parse import urlsplit

import pytest
from pymongo.asynchronous.database import AsyncDatabase

from services.notify.domain.targets import ip_literal
from shared.api_keys import ApiKeyRepository, Role
from shared.mongo import Document
from tests.e2e.openapi_fuzz import aim_at, fuzz
from tests.e2e.service_processes import ServiceProcess

pytestmark = pytest.mark.e2e
MAX_EXAMPLES = int(os.environ.get("SERVICES_FUZZ_EXAMPLES", "15"))  # per operation (about 25 in all)
REFUSED_TARGET = "http://192.0.2.1/hook"  # TEST-NET-1: refused as not global, never contacted


@pytest.fixture(scope="module")
async def keys(db: AsyncDatabase[Document]) -> dict[Role, str]:
    repository = ApiKeyRepository(db)
    subjects = {Role.VOLUNTEER: "v-li-jianguo"}
    return {
        role: await repository.create(district_id="chengzhong", role=role, subject=subjects.get(role, "fuzz"))
        for role in (Role.DISTRICT_ADMIN, Role.CLIENT_APP, Role.VOLUNTEER)
    }


def webhook_url_kept_local(case: Any) -> None:
    if not isinstance(case.body, dict) or not isinstance(case.body.get("url"), str):
        return
    try:
        host = urlsplit(case.body["url"]).hostname
    except ValueError:
        return  # malformed: the service must refuse it as it is
    if host and ip_literal(host) is None:
        case.body["url"] = REFUSED_TARGET


def preparer(keys: dict[Role, str]) -> Any:
    aim = aim_at("chengzhong")

    def prepare(case: Any) -> dict[str, str]:
        aim(case)
        webhook_url_kept_local(case)
        path = case.operation.path
        if path.endswith("/events"):
            role = Role.CLIENT_APP  # may not open any stream: the answer comes at once
        elif path.startswith("/v1/volunteers/me"):
            role = Role.VOLUNTEER
        else:
            role = Role.DISTRICT_ADMIN
        return {"X-API-Key": keys[role]}

    return prepare


@pytest.mark.parametrize("name", ["notify", "dispatch", "console"])
def test_no_input_breaks_the_contract(
    name: str, services: dict[str, ServiceProcess], console: ServiceProcess, keys: dict[Role, str]
) -> None:
    process = console if name == "console" else services[name]

    run = fuzz(process.url, preparer(keys), max_examples=MAX_EXAMPLES)

    assert run.operations >= 2
    assert len(run.statuses) >= run.operations * 5  # the examples really ran
    assert any(200 <= status < 300 for status in run.statuses)  # and some got past validation and auth
    assert not run.failures, run.report()
