"""The volunteer page's sign-in as deployed (GRID_ENVIRONMENT unset, the default "log" SMS adapter)."""

from __future__ import annotations

import httpx
import pytest

pytestmark = pytest.mark.integration


async def test_codes_are_never_sent_to_the_log_outside_development(intake: httpx.AsyncClient) -> None:
    answer = await intake.post("/volunteer/api/sign-in/code", json={"phone": "13700000001"})
    assert answer.status_code == 503 and answer.json()["code"] == "no-sms-gateway"


async def test_every_page_api_needs_a_session(intake: httpx.AsyncClient) -> None:
    for path in ("me", "tasks", "tasks/abc", "record", "record.csv", "stream"):
        answer = await intake.get(f"/volunteer/api/{path}")
        assert answer.status_code == 401, path
        assert answer.headers["content-type"].startswith("application/problem+json")
    forged = await intake.get("/volunteer/api/tasks", headers={"Cookie": "gsp_volunteer=not-a-session"})
    assert forged.status_code == 401


async def test_the_page_and_its_assets_ship_with_intake(intake: httpx.AsyncClient) -> None:
    page = await intake.get("/volunteer/")
    assert page.status_code == 200 and "script-src 'self'" in page.headers["content-security-policy"]
    assert "/volunteer/app.js" in page.text
    for asset in ("app.js", "app.css", "manifest.webmanifest", "sw.js", "icon.svg"):
        assert (await intake.get(f"/volunteer/{asset}")).status_code == 200, asset
    assert (await intake.get("/volunteer/secrets.txt")).status_code == 404
    assert (await intake.get("/volunteer")).headers["location"] == "/volunteer/"
    assert (await intake.get("/volunteer/..%2Fapi.py")).status_code == 404
