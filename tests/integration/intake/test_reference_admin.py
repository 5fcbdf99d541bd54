"""Reference data through the admin endpoints, and the public menu and directory without a key."""

from __future__ import annotations

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from shared.mongo import Document
from tests.integration.intake.conftest import Keys

pytestmark = pytest.mark.integration
SUNDAY_PLUS_ONE = {"weekday": 7, "start": "09:00", "end": "10:00"}


class TestAdminEndpoints:
    async def test_a_new_grid_with_volunteer_team_resident_and_menu(
        self, intake: httpx.AsyncClient, keys: Keys, db: AsyncDatabase[Document]
    ) -> None:
        admin = keys.headers("admin")
        base = "/v1/districts/chengzhong"
        grid = await intake.put(
            f"{base}/grids/xgll-03", json={"community_id": "xianggelila", "name_zh": "第三网格", "name_en": "Grid 3"},
            headers=admin,
        )  # fmt: skip
        volunteer = await intake.put(
            f"{base}/volunteers/v-new-1",
            json={"grid_id": "xgll-03", "name": "新志愿者", "kind": "youth_league_member", "phone": "138 1111 2222",
                  "skills": ["errand"], "availability": [{"weekday": 5, "start": "09:00", "end": "12:00"}]},
            headers=admin,
        )  # fmt: skip
        team = await intake.put(
            f"{base}/teams/team-xgll-03",
            json={"grid_id": "xgll-03", "captain_volunteer_id": "v-new-1", "member_ids": ["v-new-1"]},
            headers=admin,
        )
        resident = await intake.put(
            f"{base}/residents/r-1",
            json={"grid_id": "xgll-03", "phone": "13900001111", "vulnerabilities": ["lives_alone", "hearing"],
                  "address": "香格里拉社区1栋1单元101", "name": "马秀兰", "linked_volunteer_id": "v-new-1"},
            headers=admin,
        )  # fmt: skip
        again = await intake.put(
            f"{base}/grids/xgll-03", json={"community_id": "xianggelila", "name_zh": "第三网格", "name_en": "Grid 3"},
            headers=admin,
        )  # fmt: skip

        assert [grid.status_code, volunteer.status_code, team.status_code, resident.status_code] == [201] * 4
        assert again.status_code == 200
        stored = await db.volunteers.find_one({"_id": "v-new-1"})
        assert stored is not None
        assert stored["phone"] == "+8613811112222"
        assert (stored["community_id"], stored["street_office_id"]) == ("xianggelila", "renminjie")
        assert stored["active"] is True and stored["on_duty"] is True
        assert "open_assignments" not in stored and "last_assigned_at" not in stored  # dispatch's, in volunteer_load
        read = await intake.get(f"{base}/volunteers/v-new-1", headers=keys.headers("operator"))
        assert read.json()["skills"] == ["errand"] and "open_assignments" not in read.json()
        listed = await intake.get(f"{base}/volunteers", params={"grid_id": "xgll-03"}, headers=keys.headers("operator"))
        assert [v["id"] for v in listed.json()] == ["v-new-1"]
        assert (await intake.get(f"{base}/residents/r-1", headers=keys.headers("client"))).status_code == 403

    @pytest.mark.parametrize(
        ("path", "body", "field"),
        [
            ("grids/g-x", {"community_id": "nowhere", "name_zh": "x", "name_en": "x"}, "community_id"),
            ("volunteers/v-x", {"grid_id": "xyx-01", "name": "x"}, "grid_id"),  # chengxi's grid
            ("volunteers/v-x", {"grid_id": "xgll-01", "name": "x", "kind": "boss"}, "kind"),
            ("volunteers/v-x", {"grid_id": "xgll-01", "name": "x", "phone": "call me"}, "phone"),
            ("volunteers/v-x", {"grid_id": "xgll-01", "name": "x", "availability": [SUNDAY_PLUS_ONE]},
             "availability.0.weekday"),
            ("teams/t-x", {"grid_id": "xgll-01", "captain_volunteer_id": "v-cx-bai"}, "captain_volunteer_id"),
            ("teams/t-x", {"grid_id": "xgll-01", "captain_volunteer_id": "v-li-jianguo",
                           "member_ids": ["v-li-jianguo", "v-cx-bai"]}, "member_ids"),
            ("residents/r-x", {"grid_id": "xgll-01", "phone": "13900001111", "vulnerabilities": ["rich"],
                               "address": "x", "name": "x"}, "vulnerabilities.0"),
            ("communities/xianggelila/menu/repair.x", {"name_zh": "x", "name_en": "x", "category": "repair",
             "attributes": [{"code": "kind", "datatype": "singlevaluelist"}]}, "attributes.0"),
        ],
    )  # fmt: skip
    async def test_bad_reference_data_is_422_naming_the_field(
        self, intake: httpx.AsyncClient, keys: Keys, path: str, body: dict[str, object], field: str
    ) -> None:
        response = await intake.put(f"/v1/districts/chengzhong/{path}", json=body, headers=keys.headers("admin"))
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"
        assert field in [error["field"] for error in response.json()["errors"]]

    async def test_only_platform_admins_create_districts(self, intake: httpx.AsyncClient, keys: Keys) -> None:
        body = {"name_zh": "城东区", "name_en": "Chengdong District"}
        refused = await intake.put("/v1/districts/chengdong", json=body, headers=keys.headers("admin"))
        created = await intake.put("/v1/districts/chengdong", json=body, headers=keys.headers("platform"))
        assert refused.status_code == 403
        assert created.status_code == 201 and created.json()["timezone"] == "Asia/Shanghai"


class TestPublicMenu:
    async def test_menu_and_directory_are_readable_without_a_key(self, intake: httpx.AsyncClient) -> None:
        menu = await intake.get("/v1/districts/chengzhong/grids/xgll-01/menu")
        community = await intake.get("/v1/districts/chengzhong/communities/xianggelila/menu")
        directory = await intake.get("/v1/districts/chengzhong/directory")

        assert menu.status_code == 200
        codes = [item["code"] for item in menu.json()]
        assert "errand.groceries" in codes and "welfare.check" in codes
        assert codes == [item["code"] for item in community.json()]
        assert {g["id"] for g in directory.json()["grids"]} >= {"xgll-01", "rmje-02"}
        assert all(g.get("community_id") for g in directory.json()["grids"])
        assert "director_phone" not in str(directory.json())

    async def test_unknown_district_community_or_grid_is_404(self, intake: httpx.AsyncClient) -> None:
        for path in (
            "/v1/districts/atlantis/directory",
            "/v1/districts/chengzhong/grids/xyx-01/menu",  # chengxi's grid
            "/v1/districts/chengzhong/communities/nowhere/menu",
        ):
            response = await intake.get(path)
            assert response.status_code == 404, path
            assert response.headers["content-type"] == "application/problem+json"

    async def test_an_inactive_item_leaves_the_menu(self, intake: httpx.AsyncClient, keys: Keys) -> None:
        body = {"name_zh": "理发", "name_en": "Haircut", "category": "care", "active": False}
        put = await intake.put(
            "/v1/districts/chengzhong/communities/renminjie-east/menu/care.haircut",
            json=body,
            headers=keys.headers("admin"),
        )
        menu = await intake.get("/v1/districts/chengzhong/communities/renminjie-east/menu")
        assert put.status_code in (200, 201)
        assert "care.haircut" not in [item["code"] for item in menu.json()]
