"""An operator runs the queue from the console in headless Chromium (Debian's package)."""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, Page, async_playwright, expect
from pymongo.asynchronous.database import AsyncDatabase

from shared.api_keys import ApiKeyRepository, Role
from shared.mongo import Document
from tests.e2e.service_processes import ServiceProcess

pytestmark = pytest.mark.e2e

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_INSTALLED = Path(CHROMIUM).exists()
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM_INSTALLED:
        pytest.fail("Debian's chromium is missing: apt-get install chromium (.ci/run installs it)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        yield launched
        await launched.close()


async def test_operator_files_a_request_sees_it_live_and_reassigns_it(
    console: ServiceProcess, browser: Browser, db: AsyncDatabase[Document], service_logs: Path
) -> None:
    operator_key = await ApiKeyRepository(db).create(district_id="chengzhong", role=Role.OPERATOR, subject="desk-1")
    page: Page = await browser.new_page(viewport={"width": 1280, "height": 900})
    # The console runs under a strict CSP: anything it blocks (inline code or styles) is a console error.
    blocked: list[str] = []
    page.on(
        "console", lambda message: blocked.append(message.text) if "Content Security Policy" in message.text else None
    )
    response = await page.goto(f"{console.url}/console/")
    assert response is not None and "script-src 'self'" in response.headers["content-security-policy"]
    await page.get_by_test_id("key").fill(operator_key)
    await page.get_by_test_id("login").click()
    await expect(page.get_by_test_id("district")).to_have_text("城中区")

    # A resident phones the desk: the operator files the request on their behalf, through intake.
    await page.locator("#new-request summary").click()
    await page.get_by_test_id("new-grid").select_option("rmje-01")
    await expect(page.get_by_test_id("new-item").locator('option[value="errand.medicine"]')).to_have_count(1)
    await page.get_by_test_id("new-item").select_option("errand.medicine")
    await page.get_by_test_id("new-phone").fill("138 0000 7777")
    await page.get_by_test_id("new-text").fill("降压药")
    await page.get_by_test_id("new-submit").click()
    await expect(page.get_by_test_id("new-result")).to_contain_text("已登记")
    request_id = await page.get_by_test_id("new-result").get_attribute("data-request-id")
    assert request_id

    row = page.locator(f'#queue tr[data-request-id="{request_id}"]')
    await expect(row).to_be_visible(timeout=20_000)  # no reload: the board refreshes itself
    await expect(row).to_contain_text("代购药品")  # the item chosen, by name
    await row.click()
    timeline = page.get_by_test_id("timeline").locator("li")
    await expect(timeline.first).to_be_visible()
    entries_before = await timeline.count()

    await page.get_by_test_id("action").select_option("reassign")
    await page.get_by_test_id("action-volunteer").fill("v-sun-hao")
    await page.get_by_test_id("action-reason").fill("居民指定孙浩")
    await page.get_by_test_id("action-submit").click()
    await expect(page.locator("#action-result")).to_have_text("已提交")

    await expect(timeline).not_to_have_count(entries_before, timeout=20_000)
    await expect(page.locator("#decisions summary").first).to_contain_text("match")
    await page.get_by_test_id("lang").click()
    await expect(page.get_by_test_id("district")).to_have_text("Chengzhong District")
    await page.screenshot(path=str(service_logs / "console.png"), full_page=True)

    await page.locator('#tabs button[data-tab="rates"]').click()
    await expect(page.get_by_test_id("rates").locator("th").first).to_be_visible()
    await page.locator('#tabs button[data-tab="health"]').click()
    await expect(page.locator("#services .chip").first).to_be_visible(timeout=15_000)
    await expect(page.locator("#lag")).to_contain_text(".dispatch")
    await expect(page.locator("#lag")).to_contain_text(".notify")
    await page.screenshot(path=str(service_logs / "console-health.png"), full_page=True)
    await page.close()
    assert not blocked, blocked


PRESCRIPTION = {
    "name_zh": "代取处方药",
    "name_en": "Collect a prescription",
    "category": "errand",
    "urgency": "normal",
    "required_skills": ["errand"],
    "attributes": [
        {"code": "pharmacy", "datatype": "string", "required": True, "description": "哪家药店 / Which pharmacy"},
        {"code": "boxes", "datatype": "number", "description": "几盒 / How many boxes"},
        {"code": "payment", "datatype": "singlevaluelist", "description": "怎么付钱 / Payment",
         "values": [{"key": "cash", "name": "现金"}, {"key": "wechat", "name": "微信"}]},
    ],
}  # fmt: skip
HOUSEHOLD = "r-xgll-01-3-2-401"  # deploy/demo/chengzhong.yaml: 马秀兰, no phone, building leader 139 0000 0101


async def serve_until_resolved(intake_url: str, volunteer_key: str, request_id: str) -> None:
    """The linked-heart volunteer takes the request and completes it, through intake like their phone page."""
    base = f"/v1/districts/chengzhong/requests/{request_id}"
    async with httpx.AsyncClient(base_url=intake_url, headers={"X-API-Key": volunteer_key}, timeout=30) as phone:

        async def reaches(status: str) -> None:
            seen = None
            for _ in range(100):
                seen = (await phone.get(base)).json().get("status")
                if seen == status:
                    return
                await asyncio.sleep(0.3)
            raise AssertionError(f"request {request_id} is {seen!r}, never {status!r}")

        await reaches("offered")
        steps: list[tuple[str, dict[str, str], str]] = [
            ("offer/accept", {}, "assigned"),
            ("work/start", {}, "in_progress"),
            ("work/complete", {"note": "药已送到"}, "resolved"),
        ]
        for step, body, then in steps:
            answer = await phone.post(f"{base}/{step}", json=body)
            assert answer.status_code == 202, answer.text
            await reaches(then)


async def test_the_hotline_desk_looks_a_caller_up_files_with_questions_and_records_a_phone_rating(
    console: ServiceProcess, services: dict[str, ServiceProcess], browser: Browser, db: AsyncDatabase[Document],
    service_logs: Path, free_linked_heart: str,
) -> None:  # fmt: skip
    keys = ApiKeyRepository(db)
    operator_key = await keys.create(district_id="chengzhong", role=Role.OPERATOR, subject="desk-2")
    admin_key = await keys.create(district_id="chengzhong", role=Role.DISTRICT_ADMIN, subject="desk-admin")
    volunteer_key = await keys.create(district_id="chengzhong", role=Role.VOLUNTEER, subject=free_linked_heart)
    async with httpx.AsyncClient(base_url=services["intake"].url, timeout=30) as intake:
        item = await intake.put(
            "/v1/districts/chengzhong/communities/xianggelila/menu/errand.prescription",
            json=PRESCRIPTION,
            headers={"X-API-Key": admin_key},
        )
        assert item.status_code in (200, 201)
    page: Page = await browser.new_page(viewport={"width": 1280, "height": 1000})
    blocked: list[str] = []
    page.on(
        "console", lambda message: blocked.append(message.text) if "Content Security Policy" in message.text else None
    )
    await page.goto(f"{console.url}/console/")
    await page.get_by_test_id("key").fill(operator_key)
    await page.get_by_test_id("key").press("Enter")
    await expect(page.get_by_test_id("district")).to_have_text("城中区")

    # The building leader calls: the operator types their number and finds the households they speak for.
    await page.get_by_test_id("desk-tab").click()
    await page.get_by_test_id("desk-phone").fill("139 0000 0101")
    await page.get_by_test_id("desk-phone").press("Enter")
    household = page.locator(f'#desk-households tr[data-resident-id="{HOUSEHOLD}"]')
    await expect(household).to_contain_text("马*兰")
    await expect(household).to_contain_text("楼长")
    await expect(household).to_contain_text("独居")
    await household.focus()
    await household.press("Enter")  # keyboard only
    await expect(page.get_by_test_id("desk-household")).to_contain_text("无电话")

    # File for the household with the item's questions answered, in the household's language, at high priority.
    await page.get_by_test_id("desk-item").select_option("errand.prescription")
    await page.get_by_test_id("desk-question-pharmacy").fill("同仁堂")
    await page.get_by_test_id("desk-question-boxes").fill("2")
    await page.get_by_test_id("desk-question-payment").select_option("wechat")
    await page.get_by_test_id("desk-priority").select_option("high")
    await page.get_by_test_id("desk-text").fill("楼长来电：马奶奶的处方药该取了")
    await page.get_by_test_id("desk-submit").click()
    await expect(page.get_by_test_id("desk-result")).to_contain_text("已登记")
    request_id = await page.get_by_test_id("desk-result").get_attribute("data-request-id")
    assert request_id

    # The queue: filtered by item, the new request is there; its row opens from the keyboard with the answers.
    await page.locator('#tabs button[data-tab="board"]').click()
    await page.get_by_test_id("queue-item").select_option("errand.prescription")
    await page.get_by_test_id("queue-sort").select_option("sla")
    row = page.locator(f'#queue tr[data-request-id="{request_id}"]')
    await expect(row).to_be_visible(timeout=20_000)
    await expect(row).to_contain_text("代取处方药")
    await expect(row).to_contain_text("香格里拉第一网格")
    await row.focus()
    await row.press("Enter")
    await expect(page.get_by_test_id("detail-facts")).to_contain_text("同仁堂")
    await expect(page.get_by_test_id("detail-facts")).to_contain_text("香格里拉社区3栋2单元401")
    await page.get_by_test_id("queue-overdue").check()
    await expect(row).to_have_count(0)
    await page.get_by_test_id("queue-overdue").uncheck()
    await page.get_by_test_id("desk-tab").click()

    await serve_until_resolved(services["intake"].url, volunteer_key, request_id)

    # The leader calls back with the rating: look up again, choose the household and the request by keyboard.
    recent = page.locator(f'#desk-requests tr[data-request-id="{request_id}"]')
    await household.focus()
    await household.press("Enter")
    for _ in range(30):  # looking the same caller up again keeps the household chosen and refreshes its requests
        await page.get_by_test_id("desk-lookup").click()
        try:
            await expect(recent).to_have_count(1, timeout=1_000)
            break
        except AssertionError:
            continue
    await expect(recent).to_contain_text("代取处方药")
    await recent.focus()
    await recent.press("Enter")
    facts = page.get_by_test_id("desk-request-facts")
    await expect(facts).to_contain_text("同仁堂")
    await expect(facts).to_contain_text("微信")
    await expect(facts).to_contain_text("香格里拉社区3栋2单元401")  # the full address, for staff
    await page.get_by_test_id("desk-stars").select_option("4")
    await page.get_by_test_id("desk-comment").fill("楼长转达：药取回来了")
    await page.get_by_test_id("desk-rate-submit").click()
    await expect(page.get_by_test_id("desk-action-result")).to_have_text("已记录")
    await expect(facts).to_contain_text("★★★★ 楼长转达：药取回来了", timeout=15_000)  # shown once dispatch applied it

    for _ in range(100):
        stored = await db.requests.find_one({"_id": request_id})
        if stored and stored.get("ratings"):
            break
        await asyncio.sleep(0.3)
    assert stored is not None and stored["ratings"][0]["stars"] == 4
    assert stored["ratings"][0]["by"].endswith("on behalf of the resident")
    assert stored["attributes"] == {"pharmacy": "同仁堂", "boxes": 2, "payment": "wechat"}
    assert stored["priority"] == "high" and stored["resident_id"] == HOUSEHOLD

    # Every text in the chosen language: names of items, places and kinds, never codes.
    await page.get_by_test_id("lang").click()
    await expect(household).to_contain_text("their proxy (building leader)")
    await expect(household).to_contain_text("Shangri-La Grid 1")
    await expect(recent).to_contain_text("Collect a prescription")
    await page.screenshot(path=str(service_logs / "console-desk.png"), full_page=True)
    await page.close()
    assert not blocked, blocked
