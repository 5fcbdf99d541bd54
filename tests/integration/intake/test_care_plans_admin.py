"""Care plans through the admin API on the real database and broker: written with the household's grid,
announced on the district's key after the write (changed, removed), refused with a clear 422 when they name
what does not exist or cannot be scheduled, listed per grid."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from shared.contracts.care import CARE_PLAN_CHANGED, CARE_PLAN_REMOVED
from shared.mongo import Document
from tests.integration.intake.conftest import CommandTap, Keys

pytestmark = pytest.mark.integration
URL = "/v1/districts/chengzhong/care-plans"
HOUSEHOLD = "r-xgll-01-3-2-401"  # the demo's 马秀兰, lives alone, grid xgll-01


def plan(**changes: Any) -> dict[str, Any]:
    return {
        "resident_id": HOUSEHOLD,
        "kind": "check_in",
        "schedule": {"starts_on": "2026-12-01", "weekdays": [0, 3], "window_start": "09:00", "window_end": "11:00"},
        "volunteer_id": "v-li-jianguo",
        "alert": [{"role": "family", "name": "马军", "phone": "13900000999"}],
        **changes,
    }


async def test_a_plan_is_written_with_its_households_grid_and_announced(
    intake: httpx.AsyncClient, keys: Keys, tap: CommandTap, db: AsyncDatabase[Document]
) -> None:
    admin = keys.headers("admin")
    created = await intake.put(f"{URL}/plan-admin-1", json=plan(), headers=admin)
    assert created.status_code == 201, created.text
    stored = await db.care_plans.find_one({"_id": "plan-admin-1"})
    assert stored is not None and (stored["grid_id"], stored["community_id"]) == ("xgll-01", "xianggelila")
    assert stored["alert"][0]["phone"] == "+8613900000999"
    (changed,) = await tap.matching(lambda e: e.type == CARE_PLAN_CHANGED and e.data["plan_id"] == "plan-admin-1")
    assert changed.district_id == "chengzhong" and changed.request_id is None
    assert changed.data["grid_id"] == "xgll-01" and changed.data["schedule"]["weekdays"] == [0, 3]

    listed = await intake.get(URL, params={"grid_id": "xgll-01"}, headers=admin)
    assert "plan-admin-1" in [p["id"] for p in listed.json()]
    elsewhere = await intake.get(URL, params={"grid_id": "rmje-01"}, headers=admin)
    assert "plan-admin-1" not in [p["id"] for p in elsewhere.json()]

    assert (await intake.delete(f"{URL}/plan-admin-1", headers=admin)).status_code == 204
    (removed,) = await tap.matching(lambda e: e.type == CARE_PLAN_REMOVED and e.data["plan_id"] == "plan-admin-1")
    assert removed.district_id == "chengzhong"


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"resident_id": "r-nobody"}, "resident_id"),
        ({"volunteer_id": "v-nobody"}, "volunteer_id"),
        ({"kind": "errand"}, "body"),
        ({"kind": "errand", "menu_item_code": "errand.unheard-of"}, "menu_item_code"),
        ({"schedule": {"starts_on": "2026-12-01", "window_start": "09:00", "window_end": "11:00"}}, "schedule"),
        (
            {"schedule": {"starts_on": "2026-12-01", "every_days": 2, "window_start": "11:00", "window_end": "09:00"}},
            "schedule",
        ),
        ({"kind": "tea"}, "kind"),
    ],
)
async def test_a_plan_that_cannot_be_carried_out_is_refused(
    intake: httpx.AsyncClient, keys: Keys, changes: dict[str, Any], field: str
) -> None:
    refused = await intake.put(f"{URL}/plan-admin-bad", json=plan(**changes), headers=keys.headers("admin"))
    assert refused.status_code == 422, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert field == "body" or field in refused.text


async def test_an_errand_plan_names_an_item_of_the_households_menu(
    intake: httpx.AsyncClient, keys: Keys, db: AsyncDatabase[Document]
) -> None:
    weekly_rice = plan(kind="errand", menu_item_code="errand.groceries", note="每周米和油")
    answer = await intake.put(f"{URL}/plan-admin-rice", json=weekly_rice, headers=keys.headers("admin"))
    assert answer.status_code == 201, answer.text
    await intake.delete(f"{URL}/plan-admin-rice", headers=keys.headers("admin"))


async def test_operators_read_plans_but_do_not_write_them(intake: httpx.AsyncClient, keys: Keys) -> None:
    operator = keys.headers("operator")
    assert (await intake.get(URL, headers=operator)).status_code == 200
    assert (await intake.put(f"{URL}/plan-admin-op", json=plan(), headers=operator)).status_code == 403


async def test_a_household_that_moves_takes_its_plans_to_the_new_grid(
    intake: httpx.AsyncClient, keys: Keys, tap: CommandTap, db: AsyncDatabase[Document]
) -> None:
    admin = keys.headers("admin")
    household: dict[str, Any] = {
        "grid_id": "xgll-01",
        "building": "9栋",
        "unit": "1单元",
        "household": "101",
        "address": "香格里拉社区9栋1单元101",
        "name": "搬家的老人",
        "phone": "13900000777",
        "language": "zh",
        "vulnerabilities": ["lives_alone"],
    }
    assert (await intake.put("/v1/districts/chengzhong/residents/r-moving", json=household, headers=admin)).is_success
    created = await intake.put(f"{URL}/plan-moving", json=plan(resident_id="r-moving"), headers=admin)
    assert created.status_code == 201, created.text

    moved = await intake.put(
        "/v1/districts/chengzhong/residents/r-moving", json={**household, "grid_id": "xgll-02"}, headers=admin
    )
    assert moved.status_code == 200, moved.text
    stored = await db.care_plans.find_one({"_id": "plan-moving"})
    assert stored is not None and stored["grid_id"] == "xgll-02"
    announced = await tap.matching(
        lambda e: e.type == CARE_PLAN_CHANGED and e.data["plan_id"] == "plan-moving", count=2
    )
    assert [e.data["grid_id"] for e in announced] == ["xgll-01", "xgll-02"]
    await intake.delete(f"{URL}/plan-moving", headers=admin)
    await intake.delete("/v1/districts/chengzhong/residents/r-moving", headers=admin)
