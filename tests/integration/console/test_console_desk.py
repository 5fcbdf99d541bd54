"""The desk's console routes: operators only, ids and actions checked before anything is forwarded, and a clear
503 problem when intake is down (the look-up, filing and phone ratings themselves run through intake: see
tests/integration/intake/test_households.py and the browser test)."""

from __future__ import annotations

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from shared.api_keys import ApiKeyRepository, Role
from shared.mongo import Document

pytestmark = pytest.mark.integration


async def key(db: AsyncDatabase[Document], role: Role = Role.OPERATOR, district: str = "chengzhong") -> dict[str, str]:
    return {"X-API-Key": await ApiKeyRepository(db).create(district_id=district, role=role, subject="desk-test")}


async def test_only_console_roles_look_callers_up(console: httpx.AsyncClient, db: AsyncDatabase[Document]) -> None:
    url, params = "/console/api/desk/callers", {"phone": "13900000101"}

    assert (await console.get(url, params=params)).status_code == 401
    assert (await console.get(url, params=params, headers=await key(db, Role.VOLUNTEER))).status_code == 403
    assert (await console.get(url, params=params, headers=await key(db, Role.CLIENT_APP))).status_code == 403


async def test_what_is_forwarded_is_checked_first(console: httpx.AsyncClient, db: AsyncDatabase[Document]) -> None:
    operator = await key(db)

    unknown = await console.post("/console/api/desk/requests/r1/close", json={}, headers=operator)
    traversal = await console.get("/console/api/desk/requests/..%2F..%2Fdistricts", headers=operator)
    no_phone = await console.get("/console/api/desk/callers", headers=operator)

    assert unknown.status_code == 422  # only rating, report-not-done and notes are taken on the phone here
    assert traversal.status_code in (404, 422)
    assert no_phone.status_code == 422


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/console/api/desk/callers?phone=13900000101"),
        ("GET", "/console/api/desk/requests/r1"),
        ("POST", "/console/api/desk/requests/r1/rating"),
    ],
)
async def test_a_503_problem_when_intake_is_unreachable(
    console: httpx.AsyncClient, db: AsyncDatabase[Document], method: str, path: str
) -> None:
    body = {"stars": 5} if method == "POST" else None
    response = await console.request(method, path, json=body, headers=await key(db))

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "intake-unavailable"
