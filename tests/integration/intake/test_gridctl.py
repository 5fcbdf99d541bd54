"""gridctl against the run's database, as a shell user runs it: districts, imports with a report, exports, keys."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import httpx
import pytest
import yaml
from pymongo.asynchronous.database import AsyncDatabase

from shared.mongo import Document
from tests.integration.intake.conftest import Keys

pytestmark = pytest.mark.integration

GRIDS_CSV = """id,community_id,name_zh,name_en
cb-01,beichuan,北川河东路第一网格,Beichuan Grid 1
cb-02,beichuan,北川河东路第二网格,Beichuan Grid 2
cb-03,nowhere,不存在,Nowhere
"""
VOLUNTEERS_CSV = """id,grid_id,name,kind,skills,languages,capacity,phone,availability
v-cb-1,cb-01,祁国庆,party_representative,errand;paperwork,zh,3,138 0971 0001,0 08:00-12:00
v-cb-2,cb-02,马兰花,volunteer,care,zh;hui,2,13809710002,
v-cb-3,cb-01,错误,chairman,errand,zh,3,13809710003,
v-cb-4,cb-01,没电话,volunteer,errand,zh,3,call me,
v-cb-5,cb-09,走错,volunteer,errand,zh,3,13809710005,
"""


async def gridctl(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "services.admin.cli", *args,
        env={**os.environ, **env}, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def test_create_a_district_import_it_twice_and_export_it(
    platform_env: dict[str, str], db: AsyncDatabase[Document], tmp_path: Path
) -> None:
    created = await gridctl(
        platform_env, "district", "create", "chengbei", "--name-zh", "城北区", "--name-en", "Chengbei"
    )
    structure = tmp_path / "structure.yaml"
    structure.write_text(
        yaml.safe_dump(
            {"street-offices": [{"id": "cb-street", "name_zh": "朝阳街道", "name_en": "Chaoyang"}],
             "communities": [{"id": "beichuan", "street_office_id": "cb-street", "name_zh": "北川河东路社区",
                              "name_en": "Beichuan River East Road"}]},
            allow_unicode=True,
        ),
        encoding="utf-8",
    )  # fmt: skip
    (tmp_path / "grids.csv").write_text(GRIDS_CSV, encoding="utf-8")
    (tmp_path / "volunteers.csv").write_text(VOLUNTEERS_CSV, encoding="utf-8")

    assert created[0] == 0 and "created" in created[1]
    for kind in ("street-offices", "communities"):
        code, out, _ = await gridctl(platform_env, "import", kind, str(structure), "-d", "chengbei")
        assert code == 0 and "1 created" in out
    grids = await gridctl(platform_env, "import", "grids", str(tmp_path / "grids.csv"), "-d", "chengbei")
    volunteers = await gridctl(platform_env, "import", "volunteers", str(tmp_path / "volunteers.csv"), "-d", "chengbei")
    again = await gridctl(platform_env, "import", "volunteers", str(tmp_path / "volunteers.csv"), "-d", "chengbei")

    assert grids[0] == 2 and "2 created" in grids[1] and "1 rejected" in grids[1]
    assert "row 4 (cb-03): community_id" in grids[2]
    assert volunteers[0] == 2 and "2 created, 0 updated, 0 unchanged, 3 rejected" in volunteers[1]
    assert "row 4 (v-cb-3): kind" in volunteers[2]
    assert "row 5 (v-cb-4): phone" in volunteers[2]
    assert "row 6 (v-cb-5): grid_id" in volunteers[2]
    assert "5/5" in volunteers[2]  # the progress bar reached the end
    assert "0 created, 0 updated, 2 unchanged, 3 rejected" in again[1]
    assert await db.volunteers.count_documents({"district_id": "chengbei"}) == 2
    stored = await db.volunteers.find_one({"_id": "v-cb-1"})
    assert stored is not None and stored["phone"] == "+8613809710001" and stored["community_id"] == "beichuan"

    code, csv_text, _ = await gridctl(platform_env, "export", "volunteers", "-d", "chengbei", "-f", "csv")
    exported = tmp_path / "exported.csv"
    exported.write_text(csv_text, encoding="utf-8")
    reimport = await gridctl(platform_env, "import", "volunteers", str(exported), "-d", "chengbei", "-q")
    assert code == 0 and csv_text.splitlines()[0].startswith("id,grid_id,name")
    assert reimport[0] == 0 and "0 created, 0 updated, 2 unchanged, 0 rejected" in reimport[1]
    code, yaml_text, _ = await gridctl(platform_env, "export", "grids", "-d", "chengbei")
    assert [g["id"] for g in yaml.safe_load(yaml_text)["grids"]] == ["cb-01", "cb-02"]


async def test_keys_are_printed_once_work_and_can_be_revoked(
    platform_env: dict[str, str], intake: httpx.AsyncClient, keys: Keys
) -> None:
    code, out, err = await gridctl(platform_env, "keys", "create", "--district", "chengzhong", "--role", "operator")
    key = out.strip()
    assert code == 0 and key.startswith("gsp_") and "only once" in err
    assert (await intake.get("/v1/districts/chengzhong/requests", headers={"X-API-Key": key})).status_code == 200

    revoked = await gridctl(platform_env, "keys", "revoke", key.split("_")[1])
    assert revoked[0] == 0
    assert (await intake.get("/v1/districts/chengzhong/requests", headers={"X-API-Key": key})).status_code == 401

    volunteer_without_id = await gridctl(platform_env, "keys", "create", "-d", "chengzhong", "-r", "volunteer")
    unknown_district = await gridctl(platform_env, "keys", "create", "-d", "atlantis", "-r", "client_app")
    assert volunteer_without_id[0] == 1 and "--subject" in volunteer_without_id[2]
    assert unknown_district[0] == 1 and "no district" in unknown_district[2]


def district_file(path: Path, district_id: str, grid_id: str, volunteer_id: str, phone: str) -> Path:
    spec = {
        "district": {"id": district_id, "name_zh": district_id, "name_en": district_id},
        "street_offices": [{"id": f"{district_id}-so", "name_zh": "街道", "name_en": "Street office"}],
        "communities": [
            {"id": f"{district_id}-c", "street_office_id": f"{district_id}-so", "name_zh": "社区", "name_en": "C"}
        ],
        "grids": [{"id": grid_id, "community_id": f"{district_id}-c", "name_zh": "网格", "name_en": "Grid"}],
        "volunteers": [
            {"id": volunteer_id, "grid_id": grid_id, "name": "志愿者", "skills": ["errand"], "phone": phone}
        ],
    }
    path.write_text(yaml.safe_dump(spec, allow_unicode=True), encoding="utf-8")
    return path


async def test_load_refuses_ids_of_another_districts_grid_or_volunteer(
    platform_env: dict[str, str], db: AsyncDatabase[Document], tmp_path: Path
) -> None:
    first = district_file(tmp_path / "first.yaml", "clash-a", "clash-grid", "clash-v", "13800000001")
    second = district_file(tmp_path / "second.yaml", "clash-b", "clash-grid", "clash-v", "13800000002")

    loaded = await gridctl(platform_env, "load", str(first))
    refused = await gridctl(platform_env, "load", str(second))

    assert loaded[0] == 0, loaded
    assert refused[0] == 2, refused
    assert "rejected grids row 1 (clash-grid): id: 'clash-grid' belongs to district 'clash-a'" in refused[2]
    assert "rejected volunteers row 1 (clash-v): id: 'clash-v' belongs to district 'clash-a'" in refused[2]
    grid = await db.grids.find_one({"_id": "clash-grid"})
    volunteer = await db.volunteers.find_one({"_id": "clash-v"})
    assert grid is not None and grid["district_id"] == "clash-a" and grid["community_id"] == "clash-a-c"
    assert volunteer is not None and volunteer["district_id"] == "clash-a"
    assert volunteer["phone"] == "+8613800000001" and volunteer["community_id"] == "clash-a-c"
