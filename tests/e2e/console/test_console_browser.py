"""An operator runs the queue from the console in headless Chromium (Debian's package)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path

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
