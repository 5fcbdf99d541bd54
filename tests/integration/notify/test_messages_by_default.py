"""Messages by default, on the real database, sent through the Twilio adapter to a stand-in on 127.0.0.1.

Nobody sets preferences here: the resident's phone comes from dispatch's request document, the proxy and
vulnerabilities from the resident's document, names from the reference data, all read by `_id`.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from services.notify.message_settings import MessageSettings
from services.notify.messaging import MESSAGES, PreferenceRepository, PushNotifier
from shared.api_keys import Role
from shared.contracts import StatusChangedV1, new_event
from shared.contracts import status as s
from shared.contracts.envelope import EventEnvelope
from shared.gateways.twilio import TwilioGateway, TwilioSettings
from shared.masking import mask_phone
from shared.mongo import Document
from shared.request_ids import mint_request_id
from tests.integration.notify.conftest import key_of
from tests.twilio_standin import TwilioStandIn, running_twilio

pytestmark = pytest.mark.integration
DISTRICT = "chengzhong"
FAST_RETRIES = MessageSettings(NOTIFY_SMS_BACKOFF_BASE_SECONDS=0.05, NOTIFY_SMS_MAX_ATTEMPTS=4)


@pytest.fixture
async def twilio() -> AsyncIterator[TwilioStandIn]:
    async with running_twilio() as standin:
        yield standin


@pytest.fixture
async def notifier(db: AsyncDatabase[Document], twilio: TwilioStandIn) -> AsyncIterator[PushNotifier]:
    gateway = TwilioGateway(TwilioSettings(**twilio.environment()))  # type: ignore[arg-type]
    pushing = PushNotifier(db, PreferenceRepository(db), gateway, settings=FAST_RETRIES, sender="test-notify")
    await pushing.start()
    yield pushing
    await pushing.close()
    await gateway.close()


def phone() -> str:
    return f"+86139{uuid.uuid4().int % 10**8:08d}"


async def a_request(db: AsyncDatabase[Document], resident: dict[str, Any], resident_doc: dict[str, Any] | None) -> str:
    """A request as dispatch stores it (only what notify reads), and the resident's record if any."""
    request_id = mint_request_id(b"k" * 32, DISTRICT)
    if resident_doc is not None:
        resident = {**resident, "id": resident_doc["_id"]}
        await db.residents.insert_one({"district_id": DISTRICT, "grid_id": "xgll-01", **resident_doc})
    document = {"_id": request_id, "district_id": DISTRICT, "grid_id": "xgll-01", "resident": resident}
    await db.requests.insert_one(document)
    return request_id


def event(request_id: str, event_type: str, sequence: int, **data: Any) -> EventEnvelope:
    fields: dict[str, Any] = {
        "status": event_type.split(".")[1],
        "sequence": sequence,
        "grid_id": "xgll-01",
        "community_id": "xianggelila",
        "menu_item_code": "errand.groceries",
        "level": "grid",
        **data,
    }
    return new_event(
        event_type=event_type,
        source="dispatch",
        district_id=DISTRICT,
        request_id=request_id,
        event_id=f"{request_id}:{sequence}",
        data=StatusChangedV1(**fields),
    )


async def test_a_resident_hears_of_the_volunteer_by_given_name_and_is_asked_to_rate(
    db: AsyncDatabase[Document], notifier: PushNotifier, twilio: TwilioStandIn
) -> None:
    mobile = phone()
    request_id = await a_request(db, {"name": "王秀英", "phone": mobile, "language": "zh"}, None)

    await notifier.notify(event(request_id, s.REQUEST_ASSIGNED, 4, volunteer_id="v-li-jianguo"))
    await notifier.notify(event(request_id, s.REQUEST_RESOLVED, 6, volunteer_id="v-li-jianguo"))
    await notifier.notify(event(request_id, s.REQUEST_RESOLVED, 6, volunteer_id="v-li-jianguo"))  # redelivered

    texts = [m.text for m in twilio.to(mobile)]
    assert texts == [
        "您好！志愿者建国已接下您的求助（代购米面油），会尽快和您联系。",
        "您的求助（代购米面油）已办好。请回复1到5打分，5分最满意；没办好请回复0。",
    ]
    prompt = await db.reply_prompts.find_one({"_id": mobile})
    assert prompt is not None and prompt["kind"] == "rating" and prompt["request_id"] == request_id
    stored = await db.outbound_messages.find_one({"_id": f"sms:request:{request_id}:{request_id}:6"})
    assert stored is not None and stored["state"] == "sent" and "phone" not in stored  # only the masked number kept


async def test_a_resident_who_cannot_read_gets_a_call_and_one_without_a_phone_reaches_their_proxy(
    db: AsyncDatabase[Document], notifier: PushNotifier, twilio: TwilioStandIn
) -> None:
    caller, proxy = phone(), phone()
    reads_aloud = await a_request(
        db,
        {"name": "马大爷", "phone": caller, "language": "zh"},
        {"_id": f"res-{uuid.uuid4().hex[:8]}", "name": "马大爷", "vulnerabilities": ["cannot_read", "lives_alone"]},
    )
    no_phone = await a_request(
        db,
        {"name": "李奶奶", "phone": None},
        {
            "_id": f"res-{uuid.uuid4().hex[:8]}",
            "name": "李奶奶",
            "phone": None,
            "language": "zh",
            "proxy": {"kind": "building_leader", "name": "张楼长", "phone": proxy},
        },
    )

    await notifier.notify(event(reads_aloud, s.REQUEST_STARTED, 5, volunteer_id="v-zhang-yumei"))
    await notifier.notify(event(no_phone, s.REQUEST_ASSIGNED, 4, volunteer_id="v-zhang-yumei"))

    [call] = twilio.to(caller)
    assert call.kind == "call" and "您好，这里是社区服务。志愿者玉梅已经开始帮您办：代购米面油。" in call.text
    [relayed] = twilio.to(proxy)
    assert relayed.kind == "sms" and relayed.text.startswith("请转告李奶奶：您好！志愿者玉梅已接下")


async def test_each_offer_reaches_the_volunteer_with_a_reply_code_and_opens_a_prompt(
    db: AsyncDatabase[Document], notifier: PushNotifier, twilio: TwilioStandIn
) -> None:
    mobile, volunteer_id = phone(), f"v-{uuid.uuid4().hex[:8]}"
    await db.volunteers.insert_one(
        {"_id": volunteer_id, "district_id": DISTRICT, "grid_id": "xgll-01", "name": "赵敏", "phone": mobile}
    )
    request_id = await a_request(db, {"name": "王秀英", "phone": phone()}, None)

    offered = event(request_id, s.REQUEST_OFFERED, 3, volunteer_id=volunteer_id, volunteer_ids=[volunteer_id])
    await notifier.notify(offered)

    [offer] = twilio.to(mobile)
    assert offer.text == "新求助：代购米面油（香格里拉第一网格）。回复1接单，回复2不接。"
    prompt = await db.reply_prompts.find_one({"_id": mobile})
    assert prompt is not None and (prompt["kind"], prompt["volunteer_id"]) == ("offer", volunteer_id)


async def test_the_responsible_person_named_by_dispatch_is_told_on_escalation(
    db: AsyncDatabase[Document], notifier: PushNotifier, twilio: TwilioStandIn
) -> None:
    director = phone()
    request_id = await a_request(db, {"name": "王秀英", "phone": phone()}, None)
    responsible = {"role": "community_director", "name": "王主任", "phone": director}

    await notifier.notify(
        event(request_id, s.REQUEST_ESCALATED, 7, level="community", critical=True, detail={"responsible": responsible})
    )

    [alert] = twilio.to(director)
    assert alert.text == "王主任您好：求助“代购米面油”（香格里拉第一网格）已交到社区，请安排处理。"


async def test_failed_sends_are_retried_with_backoff_then_given_up_and_shown_to_operators(
    db: AsyncDatabase[Document], notifier: PushNotifier, twilio: TwilioStandIn, notify: httpx.AsyncClient
) -> None:
    flaky = phone()
    retried = await a_request(db, {"name": "王秀英", "phone": flaky}, None)
    hopeless = await a_request(db, {"name": "刘爷爷", "phone": "+86123"}, None)  # the provider refuses it: 21211
    failed_before = MESSAGES.labels("sms", "failed")._value.get()

    await notifier.notify(event(hopeless, s.REQUEST_STARTED, 5, volunteer_id="v-li-jianguo"))
    twilio.fail_next(2, 503)
    await notifier.notify(event(retried, s.REQUEST_STARTED, 5, volunteer_id="v-li-jianguo"))
    await twilio.wait_for(lambda m: m.to == flaky, within=10)

    message_id = f"sms:request:{retried}:{retried}:5"
    for _ in range(50):  # the outcome is recorded just after the provider's answer
        sent = await db.outbound_messages.find_one({"_id": message_id})
        if sent is not None and sent["state"] == "sent":
            break
        await asyncio.sleep(0.05)
    assert sent is not None and (sent["state"], sent["attempts"]) == ("sent", 3)
    assert len(twilio.to(flaky)) == 1  # nothing sent twice
    gave_up = await db.outbound_messages.find_one({"_id": f"sms:request:{hopeless}:{hopeless}:5"})
    assert gave_up is not None and (gave_up["state"], gave_up["attempts"]) == ("failed", 1)
    assert "21211" in gave_up["last_error"]
    assert MESSAGES.labels("sms", "failed")._value.get() == failed_before + 1

    operator = await key_of(db, Role.OPERATOR)
    listed = await notify.get(f"/v1/districts/{DISTRICT}/messages", headers={"X-API-Key": operator})
    assert listed.status_code == 200, listed.text
    failed = [m for m in listed.json() if m["request_id"] == hopeless]
    assert failed and failed[0]["phone"] == mask_phone("+86123") and failed[0]["state"] == "failed"
    other_district = await key_of(db, Role.OPERATOR, district_id="chengxi")
    refused = await notify.get(f"/v1/districts/{DISTRICT}/messages", headers={"X-API-Key": other_district})
    assert refused.status_code in (403, 404)


async def test_while_the_carrier_fails_new_messages_wait_for_their_timer_instead_of_holding_the_consumer(
    db: AsyncDatabase[Document], twilio: TwilioStandIn
) -> None:
    settings = MessageSettings(NOTIFY_SMS_BACKOFF_BASE_SECONDS=0.5, NOTIFY_SMS_MAX_ATTEMPTS=4)
    gateway = TwilioGateway(TwilioSettings(**twilio.environment()))  # type: ignore[arg-type]
    pushing = PushNotifier(db, PreferenceRepository(db), gateway, settings=settings, sender="test-notify-outage")
    first, second = phone(), phone()
    one = await a_request(db, {"name": "王秀英", "phone": first}, None)
    two = await a_request(db, {"name": "刘爷爷", "phone": second}, None)
    twilio.fail_next(1, 503)
    try:
        await pushing.notify(event(one, s.REQUEST_STARTED, 5, volunteer_id="v-li-jianguo"))
        await pushing.notify(event(two, s.REQUEST_STARTED, 5, volunteer_id="v-li-jianguo"))
        assert twilio.requests_seen == 1  # the second was not tried inline after the first failed
        deferred = await db.outbound_messages.find_one({"_id": f"sms:request:{two}:{two}:5"})
        assert deferred is not None and deferred["state"] == "retrying"

        await twilio.wait_for(lambda m: m.to == first, within=10)
        await twilio.wait_for(lambda m: m.to == second, within=10)
        assert len(twilio.to(first)) == len(twilio.to(second)) == 1
    finally:
        await pushing.close()
        await gateway.close()


async def test_a_restarted_replica_resends_the_messages_it_was_retrying_and_only_its_own(
    db: AsyncDatabase[Document], twilio: TwilioStandIn
) -> None:
    mine, theirs = phone(), phone()
    now = datetime.now(UTC)
    waiting = {"channel": "sms", "text": "您的求助（代购米面油）已取消。", "language": "zh", "state": "retrying"}
    await db.outbound_messages.insert_many(
        [
            {"_id": f"sms:request:r-{uuid.uuid4().hex}:e", "district_id": DISTRICT, "phone": mine, **waiting,
             "sender": "test-notify-restarted", "attempts": 2, "next_attempt_at": now},
            {"_id": f"sms:request:r-{uuid.uuid4().hex}:e", "district_id": DISTRICT, "phone": theirs, **waiting,
             "sender": "another-replica", "attempts": 2, "next_attempt_at": now},
        ]
    )  # fmt: skip
    gateway = TwilioGateway(TwilioSettings(**twilio.environment()))  # type: ignore[arg-type]
    pushing = PushNotifier(db, PreferenceRepository(db), gateway, settings=FAST_RETRIES, sender="test-notify-restarted")
    try:
        await pushing.start()
        await twilio.wait_for(lambda m: m.to == mine, within=10)
        await asyncio.sleep(0.3)
        assert twilio.to(theirs) == []
    finally:
        await pushing.close()
        await gateway.close()
