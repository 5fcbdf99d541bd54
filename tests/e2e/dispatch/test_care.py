"""Scheduled care end to end: plans written and announced by the admin's code, dispatch creating occurrences
from its in-memory timers, a check-in offered and confirmed, a missed one opening a welfare check, and a
SIGKILL of dispatch in the middle of a run of occurrences creating none twice and skipping none.

Windows are whole local minutes (Asia/Shanghai, the demo district's zone), so this test takes about five
minutes of wall-clock time: every occurrence waits for its own window.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pymongo import AsyncMongoClient
from pymongo.asynchronous.database import AsyncDatabase

from services.admin import reference_data
from services.admin.cli import DEMO_FILE
from services.dispatch.domain.care import occurrence_request_id, welfare_check_id
from services.intake.reference_models import CarePlanFields, ResidentFields
from services.intake.reference_service import Row, write_one
from services.intake.repository import IntakeRepository
from services.intake.roster import Roster
from shared.contracts.commands import CARE_RECORD_VISIT, OFFER_ACCEPT
from shared.kafka import EventPublisher, ensure_topics
from shared.mongo import Document, database
from shared.settings import PlatformSettings
from tests.e2e.dispatch.fixtures import DISTRICT, add_grid, add_menu_item, add_volunteer
from tests.e2e.dispatch.kafka_commands import command, publish, volunteer
from tests.e2e.service_processes import ServiceProcess

pytestmark = pytest.mark.e2e

SHANGHAI = ZoneInfo("Asia/Shanghai")
GRID, COMMUNITY = "care-grid", "xianggelila"


@pytest.fixture
async def care_env(
    dispatch_env: dict[str, str], mongo_client: AsyncMongoClient[Document]
) -> AsyncIterator[tuple[dict[str, str], AsyncDatabase[Document], PlatformSettings]]:
    env = {
        **dispatch_env,
        "MONGODB_DATABASE": dispatch_env["MONGODB_DATABASE"] + "_care",
        "GRID_TOPIC_PREFIX": dispatch_env["GRID_TOPIC_PREFIX"] + "c.",
    }
    settings = PlatformSettings(**env)  # type: ignore[arg-type]
    db = database(mongo_client, settings)
    await reference_data.load(db, reference_data.read_yaml(DEMO_FILE))
    await ensure_topics(settings.kafka_bootstrap, settings.topics())
    await add_grid(db, GRID, COMMUNITY)
    for volunteer_id, skills in (
        ("v-care-a", []),
        ("v-care-b", []),
        ("v-care-w1", ["welfare_check"]),
        ("v-care-w2", ["welfare_check"]),
    ):
        await add_volunteer(db, settings, volunteer_id, GRID, COMMUNITY, skills, capacity=10)
    # The demo's welfare check, with a grid deadline of a minute so that its climb is seen in the test.
    await add_menu_item(
        db,
        COMMUNITY,
        "welfare.check",
        urgency="critical",
        required_skills=["welfare_check"],
        offer_timeout_seconds=120,
        widen_every_seconds=60,
        deadlines={
            "grid": {"accept_minutes": 1, "resolve_minutes": 30},
            "community": {"accept_minutes": 5, "resolve_minutes": 30},
        },
    )
    yield env, db, settings
    await mongo_client.drop_database(settings.mongodb_database)


async def write_plans(db: AsyncDatabase[Document], settings: PlatformSettings, plans: dict[str, Any]) -> None:
    """As `gridctl import` or the admin API do: the household and its plans written, each plan announced."""
    publisher = EventPublisher(settings.kafka_bootstrap, 10.0)
    roster = Roster(publisher, settings.topics().requests, source="test")
    repo = IntakeRepository(db)
    try:
        resident = ResidentFields(grid_id=GRID, phone="13800002222", name="独居老人", address="香格里拉社区5栋1单元302")
        await write_one(
            repo, kind="residents", district_id=DISTRICT, row=Row(resident, document_id="res-care"), roster=roster
        )
        for plan_id, fields in plans.items():
            body = CarePlanFields.model_validate({"resident_id": "res-care", **fields})
            await write_one(
                repo, kind="care-plans", district_id=DISTRICT, row=Row(body, document_id=plan_id), roster=roster
            )
    finally:
        await publisher.close()


def window(minute: datetime, length: int, kind: str = "check_in", **fields: Any) -> dict[str, Any]:
    """A daily plan whose window opens at `minute` (local) and lasts `length` minutes."""
    end = minute + timedelta(minutes=length)
    schedule = {
        "starts_on": minute.date().isoformat(),
        "every_days": 1,
        "window_start": minute.strftime("%H:%M"),
        "window_end": end.strftime("%H:%M"),
    }
    return {"kind": kind, "schedule": schedule, **fields}


async def until(
    db: AsyncDatabase[Document], request_id: str, check: Callable[[Document], bool], within: float
) -> Document:
    deadline = asyncio.get_running_loop().time() + within
    document: Document | None = None
    while asyncio.get_running_loop().time() < deadline:
        document = await db.requests.find_one({"_id": request_id})
        if document is not None and check(document):
            return document
        await asyncio.sleep(0.5)
    state = None if document is None else (document["status"], document.get("care"))
    raise AssertionError(f"{request_id} not as expected within {within}s: {state}")


def kinds(document: Document) -> list[str]:
    return [event["type"] for event in document["timeline"]]


async def test_check_ins_confirmed_and_missed_and_a_restart_in_the_middle(
    care_env: tuple[dict[str, str], AsyncDatabase[Document], PlatformSettings], service_logs: Path
) -> None:
    env, db, settings = care_env
    now = datetime.now(SHANGHAI)
    first = (now + timedelta(minutes=1)).replace(second=0, microsecond=0)
    if (first + timedelta(minutes=8)).date() != now.date():
        pytest.skip("the windows would cross local midnight")
    today = first.date()
    run = [f"plan-run-{n}" for n in range(4)]
    await write_plans(
        db,
        settings,
        {
            "plan-confirm": window(
                first, 4, volunteer_id="v-care-a", alert=[{"role": "family", "name": "儿子", "phone": "13900003333"}]
            ),
            "plan-miss": window(
                first,
                1,
                volunteer_id="v-care-b",
                alert=[{"role": "building_leader", "name": "马阿姨", "phone": "13900004444"}],
            ),
            # Visits a minute apart, from the welfare check's climb on: one falls due while dispatch is down.
            **{
                plan_id: window(first + timedelta(minutes=n + 2), 1, kind="visit", volunteer_id="v-care-a")
                for n, plan_id in enumerate(run)
            },
        },
    )
    dispatch = ServiceProcess("dispatch", {**env, "DISPATCH_INSTANCE_ID": "dispatch-care"}, service_logs)
    try:
        dispatch.start()
        confirm_id = occurrence_request_id("plan-confirm", today)
        offered = await until(db, confirm_id, lambda d: d["status"] == "offered", within=120)
        assert offered["offered_volunteer_ids"] == ["v-care-a"]  # the linked heart first
        assert offered["care"]["window_start"].replace(tzinfo=UTC) >= first.astimezone(UTC)
        await publish(
            settings,
            [
                command(confirm_id, OFFER_ACCEPT, volunteer("v-care-a"), volunteer_id="v-care-a"),
                command(
                    confirm_id,
                    CARE_RECORD_VISIT,
                    volunteer("v-care-a"),
                    volunteer_id="v-care-a",
                    outcome="fine",
                    note="精神很好",
                ),
            ],
        )
        confirmed = await until(db, confirm_id, lambda d: d["status"] == "resolved", within=60)
        assert confirmed["care"]["confirmed_at"] is not None and confirmed["care"]["on_time"] is True

        miss_id = occurrence_request_id("plan-miss", today)
        welfare_id = welfare_check_id(miss_id)
        welfare = await until(db, welfare_id, lambda d: d["status"] == "offered", within=150)
        missed = await db.requests.find_one({"_id": miss_id})
        assert missed is not None and missed["care"]["missed_reason"] == "no_answer"
        assert missed["care"]["welfare_request_id"] == welfare_id
        opened_after = welfare["created_at"] - missed["care"]["window_end"]
        assert opened_after < timedelta(seconds=5)  # at once when the window ends
        assert welfare["priority"] == "critical" and welfare["menu_item_code"] == "welfare.check"
        assert set(welfare["offered_volunteer_ids"]) <= {"v-care-w1", "v-care-w2"} and welfare["offered_volunteer_ids"]
        note = next(e for e in welfare["timeline"] if e["type"] == "request.note_added")
        assert note["data"]["critical"] and {"building_leader", "linked_heart"} <= {
            a["role"] for a in note["data"]["detail"]["alert"]
        }
        # Nobody takes it: it climbs to the community by its one-minute accept deadline.
        climbed = await until(db, welfare_id, lambda d: "request.escalated" in kinds(d), within=90)
        escalated = next(e for e in climbed["timeline"] if e["type"] == "request.escalated")
        took = datetime.fromisoformat(escalated["time"]) - climbed["created_at"]
        assert took <= timedelta(seconds=62), took
        assert climbed["level"] != "grid" and kinds(climbed).count("request.escalated") >= 1

        # The run of visits: dispatch is SIGKILLed after the second one, and is down when the third falls due.
        second = occurrence_request_id(run[1], today)
        await until(db, second, lambda d: d["status"] == "offered", within=150)
        assert await db.requests.find_one({"_id": occurrence_request_id(run[2], today)}) is None
        seen = {r: await db.requests.find_one({"_id": r}) for r in (occurrence_request_id(p, today) for p in run[:2])}
        dispatch.kill()
        down_until = first + timedelta(minutes=4, seconds=20)  # run[2] falls due at first + 4 minutes
        await asyncio.sleep(max(0.0, (down_until - datetime.now(SHANGHAI)).total_seconds()))
        dispatch.start()
        for plan_id in run:
            await until(db, occurrence_request_id(plan_id, today), lambda d: d["status"] == "offered", within=180)
    finally:
        dispatch.stop()

    for plan_id in run:
        document = await db.requests.find_one({"_id": occurrence_request_id(plan_id, today)})
        assert document is not None and kinds(document).count("request.received") == 1
    for request_id, before in seen.items():
        after = await db.requests.find_one({"_id": request_id})
        assert before is not None, f"{request_id} was not there before the SIGKILL"
        assert after is not None and after["created_at"] == before["created_at"], f"{request_id} created again"
    cursors = {c["_id"]: c async for c in db.care_schedule.find({"district_id": DISTRICT})}
    assert all(cursors[plan_id]["done_through"] == today.isoformat() for plan_id in run)
    log = [e async for e in db.care_log.find({"resident_id": "res-care"})]
    assert {e["entry"] for e in log} >= {"visit", "missed"}
    assert await db.requests.count_documents({"_id": {"$regex": "^care:plan-run-"}}) == len(run)


async def test_rebalances_in_the_middle_of_a_run_of_visits_create_each_once(
    care_env: tuple[dict[str, str], AsyncDatabase[Document], PlatformSettings], service_logs: Path
) -> None:
    """A second replica joins after the first visit (the group rebalances), the first leaves after the
    second (it rebalances again, the survivor takes the district over): every visit once, none missing."""
    env, db, settings = care_env
    now = datetime.now(SHANGHAI)
    first = (now + timedelta(minutes=1)).replace(second=0, microsecond=0)
    if (first + timedelta(minutes=5)).date() != now.date():
        pytest.skip("the windows would cross local midnight")
    today = first.date()
    run = [f"plan-rebalance-{n}" for n in range(3)]
    await write_plans(
        db,
        settings,
        {
            plan_id: window(first + timedelta(minutes=n), 1, kind="visit", volunteer_id="v-care-a")
            for n, plan_id in enumerate(run)
        },
    )
    ids = [occurrence_request_id(plan_id, today) for plan_id in run]
    replicas = [
        ServiceProcess("dispatch", {**env, "DISPATCH_INSTANCE_ID": f"dispatch-care-{n}"}, service_logs) for n in (1, 2)
    ]
    try:
        replicas[0].start()
        seen = [await until(db, ids[0], lambda d: d["status"] == "offered", within=120)]
        replicas[1].start()  # the group rebalances
        seen.append(await until(db, ids[1], lambda d: d["status"] == "offered", within=120))
        replicas[0].stop()  # it rebalances again: the second replica owns every partition
        await until(db, ids[2], lambda d: d["status"] == "offered", within=120)
    finally:
        for replica in replicas:
            replica.stop()
    for request_id, before in zip(ids, seen, strict=False):
        after = await db.requests.find_one({"_id": request_id})
        assert after is not None and after["created_at"] == before["created_at"], request_id
    for request_id in ids:
        document = await db.requests.find_one({"_id": request_id})
        assert document is not None and kinds(document).count("request.received") == 1, request_id
        assert kinds(document).count("request.offered") == 1, request_id
    cursors = {c["_id"]: c async for c in db.care_schedule.find({"district_id": DISTRICT})}
    assert all(cursors[plan_id]["done_through"] == today.isoformat() for plan_id in run)
