"""The console's CSV cannot carry a formula into a spreadsheet, and its page is served with a strict CSP."""

from __future__ import annotations

import csv
import io
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from pymongo.asynchronous.database import AsyncDatabase

from services.dispatch.read_models import backfill
from shared.mongo import Document
from tests.integration.console.test_console_api import key_for, window
from tests.unit.console.test_rates import DATA

pytestmark = pytest.mark.integration
FORMULA = '=HYPERLINK("http://127.0.0.1/x","click")'


@pytest.fixture(scope="module")
async def formula_district(db: AsyncDatabase[Document]) -> AsyncIterator[str]:
    district_id = f"csv-{uuid.uuid4().hex[:8]}"
    await db.districts.insert_one({"_id": district_id, "name_zh": "测试区", "name_en": "CSV district"})
    documents = [{**d, "_id": uuid.uuid4().hex, "district_id": district_id, "community_id": FORMULA} for d in DATA]
    await db.requests.insert_many(documents)
    await backfill.rebuild(db, district_id, documents)  # the read models dispatch would have kept
    yield district_id
    await db.requests.delete_many({"district_id": district_id})


async def test_rates_csv_neutralises_formulas(
    console: httpx.AsyncClient, db: AsyncDatabase[Document], formula_district: str
) -> None:
    response = await console.get(
        "/console/api/rates",
        params={"group_by": "community", "format": "csv", **window()},
        headers=await key_for(db, formula_district),
    )

    assert response.status_code == 200
    groups = [row["group"] for row in csv.DictReader(io.StringIO(response.text))]
    assert groups == ["'" + FORMULA]


async def test_the_page_is_served_with_a_strict_csp(console: httpx.AsyncClient) -> None:
    page = await console.get("/console/")
    api = await console.get("/console/api/board")

    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert page.headers["x-frame-options"] == "DENY"
    for response in (page, api):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"
