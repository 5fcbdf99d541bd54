"""The volunteer page's API over the real stack: sign-in, offers, actions, availability and the record.

Dispatch and notify run as processes on the run's Kafka topics and database; intake runs in this
process with the test's SMS gateway (see conftest). Each step waits for dispatch's read models.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus

from services.intake.volunteer import codes
from tests.e2e.volunteer.conftest import CODES_PER_PHONE, DISTRICT, GRID, PHONE_AN, PHONE_BO, VolunteerStack, eventually

pytestmark = pytest.mark.e2e


async def offers_of(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/volunteer/api/tasks")
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def ids(tasks: dict[str, Any], field: str) -> list[str]:
    return [task["request_id"] for task in tasks[field]]


class TestSignIn:
    async def test_a_volunteer_signs_in_with_the_code_texted_to_them(self, volunteer_stack: VolunteerStack) -> None:
        async with volunteer_stack.client() as client:
            assert (await client.get("/volunteer/api/me")).status_code == 401
            sent = await client.post("/volunteer/api/sign-in/code", json={"phone": "137 0000 0001"})
            assert sent.status_code == 202 and "code" not in sent.text.replace("sign-in", "")
            wrong = await client.post("/volunteer/api/sign-in", json={"phone": PHONE_AN, "code": "000000"})
            code = volunteer_stack.gateway.code_for(PHONE_AN)
            assert wrong.status_code == (200 if code == "000000" else 401)
            answer = await client.post("/volunteer/api/sign-in", json={"phone": PHONE_AN, "code": code})
            assert answer.status_code == 200, answer.text
            cookie = answer.headers["set-cookie"].lower()
            assert "httponly" in cookie and "samesite=strict" in cookie and "path=/volunteer/" in cookie
            assert answer.json()["volunteer_id"] == "v-xq-an" and answer.json()["phone"] == "+86137****0001"
            me = await client.get("/volunteer/api/me")
            assert me.status_code == 200 and me.json()["name"] == "安然"
            stored = await volunteer_stack.db.volunteer_sessions.find_one({"volunteer_id": "v-xq-an"})
            assert stored is not None and client.cookies[codes.SESSION_COOKIE] != stored["_id"]
            # Single use: the same code a second time signs nobody in.
            again = await client.post("/volunteer/api/sign-in", json={"phone": PHONE_AN, "code": code})
            assert again.status_code == 401
            out = await client.post("/volunteer/api/sign-out")
            assert out.status_code == 204 and (await client.get("/volunteer/api/me")).status_code == 401

    async def test_an_unknown_phone_gets_the_same_answer_and_no_message(self, volunteer_stack: VolunteerStack) -> None:
        async with volunteer_stack.client() as client:
            answer = await client.post("/volunteer/api/sign-in/code", json={"phone": "13700009999"})
            assert answer.status_code == 202 and answer.json() == {"sent": True, "expires_in_seconds": 300}
            assert "+8613700009999" not in volunteer_stack.gateway.sent
            refused = await client.post("/volunteer/api/sign-in", json={"phone": "13700009999", "code": "123456"})
            assert refused.status_code == 401 and refused.json()["code"] == "wrong-code"

    async def test_codes_expire_and_wrong_guesses_burn_them(self, volunteer_stack: VolunteerStack) -> None:
        async with volunteer_stack.client() as client:
            await client.post("/volunteer/api/sign-in/code", json={"phone": PHONE_BO})
            code = volunteer_stack.gateway.code_for(PHONE_BO)
            await volunteer_stack.db.volunteer_sign_in_codes.update_one(
                {"volunteer_id": "v-xq-bo"}, {"$set": {"expires_at": datetime.now(UTC) - timedelta(seconds=1)}}
            )
            late = await client.post("/volunteer/api/sign-in", json={"phone": PHONE_BO, "code": code})
            assert late.status_code == 401

            await client.post("/volunteer/api/sign-in/code", json={"phone": PHONE_BO})
            code = volunteer_stack.gateway.code_for(PHONE_BO)
            guess = "111111" if code != "111111" else "222222"
            for _ in range(5):
                assert (
                    await client.post("/volunteer/api/sign-in", json={"phone": PHONE_BO, "code": guess})
                ).status_code == 401
            burned = await client.post("/volunteer/api/sign-in", json={"phone": PHONE_BO, "code": code})
            assert burned.status_code == 401
            stored = await volunteer_stack.db.volunteer_sign_in_codes.find_one({"volunteer_id": "v-xq-bo"})
            assert stored is None or code not in str(stored)

    async def test_codes_per_phone_are_rate_limited(self, volunteer_stack: VolunteerStack) -> None:
        async with volunteer_stack.client() as client:
            answers = [
                (await client.post("/volunteer/api/sign-in/code", json={"phone": "13700008888"})).status_code
                for _ in range(CODES_PER_PHONE + 2)
            ]
        assert answers[:CODES_PER_PHONE] == [202] * CODES_PER_PHONE and answers[-1] == 429

    async def test_a_code_signs_in_once_even_when_sent_eight_times_at_once(
        self, volunteer_stack: VolunteerStack
    ) -> None:
        async with volunteer_stack.client() as client:
            assert (await client.post("/volunteer/api/sign-in/code", json={"phone": PHONE_AN})).status_code == 202
            code = volunteer_stack.gateway.code_for(PHONE_AN)
            clients = [volunteer_stack.client() for _ in range(8)]
            try:
                answers = await asyncio.gather(
                    *(c.post("/volunteer/api/sign-in", json={"phone": PHONE_AN, "code": code}) for c in clients)
                )
            finally:
                for c in clients:
                    await c.aclose()
        assert sorted(a.status_code for a in answers) == [200] + [401] * 7


class TestTasks:
    async def test_a_volunteer_accepts_starts_notes_and_resolves_and_only_they_can(
        self, volunteer_stack: VolunteerStack
    ) -> None:
        stack = volunteer_stack
        async with stack.client() as an, stack.client() as bo, stack.client() as stranger:
            await stack.sign_in(an, PHONE_AN)
            await stack.sign_in(bo, PHONE_BO)
            request_id = await stack.submit()

            async def offered() -> tuple[httpx.AsyncClient, httpx.AsyncClient] | None:
                """the request offered to one of the two"""
                if request_id in ids(await offers_of(an), "offers"):
                    return an, bo
                if request_id in ids(await offers_of(bo), "offers"):
                    return bo, an
                return None

            mine, other = await eventually(offered)
            (offer,) = [t for t in (await offers_of(mine))["offers"] if t["request_id"] == request_id]
            assert offer["menu_item"]["name_zh"] == "代购药品" and offer["text"] == "降压药两盒"
            assert offer["expires_at"] and offer["place"]["building"] == "5号楼 2单元"
            assert "13800005555" not in str(offer) and "13900003333" not in str(offer) and "301" not in str(offer)

            # The other volunteer (and an anonymous caller) can neither read nor act on it.
            assert (await other.get(f"/volunteer/api/tasks/{request_id}")).status_code == 404
            assert (await other.post(f"/volunteer/api/tasks/{request_id}/accept", json={})).status_code == 404
            assert (await other.post(f"/volunteer/api/tasks/{request_id}/notes", json={"text": "x"})).status_code == 404
            assert (await stranger.post(f"/volunteer/api/tasks/{request_id}/accept", json={})).status_code == 401
            assert request_id not in ids(await offers_of(other), "offers")

            decline = await mine.post(f"/volunteer/api/tasks/{request_id}/decline", json={"reason": " "})
            assert decline.status_code == 422
            accepted = await mine.post(
                f"/volunteer/api/tasks/{request_id}/accept", json={}, headers={"Idempotency-Key": "a1"}
            )
            assert accepted.status_code == 202, accepted.text

            async def assigned() -> dict[str, Any] | None:
                """the request among my assignments"""
                found = [t for t in (await offers_of(mine))["assignments"] if t["request_id"] == request_id]
                return found[0] if found else None

            task = await eventually(assigned)
            assert task["resident"]["phone"] == "+8613800005555" and task["proxy"]["phone"] == "+8613900003333"
            assert task["place"]["address"].endswith("301")
            assert (await other.get(f"/volunteer/api/tasks/{request_id}")).status_code == 404
            assert (await other.post(f"/volunteer/api/tasks/{request_id}/start", json={})).status_code == 404

            assert (await mine.post(f"/volunteer/api/tasks/{request_id}/start", json={})).status_code == 202

            async def started() -> bool:
                """the task in progress"""
                return bool(
                    (await mine.get(f"/volunteer/api/tasks/{request_id}")).json().get("status") == "in_progress"
                )

            await eventually(started)
            noted = await mine.post(f"/volunteer/api/tasks/{request_id}/notes", json={"text": "药已买到"})
            assert noted.status_code == 202

            async def has_note() -> bool:
                """the note on the task"""
                notes = (await mine.get(f"/volunteer/api/tasks/{request_id}")).json().get("notes") or []
                return any(n["text"] == "药已买到" for n in notes)

            await eventually(has_note)
            resolved = await mine.post(f"/volunteer/api/tasks/{request_id}/resolve", json={"reason": "已送到"})
            assert resolved.status_code == 202

            async def gone() -> bool:
                """the task no longer open"""
                return request_id not in ids(await offers_of(mine), "assignments")

            await eventually(gone)
            month = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m")

            async def counted() -> dict[str, Any] | None:
                """the task in my record"""
                got = (await mine.get("/volunteer/api/record", params={"month": month})).json()
                return got if any(t["request_id"] == request_id for t in got["tasks"]) else None

            mine_record = await eventually(counted)
            assert mine_record["totals"]["tasks"] >= 1 and mine_record["totals"]["minutes"] >= 1
            other_record = (await other.get("/volunteer/api/record", params={"month": month})).json()
            assert all(t["request_id"] != request_id for t in other_record["tasks"])

            # Hours: only the one who did it may edit, within limits; the edit reaches the record.
            assert (await other.post(f"/volunteer/api/record/{request_id}/hours",
                                     json={"minutes": 30, "reason": "x"})).status_code == 404  # fmt: skip
            too_long = await mine.post(
                f"/volunteer/api/record/{request_id}/hours", json={"minutes": 600, "reason": "x"}
            )
            assert too_long.status_code == 202  # dispatch refuses it (limits): the record keeps the measured time
            edit = await mine.post(
                f"/volunteer/api/record/{request_id}/hours", json={"minutes": 45, "reason": "忘了点开始"}
            )
            assert edit.status_code == 202

            async def edited() -> dict[str, Any] | None:
                """the edited minutes in my record"""
                got = (await mine.get("/volunteer/api/record", params={"month": month})).json()
                done = [t for t in got["tasks"] if t["request_id"] == request_id and t["edited"]]
                return done[0] if done else None

            entry = await eventually(edited)
            assert entry["minutes"] == 45 and entry["measured_minutes"] <= 5

            # The party-branch export of the grid: one row per volunteer.
            async with httpx.AsyncClient(base_url=stack.url, timeout=30) as staff:
                exported = await staff.get(
                    f"/v1/districts/{DISTRICT}/service-records.csv",
                    params={"month": month, "grid_id": GRID},
                    headers={"X-API-Key": stack.operator_key},
                )
                assert exported.status_code == 200 and exported.headers["content-type"].startswith("text/csv")
                rows = list(csv.DictReader(io.StringIO(exported.text.lstrip("\ufeff"))))
                me = (await mine.get("/volunteer/api/me")).json()
                (row,) = [r for r in rows if r["volunteer_id"] == me["volunteer_id"]]
                assert int(row["tasks"]) >= 1 and row["name"] == me["name"]
                summed = await staff.get(
                    f"/v1/districts/{DISTRICT}/service-records",
                    params={"month": month, "community_id": "xq-c"},
                    headers={"X-API-Key": stack.operator_key},
                )
                assert summed.status_code == 200 and summed.json()["totals"]["tasks"] >= 1
                refused = await staff.get(
                    f"/v1/districts/{DISTRICT}/service-records", params={"month": month, "grid_id": GRID}
                )
                assert refused.status_code == 401

    async def test_off_duty_and_on_leave_volunteers_are_not_offered_anything(
        self, volunteer_stack: VolunteerStack
    ) -> None:
        stack = volunteer_stack
        async with stack.client() as an, stack.client() as bo:
            await stack.sign_in(an, PHONE_AN)
            await stack.sign_in(bo, PHONE_BO)
            today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
            away = await an.put("/volunteer/api/availability", json={
                "on_duty": True, "leave": [{"start": str(today), "end": str(today + timedelta(days=1))}]})  # fmt: skip
            assert away.status_code == 200 and away.json()["leave"][0]["start"] == str(today)
            off = await bo.put("/volunteer/api/availability", json={"on_duty": False, "leave": []})
            assert off.status_code == 200 and off.json()["on_duty"] is False
            stored = await stack.db.volunteers.find_one({"_id": "v-xq-an"})
            assert stored is not None and stored["leave"] and stored["name"] == "安然"
            try:
                request_id = await stack.submit("休假测试")

                async def unmatched() -> bool:
                    """the request waiting, offered to nobody"""
                    document = await stack.db.requests.find_one({"_id": request_id})
                    return document is not None and document.get("waiting") is True

                await eventually(unmatched)
                assert request_id not in ids(await offers_of(an), "offers") + ids(await offers_of(bo), "offers")
                back = await bo.put("/volunteer/api/availability", json={"on_duty": True, "leave": []})
                assert back.status_code == 200

                async def offered_to_bo() -> bool:
                    """back on duty, the waiting request is offered"""
                    return request_id in ids(await offers_of(bo), "offers")

                await eventually(offered_to_bo)
                assert (
                    await bo.post(f"/volunteer/api/tasks/{request_id}/decline", json={"reason": "测试结束"})
                ).status_code == 202
            finally:
                await an.put("/volunteer/api/availability", json={"on_duty": True, "leave": []})
                await bo.put("/volunteer/api/availability", json={"on_duty": True, "leave": []})


class TestLiveNotifications:
    async def test_the_stream_token_opens_notifys_volunteer_stream_for_that_volunteer_only(
        self, volunteer_stack: VolunteerStack
    ) -> None:
        stack = volunteer_stack
        async with stack.client() as an, stack.client() as bo:
            await stack.sign_in(an, PHONE_AN)
            await stack.sign_in(bo, PHONE_BO)
            assert (
                await bo.put("/volunteer/api/availability", json={"on_duty": False, "leave": []})
            ).status_code == 200
            grant = (await an.get("/volunteer/api/stream")).json()
            bo_grant = (await bo.get("/volunteer/api/stream")).json()
            assert grant["ws_url"].startswith("ws://127.0.0.1:") and grant["protocols"][0] == "grid.v1"

            forged = [*grant["protocols"][:1], grant["protocols"][1][:-4] + "0000"]
            # A forged token is no credential: notify refuses the handshake.
            with pytest.raises(InvalidStatus):
                async with connect(grant["ws_url"], subprotocols=forged):
                    pass
            try:
                async with (
                    connect(grant["ws_url"], subprotocols=grant["protocols"]) as stream,
                    connect(bo_grant["ws_url"], subprotocols=bo_grant["protocols"]) as other,
                ):
                    request_id = await stack.submit("直播测试")

                    async def offered_to_an() -> dict[str, Any]:
                        while True:
                            frame = json.loads(await stream.recv())
                            if frame.get("event") == "request.offered" and frame["data"]["request_id"] == request_id:
                                return dict(frame["data"])

                    envelope = await asyncio.wait_for(offered_to_an(), 30)
                    assert "v-xq-an" in [envelope["data"]["volunteer_id"], *envelope["data"]["volunteer_ids"]]
                    # 薄荷's stream carries nothing of a request that never concerned her.
                    with contextlib.suppress(TimeoutError):
                        while True:
                            frame = json.loads(await asyncio.wait_for(other.recv(), 2))
                            assert request_id not in json.dumps(frame), frame
                    assert (
                        await an.post(f"/volunteer/api/tasks/{request_id}/decline", json={"reason": "测试"})
                    ).status_code == 202
            finally:
                await bo.put("/volunteer/api/availability", json={"on_duty": True, "leave": []})


class TestStaleReadModel:
    async def test_an_entry_the_request_does_not_confirm_is_never_shown(self, volunteer_stack: VolunteerStack) -> None:
        """As after a crash between dispatch's two writes, or a replay that offered to someone else."""
        stack = volunteer_stack
        async with stack.client() as an, stack.client() as bo:
            await stack.sign_in(an, PHONE_AN)
            await stack.sign_in(bo, PHONE_BO)
            request_id = await stack.submit("过期的列表")

            async def offered_to() -> str | None:
                """the volunteer the request is offered to"""
                document = await stack.db.requests.find_one({"_id": request_id})
                offered = (document or {}).get("offered_volunteer_ids") or []
                return str(offered[0]) if offered else None

            chosen = await eventually(offered_to)
            other, other_client = ("v-xq-bo", bo) if chosen == "v-xq-an" else ("v-xq-an", an)
            stale = await stack.db.volunteer_tasks.find_one({"_id": other}) or {"_id": other, "assignments": []}
            ghost = {"request_id": request_id, "status": "offered", "menu_item_code": "errand.medicine"}
            await stack.db.volunteer_tasks.replace_one(
                {"_id": other}, {**stale, "offers": [*(stale.get("offers") or []), ghost]}, upsert=True
            )
            assert request_id not in ids(await offers_of(other_client), "offers")
            assert (await other_client.get(f"/volunteer/api/tasks/{request_id}")).status_code == 404
            assert (await other_client.post(f"/volunteer/api/tasks/{request_id}/accept", json={})).status_code == 404
            mine = an if chosen == "v-xq-an" else bo
            assert (
                await mine.post(f"/volunteer/api/tasks/{request_id}/decline", json={"reason": "测试"})
            ).status_code == 202
