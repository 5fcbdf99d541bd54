"""A volunteer does their whole part of a request on a phone (390×844) in headless Chromium (Debian's package)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, ViewportSize, async_playwright, expect

from tests.e2e.console.test_console_browser import CHROMIUM, CHROMIUM_FLAGS, CHROMIUM_INSTALLED
from tests.e2e.volunteer.conftest import PHONE_AN, PHONE_BO, VolunteerStack

pytestmark = pytest.mark.e2e

PHONE = ViewportSize(width=390, height=844)


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    if not CHROMIUM_INSTALLED:
        pytest.fail("Debian's chromium is missing: apt-get install chromium (.ci/run installs it)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        yield launched
        await launched.close()


async def test_a_volunteer_signs_in_gets_an_offer_live_accepts_starts_resolves_and_sees_it_counted(
    volunteer_stack: VolunteerStack, browser: Browser, service_logs: Path
) -> None:
    stack = volunteer_stack
    # 薄荷 goes off duty for the test, so the offer can only go to 安然, who uses the phone.
    async with stack.client() as bo:
        await stack.sign_in(bo, PHONE_BO)
        assert (await bo.put("/volunteer/api/availability", json={"on_duty": False, "leave": []})).status_code == 200
        try:
            context = await browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True)
            page: Page = await context.new_page()
            problems: list[str] = []
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            response = await page.goto(f"{stack.url}/volunteer/")
            assert response is not None and "script-src 'self'" in response.headers["content-security-policy"]

            await page.get_by_test_id("phone").fill("137 0000 0001")
            await page.get_by_test_id("send-code").click()
            await expect(page.get_by_test_id("signin-message")).to_contain_text("验证码已发送")
            await page.get_by_test_id("code").fill(stack.gateway.code_for(PHONE_AN))
            await page.get_by_test_id("sign-in").click()
            await expect(page.get_by_test_id("me-name")).to_have_text("安然")
            await expect(page.get_by_test_id("live")).to_have_text("实时", timeout=15_000)  # notify's stream is open
            await page.screenshot(path=str(service_logs / "volunteer-signed-in.png"))

            request_id = await stack.submit("降压药两盒，送到楼下")
            offer = page.locator(f'[data-testid="offers"] li[data-request-id="{request_id}"]')
            # Live: the stream's event shows a notice and the offer, with no reload and no polling.
            await expect(page.get_by_test_id("toast")).to_contain_text("新的邀请", timeout=20_000)
            await expect(offer).to_be_visible(timeout=20_000)
            await expect(offer).to_contain_text("代购药品")
            await expect(offer).to_contain_text("降压药两盒")
            await expect(offer.locator(".countdown")).to_have_text(re.compile(r"^\d+:\d\d$"))
            assert "13800005555" not in await offer.inner_text()
            await page.screenshot(path=str(service_logs / "volunteer-offer.png"))

            await offer.get_by_test_id("action-accept").click()
            await expect(page.get_by_test_id("toast")).to_have_text("已提交")
            task = page.locator(f'[data-testid="assignments"] li[data-request-id="{request_id}"]')
            await expect(task).to_have_attribute("data-status", "assigned", timeout=20_000)
            await expect(task.get_by_test_id("proxy-phone")).to_have_text("+8613900003333")
            await task.get_by_test_id("action-start").click()
            await expect(task).to_have_attribute("data-status", "in_progress", timeout=20_000)
            await page.screenshot(path=str(service_logs / "volunteer-in-progress.png"))
            await task.get_by_test_id("action-resolve").click()
            await task.get_by_test_id("input-resolve").fill("已送到")
            await task.get_by_test_id("send-resolve").click()
            await expect(task).to_have_count(0, timeout=20_000)

            await page.get_by_test_id("tab-record").click()
            done = page.get_by_test_id("record-tasks").locator("li")
            await expect(done.first).to_be_visible(timeout=20_000)
            assert int(await page.get_by_test_id("total-tasksDone").inner_text()) >= 1
            await page.screenshot(path=str(service_logs / "volunteer-record.png"), full_page=True)

            await page.get_by_test_id("lang").click()
            await expect(page.get_by_test_id("tab-record")).to_have_text("Record")
            await page.get_by_test_id("large").click()
            assert await page.evaluate("document.documentElement.classList.contains('large')")
            await page.screenshot(path=str(service_logs / "volunteer-record-en-large.png"), full_page=True)
            await context.close()
            # The page's first question (`/volunteer/api/me`, before signing in) answers 401: Chromium logs it.
            unexpected = [p for p in problems if "status of 401" not in p]
            assert not unexpected, unexpected
            assert len(problems) <= 1, problems
        finally:
            await bo.put("/volunteer/api/availability", json={"on_duty": True, "leave": []})
