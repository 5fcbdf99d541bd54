"""Roster announcements on the real broker: every volunteer write through the admin API or gridctl reaches
the requests topic as an event keyed by the district, after the database write, before the answer."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import yaml
from pymongo.asynchronous.database import AsyncDatabase

from services.admin import reference_data
from services.intake.api import create_app
from services.intake.roster import Roster
from shared.contracts import VOLUNTEER_CHANGED, VOLUNTEER_REMOVED, EventEnvelope
from shared.kafka import EventPublisher
from shared.mongo import Document
from shared.settings import IntakeSettings
from tests.e2e.service_processes import free_port
from tests.integration.intake.conftest import CommandTap, Keys
from tests.integration.intake.test_gridctl import district_file, gridctl

pytestmark = pytest.mark.integration
ROSTER_TYPES = (VOLUNTEER_CHANGED, VOLUNTEER_REMOVED)


def of_volunteer(volunteer_id: str) -> Callable[[EventEnvelope], bool]:
    def wanted(event: EventEnvelope) -> bool:
        return event.type in ROSTER_TYPES and event.data.get("volunteer_id") == volunteer_id

    return wanted


def profile(**changes: object) -> dict[str, object]:
    return {"grid_id": "xgll-02", "name": "值班员", "skills": ["errand"], "phone": "13800005555", **changes}


class TestAdminApiAnnounces:
    async def test_create_off_duty_deactivate_delete_each_reach_the_district_key_in_order(
        self, intake: httpx.AsyncClient, keys: Keys, tap: CommandTap, db: AsyncDatabase[Document]
    ) -> None:
        url = "/v1/districts/chengzhong/volunteers/v-roster-1"
        admin = keys.headers("admin")

        created = await intake.put(url, json=profile(), headers=admin)
        answered_at = time.monotonic()
        (first,) = await tap.matching(lambda e: e.data.get("volunteer_id") == "v-roster-1", within=1.0)
        seen_within = time.monotonic() - answered_at
        off_duty = await intake.put(url, json=profile(on_duty=False), headers=admin)
        deactivated = await intake.put(url, json=profile(on_duty=False, active=False), headers=admin)
        deleted = await intake.delete(url, headers=admin)
        events = await tap.matching(lambda e: e.data.get("volunteer_id") == "v-roster-1", count=4)

        assert [created.status_code, off_duty.status_code, deactivated.status_code, deleted.status_code] == [
            201,
            200,
            200,
            204,
        ]
        assert seen_within < 1.0  # acknowledged before the answer: the owner can match it at once
        assert [e.type for e in events] == [VOLUNTEER_CHANGED] * 3 + [VOLUNTEER_REMOVED]
        assert all(e.district_id == "chengzhong" and e.request_id is None for e in events)
        assert all(e.source == "intake" for e in events)
        assert {tap.keys[e.id] for e in events} == {b"chengzhong"}
        assert first.data == {
            "volunteer_id": "v-roster-1",
            "street_office_id": "renminjie",
            "community_id": "xianggelila",
            "grid_id": "xgll-02",
            "skills": ["errand"],
            "languages": ["zh"],
            "capacity": 3,
            "active": True,
            "on_duty": True,
            "availability": [],
            "leave": [],
            "location": None,
        }
        assert (events[1].data["on_duty"], events[1].data["active"]) == (False, True)
        assert (events[2].data["on_duty"], events[2].data["active"]) == (False, False)
        assert events[3].data == {"volunteer_id": "v-roster-1"}
        assert "phone" not in str([e.data for e in events])  # the roster needs no personal data
        assert await db.volunteers.find_one({"_id": "v-roster-1"}) is None

    async def test_another_districts_volunteer_is_announced_on_its_own_key(
        self, intake: httpx.AsyncClient, keys: Keys, tap: CommandTap
    ) -> None:
        body = {"grid_id": "xyx-01", "name": "城西新人", "skills": ["care"]}
        response = await intake.put(
            "/v1/districts/chengxi/volunteers/v-cx-new", json=body, headers=keys.headers("platform")
        )
        (event,) = await tap.matching(of_volunteer("v-cx-new"))

        assert response.status_code == 201
        assert (event.district_id, tap.keys[event.id]) == ("chengxi", b"chengxi")
        assert event.data["community_id"] == "xueyuanxiang"

    async def test_an_id_of_another_district_is_409_and_neither_written_nor_announced(
        self, intake: httpx.AsyncClient, keys: Keys, tap: CommandTap, db: AsyncDatabase[Document]
    ) -> None:
        before = await db.volunteers.find_one({"_id": "v-cx-bai"})
        response = await intake.put(
            "/v1/districts/chengzhong/volunteers/v-cx-bai", json=profile(), headers=keys.headers("admin")
        )
        removal = await intake.delete("/v1/districts/chengzhong/volunteers/v-cx-bai", headers=keys.headers("admin"))

        assert response.status_code == 409
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "id-of-another-district"
        assert response.json()["errors"] == [
            {"field": "id", "location": "path", "message": response.json()["errors"][0]["message"], "type": "conflict"}
        ]
        assert removal.status_code == 404
        assert await db.volunteers.find_one({"_id": "v-cx-bai"}) == before
        await intake.put(
            "/v1/districts/chengzhong/volunteers/v-roster-marker", json=profile(), headers=keys.headers("admin")
        )
        await tap.matching(of_volunteer("v-roster-marker"))
        assert not [e for e in tap.events if e.district_id == "chengzhong" and e.data.get("volunteer_id") == "v-cx-bai"]

    async def test_kafka_down_answers_503_keeps_the_write_and_a_retry_announces_it(
        self,
        intake: httpx.AsyncClient,
        intake_settings: IntakeSettings,
        keys: Keys,
        tap: CommandTap,
        db: AsyncDatabase[Document],
    ) -> None:
        no_broker = intake_settings.model_copy(
            update={"kafka_bootstrap": f"127.0.0.1:{free_port()}", "kafka_timeout_seconds": 2.0}
        )
        app = create_app(no_broker)
        url = "/v1/districts/chengzhong/volunteers/v-roster-503"
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://intake") as down:
            refused = await down.put(url, json=profile(), headers=keys.headers("admin"))
        retried = await intake.put(url, json=profile(), headers=keys.headers("admin"))
        (event,) = await tap.matching(of_volunteer("v-roster-503"))

        assert refused.status_code == 503
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.headers["retry-after"] == "5"
        assert refused.json()["code"] == "broker-unavailable"
        assert await db.volunteers.find_one({"_id": "v-roster-503"}) is not None  # written first
        assert retried.status_code == 200 and event.district_id == "chengzhong"

    async def test_a_grid_moving_to_another_community_moves_and_announces_its_volunteers(
        self, intake: httpx.AsyncClient, keys: Keys, tap: CommandTap, db: AsyncDatabase[Document]
    ) -> None:
        admin, base = keys.headers("admin"), "/v1/districts/chengzhong"
        grid = {"community_id": "xianggelila", "name_zh": "搬家网格", "name_en": "Moving grid"}
        household = {"grid_id": "mv-01", "phone": "13900007777", "address": "搬家网格1号", "name": "住户"}
        await intake.put(f"{base}/grids/mv-01", json=grid, headers=admin)
        await intake.put(f"{base}/volunteers/v-mv-1", json=profile(grid_id="mv-01"), headers=admin)
        await intake.put(f"{base}/residents/r-mv-1", json=household, headers=admin)

        moved = await intake.put(f"{base}/grids/mv-01", json={**grid, "community_id": "renminjie-east"}, headers=admin)
        first, second = await tap.matching(of_volunteer("v-mv-1"), count=2)

        assert moved.status_code == 200
        assert (first.data["community_id"], second.data["community_id"]) == ("xianggelila", "renminjie-east")
        assert second.data["street_office_id"] == "renminjie"
        volunteer = await db.volunteers.find_one({"_id": "v-mv-1"})
        resident = await db.residents.find_one({"_id": "r-mv-1"})
        assert volunteer is not None and volunteer["community_id"] == "renminjie-east"
        assert resident is not None and resident["community_id"] == "renminjie-east"


class TestGridctlAnnounces:
    async def test_load_announces_each_volunteer_once_and_announce_repeats_them(
        self, platform_env: dict[str, str], tap: CommandTap, tmp_path: Path
    ) -> None:
        district = f"roster-{uuid.uuid4().hex[:6]}"
        path = district_file(tmp_path / "d.yaml", district, f"{district}-g", f"{district}-v1", "13800000009")
        spec = yaml.safe_load(path.read_text(encoding="utf-8"))
        spec["volunteers"] += [
            {"id": f"{district}-v2", "grid_id": f"{district}-g", "name": "二", "on_duty": False},
            {"id": f"{district}-v3", "grid_id": f"{district}-g", "name": "三", "active": False},
        ]
        path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")

        loaded = await gridctl(platform_env, "load", str(path))
        events = await tap.matching(lambda e: e.district_id == district, count=3)
        announced = await gridctl(platform_env, "roster", "announce", "-d", district)
        again = await tap.matching(lambda e: e.district_id == district, count=6)

        assert loaded[0] == 0, loaded
        assert "3 volunteers announced" in loaded[1]
        assert sorted(e.data["volunteer_id"] for e in events) == [f"{district}-v{n}" for n in (1, 2, 3)]
        assert all(e.type == VOLUNTEER_CHANGED and e.source == "gridctl" for e in events)
        assert {tap.keys[e.id] for e in events} == {district.encode()}
        by_id = {e.data["volunteer_id"]: e.data for e in events}
        assert by_id[f"{district}-v2"]["on_duty"] is False and by_id[f"{district}-v3"]["active"] is False
        assert by_id[f"{district}-v1"]["community_id"] == f"{district}-c"
        assert announced[0] == 0 and f"3 volunteers of {district} announced" in announced[1]
        assert {e.data["volunteer_id"]: e.data for e in again[3:]} == by_id
        await asyncio.sleep(0.5)  # nothing more arrives
        assert len([e for e in tap.events if e.district_id == district]) == 6

    async def test_announce_migrates_documents_written_before_announcements_and_names_invalid_ones(
        self, platform_env: dict[str, str], tap: CommandTap, db: AsyncDatabase[Document]
    ) -> None:
        district = f"legacy-{uuid.uuid4().hex[:6]}"
        await db.districts.insert_one({"_id": district, "name_zh": "旧", "name_en": "Legacy"})
        await db.volunteers.insert_many(
            [
                # As the first cut wrote them: no on_duty, dispatch's load fields on the profile.
                {"_id": f"{district}-old", "district_id": district, "grid_id": "g", "community_id": "c",
                 "street_office_id": "s", "name": "老", "capacity": 2, "open_assignments": 1, "last_assigned_at": None},
                {"_id": f"{district}-bad", "district_id": district, "grid_id": "g", "capacity": 99},
            ]
        )  # fmt: skip

        code, out, err = await gridctl(platform_env, "roster", "announce", "-d", district)
        (event,) = await tap.matching(lambda e: e.district_id == district)

        assert code == 2 and f"1 volunteers of {district} announced, 1 not valid" in out
        assert f"not announced {district}-bad: capacity:" in err
        assert event.data["volunteer_id"] == f"{district}-old"
        assert (event.data["on_duty"], event.data["capacity"], event.data["community_id"]) == (True, 2, "c")
        assert "open_assignments" not in event.data

    async def test_import_announces_good_rows_only(
        self, platform_env: dict[str, str], tap: CommandTap, tmp_path: Path
    ) -> None:
        rows = tmp_path / "volunteers.csv"
        rows.write_text(
            "id,grid_id,name,kind,on_duty\n"
            "v-imp-1,rmje-01,甲,volunteer,false\n"
            "v-imp-2,rmje-01,乙,boss,true\n"  # bad kind
            "v-cx-bai,rmje-01,抢,volunteer,true\n",  # chengxi's id
            encoding="utf-8",
        )
        imported = await gridctl(platform_env, "import", "volunteers", str(rows), "-d", "chengzhong")
        (event,) = await tap.matching(of_volunteer("v-imp-1"))

        assert imported[0] == 2 and "1 created, 0 updated, 0 unchanged, 2 rejected" in imported[1]
        assert "row 4 (v-cx-bai): id: 'v-cx-bai' belongs to district 'chengxi'" in imported[2]
        assert event.data["on_duty"] is False and event.source == "gridctl"
        assert not [e for e in tap.events if e.data.get("volunteer_id") in ("v-imp-2",)]


async def test_a_bulk_load_pipelines_its_announcements_and_announces_the_last_profile(
    intake_settings: IntakeSettings, db: AsyncDatabase[Document], tap: CommandTap
) -> None:
    district = f"bulk-{uuid.uuid4().hex[:6]}"
    window, count = 8, 20  # the logic of BULK_WINDOW, over several windows on a small district
    grid = f"{district}-g"
    volunteers: list[dict[str, object]] = [
        {"id": f"{district}-{n}", "grid_id": grid, "name": "v"} for n in range(count)
    ]
    # A volunteer written twice within one window is announced once, with the later profile; written again
    # in a later window, announced again, in order.
    volunteers.insert(2, {"id": f"{district}-1", "grid_id": grid, "name": "v", "capacity": 5})
    volunteers.append({"id": f"{district}-0", "grid_id": grid, "name": "v", "capacity": 7})
    spec = {
        "district": {"id": district, "name_zh": "批量", "name_en": "Bulk"},
        "street_offices": [{"id": f"{district}-s", "name_zh": "街", "name_en": "S"}],
        "communities": [{"id": f"{district}-c", "street_office_id": f"{district}-s", "name_zh": "社", "name_en": "C"}],
        "grids": [{"id": grid, "community_id": f"{district}-c", "name_zh": "网", "name_en": "G"}],
        "volunteers": volunteers,
    }
    publisher = EventPublisher(intake_settings.kafka_bootstrap, intake_settings.kafka_timeout_seconds)
    roster = Roster(publisher, intake_settings.topics().requests, source="gridctl", window=window)
    try:
        reports = await reference_data.load(db, spec, roster=roster)
    finally:
        await publisher.close()
    events = await tap.matching(lambda e: e.district_id == district, count=count + 1)

    assert reports["volunteers"].errors == [] and roster.announced == count + 1
    assert len({e.data["volunteer_id"] for e in events}) == count
    assert [e.data["capacity"] for e in events if e.data["volunteer_id"] == f"{district}-1"] == [5]
    assert [e.data["capacity"] for e in events if e.data["volunteer_id"] == f"{district}-0"] == [3, 7]
