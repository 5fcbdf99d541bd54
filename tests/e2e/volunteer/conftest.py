"""The volunteer page over the real stack: dispatch and notify as processes, intake in this process.

Intake runs here (uvicorn on a free 127.0.0.1 port, so Chromium can load the page) because the test owns
the SMS gateway: `CapturingGateway` is handed to `create_app` and keeps the codes that would have been
texted, so the test reads them from memory instead of another process's log, and no API ever returns a
code. Its own district (`xiaoqiao`, two volunteers with phones, one resident with a proxy) keeps these
tests apart from the others' offers.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import uvicorn
from pymongo.asynchronous.database import AsyncDatabase

from services.admin import reference_data
from services.intake.api import create_app
from services.intake.settings import ApiLimits
from services.intake.volunteer import codes
from services.intake.volunteer.settings import VolunteerPageSettings
from shared.api_keys import ApiKeyRepository, Role
from shared.gateways import GatewayChannel
from shared.mongo import Document
from shared.settings import IntakeSettings
from tests.e2e.service_processes import ServiceProcess, free_port

DISTRICT = "xiaoqiao"
GRID = "xq-01"
PHONE_AN = "+8613700000001"
PHONE_BO = "+8613700000002"
RESIDENT_PHONE = "+8613800005555"
CODES_PER_PHONE = 10
SPEC: dict[str, Any] = {
    "district": {"id": DISTRICT, "name_zh": "小桥区", "name_en": "Xiaoqiao District", "timezone": "Asia/Shanghai"},
    "street_offices": [{"id": "xq-so", "name_zh": "小桥街道", "name_en": "Xiaoqiao Street Office"}],
    "communities": [{"id": "xq-c", "street_office_id": "xq-so", "name_zh": "小桥社区", "name_en": "Xiaoqiao"}],
    "grids": [{"id": GRID, "community_id": "xq-c", "name_zh": "小桥第一网格", "name_en": "XQ Grid 1"}],
    "volunteers": [
        {"id": "v-xq-an", "grid_id": GRID, "name": "安然", "kind": "in_service_party_member", "skills": ["errand"],
         "phone": PHONE_AN, "capacity": 3},
        {"id": "v-xq-bo", "grid_id": GRID, "name": "薄荷", "kind": "grid_worker", "skills": ["errand"],
         "phone": PHONE_BO, "capacity": 3},
    ],
    "menu": [
        {"code": "errand.medicine", "name_zh": "代购药品", "name_en": "Buy medicine", "category": "errand",
         "urgency": "normal", "required_skills": ["errand"],
         "deadlines": {"grid": {"accept_minutes": 30, "resolve_minutes": 120}}},
    ],
}  # fmt: skip


@dataclass
class CapturingGateway:
    """The SMS adapter of these tests: keeps each message in memory (the phone's messages, newest last)."""

    sent: dict[str, list[str]] = field(default_factory=dict)

    async def send(self, *, channel: GatewayChannel, phone: str, text: str, language: str) -> None:
        self.sent.setdefault(phone, []).append(text)

    def code_for(self, phone: str) -> str:
        match = re.search(r"\b(\d{6})\b", self.sent[phone][-1])
        assert match, self.sent[phone][-1]
        return match.group(1)


@dataclass
class VolunteerStack:
    url: str
    notify_url: str
    gateway: CapturingGateway
    operator_key: str
    db: AsyncDatabase[Document]
    sessions: dict[str, str] = field(default_factory=dict)

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(base_url=self.url, timeout=30)

    async def sign_in(self, client: httpx.AsyncClient, phone: str) -> None:
        """A session for `phone` on `client`: signed in by code once, then the same session again (the
        per-phone limit on codes is shared by every test of the run)."""
        if phone in self.sessions:
            client.cookies.set(codes.SESSION_COOKIE, self.sessions[phone])
            if (await client.get("/volunteer/api/me")).status_code == 200:
                return
        sent = await client.post("/volunteer/api/sign-in/code", json={"phone": phone})
        assert sent.status_code == 202, sent.text
        answer = await client.post(
            "/volunteer/api/sign-in", json={"phone": phone, "code": self.gateway.code_for(phone)}
        )
        assert answer.status_code == 200, answer.text
        self.sessions[phone] = client.cookies[codes.SESSION_COOKIE]

    async def submit(self, text: str = "降压药两盒") -> str:
        async with httpx.AsyncClient(base_url=self.url, timeout=30) as staff:
            response = await staff.post(
                f"/v1/districts/{DISTRICT}/requests",
                headers={"X-API-Key": self.operator_key},
                json={"menu_item_code": "errand.medicine", "grid_id": GRID, "resident_phone": RESIDENT_PHONE,
                      "text": text},
            )  # fmt: skip
        assert response.status_code == 202, response.text
        request_id: str = response.json()["request_id"]
        return request_id


async def eventually(probe: Any, within: float = 30.0, every: float = 0.3) -> Any:
    """Poll `probe()` until it returns something truthy (dispatch works asynchronously), or fail."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        found = await probe()
        if found:
            return found
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"not within {within}s: {probe.__doc__ or probe}")
        await asyncio.sleep(every)


@pytest.fixture(scope="session")
async def volunteer_stack(
    services: dict[str, ServiceProcess], platform_env: dict[str, str], db: AsyncDatabase[Document]
) -> AsyncIterator[VolunteerStack]:
    await reference_data.load(db, SPEC)
    await db.residents.replace_one(
        {"_id": "res-xq-1"},
        {"_id": "res-xq-1", "district_id": DISTRICT, "grid_id": GRID, "building": "5号楼", "unit": "2单元",
         "household": "301", "address": "小桥区河畔路 8 号 5 号楼 2 单元 301", "name": "林阿婆",
         "phone": RESIDENT_PHONE, "language": "zh", "vulnerabilities": ["lives_alone"],
         "proxy": {"kind": "building_leader", "name": "周楼长", "phone": "+8613900003333"},
         "linked_volunteer_id": None, "updated_at": datetime.now(UTC)},
        upsert=True,
    )  # fmt: skip
    operator_key = await ApiKeyRepository(db).create(district_id=DISTRICT, role=Role.OPERATOR, subject="xq-desk")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    notify_url = services["notify"].url
    settings = IntakeSettings(**{**platform_env, "INTAKE_PUBLIC_URL": url, "NOTIFY_PUBLIC_URL": notify_url})  # type: ignore[arg-type]
    gateway = CapturingGateway()
    app = create_app(
        settings,
        ApiLimits(INTAKE_AUTH_CACHE_SECONDS=0),
        # Plain http on 127.0.0.1 only (create_app refuses this anywhere else). Every test signs in from
        # 127.0.0.1, so the per-address limit is raised; the per-phone limit is the one a test exercises.
        volunteer_settings=VolunteerPageSettings(
            VOLUNTEER_COOKIE_SECURE=False, VOLUNTEER_CODES_PER_PHONE=CODES_PER_PHONE, VOLUNTEER_CODES_PER_ADDRESS=200
        ),
        sign_in_gateway=gateway,
    )
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False))
    task = asyncio.create_task(server.serve())
    await eventually(lambda: asyncio.sleep(0.1, server.started), within=30)
    try:
        yield VolunteerStack(url, notify_url, gateway, operator_key, db)
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 15)
