"""A request served by text messages alone: offers answered by a volunteer's SMS, a rating texted by the resident.

Intake, dispatch and notify run as processes on the real Kafka and database (their own topics and database),
notify sending through the Twilio adapter to a stand-in on 127.0.0.1; the test plays the provider's inbound
webhook, signed as Twilio signs it, for every text a person sends back.
"""

from __future__ import annotations

import asyncio
import secrets
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from services.admin import reference_data
from services.intake.routes.inbound_messages import TWILIO_PATH
from shared.api_keys import ApiKeyRepository, Role
from shared.gateways.twilio_signature import SIGNATURE_HEADER, twilio_signature
from shared.mongo import Document, connect, database
from shared.settings import PlatformSettings
from tests.conftest import environment_for
from tests.e2e.service_processes import ServiceProcess
from tests.infrastructure import Infrastructure
from tests.twilio_standin import Received, TwilioStandIn, running_twilio

pytestmark = pytest.mark.e2e
DISTRICT = "chengbei"
RESIDENT = "+8613912340001"
FIRST_VOLUNTEER = ("v-cb-bai", "白雪", "+8613912340002")
SECOND_VOLUNTEER = ("v-cb-ouyang", "欧阳建华", "+8613912340003")
PROXY = "+8613912340009"  # the building leader of a household without a phone
SPEC: dict[str, Any] = {
    "district": {"id": DISTRICT, "name_zh": "城北区", "name_en": "Chengbei District"},
    "street_offices": [{"id": "cb-street", "name_zh": "朝阳街道", "name_en": "Chaoyang Street Office"}],
    "communities": [
        {
            "id": "cb-river",
            "street_office_id": "cb-street",
            "name_zh": "北川河东路社区",
            "name_en": "Beichuan River East",
        }
    ],
    "grids": [{"id": "cb-01", "community_id": "cb-river", "name_zh": "河东第一网格", "name_en": "River East Grid 1"}],
    "volunteers": [
        {"id": vid, "grid_id": "cb-01", "name": name, "phone": phone, "skills": ["errand"]}
        for vid, name, phone in (FIRST_VOLUNTEER, SECOND_VOLUNTEER)
    ],
    "residents": [
        {
            "id": "r-cb-01-7-1-101",
            "grid_id": "cb-01",
            "building": "7栋",
            "unit": "1单元",
            "household": "101",
            "address": "北川河东路社区7栋1单元101",
            "name": "马秀兰",
            "phone": None,
            "language": "zh",
            "proxy": {"kind": "building_leader", "name": "李楼长", "phone": PROXY},
            "vulnerabilities": ["lives_alone", "hearing"],
        }
    ],
    "menu": [
        {
            "code": "errand.medicine",
            "name_zh": "代购药品",
            "name_en": "Buy medicine",
            "category": "errand",
            "required_skills": ["errand"],
        }
    ],
}


@dataclass
class Stack:
    intake: ServiceProcess
    twilio: TwilioStandIn
    db: AsyncDatabase[Document]
    keys: dict[str, str]

    async def text(self, sender: str, body: str, *, sign_with: str | None = None) -> httpx.Response:
        """What Twilio POSTs to intake when `sender` texts `body` to our number."""
        form = {
            "MessageSid": "SM" + secrets.token_hex(16),
            "AccountSid": self.twilio.account_sid,
            "From": sender,
            "To": self.twilio.number,
            "Body": body,
            "NumMedia": "0",
        }
        url = self.intake.url + TWILIO_PATH
        signature = twilio_signature(sign_with or self.twilio.auth_token, url, form.items())
        async with httpx.AsyncClient() as client:
            return await client.post(url, data=form, headers={SIGNATURE_HEADER: signature})


@pytest.fixture(scope="module")
async def stack(infrastructure: Infrastructure, run_id: str, service_logs: Path) -> AsyncIterator[Stack]:
    env = environment_for(infrastructure, run_id, "sms")
    client = connect(PlatformSettings(**env))  # type: ignore[arg-type]
    db = database(client, PlatformSettings(**env))  # type: ignore[arg-type]
    await reference_data.load(db, SPEC)  # before dispatch starts: it reads the roster when it takes the district
    keys = ApiKeyRepository(db)
    client_key = await keys.create(district_id=DISTRICT, role=Role.CLIENT_APP, subject="sms-e2e")
    operator_key = await keys.create(district_id=DISTRICT, role=Role.OPERATOR, subject="sms-e2e-desk")
    volunteer_keys = {
        vid: await keys.create(district_id=DISTRICT, role=Role.VOLUNTEER, subject=vid)
        for vid, _, _ in (FIRST_VOLUNTEER, SECOND_VOLUNTEER)
    }
    async with running_twilio() as twilio:
        intake = ServiceProcess("intake", {}, service_logs)
        env = {
            **env,
            **twilio.environment(),
            "INTAKE_PUBLIC_URL": intake.url,
            "NOTIFY_SMS_BACKOFF_BASE_SECONDS": "0.5",
        }
        intake.env = env
        processes = [ServiceProcess("notify", env, service_logs), ServiceProcess("dispatch", env, service_logs), intake]
        try:
            for process in processes:
                process.start()
            yield Stack(intake, twilio, db, {"client": client_key, "operator": operator_key, **volunteer_keys})
        finally:
            for process in processes:
                process.stop()
            await client.drop_database(db.name)
            await client.close()


def to(phone: str) -> Callable[[Received], bool]:
    return lambda message: message.to == phone


def contains(phone: str, words: str) -> Callable[[Received], bool]:
    return lambda message: message.to == phone and words in message.text


async def first_offer(twilio: TwilioStandIn, after: int = 0) -> tuple[str, str, Received]:
    """Whichever volunteer dispatch asked first (its fairness order decides), and the offer they got."""
    volunteers = (FIRST_VOLUNTEER[2], SECOND_VOLUNTEER[2])
    offer = await twilio.wait_for(lambda m: m.to in volunteers and "回复1" in m.text, after=after)
    vid, _, phone = FIRST_VOLUNTEER if offer.to == FIRST_VOLUNTEER[2] else SECOND_VOLUNTEER
    return vid, phone, offer


async def rated_by_dispatch(db: AsyncDatabase[Document], request_id: str) -> None:
    for _ in range(120):
        document = await db.requests.find_one({"_id": request_id}, {"rating": 1})
        if document is not None and document.get("rating"):
            return
        await asyncio.sleep(0.25)
    raise AssertionError("dispatch did not record the rating within 30 s")


def given(volunteer_id: str) -> str:
    return {FIRST_VOLUNTEER[0]: "雪", SECOND_VOLUNTEER[0]: "建华"}[volunteer_id]


async def test_decline_accept_and_rate_all_by_text(stack: Stack) -> None:
    async with httpx.AsyncClient(base_url=stack.intake.url, timeout=30) as intake:
        submitted = await intake.post(
            f"/v1/districts/{DISTRICT}/requests",
            headers={"X-API-Key": stack.keys["client"]},
            json={
                "menu_item_code": "errand.medicine",
                "grid_id": "cb-01",
                "resident_name": "王秀英",
                "resident_phone": RESIDENT,
                "text": "请帮我买降压药",
            },
        )
        assert submitted.status_code == 202, submitted.text
        request_id = submitted.json()["request_id"]

        declining, declining_phone, offer = await first_offer(stack.twilio)
        assert offer.text == "新求助：代购药品（河东第一网格）。回复1接单，回复2不接。"
        unclear = await stack.text(declining_phone, "好的")
        assert unclear.status_code == 200 and "请回复1接单，或回复2不接。" in unclear.text
        declined = await stack.text(declining_phone, "2")
        assert declined.status_code == 200 and "这单我们另找人" in declined.text

        accepting = SECOND_VOLUNTEER[0] if declining == FIRST_VOLUNTEER[0] else FIRST_VOLUNTEER[0]
        accepting_phone = SECOND_VOLUNTEER[2] if declining == FIRST_VOLUNTEER[0] else FIRST_VOLUNTEER[2]
        await stack.twilio.wait_for(to(accepting_phone))
        accepted = await stack.text(accepting_phone, "１")  # typed full-width
        assert accepted.status_code == 200 and "正在为您确认接单" in accepted.text
        await stack.twilio.wait_for(contains(accepting_phone, "这单交给您了：代购药品（河东第一网格）"))
        told = await stack.twilio.wait_for(contains(RESIDENT, "已接下"))
        assert f"志愿者{given(accepting)}" in told.text and "代购药品" in told.text

        work = {"X-API-Key": stack.keys[accepting]}
        for step, resident_hears in (("start", "已开始"), ("complete", "已办好")):
            path = f"/v1/districts/{DISTRICT}/requests/{request_id}/work/{step}"
            response = await intake.post(path, headers=work, json={})
            assert response.status_code == 202, response.text
            # "complete" is legal only once "start" is applied: the resident's message says it was
            await stack.twilio.wait_for(contains(RESIDENT, resident_hears))

        rated = await stack.text(RESIDENT, "5")
        assert rated.status_code == 200 and "谢谢您的评价" in rated.text
        await rated_by_dispatch(stack.db, request_id)
        again = await stack.text(RESIDENT, "4")
        assert again.status_code == 200 and "已经评过分了" in again.text

    document = await stack.db.requests.find_one({"_id": request_id})
    assert document is not None and document["rating"]["stars"] == 5
    assert document["assigned_volunteer_id"] == accepting and declining in document["tried_volunteer_ids"]
    texts = [m.text for m in stack.twilio.received]
    assert not any("errand." in t or "v-cb" in t or request_id in t for t in texts)  # readable, no codes or ids


async def test_a_household_without_a_phone_is_served_through_its_proxy_by_text(stack: Stack) -> None:
    """Filed at the desk for a household with no phone: the building leader gets the messages to pass on
    and texts the rating back; the volunteer accepts by text."""
    before = len(stack.twilio.received)
    async with httpx.AsyncClient(base_url=stack.intake.url, timeout=30) as intake:
        filed = await intake.post(
            f"/v1/districts/{DISTRICT}/requests",
            headers={"X-API-Key": stack.keys["operator"]},
            json={"menu_item_code": "errand.medicine", "grid_id": "cb-01", "resident_id": "r-cb-01-7-1-101",
                  "text": "楼长来电：马奶奶的降压药吃完了"},
        )  # fmt: skip
        assert filed.status_code == 202, filed.text
        request_id = filed.json()["request_id"]

        volunteer, volunteer_phone, _ = await first_offer(stack.twilio, after=before)
        accepted = await stack.text(volunteer_phone, "1")
        assert accepted.status_code == 200 and "正在为您确认接单" in accepted.text
        relayed = await stack.twilio.wait_for(contains(PROXY, "已接下"), after=before)
        assert (
            relayed.text == f"请转告马秀兰：您好！志愿者{given(volunteer)}已接下您的求助（代购药品），会尽快和您联系。"
        )

        work = {"X-API-Key": stack.keys[volunteer]}
        for step, proxy_hears in (("start", "已开始"), ("complete", "已办好")):
            path = f"/v1/districts/{DISTRICT}/requests/{request_id}/work/{step}"
            assert (await intake.post(path, headers=work, json={})).status_code == 202
            await stack.twilio.wait_for(contains(PROXY, proxy_hears), after=before)

        rated = await stack.text(PROXY, "4")
        assert rated.status_code == 200 and "谢谢您的评价" in rated.text
        await rated_by_dispatch(stack.db, request_id)

    document = await stack.db.requests.find_one({"_id": request_id})
    assert document is not None and document["rating"]["stars"] == 4
    assert document["ratings"][0]["by"].startswith("resident:")  # the proxy's text counts as the resident's
    assert all("errand." not in m.text for m in stack.twilio.received[before:])


async def test_unexpected_texts_get_help_and_forged_ones_are_refused(stack: Stack) -> None:
    stranger = f"+86139{uuid.uuid4().int % 10**8:08d}"
    nothing_open = await stack.text(stranger, "1")
    assert nothing_open.status_code == 200 and "没有需要您回复的消息" in nothing_open.text
    garbage = await stack.text("not a number", "hello")
    assert garbage.status_code == 200 and "<Message>" in garbage.text
    forged = await stack.text(RESIDENT, "1", sign_with="someone-else")
    assert forged.status_code == 403
