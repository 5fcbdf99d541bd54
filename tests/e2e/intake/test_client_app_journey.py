"""A new client app: discover the menu, submit natively and through Open311, then follow the request."""

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


async def wait_for(client: httpx.AsyncClient, url: str, params: dict[str, str], ready: Any, within: float = 20) -> Any:
    deadline = asyncio.get_running_loop().time() + within
    body: Any = None
    while asyncio.get_running_loop().time() < deadline:
        response = await client.get(url, params=params)
        body = response.json()
        if response.status_code == 200 and ready(body):
            return body
        await asyncio.sleep(0.3)
    raise AssertionError(f"{url} never became ready; last answer {body}")


async def test_discover_submit_and_follow_natively(
    services: dict[str, ServiceProcess], intake_keys: dict[str, str]
) -> None:
    async with httpx.AsyncClient(base_url=services["intake"].url, timeout=30) as anonymous:
        directory = (await anonymous.get("/v1/districts/chengzhong/directory")).json()
        grid = directory["grids"][0]["id"]
        menu = (await anonymous.get(f"/v1/districts/chengzhong/grids/{grid}/menu")).json()
    item = next(entry for entry in menu if entry["code"] == "errand.medicine")

    headers = {"X-API-Key": intake_keys["client_app"]}
    async with httpx.AsyncClient(base_url=services["intake"].url, timeout=30, headers=headers) as app:
        submitted = await app.post(
            "/v1/districts/chengzhong/requests",
            json={"menu_item_code": item["code"], "grid_id": grid, "resident_name": "马秀英",
                  "resident_phone": "+86 137 0000 4321", "text": "降压药两盒"},
        )  # fmt: skip
        assert submitted.status_code == 202
        accepted = submitted.json()
        mine = await wait_for(
            app,
            "/v1/districts/chengzhong/residents/requests",
            {"phone": "13700004321", "access_token": accepted["access_token"]},
            lambda body: any(r["request_id"] == accepted["request_id"] and r["timeline"] for r in body),
        )
        detail = (await app.get(accepted["status_url"])).json()

    [request] = [r for r in mine if r["request_id"] == accepted["request_id"]]
    assert request["resident"]["phone"] == "+8613700004321"
    assert request["timeline"][0]["type"] == "request.received"
    assert detail["status"] != "submitted" and "resident" not in detail


async def test_an_off_the_shelf_open311_client_submits_and_follows(
    services: dict[str, ServiceProcess], intake_keys: dict[str, str]
) -> None:
    jurisdiction = {"jurisdiction_id": "chengzhong"}
    async with httpx.AsyncClient(base_url=f"{services['intake'].url}/open311/v2", timeout=30) as open311:
        services_list = (await open311.get("/services.json", params=jurisdiction)).json()
        code = next(s["service_code"] for s in services_list if s["service_code"] == "bill.phone")
        definition = (await open311.get(f"/services/{code}.json", params=jurisdiction)).json()
        grid = definition["attributes"][0]["values"][0]["key"]
        created = await open311.post(
            "/requests.json",
            data={"api_key": intake_keys["client_app"], **jurisdiction, "service_code": code,
                  "attribute[grid_id]": grid, "phone": "13600001111", "description": "交五十元话费"},
        )  # fmt: skip
        assert created.status_code == 201
        request_id = created.json()[0]["service_request_id"]
        followed = await wait_for(
            open311,
            f"/requests/{request_id}.json",
            {**jurisdiction, "api_key": intake_keys["operator"]},
            lambda body: body[0]["updated_datetime"],
        )

    assert followed[0]["service_code"] == "bill.phone"
    assert followed[0]["status"] == "open"
    assert followed[0]["requested_datetime"].endswith("+08:00")
    assert followed[0]["address_id"] == grid


async def test_volunteer_and_resident_drive_a_request_to_rated_through_intake(
    services: dict[str, ServiceProcess], intake_keys: dict[str, str], db: AsyncDatabase[Document]
) -> None:
    base = "/v1/districts/chengzhong"
    async with httpx.AsyncClient(base_url=services["intake"].url, timeout=30) as http:
        client = {"X-API-Key": intake_keys["client_app"]}
        accepted = (
            await http.post(
                f"{base}/requests",
                json={"menu_item_code": "errand.groceries", "grid_id": "xgll-01", "resident_name": "韩桂兰",
                      "resident_phone": "13500002222", "text": "五斤面"},
                headers=client,
            )
        ).json()  # fmt: skip
        request_id = accepted["request_id"]
        operator = {"X-API-Key": intake_keys["operator"]}
        detail_url = f"{base}/requests/{request_id}"

        async def status_becomes(wanted: str) -> dict[str, Any]:
            deadline = asyncio.get_running_loop().time() + 20
            detail: dict[str, Any] = {}
            while asyncio.get_running_loop().time() < deadline:
                detail = (await http.get(detail_url, headers=operator)).json()
                if detail["status"] == wanted:
                    return detail
                await asyncio.sleep(0.3)
            raise AssertionError(f"{request_id} never became {wanted}; last {detail.get('status')}")

        offered = await status_becomes("offered")
        [volunteer_id] = offered["offered_volunteer_ids"]
        volunteer_key = await ApiKeyRepository(db).create(
            district_id="chengzhong", role=Role.VOLUNTEER, subject=volunteer_id
        )
        volunteer = {"X-API-Key": volunteer_key}
        resident = {**client, "X-Access-Token": accepted["access_token"]}

        mine = (await http.get(f"{base}/volunteers/me/offers", headers=volunteer)).json()
        assert request_id in [offer["request_id"] for offer in mine]
        assert (await http.post(f"{detail_url}/offer/accept", json={}, headers=volunteer)).status_code == 202
        await status_becomes("assigned")
        assert (await http.post(f"{detail_url}/work/start", json={}, headers=volunteer)).status_code == 202
        await status_becomes("in_progress")
        done = await http.post(f"{detail_url}/work/complete", json={"note": "面送到了"}, headers=volunteer)
        assert done.status_code == 202
        await status_becomes("resolved")
        rated = await http.post(f"{detail_url}/rating", json={"stars": 5, "comment": "谢谢"}, headers=resident)
        assert rated.status_code == 202
        final = await status_becomes("rated")

    assert final["rating"]["stars"] == 5
    types = [event["type"] for event in final["timeline"]]
    assert types.index("request.assigned") < types.index("request.started") < types.index("request.resolved")
    assert types[-1] == "request.rated"
