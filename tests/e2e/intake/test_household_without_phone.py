"""A household with no phone, served end to end through the running services: the building leader calls the
desk, the operator files for the household, its linked-heart volunteer takes it with the door and the leader's
number in hand, and the rating the leader gives on the phone is recorded as the operator acting for the resident."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from shared.api_keys import ApiKeyRepository, Role
from shared.mongo import Document
from tests.e2e.service_processes import ServiceProcess

pytestmark = pytest.mark.e2e
BASE = "/v1/districts/chengzhong"
HOUSEHOLD = "r-xgll-01-3-2-401"  # deploy/demo/chengzhong.yaml: 马秀兰, no phone; the test links a free volunteer
LEADER_PHONE = "13900000101"


async def eventually(read: Any, ready: Any, within: float = 30) -> Any:
    """Poll `read()` until `ready(answer)`; the services apply events asynchronously."""
    deadline = asyncio.get_running_loop().time() + within
    answer: Any = None
    while asyncio.get_running_loop().time() < deadline:
        answer = await read()
        if ready(answer):
            return answer
        await asyncio.sleep(0.3)
    raise AssertionError(f"not ready within {within}s; last answer {answer}")


async def test_filed_at_the_desk_served_by_the_linked_heart_and_rated_on_the_phone(
    services: dict[str, ServiceProcess], db: AsyncDatabase[Document], free_linked_heart: str
) -> None:
    keys = ApiKeyRepository(db)
    operator = await keys.create(district_id="chengzhong", role=Role.OPERATOR, subject="e2e-desk")
    url = services["intake"].url
    volunteer = await keys.create(district_id="chengzhong", role=Role.VOLUNTEER, subject=free_linked_heart)
    async with (
        httpx.AsyncClient(base_url=url, timeout=30, headers={"X-API-Key": operator}) as desk,
        httpx.AsyncClient(base_url=url, timeout=30, headers={"X-API-Key": volunteer}) as phone,
    ):
        caller = (await desk.get(f"{BASE}/desk/callers", params={"phone": LEADER_PHONE})).json()
        assert HOUSEHOLD in [h["resident_id"] for h in caller["households"]]

        filed = await desk.post(
            f"{BASE}/requests",
            json={"menu_item_code": "errand.medicine", "grid_id": "xgll-01", "resident_id": HOUSEHOLD,
                  "text": "楼长来电：马奶奶的降压药吃完了", "priority": "high"},
        )  # fmt: skip
        assert filed.status_code == 202, filed.text
        request_id = filed.json()["request_id"]
        detail_url = f"{BASE}/requests/{request_id}"

        async def offers() -> list[str]:
            return [r["request_id"] for r in (await phone.get(f"{BASE}/volunteers/me/offers")).json()]

        await eventually(offers, lambda ids: request_id in ids)
        offered = (await phone.get(detail_url)).json()
        assert "401" not in offered["household"]["address"]  # deciding: the neighbourhood only

        assert (await phone.post(f"{detail_url}/offer/accept", json={})).status_code == 202
        assigned = await eventually(lambda: phone.get(detail_url), lambda r: r.json().get("status") == "assigned")
        household = assigned.json()["household"]
        assert household["address"] == "香格里拉社区3栋2单元401"
        assert household["proxy"] == {"kind": "building_leader", "name": "李建国", "phone": "+8613900000101"}
        assert household["has_phone"] is False

        for step in ("work/start", "work/complete"):
            assert (await phone.post(f"{detail_url}/{step}", json={"note": "药已送到"})).status_code == 202
        await eventually(lambda: desk.get(detail_url), lambda r: r.json().get("status") == "resolved")

        rated = await desk.post(f"{detail_url}/rating", json={"stars": 5, "comment": "楼长转达：很满意"})
        assert rated.status_code == 202
        done = await eventually(lambda: desk.get(detail_url), lambda r: r.json().get("rating") is not None)
        assert done.json()["rating"] == {"stars": 5, "comment": "楼长转达：很满意"}
        assert "phone" not in done.json()["resident"] and done.json()["household"]["name"] == "马秀兰"

        again = (await desk.get(f"{BASE}/desk/callers", params={"phone": LEADER_PHONE})).json()
        [listed] = [h for h in again["households"] if h["resident_id"] == HOUSEHOLD]
        [recent] = [r for r in listed["recent_requests"] if r["request_id"] == request_id]
        assert recent["rating_stars"] == 5 and recent["menu_item"]["name_zh"] == "代购药品"

    stored = await db.requests.find_one({"_id": request_id})
    assert stored is not None and stored["resident_id"] == HOUSEHOLD
    [rating] = stored["ratings"]
    assert rating["by"].startswith("operator:") and rating["by"].endswith("on behalf of the resident")
